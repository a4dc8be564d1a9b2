//! A complete file parses to the expected runtime values.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use iketcp_config::{Config, Start};
use iketcp_proto::config::{Identity, id_from_identity, suites};
use iketcp_proto::{AuthConfig, Lifetime, Mode, TcpMode};
use iketcp_wire::ike::TransformId;

const FILE: &str = r#"
[daemon]
listen = ["192.0.2.1", "2001:db8::1"]
ike_port = 500
natt_port = 4500
listen_udp = true
listen_tcp = [4500, 443]
control_socket = "/run/test/iketcpd.sock"
max_connections = 5000
max_connections_per_source = 16
half_open_limit = 2000
half_open_per_source = 8
cookie_threshold = 100
key_export_dir = "/var/lib/iketcp/keys"
connect_timeout = "3s"
tcp_send_buffer = 131072
dscp = 46
prefix_timeout = "5s"
idle_timeout = "2m"

[[connection]]
name = "office"
remote_addrs = ["198.51.100.7"]
remote_port = 500
local_id = "@road.example.net"
remote_id = "vpn.example.net"
auth = "psk"
psk_file = "office.psk"
ike = ["aes256gcm16-prfsha384-x25519", "aes256-sha256-modp2048"]
esp = ["aes256gcm16-x25519", "chacha20poly1305"]
local_ts = ["10.1.0.0/16"]
remote_ts = ["10.2.0.0/16", "10.3.0.0/16"]
mode = "tunnel"
enable_tcp = "fallback"
tcp_remote_port = 443
fallback_delay = "800ms"
start = "start"
rekey_time = "4h"
child_rekey_time = "1h"
dpd_delay = "30s"
fragmentation = true
replay_window = 128

[[connection]]
name = "roadwarriors"
local_id = "vpn.example.net"
remote_id = "alice@example.net"
auth = "psk"
psk_env = "IKETCP_TEST_PSK"
local_ts = ["2001:db8:1::/48"]
remote_ts = ["2001:db8:2::7"]
mode = "transport"
rekey_time = "2h"
fragmentation = false
replay_window = 0

[[connection]]
name = "lab"
remote_addrs = ["2001:db8::9"]
local_id = "2001:db8::1"
remote_id = "2001:db8::9"
auth = "psk"
psk_env = "IKETCP_TEST_PSK"
local_ts = ["2001:db8:a::/64"]
remote_ts = ["2001:db8:b::/64"]
enable_tcp = "yes"
start = "ondemand"
"#;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn full_example_to_runtime() {
    let dir = common::TempDir::new("example");
    dir.file("office.psk", b"correct horse battery staple\n", 0o600);
    let file = dir.path().join("iketcpd.toml");
    let config = Config::parse_with_env(FILE, &file, &common::env).unwrap();
    let rt = config.runtime();

    // [daemon]
    assert_eq!(rt.endpoint.half_open_limit, 2000);
    assert_eq!(rt.endpoint.half_open_per_source, 8);
    assert_eq!(rt.endpoint.cookie_threshold, 100);
    assert_eq!(rt.node.max_streams, 5000);
    assert_eq!(rt.node.max_streams_per_source, 16);
    assert_eq!(rt.node.prefix_timeout, Duration::from_secs(5));
    assert_eq!(rt.node.idle_timeout, Duration::from_secs(120));
    assert!(rt.node.export_keys);
    assert_eq!(
        rt.driver.udp,
        vec![
            sa("192.0.2.1:500"),
            sa("192.0.2.1:4500"),
            sa("[2001:db8::1]:500"),
            sa("[2001:db8::1]:4500"),
        ]
    );
    assert_eq!(
        rt.driver.tcp,
        vec![
            sa("192.0.2.1:4500"),
            sa("192.0.2.1:443"),
            sa("[2001:db8::1]:4500"),
            sa("[2001:db8::1]:443"),
        ]
    );
    assert_eq!(rt.driver.connect_timeout, Duration::from_secs(3));
    assert_eq!(rt.driver.tcp_send_buffer, Some(131_072));
    assert_eq!(rt.driver.dscp, Some(46));
    assert_eq!(rt.control_socket, PathBuf::from("/run/test/iketcpd.sock"));
    assert_eq!(
        rt.key_export_dir,
        Some(PathBuf::from("/var/lib/iketcp/keys"))
    );
    assert_eq!(rt.start, vec!["office".to_owned()]);
    assert_eq!(rt.on_demand, vec!["lab".to_owned()]);

    // [[connection]] office
    assert_eq!(rt.peers.len(), 3);
    let office = &rt.peers[0];
    assert_eq!(office.name, "office");
    assert_eq!(office.local, sa("192.0.2.1:500"));
    assert_eq!(office.remote, sa("198.51.100.7:500"));
    assert_eq!(
        office.local_id,
        id_from_identity(&Identity::Fqdn("road.example.net".into()))
    );
    assert_eq!(
        office.remote_id,
        id_from_identity(&Identity::Fqdn("vpn.example.net".into()))
    );
    match &office.auth {
        AuthConfig::Psk(k) => assert_eq!(k.expose(), b"correct horse battery staple"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        office.ike_proposals,
        vec![
            suites::ike_aes256gcm16_prfsha384_x25519(),
            suites::ike_aes256_sha256_modp2048()
        ]
    );
    assert_eq!(office.ike_lifetime, Lifetime::IKE_DEFAULT);
    assert_eq!(office.dpd, Some(Duration::from_secs(30)));
    assert!(office.fragmentation);
    assert_eq!(office.tcp.mode, TcpMode::Fallback);
    assert_eq!(office.tcp.remote_port, 443);
    assert_eq!(office.tcp.fallback_delay, Duration::from_millis(800));
    let [child] = office.children.as_slice() else {
        panic!("one Child SA configuration")
    };
    assert_eq!(child.name, "office");
    assert_eq!(child.mode, Mode::Tunnel);
    assert_eq!(child.lifetime, Lifetime::CHILD_DEFAULT);
    assert_eq!(child.replay_window, 128);
    assert_eq!(
        child.local_ts,
        vec![iketcp_proto::ts::subnet("10.1.0.0".parse().unwrap(), 16)]
    );
    assert_eq!(child.remote_ts.len(), 2);
    let esp = &child.esp_proposals;
    assert_eq!(esp.len(), 2);
    assert_eq!(
        esp[0].ke_groups().collect::<Vec<_>>(),
        vec![TransformId::KE_CURVE25519]
    );
    assert_eq!(esp[1].ke_groups().count(), 0);

    // roadwarriors: a responder, from any address, with defaults.
    let rw = &rt.peers[1];
    assert_eq!(rw.remote, sa("0.0.0.0:500"));
    assert_eq!(rw.local, sa("192.0.2.1:500"));
    assert_eq!(
        rw.remote_id,
        id_from_identity(&Identity::Rfc822("alice@example.net".into()))
    );
    match &rw.auth {
        AuthConfig::Psk(k) => assert_eq!(k.expose(), b"test key"),
        other => panic!("{other:?}"),
    }
    assert_eq!(rw.ike_proposals, suites::default_ike());
    assert_eq!(rw.children[0].esp_proposals, suites::default_esp());
    assert_eq!(rw.children[0].mode, Mode::Transport);
    assert_eq!(rw.children[0].replay_window, 0);
    assert_eq!(rw.ike_lifetime.rekey, Duration::from_secs(7200));
    assert!(rw.ike_lifetime.hard > rw.ike_lifetime.rekey + rw.ike_lifetime.jitter);
    assert_eq!(rw.dpd, None);
    assert!(!rw.fragmentation);
    assert_eq!(rw.tcp.mode, TcpMode::No);
    assert_eq!(rw.tcp.remote_port, 4500);
    assert_eq!(rw.tcp.fallback_delay, Duration::from_secs(1));

    // lab: IPv6, so the IPv6 listen address is ours.
    let lab = &rt.peers[2];
    assert_eq!(lab.local, sa("[2001:db8::1]:500"));
    assert_eq!(lab.remote, sa("[2001:db8::9]:500"));
    assert_eq!(
        lab.local_id,
        id_from_identity(&Identity::Ipv6("2001:db8::1".parse().unwrap()))
    );
    assert_eq!(lab.tcp.mode, TcpMode::Yes);

    assert_eq!(config.connection("lab").unwrap().start, Start::Ondemand);
    assert_eq!(
        config.connections[0].remote_addrs,
        vec!["198.51.100.7".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn empty_file_has_the_runtime_defaults() {
    let config = Config::parse("", "empty.toml").unwrap();
    assert!(config.connections.is_empty());
    let rt = config.runtime();
    assert_eq!(rt.driver.udp, vec![sa("0.0.0.0:500"), sa("0.0.0.0:4500")]);
    assert_eq!(rt.driver.tcp, vec![sa("0.0.0.0:4500")]);
    assert_eq!(rt.driver.connect_timeout, Duration::from_secs(5));
    assert_eq!(
        rt.driver.tcp_send_buffer,
        iketcp_io::DriverConfig::default().tcp_send_buffer
    );
    assert_eq!(rt.driver.dscp, None);
    assert_eq!(rt.control_socket, PathBuf::from("/run/iketcp/iketcpd.sock"));
    assert_eq!(rt.key_export_dir, None);
    assert!(!rt.node.export_keys);
    let node = iketcp_node::NodeConfig::default();
    assert_eq!(rt.node.max_streams, 10_000);
    assert_eq!(rt.node.max_streams_per_source, 64);
    assert_eq!(rt.node.prefix_timeout, node.prefix_timeout);
    assert_eq!(rt.node.idle_timeout, node.idle_timeout);
    let ep = iketcp_proto::EndpointConfig::default();
    assert_eq!(rt.endpoint.half_open_limit, ep.half_open_limit);
    assert_eq!(rt.endpoint.half_open_per_source, ep.half_open_per_source);
    assert_eq!(rt.endpoint.cookie_threshold, ep.cookie_threshold);
}

#[test]
fn udp_off_and_system_send_buffer() {
    let text = "[daemon]\nlisten_udp = false\nlisten_tcp = [443]\ntcp_send_buffer = 0\n";
    let rt = Config::parse(text, "x.toml").unwrap().runtime();
    assert!(rt.driver.udp.is_empty());
    assert_eq!(rt.driver.tcp, vec![sa("0.0.0.0:443")]);
    assert_eq!(rt.driver.tcp_send_buffer, None);
}

#[test]
fn lifetimes_from_rekey_time() {
    assert_eq!(
        iketcp_config::lifetime(Duration::from_secs(4 * 3600)),
        Lifetime::IKE_DEFAULT
    );
    assert_eq!(
        iketcp_config::lifetime(Duration::from_secs(3600)),
        Lifetime::CHILD_DEFAULT
    );
    let short = iketcp_config::lifetime(Duration::from_secs(600));
    assert_eq!(short.jitter, Duration::from_secs(60));
    assert_eq!(short.hard, Duration::from_secs(700));
}
