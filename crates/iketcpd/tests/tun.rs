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
        edit(
            &pair.road,
            &[(
                r#"remote_ts = ["10.2.0.0/24"]"#,
                r#"remote_ts = ["0.0.0.0/0"]"#,
            )],
        );
        edit(
            &pair.gateway,
            &[(
                r#"local_ts = ["10.2.0.0/24"]"#,
                r#"local_ts = ["0.0.0.0/0"]"#,
            )],
        );
        let (a, _b) = pair.start(&net);
        let up = a.wait_tunnel(Duration::from_secs(15));
        let up = up.unwrap_or_else(|| panic!("no tunnel ({tcp}): {:?}", a.try_status()));
        // The route follows the Child SA: wait for it (bounded) before pinging.
        wait_route(&net.a, "default dev ikt0");
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

/// Replaces each `(a, b)` in the file at `path`; each `a` must be there.
fn edit(path: &std::path::Path, pairs: &[(&str, &str)]) {
    let mut t = std::fs::read_to_string(path).unwrap();
    for (a, b) in pairs {
        assert!(t.contains(a), "{a}");
        t = t.replace(a, b);
    }
    std::fs::write(path, t).unwrap();
}

/// Waits (bounded) until table 4500 in `ns` has a route containing `needle`.
fn wait_route(ns: &str, needle: &str) {
    let start = std::time::Instant::now();
    let mut table = String::new();
    while start.elapsed() < Duration::from_secs(5) {
        table = output(&["ip", "-n", ns, "route", "show", "table", "4500"]);
        if table.contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{ns}: no route with {needle:?} in table 4500: {table}");
}

fn output(args: &[&str]) -> String {
    let o = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// Transport mode (RFC 4303 §3.1.1) on the tunnel device: the Child SA protects the
// traffic between the two hosts' own addresses. The route to the peer goes into table
// 4500 with its own rule ahead of the main table's on-link route, and with our address
// as its source; ESP carries the segment without its IP header, which the other side
// writes again (with the TCP and UDP checksums computed over the addresses written,
// R-NAT-2). Ping and a TCP transfer between the outer addresses go through the SA.
#[test]
fn transport_mode_between_the_hosts() {
    if !common::netns::ready(&["iperf3"]) {
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000 + 50_000);
    let net = Net::new(&tag);
    let pair = TunPair::new(
        &format!("iketcpd-transport-{tag}"),
        "start = \"start\"\nmode = \"transport\"",
    );
    edit(
        &pair.road,
        &[
            (
                r#"local_ts = ["10.1.0.0/24"]"#,
                r#"local_ts = ["10.204.0.1/32"]"#,
            ),
            (
                r#"remote_ts = ["10.2.0.0/24"]"#,
                r#"remote_ts = ["10.204.0.2/32"]"#,
            ),
        ],
    );
    edit(
        &pair.gateway,
        &[
            (
                r#"local_ts = ["10.2.0.0/24"]"#,
                r#"local_ts = ["10.204.0.2/32"]"#,
            ),
            (
                r#"remote_ts = ["10.1.0.0/24"]"#,
                r#"remote_ts = ["10.204.0.1/32"]"#,
            ),
            (
                r#"start = "none""#,
                "start = \"none\"\nmode = \"transport\"",
            ),
        ],
    );
    let (a, b) = pair.start(&net);
    a.wait_tunnel(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no SA: {:?}", a.try_status()));
    for (ns, peer) in [(&net.a, "10.204.0.2"), (&net.b, "10.204.0.1")] {
        wait_route(ns, &format!("{peer} dev ikt0"));
    }
    let counts = |d: &common::daemon::Daemon| {
        let c = &d.status()[0].children[0];
        (c.packets_out, c.packets_in)
    };
    let before = counts(&a);
    let ping = std::process::Command::new("ip")
        .args([
            "netns", "exec", &net.a, "ping", "-c", "3", "-i", "0.2", "-W", "2",
        ])
        .arg("10.204.0.2")
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let after = counts(&a);
    assert!(
        after.0 >= before.0 + 3 && after.1 >= before.1 + 3,
        "the pings did not go through the SA: {before:?} -> {after:?}"
    );
    // TCP both ways between the outer addresses, inside ESP.
    let report =
        common::netns::iperf(&net.a, &net.b, "10.204.0.2", "10.204.0.1", 2).expect("iperf3 ran");
    assert!(report["error"].is_null(), "iperf3: {}", report["error"]);
    let moved = report["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    let through = counts(&a);
    assert!(moved > 1 << 20, "{report}");
    assert!(
        through.0 > after.0 + 500,
        "the transfer did not go through the SA"
    );
    assert_eq!(b.status()[0].children.len(), 1);
}

// IPv4 and IPv6 inside, IPv6 outside: the IKE SA runs between the veth's IPv6
// addresses, one Child SA carries both inner families (two selectors each way), the
// device holds an address of each, and ping goes through in both families; the inner
// routes of both families follow the Child SA.
#[test]
fn ipv4_and_ipv6_inside_ipv6_outside() {
    if !root_or_skip() {
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000 + 60_000);
    let net = Net::new(&tag);
    for (ns, dev, addr) in [
        (&net.a, format!("v{tag}a"), "fd00:204::1/64"),
        (&net.b, format!("v{tag}b"), "fd00:204::2/64"),
    ] {
        assert!(sh(&[
            "ip", "-n", ns, "addr", "add", addr, "dev", &dev, "nodad"
        ]));
    }
    let pair = TunPair::new(&format!("iketcpd-v6-{tag}"), "start = \"start\"");
    edit(
        &pair.road,
        &[
            (r#"listen = ["10.204.0.1"]"#, r#"listen = ["fd00:204::1"]"#),
            (
                r#"remote_addrs = ["10.204.0.2"]"#,
                r#"remote_addrs = ["fd00:204::2"]"#,
            ),
            (
                r#"address = "10.1.0.1/24""#,
                r#"address = ["10.1.0.1/24", "fd01:1::1/64"]"#,
            ),
            (
                r#"local_ts = ["10.1.0.0/24"]"#,
                r#"local_ts = ["10.1.0.0/24", "fd01:1::/64"]"#,
            ),
            (
                r#"remote_ts = ["10.2.0.0/24"]"#,
                r#"remote_ts = ["10.2.0.0/24", "fd01:2::/64"]"#,
            ),
        ],
    );
    edit(
        &pair.gateway,
        &[
            (r#"listen = ["10.204.0.2"]"#, r#"listen = ["fd00:204::2"]"#),
            (
                r#"address = "10.2.0.1/24""#,
                r#"address = ["10.2.0.1/24", "fd01:2::1/64"]"#,
            ),
            (
                r#"local_ts = ["10.2.0.0/24"]"#,
                r#"local_ts = ["10.2.0.0/24", "fd01:2::/64"]"#,
            ),
            (
                r#"remote_ts = ["10.1.0.0/24"]"#,
                r#"remote_ts = ["10.1.0.0/24", "fd01:1::/64"]"#,
            ),
        ],
    );
    let (a, _b) = pair.start(&net);
    let up = a.wait_tunnel(Duration::from_secs(15));
    let up = up.unwrap_or_else(|| panic!("no tunnel: {:?}", a.try_status()));
    assert!(up[0].remote.starts_with("[fd00:204::2]"), "{up:?}");
    // The device's IPv6 address is usable once duplicate address detection is done.
    let start = std::time::Instant::now();
    let ping6 = || {
        std::process::Command::new("ip")
            .args([
                "netns", "exec", &net.a, "ping", "-6", "-c", "3", "-i", "0.2",
            ])
            .args(["-W", "2", "-I", "fd01:1::1", "fd01:2::1"])
            .output()
            .expect("ping runs")
    };
    let mut out = ping6();
    while !out.status.success() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
        out = ping6();
    }
    assert!(
        out.status.success(),
        "ping -6: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        output(&["ip", "-n", &net.a, "-6", "route"])
    );
    let (ok, text) = ping_inner(&net.a, 3);
    assert!(ok, "{text}");
    let routes = output(&["ip", "-n", &net.a, "-6", "route"]);
    assert!(routes.contains("fd01:2::/64 dev ikt0"), "{routes}");
    let c = &a.status()[0].children[0];
    assert!(c.packets_out >= 6 && c.packets_in >= 6, "{c:?}");
}

/// `ip -n ns args...`, its output.
fn ip(ns: &str, args: &[&str]) -> String {
    let mut v = vec!["ip", "-n", ns];
    v.extend_from_slice(args);
    output(&v)
}

/// Waits (bounded) until `f` holds for `ip -n ns args...`.
fn wait_ip(ns: &str, args: &[&str], f: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    let mut out = ip(ns, args);
    while !f(&out) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
        out = ip(ns, args);
    }
    out
}

// RFC 7296 §2.19 end to end, over TCP: the road warrior has no address of its own on
// the device and asks for one (`vips`); the gateway leases the first of its pool
// (`pools`), narrows the Child SA to it, and routes it into its device; the road
// warrior puts it on its device as the source of the tunnel's routes, so a plain ping
// (no source given) goes through. `iketcp down` takes the address off the device, and
// the gateway's lease ends with its IKE SA.
#[test]
fn virtual_ip_from_the_gateways_pool() {
    if !root_or_skip() {
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000 + 70_000);
    let net = Net::new(&tag);
    let pair = TunPair::new(
        &format!("iketcpd-vip-{tag}"),
        "enable_tcp = \"yes\"\nstart = \"start\"\nvips = [\"0.0.0.0\"]",
    );
    edit(
        &pair.road,
        &[
            ("address = \"10.1.0.1/24\"\n", ""),
            ("local_ts = [\"10.1.0.0/24\"]\n", ""),
        ],
    );
    edit(
        &pair.gateway,
        &[(
            r#"remote_ts = ["10.1.0.0/24"]"#,
            r#"pools = ["10.1.0.100-10.1.0.110"]"#,
        )],
    );
    let (a, b) = pair.start(&net);
    let up = a.wait_tunnel(Duration::from_secs(15));
    let up = up.unwrap_or_else(|| panic!("no tunnel: {:?}", a.try_status()));
    assert_eq!(up[0].transport, "tcp");
    assert_eq!(up[0].virtual_ips, ["10.1.0.100"], "{up:?}");
    let g = b.status();
    assert_eq!(g[0].leased, ["10.1.0.100"], "{g:?}");

    let addrs = wait_ip(&net.a, &["addr", "show", "dev", "ikt0"], |o| {
        o.contains("10.1.0.100/32")
    });
    assert!(addrs.contains("inet 10.1.0.100/32"), "{addrs}");
    let routes = wait_ip(&net.a, &["route", "show", "dev", "ikt0"], |o| {
        o.contains("10.2.0.0/24")
    });
    assert!(routes.contains("src 10.1.0.100"), "{routes}");
    let groutes = wait_ip(&net.b, &["route", "show", "dev", "ikt0"], |o| {
        o.contains("10.1.0.100")
    });
    assert!(groutes.contains("10.1.0.100"), "{groutes}");

    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &net.a, "ping", "-c", "3", "-i", "0.2"])
        .args(["-W", "2", "10.2.0.1"])
        .output()
        .expect("ping runs");
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        ip(&net.a, &["route", "show", "table", "all"])
    );

    let reply = a
        .ask(&iketcp_ctl::Request::Down {
            connection: "gateway".into(),
        })
        .unwrap();
    assert!(
        !matches!(reply, iketcp_ctl::Reply::Error { .. }),
        "{reply:?}"
    );
    let addrs = wait_ip(&net.a, &["addr", "show", "dev", "ikt0"], |o| {
        !o.contains("10.1.0.100")
    });
    assert!(!addrs.contains("10.1.0.100"), "{addrs}");
    let g = b.wait(Duration::from_secs(5), |s| s.is_empty());
    assert!(g.is_empty(), "{g:?}");
}
