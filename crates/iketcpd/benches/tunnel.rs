//! TCP throughput through the tunnel (iperf3 between the inner addresses, through TUN and
//! ESP), over RFC 9329 TCP and over UDP, beside plain TCP over the same veth, in one
//! run. Two `iketcpd` in network namespaces; needs root.
//!
//! `cargo bench -p iketcpd --bench tunnel` (`IKETCP_BENCH_ONLY=tcp,tls` for some only,
//! `IKETCP_BENCH_RUNS=5` for more transfers per figure)

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

/// How many transfers of how long each figure is the median of.
fn runs() -> usize {
    std::env::var("IKETCP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}
const SECS: u32 = 4;

/// Whether configuration `name` (plain, tcp, tls, udp, raw, openvpn) is measured:
/// `IKETCP_BENCH_ONLY` lists those to run, comma-separated; all by default.
fn wanted(name: &str) -> bool {
    std::env::var("IKETCP_BENCH_ONLY").map_or(true, |v| v.split(',').any(|w| w.trim() == name))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Median Mbit/s of `runs()` transfers.
fn goodput(ns_client: &str, ns_server: &str, server: &str, from: &str) -> Option<f64> {
    median(
        (0..runs())
            .filter_map(|_| iperf(ns_client, ns_server, server, from))
            .collect(),
    )
}

/// CPU seconds (user and system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) close with ')'.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// 1 % of the packets entering `ns` dropped at random (nftables `numgen`), or not.
fn loss(ns: &str, on: bool) {
    if on {
        for r in [
            "add table inet iktloss",
            "add chain inet iktloss in { type filter hook input priority 0 ; }",
            "add rule inet iktloss in numgen random mod 100 < 1 drop",
        ] {
            assert!(netns::nft(ns, r), "nft {r}");
        }
    } else {
        netns::nft(ns, "delete table inet iktloss");
    }
}

/// Garbage datagrams per second a flood sends at the gateway's NAT-T port.
const FLOOD_PPS: u32 = 20_000;

/// A flood from `ns` to `dst` port 4500 of 120-byte datagrams that look like ESP with a
/// random SPI, `FLOOD_PPS` a second for `secs` seconds (paced in 5 ms batches).
fn flood(ns: &str, dst: &str, secs: u32) -> Option<std::process::Child> {
    let script = format!(
        "import os, socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         batch = {pps} // 200\n\
         end = time.monotonic() + {secs}\n\
         t = time.monotonic()\n\
         while t < end:\n\
         \x20   for _ in range(batch):\n\
         \x20       s.sendto(os.urandom(120), ('{dst}', 4500))\n\
         \x20   t += 0.005\n\
         \x20   d = t - time.monotonic()\n\
         \x20   if d > 0: time.sleep(d)\n",
        pps = FLOOD_PPS,
    );
    Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

/// Inbound datagrams the daemon refused since it started: not ESP or an unknown SPI.
fn garbage_seen(d: &daemon::Daemon) -> u64 {
    match d.ask(&iketcp_ctl::Request::Status { connection: None }) {
        Ok(iketcp_ctl::Reply::Status { esp_dropped, .. }) => {
            esp_dropped.not_esp + esp_dropped.unknown_spi + esp_dropped.truncated
        }
        _ => 0,
    }
}

/// What one configuration measured.
#[derive(Default)]
struct Run {
    mbits: Option<f64>,
    lossy_mbits: Option<f64>,
    cpu_per_gbit: Option<f64>,
    idle_ms: Option<f64>,
    loaded_ms: Option<f64>,
    /// Under a garbage flood at the gateway: Mbit/s, the gateway's CPU seconds per
    /// second, without and with the flood, and the garbage it refused per second.
    flooded_mbits: Option<f64>,
    gateway_cpu: Option<(f64, f64)>,
    garbage_pps: Option<f64>,
    /// CPU seconds per second the flooding process itself used.
    flooder_cpu: Option<f64>,
}

/// How the road warrior carries ESP in a tunnel run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Udp,
    /// IP protocol 50, no UDP (`raw_esp = true` on both, no NAT between them).
    Raw,
    Tcp,
    Tls,
}

fn tunnel(net: &Net, carrier: Carrier) -> Option<Run> {
    let name = format!("iketcpd-bench-{}", std::process::id());
    let pair = match carrier {
        Carrier::Udp => TunPair::new(&name, "enable_tcp = \"no\"\nstart = \"start\""),
        Carrier::Tcp => TunPair::new(&name, "enable_tcp = \"yes\"\nstart = \"start\""),
        Carrier::Tls => TunPair::with_gateway(
            &name,
            "enable_tcp = \"yes\"\ntcp_remote_port = 443\ntcp_tls = true\nstart = \"start\"",
            "listen_tls = [443]\ntls_cert_file = \"{dir}/tls-cert.pem\"\ntls_key_file = \"{dir}/tls-key.pem\"",
        ),
        Carrier::Raw => {
            let p = TunPair::with_gateway(
                &name,
                "enable_tcp = \"no\"\nstart = \"start\"",
                "raw_esp = true",
            );
            let road = std::fs::read_to_string(&p.road).ok()?;
            std::fs::write(
                &p.road,
                road.replacen("[daemon]\n", "[daemon]\nraw_esp = true\n", 1),
            )
            .ok()?;
            p
        }
    };
    let (a, b) = pair.start(net);
    let up = a.wait_tunnel(Duration::from_secs(15))?;
    if carrier == Carrier::Raw && up[0].transport != "udp" {
        println!("raw ESP not in use: {}", up[0].transport);
        return None;
    }
    let idle_ms = ping_ms(&net.a, "10.1.0.1", "10.2.0.1");
    let pids = [a.child.id(), b.child.id()];
    let cpu0: f64 = pids.iter().map(|p| cpu_secs(*p)).sum();
    let mbits = goodput(&net.a, &net.b, "10.2.0.1", "10.1.0.1");
    let cpu = pids.iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu0;
    let gbits = mbits.map(|m| m * f64::from(SECS) * runs() as f64 / 1000.0);
    // R-ESP-4: the latency an inner flow sees while a bulk transfer fills the tunnel.
    let a_ns = net.a.clone();
    let pinger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        ping_ms(&a_ns, "10.1.0.1", "10.2.0.1")
    });
    let _ = iperf(&net.a, &net.b, "10.2.0.1", "10.1.0.1");
    let loaded_ms = pinger.join().ok().flatten();
    loss(&net.b, true);
    let lossy_mbits = goodput(&net.a, &net.b, "10.2.0.1", "10.1.0.1");
    loss(&net.b, false);
    // A flood of garbage at the gateway's UDP port during one transfer, against one
    // transfer without it right before: what the flood costs the SA's traffic, and what
    // it costs the gateway in CPU.
    let (mut flooded_mbits, mut gateway_cpu, mut garbage_pps, mut flooder_cpu) =
        (None, None, None, None);
    if carrier == Carrier::Udp {
        let gw = b.child.id();
        let c0 = cpu_secs(gw);
        let quiet = iperf(&net.a, &net.b, "10.2.0.1", "10.1.0.1");
        let c1 = cpu_secs(gw);
        let g0 = garbage_seen(&b);
        let flooder = flood(&net.a, "10.204.0.2", SECS + 2);
        std::thread::sleep(Duration::from_millis(500));
        let c2 = cpu_secs(gw);
        let loud = iperf(&net.a, &net.b, "10.2.0.1", "10.1.0.1");
        let c3 = cpu_secs(gw);
        let g1 = garbage_seen(&b);
        if let Some(mut f) = flooder {
            // `ip netns exec` execs python: the same process.
            flooder_cpu = Some(cpu_secs(f.id()) / (f64::from(SECS) + 0.5));
            let _ = f.kill();
            let _ = f.wait();
        }
        let s = f64::from(SECS);
        flooded_mbits = loud.zip(quiet).map(|(l, _)| l);
        gateway_cpu = Some(((c1 - c0) / s, (c3 - c2) / s));
        garbage_pps = Some((g1 - g0) as f64 / (s + 0.5));
        if let (Some(q), Some(l)) = (quiet, loud) {
            println!("(UDP tunnel right before the flood: {q:.0} Mbit/s; during it: {l:.0})");
        }
    }
    drop((a, b));
    Some(Run {
        mbits,
        lossy_mbits,
        cpu_per_gbit: gbits.filter(|g| *g > 0.0).map(|g| cpu / g),
        idle_ms,
        loaded_ms,
        flooded_mbits,
        gateway_cpu,
        garbage_pps,
        flooder_cpu,
    })
}

/// OpenVPN over TCP with AES-256-GCM on the same veth (`openvpn.sh`), if installed.
fn openvpn(net: &Net, lossy: bool) -> Option<f64> {
    loss(&net.b, lossy);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/openvpn.sh");
    let v: Vec<f64> = (0..runs())
        .filter_map(|_| {
            let out = Command::new("bash")
                .args([script, &net.a, &net.b, &SECS.to_string()])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let r = text.trim().parse().ok();
            if r.is_none() {
                println!("openvpn: {}", text.trim());
            }
            r
        })
        .collect();
    loss(&net.b, false);
    median(v)
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
    let (mut plain, mut plain_lossy) = (None, None);
    if wanted("plain") {
        plain = goodput(&net.a, &net.b, "10.204.0.2", "10.204.0.1");
        loss(&net.b, true);
        plain_lossy = goodput(&net.a, &net.b, "10.204.0.2", "10.204.0.1");
        loss(&net.b, false);
    }
    let run = |name: &str, c: Carrier| {
        if wanted(name) {
            tunnel(&net, c).unwrap_or_default()
        } else {
            Run::default()
        }
    };
    let over_tcp = run("tcp", Carrier::Tcp);
    let over_tls = run("tls", Carrier::Tls);
    let over_udp = run("udp", Carrier::Udp);
    let raw = run("raw", Carrier::Raw);
    let ovpn = if wanted("openvpn") {
        Run {
            mbits: openvpn(&net, false),
            lossy_mbits: openvpn(&net, true),
            ..Run::default()
        }
    } else {
        Run::default()
    };
    let mb = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
    let ratio = |x: Option<f64>, base: Option<f64>| match (x, base) {
        (Some(x), Some(b)) if b > 0.0 => format!("{:.3}", x / b),
        _ => "-".to_string(),
    };
    let ms = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "median of {} transfers of {SECS} s each; Mbit/s; 1 % loss: random drops into the receiver",
        runs()
    );
    println!(
        "{:<22} {:>8} {:>9} {:>12} {:>9} {:>14} {:>9} {:>9}",
        "", "Mbit/s", "× plain", "1 % loss", "× plain", "CPU s / Gbit", "ping ms", "loaded"
    );
    println!(
        "{:<22} {:>8} {:>9} {:>12} {:>9} {:>14} {:>9} {:>9}",
        "plain TCP, veth",
        mb(plain),
        "1",
        mb(plain_lossy),
        "1",
        "-",
        "-",
        "-"
    );
    for (name, r) in [
        ("ESP over TCP", &over_tcp),
        ("ESP over TLS", &over_tls),
        ("ESP over UDP", &over_udp),
        ("ESP, protocol 50", &raw),
        ("OpenVPN over TCP", &ovpn),
    ] {
        println!(
            "{:<22} {:>8} {:>9} {:>12} {:>9} {:>14} {:>9} {:>9}",
            name,
            mb(r.mbits),
            ratio(r.mbits, plain),
            mb(r.lossy_mbits),
            ratio(r.lossy_mbits, plain_lossy),
            r.cpu_per_gbit.map_or("-".into(), |c| format!("{c:.2}")),
            ms(r.idle_ms),
            ms(r.loaded_ms),
        );
    }
    if let (Some(t), Some(o)) = (over_tcp.mbits, ovpn.mbits) {
        println!("ESP over TCP / OpenVPN over TCP: {:.1}×", t / o);
    }
    if let (Some(t), Some(p)) = (over_tls.mbits, over_tcp.mbits) {
        println!("ESP over TLS / ESP over TCP: {:.2}×", t / p);
    }
    if let (Some(t), Some(o)) = (over_tls.mbits, ovpn.mbits) {
        println!("ESP over TLS / OpenVPN over TCP: {:.1}×", t / o);
    }
    if let (Some(f), Some((quiet, loud)), Some(g), Some(fc)) = (
        over_udp.flooded_mbits,
        over_udp.gateway_cpu,
        over_udp.garbage_pps,
        over_udp.flooder_cpu,
    ) {
        println!(
            "ESP over UDP under a flood of garbage at the gateway's port 4500 ({g:.0} refused/s, \
             {FLOOD_PPS}/s sent): {f:.0} Mbit/s; gateway CPU {quiet:.2} s/s without, {loud:.2} s/s with; \
             the flooder itself {fc:.2} s/s"
        );
    }
}
