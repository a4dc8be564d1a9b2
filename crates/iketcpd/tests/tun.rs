//! Two `iketcpd` in their own network namespaces, joined by a veth, each with a tunnel
//! device: UDP is dropped at the gateway by nftables, the road warrior falls back to TCP,
//! and `ping` from one inner subnet to the other goes through the Child SA's ESP over the
//! connection. Needs root (network namespaces, TUN, nftables): skipped with a reason
//! otherwise, never under `CI=true`.

mod common;

use std::time::Duration;

use common::netns::{Net, TunPair, drop_udp, ping_inner, root_or_skip};

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
