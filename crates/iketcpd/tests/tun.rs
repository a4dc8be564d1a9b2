//! Two `iketcpd` in their own network namespaces, joined by a veth, each with a tunnel
//! device: UDP is dropped at the gateway by nftables, the road warrior falls back to TCP,
//! and `ping` from one inner subnet to the other goes through the Child SA's ESP over the
//! connection. Needs root (network namespaces, TUN, nftables): skipped with a reason
//! otherwise, never under `CI=true`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{Daemon, Net, config, is_root, sh};

// R-FB-1, R-ESP-1 end to end: UDP dropped by nftables at the gateway, the tunnel falls
// back to TCP, and ping between the inner subnets goes through TUN, ESP over TCP, TUN.
#[test]
fn ping_through_tun_over_tcp_with_udp_dropped() {
    if !is_root() {
        assert!(
            std::env::var("CI").is_err(),
            "this test needs root (network namespaces, TUN) and CI runs as root"
        );
        println!("skipped: needs root for network namespaces and TUN");
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000);
    let net = Net::new(&tag);
    let dir = std::env::temp_dir().join(format!("iketcpd-tun-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (sa, sb) = (dir.join("a.sock"), dir.join("b.sock"));
    let fa = config(
        &dir,
        "a.toml",
        &format!(
            r#"
[daemon]
listen = ["10.204.0.1"]
listen_tcp = []
control_socket = "{}"

[tun]
name = "ikt0"
address = "10.1.0.1/24"

[[connection]]
name = "gateway"
remote_addrs = ["10.204.0.2"]
local_id = "road.tun.test"
remote_id = "gw.tun.test"
auth = "psk"
psk_file = "PSK"
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
enable_tcp = "fallback"
start = "start"
"#,
            sa.display()
        ),
    );
    let fb = config(
        &dir,
        "b.toml",
        &format!(
            r#"
[daemon]
listen = ["10.204.0.2"]
listen_tcp = [4500]
control_socket = "{}"

[tun]
name = "ikt0"
address = "10.2.0.1/24"

[[connection]]
name = "road"
local_id = "gw.tun.test"
remote_id = "road.tun.test"
auth = "psk"
psk_file = "PSK"
local_ts = ["10.2.0.0/24"]
remote_ts = ["10.1.0.0/24"]
start = "none"
"#,
            sb.display()
        ),
    );
    // The gateway's network drops UDP: the middlebox every road warrior meets.
    for rule in [
        "add table inet ikt",
        "add chain inet ikt in { type filter hook input priority 0 ; }",
        "add rule inet ikt in udp dport { 500, 4500 } drop",
    ] {
        let mut c = vec!["ip", "netns", "exec", &net.b, "nft"];
        c.extend(rule.split(' '));
        assert!(sh(&c), "nft {rule}");
    }
    let b = Daemon::start(&net.b, &fb, sb);
    let a = Daemon::start(&net.a, &fa, sa);
    let end = Instant::now() + Duration::from_secs(15);
    let up = loop {
        let s = a.status().unwrap_or_default();
        if s.iter()
            .any(|x| x.state == "established" && !x.children.is_empty())
        {
            break s;
        }
        assert!(Instant::now() < end, "no tunnel: {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(up[0].transport, "tcp");
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &net.a, "ping", "-c", "3", "-i", "0.2", "-W", "2",
        ])
        .args(["-I", "10.1.0.1", "10.2.0.1"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let s = a.status().unwrap();
    let c = &s[0].children[0];
    assert!(c.packets_out >= 3 && c.packets_in >= 3, "{c:?}");
    let g = b.status().unwrap();
    assert_eq!(g[0].transport, "tcp");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

// `start = "ondemand"`: no SA until the host sends traffic the connection covers; the
// first packet starts it, and the ping gets its answers once the Child SA is up.
#[test]
fn ondemand_starts_on_traffic() {
    if !is_root() {
        assert!(std::env::var("CI").is_err(), "CI runs as root");
        println!("skipped: needs root for network namespaces and TUN");
        return;
    }
    let tag = format!("{}", std::process::id() % 10_000 + 10_000);
    let net = Net::new(&tag);
    let dir = std::env::temp_dir().join(format!("iketcpd-ondemand-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (sa, sb) = (dir.join("a.sock"), dir.join("b.sock"));
    let fa = config(
        &dir,
        "a.toml",
        &format!(
            r#"
[daemon]
listen = ["10.204.0.1"]
listen_tcp = []
control_socket = "{}"
[tun]
name = "ikt0"
address = "10.1.0.1/24"
[[connection]]
name = "gateway"
remote_addrs = ["10.204.0.2"]
local_id = "road.tun.test"
remote_id = "gw.tun.test"
auth = "psk"
psk_file = "PSK"
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
start = "ondemand"
"#,
            sa.display()
        ),
    );
    let fb = config(
        &dir,
        "b.toml",
        &format!(
            r#"
[daemon]
listen = ["10.204.0.2"]
control_socket = "{}"
[tun]
name = "ikt0"
address = "10.2.0.1/24"
[[connection]]
name = "road"
local_id = "gw.tun.test"
remote_id = "road.tun.test"
auth = "psk"
psk_file = "PSK"
local_ts = ["10.2.0.0/24"]
remote_ts = ["10.1.0.0/24"]
"#,
            sb.display()
        ),
    );
    let b = Daemon::start(&net.b, &fb, sb);
    let a = Daemon::start(&net.a, &fa, sa);
    std::thread::sleep(Duration::from_millis(300));
    assert!(a.status().unwrap().is_empty(), "nothing before traffic");
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &net.a, "ping", "-c", "10", "-i", "0.2", "-W", "1",
        ])
        .args(["-I", "10.1.0.1", "10.2.0.1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success(), "no answer at all: {text}");
    let s = a.status().unwrap();
    assert!(s.iter().any(|x| x.state == "established"), "{s:?}");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}
