//! Two `iketcpd` in their own network namespaces, joined by a veth, each with a tunnel
//! device: UDP is dropped at the gateway by nftables, the road warrior falls back to TCP,
//! and `ping` from one inner subnet to the other goes through the Child SA's ESP over the
//! connection. Needs root (network namespaces, TUN, nftables): skipped with a reason
//! otherwise, never under `CI=true`.

mod common;

use std::time::Duration;

use common::netns::{Net, TunPair, drop_udp, ping_inner, root_or_skip, sh};

// R-FB-1, R-ESP-1 end to end: UDP dropped by nftables at the gateway, the tunnel falls
// back to TCP, and ping between the inner subnets goes through TUN, ESP over TCP, TUN.
#[test]
fn ping_through_tun_over_tcp_with_udp_dropped() {
    if !root_or_skip() {
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000);
    let net = Net::new(&tag);
    let pair = TunPair::new(
        &format!("iketcpd-tun-{tag}"),
        "enable_tcp = \"fallback\"\nstart = \"start\"",
    );
    // The gateway's network drops UDP: the middlebox every road warrior meets.
    drop_udp(&net.b);
    let (a, b) = pair.start(&net);
    let up = a.wait_tunnel(Duration::from_secs(15));
    let up = up.unwrap_or_else(|| panic!("no tunnel: {:?}", a.try_status()));
    assert_eq!(up[0].transport, "tcp");
    let (ok, text) = ping_inner(&net.a, 3);
    assert!(ok, "{text}");
    let s = a.status();
    let c = &s[0].children[0];
    assert!(c.packets_out >= 3 && c.packets_in >= 3, "{c:?}");
    let g = b.status();
    assert_eq!(g[0].transport, "tcp");
}

// `start = "ondemand"`: no SA until the host sends traffic the connection covers; the
// first packet starts it, and the ping gets its answers once the Child SA is up.
#[test]
fn ondemand_starts_on_traffic() {
    if !root_or_skip() {
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000 + 10_000);
    let net = Net::new(&tag);
    let pair = TunPair::new(&format!("iketcpd-ondemand-{tag}"), "start = \"ondemand\"");
    let (a, _b) = pair.start(&net);
    std::thread::sleep(Duration::from_millis(300));
    assert!(a.status().is_empty(), "nothing before traffic");
    let (ok, text) = ping_inner(&net.a, 10);
    assert!(ok, "no answer at all: {text}");
    let s = a.status();
    assert!(s.iter().any(|x| x.state == "established"), "{s:?}");
}

// A full tunnel (`remote_ts = ["0.0.0.0/0"]`) where the gateway is reached through the
// default route: the tunnel's default route goes into table 4500 behind two rules (main
// without its default route, then table 4500 unless marked), the daemon's sockets carry
// the mark, so IKE and the outer ESP, over UDP and over TCP, keep the main table while
// the inner traffic goes into the tunnel; the IKE SA stays up across liveness checks.
#[test]
fn full_tunnel_routed_by_policy() {
    if !root_or_skip() {
        return;
    }
    for (n, tcp) in [(3u32, "no"), (4, "yes")] {
        let tag = format!("{}", std::process::id() % 10_000 + n * 10_000);
        let net = Net::new(&tag);
        // The road warrior reaches everything, the gateway included, by its default
        // route: the case that would loop without policy routing.
        let va = format!("v{tag}a");
        for c in [
            vec!["addr", "del", "10.204.0.1/24", "dev", &va],
            vec!["addr", "add", "10.204.0.1/32", "dev", &va],
            vec!["route", "add", "default", "dev", &va],
        ] {
            let mut args = vec!["-n", &net.a];
            args.extend(c.iter().copied());
            assert!(sh(&[&["ip"][..], &args[..]].concat()), "{c:?}");
        }
        let pair = TunPair::new(
            &format!("iketcpd-full-{tag}"),
            &format!("enable_tcp = \"{tcp}\"\nstart = \"start\"\ndpd_delay = \"1s\""),
        );
        let road = std::fs::read_to_string(&pair.road).unwrap();
        std::fs::write(
            &pair.road,
            road.replace(
                r#"remote_ts = ["10.2.0.0/24"]"#,
                r#"remote_ts = ["0.0.0.0/0"]"#,
            ),
        )
        .unwrap();
        let gw = std::fs::read_to_string(&pair.gateway).unwrap();
        std::fs::write(
            &pair.gateway,
            gw.replace(
                r#"local_ts = ["10.2.0.0/24"]"#,
                r#"local_ts = ["0.0.0.0/0"]"#,
            ),
        )
        .unwrap();
        let (a, _b) = pair.start(&net);
        let up = a.wait_tunnel(Duration::from_secs(15));
        let up = up.unwrap_or_else(|| panic!("no tunnel ({tcp}): {:?}", a.try_status()));
        // The route follows the Child SA: wait for it (bounded) before pinging.
        let start = std::time::Instant::now();
        let mut table = String::new();
        while start.elapsed() < Duration::from_secs(5) {
            table = output(&["ip", "-n", &net.a, "route", "show", "table", "4500"]);
            if table.contains("default dev ikt0") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(table.contains("default dev ikt0"), "{table}");
        let out = |a: &common::daemon::Daemon| a.status()[0].children[0].packets_out;
        let before = out(&a);
        let (ok, text) = ping_inner(&net.a, 3);
        assert!(ok, "{tcp}: {text}");
        // The pings went out through the Child SA, not around it.
        assert!(out(&a) >= before + 3, "{:?}", a.status());
        let rules = output(&["ip", "-n", &net.a, "rule", "show"]);
        assert!(
            rules.contains("not from all fwmark 0x4500 lookup 4500")
                && rules.contains("lookup main suppress_prefixlength 0"),
            "{rules}"
        );
        // Liveness checks every second go on over the marked sockets.
        std::thread::sleep(Duration::from_secs(3));
        let s = a.status();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].spi_i, up[0].spi_i, "the same IKE SA");
        let (ok, text) = ping_inner(&net.a, 2);
        assert!(ok, "{tcp}: {text}");
    }
}

fn output(args: &[&str]) -> String {
    let o = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}
