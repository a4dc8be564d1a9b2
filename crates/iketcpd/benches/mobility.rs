//! How fast the tunnel moves (MOBIKE across transports, R-MOB-1, R-FB-4): from UDP
//! blocked to inner traffic flowing over TCP, and from UDP unblocked to inner traffic
//! flowing over UDP again, medians over cycles on one tunnel between two `iketcpd` in
//! network namespaces, with pings every 20 ms through it. Road warrior: liveness check
//! after 1 s of silence, UDP given up after 1 s (`fallback_delay`), UDP probed every
//! 2 s (`udp_probe_interval`). Needs root and nftables.
//!
//! `cargo bench -p iketcpd --bench mobility`

#[path = "../tests/common/daemon.rs"]
mod daemon;
#[path = "../tests/common/netns.rs"]
mod netns;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use daemon::Daemon;
use netns::{Net, TunPair, drop_udp, is_root, nft};

const PROBE_INTERVAL: Duration = Duration::from_secs(2);

fn cycles() -> usize {
    std::env::var("IKETCP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// The road warrior's transport and inbound ESP packet count.
fn sample(a: &Daemon) -> Option<(String, u64)> {
    let s = a.try_status()?;
    let sa = s.first()?;
    Some((sa.transport.clone(), sa.children.first()?.packets_in))
}

/// Time from now until the transport is `want` and inbound packets arrive on it.
fn until_traffic_on(a: &Daemon, want: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut moved_at_count = None;
    while start.elapsed() < limit {
        if let Some((t, n)) = sample(a)
            && t.starts_with(want)
        {
            match moved_at_count {
                None => moved_at_count = Some(n),
                Some(m) if n > m => return Some(start.elapsed()),
                Some(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Pings every 10 ms for 3 s from the road warrior through the tunnel, in a thread:
/// how many were sent and how many answered.
fn ping_burst(ns: &str) -> std::thread::JoinHandle<Option<(u32, u32)>> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &ns, "ping", "-q", "-c", "300", "-i", "0.01",
            ])
            .args(["-W", "1", "-I", "10.1.0.1", "10.2.0.1"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.contains("transmitted"))?;
        let num = |word: &str| {
            line.split(',')
                .find(|p| p.contains(word))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some((num("transmitted")?, num("received")?))
    })
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

fn main() {
    if !is_root() {
        println!("skipped: needs root for network namespaces and TUN");
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000 + 90_000);
    let net = Net::new(&tag);
    let pair = TunPair::new(
        &format!("iketcpd-mobility-{tag}"),
        "start = \"start\"\nenable_tcp = \"fallback\"\ndpd_delay = \"1s\"\nfallback_delay = \"1s\"\nudp_probe_interval = \"2s\"",
    );
    let (a, _b) = pair.start(&net);
    if a.wait_tunnel(Duration::from_secs(15)).is_none() {
        println!("the tunnel did not come up");
        return;
    }
    let mut pinger = Command::new("ip")
        .args(["netns", "exec", &net.a, "ping", "-q", "-i", "0.02"])
        .args(["-I", "10.1.0.1", "10.2.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ping runs");
    let (mut to_tcp, mut to_udp) = (Vec::new(), Vec::new());
    // Pings every 10 ms across each move back to UDP: sent, answered.
    let mut pings = (0u32, 0u32);
    for _ in 0..cycles() {
        drop_udp(&net.b);
        match until_traffic_on(&a, "tcp", Duration::from_secs(20)) {
            Some(d) => to_tcp.push(d),
            None => println!("no move to TCP: {:?}", a.try_status()),
        }
        std::thread::sleep(Duration::from_millis(500));
        let burst = ping_burst(&net.a);
        std::thread::sleep(Duration::from_millis(200));
        nft(&net.b, "delete table inet ikt");
        match until_traffic_on(&a, "udp", Duration::from_secs(30)) {
            Some(d) => to_udp.push(d),
            None => println!("no move back to UDP: {:?}", a.try_status()),
        }
        if let Ok(Some((sent, got))) = burst.join() {
            pings.0 += sent;
            pings.1 += got;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = pinger.kill();
    let _ = pinger.wait();
    let ms =
        |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1e3));
    println!(
        "{} cycles; liveness after 1 s, UDP given up after 1 s, UDP probed every {} s",
        cycles(),
        PROBE_INTERVAL.as_secs()
    );
    println!(
        "{:<38} {:>10} {:>10} {:>10}",
        "", "median ms", "min ms", "max ms"
    );
    for (name, v) in [
        ("UDP blocked -> traffic over TCP", &to_tcp),
        ("UDP unblocked -> traffic over UDP", &to_udp),
    ] {
        println!(
            "{:<38} {:>10} {:>10} {:>10}",
            name,
            ms(median(v.clone())),
            ms(v.iter().min().copied()),
            ms(v.iter().max().copied())
        );
    }
    println!(
        "pings every 10 ms across the moves back to UDP: {} sent, {} lost",
        pings.0,
        pings.0 - pings.1
    );
}
