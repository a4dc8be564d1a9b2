//! The examples in docs/configuration.md are valid files and mean what the text says.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use iketcp_config::Config;
use iketcp_proto::TcpMode;

/// The ```toml blocks of the document, with `psk_file` swapped for a variable (the key
/// files do not exist here).
fn examples() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap();
        let block: String = body[..end]
            .lines()
            .map(|l| {
                if l.starts_with("psk_file") {
                    "psk_env = \"IKETCP_TEST_PSK\"".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        out.push(block);
        rest = &body[end + 3..];
    }
    out
}

#[test]
fn road_warrior_and_gateway_examples() {
    let blocks = examples();
    assert_eq!(
        blocks.len(),
        4,
        "the road warrior's file and the gateway's, twice"
    );
    let road = Config::parse_with_env(&blocks[0], "road.toml", &common::env)
        .unwrap()
        .runtime();
    assert_eq!(road.start, vec!["office".to_owned()]);
    let peer = &road.peers[0];
    assert_eq!(peer.tcp.mode, TcpMode::Fallback);
    assert_eq!(peer.tcp.remote_port, 443);
    assert_eq!(peer.tcp.fallback_delay, Duration::from_secs(1));
    assert_eq!(
        peer.remote,
        "203.0.113.10:500".parse::<SocketAddr>().unwrap()
    );
    assert!(road.driver.tcp.is_empty());
    assert_eq!(road.driver.udp.len(), 2);

    let gw = Config::parse_with_env(&blocks[1], "gateway.toml", &common::env)
        .unwrap()
        .runtime();
    assert!(gw.start.is_empty());
    let tcp: Vec<u16> = gw.driver.tcp.iter().map(SocketAddr::port).collect();
    assert_eq!(tcp, vec![4500, 443]);
    let udp: Vec<u16> = gw.driver.udp.iter().map(SocketAddr::port).collect();
    assert_eq!(udp, vec![500, 4500]);
    assert_eq!(
        gw.peers[0].local,
        "203.0.113.10:500".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        gw.peers[0].remote.ip(),
        "0.0.0.0".parse::<std::net::IpAddr>().unwrap()
    );
}

// The virtual IP pair: the road warrior asks for any IPv4 address and keeps no address
// of its own on the device; the gateway leases from its pool, which is the peer's side.
#[test]
fn virtual_ip_examples() {
    let blocks = examples();
    let road = Config::parse_with_env(&blocks[2], "road.toml", &common::env).unwrap();
    assert!(road.tun.as_ref().unwrap().addresses.is_empty());
    let peer = &road.runtime().peers[0];
    assert_eq!(peer.vips, ["0.0.0.0".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(
        peer.children[0].local_ts,
        [iketcp_wire::ike::TrafficSelector::ipv4_any()]
    );
    let gw = Config::parse_with_env(&blocks[3], "gateway.toml", &common::env)
        .unwrap()
        .runtime();
    let pool = gw.peers[0].pools[0];
    assert_eq!(
        (pool.first().to_string(), pool.last().to_string()),
        ("10.8.0.1".into(), "10.8.0.254".into())
    );
    assert_eq!(gw.peers[0].children[0].remote_ts, [pool.selector()]);
}
