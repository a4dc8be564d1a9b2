//! TCP throughput through the tunnel (iperf3 between the inner addresses, through TUN and
//! ESP), over RFC 9329 TCP and over UDP, beside plain TCP over the same veth, in one
//! run. Two `iketcpd` in network namespaces; needs root.
//!
//! `cargo bench -p iketcpd --bench tunnel`

#[path = "../tests/common/daemon.rs"]
mod daemon;
#[path = "../tests/common/netns.rs"]
mod netns;

use std::process::Command;
use std::time::Duration;

use netns::{Net, TunPair, is_root, sh};

/// Mbit/s that iperf3 measured from `ns` to `server` (bound to `from`), 4 s.
fn iperf(ns_client: &str, ns_server: &str, server: &str, from: &str) -> Option<f64> {
    netns::iperf(ns_client, ns_server, server, from, 4)?["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|b| b / 1e6)
}

/// Median RTT in ms of 20 pings from `from` to `to` in `ns`.
fn ping_ms(ns: &str, from: &str, to: &str) -> Option<f64> {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "20", "-i", "0.1", "-I", from, to,
        ])
        .output()
        .ok()?;
    let mut rtts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    rtts.sort_by(f64::total_cmp);
    rtts.get(rtts.len() / 2).copied()
}

/// What one run through the tunnel measured.
struct Run {
    mbits: Option<f64>,
    idle_ms: Option<f64>,
    loaded_ms: Option<f64>,
}

fn tunnel(net: &Net, tcp: bool) -> Option<Run> {
    let mode = if tcp { "yes" } else { "no" };
    let pair = TunPair::new(
        &format!("iketcpd-bench-{}", std::process::id()),
        &format!("enable_tcp = \"{mode}\"\nstart = \"start\""),
    );
    let (a, b) = pair.start(net);
    a.wait_tunnel(Duration::from_secs(15))?;
    let idle_ms = ping_ms(&net.a, "10.1.0.1", "10.2.0.1");
    // R-ESP-4: the latency an inner flow sees while a bulk transfer fills the tunnel.
    let a_ns = net.a.clone();
    let pinger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        ping_ms(&a_ns, "10.1.0.1", "10.2.0.1")
    });
    let mbits = iperf(&net.a, &net.b, "10.2.0.1", "10.1.0.1");
    let loaded_ms = pinger.join().ok().flatten();
    drop((a, b));
    Some(Run {
        mbits,
        idle_ms,
        loaded_ms,
    })
}

fn main() {
    if !is_root() {
        println!("skipped: needs root for network namespaces and TUN");
        return;
    }
    if !sh(&["iperf3", "--version"]) {
        println!("skipped: needs iperf3");
        return;
    }
    let net = Net::new(&format!("{}", std::process::id() % 10_000));
    let plain = iperf(&net.a, &net.b, "10.204.0.2", "10.204.0.1");
    let over_tcp = tunnel(&net, true);
    let over_udp = tunnel(&net, false);
    let show = |x: Option<f64>| x.map_or("failed".to_string(), |v| format!("{v:.0} Mbit/s"));
    let ms = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2} ms"));
    println!("plain TCP over the veth:           {}", show(plain));
    for (name, r) in [("TCP", &over_tcp), ("UDP", &over_udp)] {
        match r {
            Some(r) => println!(
                "through the tunnel, ESP over {name}:  {}; ping {} idle, {} under that load",
                show(r.mbits),
                ms(r.idle_ms),
                ms(r.loaded_ms)
            ),
            None => println!("through the tunnel, ESP over {name}:  no tunnel"),
        }
    }
    let get = |r: &Option<Run>| r.as_ref().and_then(|r| r.mbits);
    if let (Some(p), Some(t), Some(u)) = (plain, get(&over_tcp), get(&over_udp)) {
        println!(
            "ratios to plain TCP: over TCP {:.3}, over UDP {:.3} (OpenVPN over TCP on this machine: 0.018)",
            t / p,
            u / p
        );
    }
}
