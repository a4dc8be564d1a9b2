//! A TCP flow (iperf3) between the inner subnets of two `iketcpd` in network namespaces,
//! through their tunnel devices: over UDP, over TCP after falling back, across a reset
//! of the TCP connection in the middle of the transfer, and across Child SA and IKE SA
//! rekeys. Needs root (network namespaces, TUN, nftables) and iperf3: skipped with a
//! reason otherwise, never under `CI=true`.
//!
//! The tests take turns (one lock): each moves as much as two cores carry, and a
//! stalled flow must mean a broken tunnel, not a starved one.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::netns::{
    Capture, Net, TunPair, connections, drop_udp, iperf, iperf_intervals, nft, ping_inner, sh, tag,
};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ready() -> bool {
    common::netns::ready(&["iperf3"])
}

/// A transfer of `secs` seconds from the road warrior's inner address to the gateway's,
/// run in a thread so that the test can act on the tunnel meanwhile.
fn transfer(net: &Net, secs: u32) -> std::thread::JoinHandle<Option<serde_json::Value>> {
    let (a, b) = (net.a.clone(), net.b.clone());
    std::thread::spawn(move || iperf(&a, &b, "10.2.0.1", "10.1.0.1", secs))
}

/// Waits (bounded) until the road warrior's Child SA has sent `bytes`.
fn wait_flowing(a: &Daemon, bytes: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let sent = a.try_status().and_then(|s| {
            s.first()
                .and_then(|x| x.children.first().map(|c| c.bytes_out))
        });
        if sent.is_some_and(|b| b >= bytes) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no traffic through the tunnel: {:?}", a.try_status());
}

/// Checks that iperf3 finished without error and that every one of its intervals moved
/// data: the inner TCP flow never stalled.
fn check_flow(report: Option<serde_json::Value>, secs: u32) -> Vec<u64> {
    let r = report.expect("iperf3 ran and reported");
    assert!(r["error"].is_null(), "iperf3: {}", r["error"]);
    let iv = iperf_intervals(&r);
    assert!(iv.len() >= secs as usize, "{iv:?}");
    assert!(
        iv.iter().all(|b| *b > 0),
        "an interval moved nothing: {iv:?}"
    );
    iv
}

/// Two daemons in their namespaces with the tunnel up: over TCP after falling back
/// (UDP dropped at the gateway) when `tcp`, else over UDP. `road` holds extra lines of
/// the road warrior's connection. Dropped in field order: daemons, files, namespaces.
struct Tunnel {
    a: Daemon,
    b: Daemon,
    pair: TunPair,
    net: Net,
    /// The road warrior's IKE SAs once the Child SA was up.
    up: Vec<iketcp_ctl::IkeSaStatus>,
    tag: String,
}

impl Tunnel {
    fn new(n: u32, name: &str, tcp: bool, road: &str) -> Tunnel {
        let tag = tag(n);
        let net = Net::new(&tag);
        let lines = if tcp {
            drop_udp(&net.b);
            format!("enable_tcp = \"fallback\"\nstart = \"start\"\n{road}")
        } else {
            format!("start = \"start\"\n{road}")
        };
        let pair = TunPair::new(&format!("iketcpd-{name}-{tag}"), &lines);
        let (a, b) = pair.start(&net);
        let up = a.wait_tunnel(Duration::from_secs(15)).expect("tunnel up");
        let want = if tcp { "tcp" } else { "udp" };
        assert!(up[0].transport.starts_with(want), "{:?}", up[0]);
        Tunnel {
            a,
            b,
            pair,
            net,
            up,
            tag,
        }
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

// (a) ESP over UDP: a TCP flow through the tunnel, the Child SA on UDP.
#[test]
fn iperf_through_the_tunnel_over_udp() {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = Tunnel::new(2, "udp", false, "");
    check_flow(iperf(&t.net.a, &t.net.b, "10.2.0.1", "10.1.0.1", 3), 3);
    let c = &t.a.status()[0].children[0];
    assert!(c.packets_out > 1000 && c.packets_in > 100, "{c:?}");
}

// (b) UDP dropped by nftables: the tunnel falls back to TCP (R-FB-1) and carries the
// flow as ESP over the connection, with the inner MTU of the maximum message length
// (R-ESP-5: the Child SA's route says so).
#[test]
fn iperf_through_the_tunnel_over_tcp_after_fallback() {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = Tunnel::new(3, "tcp", true, "");
    let net = &t.net;
    let route = Command::new("ip")
        .args(["-n", &net.a, "route", "show", "10.2.0.0/24"])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout).to_string();
    assert!(
        route.contains("dev ikt0") && route.contains("mtu 65460"),
        "{route}"
    );
    check_flow(iperf(&net.a, &net.b, "10.2.0.1", "10.1.0.1", 3), 3);
}

// (c) The TCP connection is reset in the middle of the transfer: the road warrior (its
// Originator) connects again by itself, no SA is lost, and the inner flow survives.
#[test]
fn iperf_survives_a_reset_of_the_connection() {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = Tunnel::new(4, "rst", true, "");
    let (net, a, before) = (&t.net, &t.a, &t.up);
    let flow = transfer(net, 6);
    wait_flowing(a, 1 << 20);
    let old = connections(&net.a, "10.204.0.2", 4500);
    assert_eq!(old.len(), 1, "{old:?}");
    // The gateway's side answers the road warrior's next segment on this connection
    // (and only on it) with a RST, as a middlebox that drops its state does.
    let port = old[0].rsplit(':').next().unwrap().to_string();
    for rule in [
        "add table inet iktrst".to_string(),
        "add chain inet iktrst in { type filter hook input priority -10 ; }".to_string(),
        format!("add rule inet iktrst in tcp sport {port} reject with tcp reset"),
    ] {
        assert!(nft(&net.b, &rule), "nft {rule}");
    }
    wait_for("the reset", || {
        !connections(&net.a, "10.204.0.2", 4500).contains(&old[0])
    });
    let reset_at = Instant::now();
    wait_for("a new connection", || {
        connections(&net.a, "10.204.0.2", 4500)
            .iter()
            .any(|c| *c != old[0])
    });
    println!("connected again {:?} after the reset", reset_at.elapsed());
    assert!(nft(&net.b, "delete table inet iktrst"));
    let iv = check_flow(flow.join().unwrap(), 6);
    assert!(
        iv[iv.len() - 1] > 1 << 20,
        "the flow did not come back: {iv:?}"
    );
    let after = a.status();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].spi_i, before[0].spi_i, "the IKE SA was kept");
    assert_eq!(
        after[0].children[0].spi_in, before[0].children[0].spi_in,
        "the Child SA was kept"
    );
}

// (d) A Child SA rekey and an IKE SA rekey during the transfer: the flow goes on with
// no interval empty.
#[test]
fn iperf_survives_child_and_ike_rekeys() {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = Tunnel::new(
        5,
        "rekey",
        true,
        "rekey_time = \"4s\"\nchild_rekey_time = \"2s\"",
    );
    let (a, before) = (&t.a, &t.up);
    let flow = transfer(&t.net, 7);
    check_flow(flow.join().unwrap(), 7);
    let after = a.status();
    let ike = after
        .iter()
        .find(|s| s.state == "established")
        .unwrap_or_else(|| panic!("{after:?}"));
    assert_ne!(ike.spi_i, before[0].spi_i, "the IKE SA was rekeyed");
    assert!(
        ike.children
            .iter()
            .all(|c| c.spi_in != before[0].children[0].spi_in),
        "the Child SA was rekeyed: {after:?}"
    );
}

// Bad input on the data path over UDP: unknown SPIs, forgeries and truncated packets on
// the Child SA's SPI are dropped, counted by reason (what `iketcp status` shows), never
// delivered, and the tunnel goes on carrying traffic.
#[test]
fn forged_and_unknown_esp_is_dropped_and_counted() {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = Tunnel::new(6, "bad", false, "");
    let (net, b) = (&t.net, &t.b);
    let gw = b.status();
    let spi = u32::from_str_radix(&gw[0].children[0].spi_in, 16).unwrap();
    // From the road warrior's namespace to the gateway's NAT-T port: 500 packets with
    // an SPI nobody uses, 300 with the Child SA's SPI and a made-up body, 20 with the
    // Child SA's SPI and nothing after the sequence number; paced, so that no socket
    // buffer overflows and every one of them is counted.
    let script = format!(
        "import socket,os,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         d=('10.204.0.2',4500)\n\
         h=lambda spi,i: spi.to_bytes(4,'big')+(i+1).to_bytes(4,'big')\n\
         P=[h(0x0badf00d,i)+os.urandom(100) for i in range(500)]\n\
         P+=[h({spi},i)+os.urandom(100) for i in range(300)]+[h({spi},i) for i in range(20)]\n\
         for i,p in enumerate(P): s.sendto(p,d); i%20==19 and time.sleep(0.002)\n"
    );
    assert!(sh(&[
        "ip", "netns", "exec", &net.a, "python3", "-c", &script
    ]));
    let drops = || match b.ask(&iketcp_ctl::Request::Status { connection: None }) {
        Ok(iketcp_ctl::Reply::Status { esp_dropped, .. }) => esp_dropped,
        other => panic!("{other:?}"),
    };
    let counted = (0..500).any(|_| {
        let d = drops();
        if d.unknown_spi >= 500 && d.auth_failed + d.truncated >= 320 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
        false
    });
    assert!(counted, "not all counted: {:?}", drops());
    let d = drops();
    assert_eq!((d.unknown_spi, d.auth_failed), (500, 300), "{d:?}");
    assert!(d.truncated >= 20, "{d:?}");
    let child = &b.status()[0].children[0];
    assert_eq!(child.dropped_in, d.auth_failed + d.truncated, "{child:?}");
    // Nothing of it came out of the device, and the tunnel still works.
    let (ok, text) = ping_inner(&net.a, 3);
    assert!(ok, "{text}");
    assert!(b.status()[0].children[0].packets_in >= 3);
}

/// tshark writing what crosses an interface of a namespace into a file.
// R-ESP-1's counterpart over UDP: genuine ESP packets captured on the wire and sent
// again are refused by the anti-replay window, counted as replayed, never delivered.
#[test]
fn replayed_esp_is_dropped_and_counted() {
    if !common::netns::ready(&["iperf3", "tshark"]) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tunnel = Tunnel::new(8, "replay", false, "");
    let (net, b, t) = (&tunnel.net, &tunnel.b, &tunnel.tag);
    let pcap = tunnel.pair.dir.join("esp.pcap");
    let capture = Capture::start(
        &net.b,
        &format!("v{t}b"),
        "udp dst port 4500 and dst host 10.204.0.2",
        &pcap,
        None,
    );
    let ping = || ping_inner(&net.a, 5).0;
    assert!(ping());
    capture.stop();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-e", "udp.payload"])
        .output()
        .unwrap();
    // ESP in UDP: not the non-ESP marker, not a keepalive.
    let esp: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.replace(':', ""))
        .filter(|l| l.len() > 16 && !l.starts_with("00000000"))
        .collect();
    // tshark says it captures a moment before it does: the first packets may be missed.
    assert!(!esp.is_empty(), "nothing captured");
    let before = b.status()[0].children[0].packets_in;
    let script = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         for h in {esp:?}: s.sendto(bytes.fromhex(h),('10.204.0.2',4500)); time.sleep(0.01)\n"
    );
    assert!(sh(&[
        "ip", "netns", "exec", &net.a, "python3", "-c", &script
    ]));
    let drops = || match b.ask(&iketcp_ctl::Request::Status { connection: None }) {
        Ok(iketcp_ctl::Reply::Status { esp_dropped, .. }) => esp_dropped,
        other => panic!("{other:?}"),
    };
    wait_for("the replays counted", || {
        drops().replayed >= esp.len() as u64
    });
    assert_eq!(drops().replayed, esp.len() as u64);
    assert_eq!(
        b.status()[0].children[0].packets_in,
        before,
        "nothing delivered"
    );
    assert!(ping(), "the tunnel still works");
}

/// The shared folder beside the repository (tools, specs).
fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("IKETCP_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

// What the daemons put on the wire, checked by Wireshark: a capture of the outer TCP
// between two daemons (fallback with UDP dropped, ping through the tunnel, a Child SA
// rekey) passes `validate-pcap.sh` with the keys the road warrior exported as its SAs
// came up and rekeyed: every SK payload and every ESP packet decrypted and verified.
#[test]
fn wireshark_decrypts_a_capture_with_the_exported_keys() {
    if !ready() {
        return;
    }
    let validator = shared_dir().join("tools/wireshark/validate-pcap.sh");
    if !sh(&["tshark", "--version"]) || !validator.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs tshark and has the tools"
        );
        println!("skipped: needs tshark and {}", validator.display());
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = tag(7);
    let net = Net::new(&t);
    drop_udp(&net.b);
    let pair = TunPair::new(
        &format!("iketcpd-pcap-{t}"),
        "enable_tcp = \"fallback\"\nstart = \"start\"\nchild_rekey_time = \"3s\"",
    );
    let keys = pair.dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let road = std::fs::read_to_string(&pair.road).unwrap().replacen(
        "[daemon]\n",
        &format!("[daemon]\nkey_export_dir = \"{}\"\n", keys.display()),
        1,
    );
    std::fs::write(&pair.road, road).unwrap();
    let pcap = pair.dir.join("outer.pcap");
    let capture = Capture::start(&net.b, &format!("v{t}b"), "tcp port 4500", &pcap, None);
    let (a, _b) = pair.start(&net);
    let first = a.wait_tunnel(Duration::from_secs(15)).expect("tunnel up");
    assert_eq!(first[0].transport, "tcp");
    let ping = || ping_inner(&net.a, 3).0;
    assert!(ping());
    let old = first[0].children[0].spi_in.clone();
    wait_for("the Child SA rekey", || {
        a.try_status()
            .is_some_and(|s| s.iter().flat_map(|x| &x.children).any(|c| c.spi_in != old))
    });
    assert!(ping());
    capture.stop();
    let out = Command::new("bash")
        .arg(&validator)
        .args(["-p", "4500", "-D", "-q", "-k"])
        .arg(&keys)
        .arg(&pcap)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "validate-pcap.sh: {text}");
    println!("{text}");
}

// The third carrier, RFC 4303 without RFC 3948: with `raw_esp = true` on both
// daemons and no NAT between them, NAT detection finds none, IKE stays on port 500 and
// ESP crosses the veth as IP protocol 50. A TCP flow and ping go through; Wireshark,
// given the exported keys, decrypts and verifies every ESP packet of the capture, each
// of them protocol 50 and none in UDP.
#[test]
fn raw_esp_carries_the_tunnel_where_no_nat_is_seen() {
    if !common::netns::ready(&["iperf3", "tshark"]) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = tag(13);
    let net = Net::new(&t);
    let pair = TunPair::new(&format!("iketcpd-raw-{t}"), "start = \"start\"");
    let keys = pair.dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for (file, extra) in [
        (
            &pair.road,
            format!("raw_esp = true\nkey_export_dir = \"{}\"\n", keys.display()),
        ),
        (&pair.gateway, "raw_esp = true\n".to_string()),
    ] {
        let text = std::fs::read_to_string(file).unwrap().replacen(
            "[daemon]\n",
            &format!("[daemon]\n{extra}"),
            1,
        );
        std::fs::write(file, text).unwrap();
    }
    let pcap = pair.dir.join("outer.pcap");
    // Whole packets: the ICV check needs them.
    let capture = Capture::start(&net.b, &format!("v{t}b"), "esp or udp", &pcap, None);
    let (a, b) = pair.start(&net);
    let up = a.wait_tunnel(Duration::from_secs(15)).expect("tunnel up");
    assert_eq!(up[0].transport, "udp", "{up:?}");
    assert!(up[0].local.ends_with(":500"), "IKE stays on 500: {up:?}");
    assert_eq!(b.status()[0].transport, "udp");
    let (ok, text) = ping_inner(&net.a, 3);
    assert!(ok, "{text}");
    check_flow(iperf(&net.a, &net.b, "10.2.0.1", "10.1.0.1", 2), 2);
    let c = &a.status()[0].children[0];
    assert!(c.packets_out > 1000 && c.packets_in > 100, "{c:?}");
    capture.stop();

    let cfg = pair.dir.join("wireshark");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::copy(keys.join("esp_sa"), cfg.join("esp_sa")).expect("esp_sa exported");
    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &cfg)
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-o",
            "esp.enable_authentication_check:TRUE",
            "-Y",
            "esp",
            "-T",
            "fields",
            "-E",
            "occurrence=f",
            "-e",
            "ip.proto",
            "-e",
            "udp.port",
            "-e",
            "esp.icv_good",
        ])
        .output()
        .unwrap();
    let lines: Vec<Vec<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert!(lines.len() > 1000, "ESP captured: {}", lines.len());
    let bad: Vec<_> = lines
        .iter()
        .filter(|f| f.len() != 3 || f[0] != "50" || !f[1].is_empty() || f[2] != "1")
        .take(5)
        .collect();
    assert!(bad.is_empty(), "not raw, or not verified: {bad:?}");
    println!("{} ESP packets, all protocol 50, all verified", lines.len());
}
