//! `iketcpd` with its tunnel device against strongSwan 5.9.8's data plane
//! (kernel-libipsec) over UDP: a ping and an iperf3 TCP flow each way between the inner
//! subnets, with `iketcpd` initiating and with strongSwan initiating; and MOBIKE (RFC
//! 4555): the initiator's address changes, on either side, and both follow. Needs root, the
//! fixture's packages (`install.sh`), TUN and iperf3; skipped with a reason otherwise,
//! never under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, Names, missing_prerequisite, ping, skip_or_fail};

/// The daemon binary `cargo test --workspace` builds beside this test.
fn iketcpd() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/iketcpd
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("iketcpd"))
        .unwrap()
}

struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Drop for Daemon {
    /// SIGTERM: the daemon deletes its SAs (strongSwan hears of it), then exits and its
    /// device goes; killed if it takes too long.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// `listen`: the address the daemon binds, `0.0.0.0` for any (then the system picks
    /// the source address, as on a laptop whose address changes). `raw_esp`: honest NAT
    /// detection, ESP raw where no NAT is seen.
    fn start(ns: &str, dir: &Path, start: &str, listen: &str, raw_esp: bool) -> Daemon {
        let socket = dir.join("iketcpd.sock");
        let psk = psk_file(dir, "psk", "iketcp-psk-0123456789abcdef");
        // Side a of the fixture (its `psk` connection, psk-net Child SA): the outer
        // address of a, the inner subnets of the fixture. 10.201.1.1 is on a's lo; the
        // device takes another address of the subnet.
        Daemon::spawn(
            ns,
            dir,
            &format!(
                r#"
[daemon]
listen = ["{listen}"]
listen_tcp = []
raw_esp = {raw_esp}
control_socket = "{}"
[tun]
name = "sst0"
address = "10.201.1.5/32"
[[connection]]
name = "psk"
remote_addrs = ["10.201.0.2"]
local_id = "a-psk@ss.test"
remote_id = "b-psk@ss.test"
auth = "psk"
psk_file = "{}"
ike = ["aes128gcm16-prfsha256-ecp256"]
esp = ["aes128gcm16-ecp256"]
local_ts = ["10.201.1.0/24"]
remote_ts = ["10.201.2.0/24"]
start = "{start}"
"#,
                socket.display(),
                psk.display()
            ),
        )
    }

    /// The daemon in namespace `ns` with configuration `text` (its control socket is
    /// `iketcpd.sock` in `dir`).
    fn spawn(ns: &str, dir: &Path, text: &str) -> Daemon {
        let socket = dir.join("iketcpd.sock");
        let config = dir.join("iketcpd.toml");
        std::fs::write(&config, text).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(iketcpd())
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("iketcpd.log")).unwrap())
            .spawn()
            .expect("iketcpd starts");
        Daemon {
            child,
            socket,
            log: dir.join("iketcpd.log"),
        }
    }

    fn status(&self) -> Option<Vec<iketcp_ctl::IkeSaStatus>> {
        match iketcp_ctl::request(
            &self.socket,
            &iketcp_ctl::Request::Status { connection: None },
            Duration::from_secs(5),
        ) {
            Ok(iketcp_ctl::Reply::Status { ike_sas, .. }) => Some(ike_sas),
            _ => None,
        }
    }

    /// Waits (bounded) for an installed Child SA.
    fn wait_child(&self) -> bool {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.status().is_some_and(|s| {
                s.iter()
                    .any(|x| x.state == "established" && !x.children.is_empty())
            }) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// A key file of mode 0600 named `name` in `dir`.
fn psk_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let psk = dir.join(name);
    std::fs::write(&psk, key).unwrap();
    std::fs::set_permissions(&psk, std::fs::Permissions::from_mode(0o600)).unwrap();
    psk
}

/// Mbit/s of a 3 s iperf3 TCP flow between the inner addresses; `reverse`: from b to a.
fn iperf(n: &Names, reverse: bool) -> f64 {
    let mut srv = Command::new("ip")
        .args([
            "netns",
            "exec",
            &n.ns_b,
            "iperf3",
            "-s",
            "-1",
            "-B",
            "10.201.2.1",
        ])
        .args(["-p", "25301"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        let o = Command::new("ip")
            .args([
                "netns", "exec", &n.ns_b, "ss", "-Htln", "sport", "=", ":25301",
            ])
            .output()
            .unwrap();
        if !o.stdout.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Command::new("timeout");
    c.args([
        "15",
        "ip",
        "netns",
        "exec",
        &n.ns_a,
        "iperf3",
        "-c",
        "10.201.2.1",
    ])
    .args(["-B", "10.201.1.1", "-p", "25301", "-t", "3", "-J"]);
    if reverse {
        c.arg("-R");
    }
    let out = c.output().unwrap();
    let _ = srv.kill();
    let _ = srv.wait();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(v["error"].is_null(), "iperf3: {}", v["error"]);
    let intervals: Vec<u64> = v["intervals"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["sum"]["bytes"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        intervals.len() >= 3 && intervals.iter().all(|b| *b > 0),
        "the flow stalled: {intervals:?}"
    );
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0)
        / 1e6
}

#[test]
fn iketcpd_tunnel_with_strongswan_data_plane() {
    if skip_or_fail(
        "iketcpd_tunnel_with_strongswan_data_plane",
        missing_prerequisite(),
    ) {
        return;
    }
    let n = Names::new("sst");
    let f = Fixture::new("tunnel", &n.settings());
    f.up("b");
    let dir = f.state_dir().join("iketcpd");
    std::fs::create_dir_all(&dir).unwrap();
    // Second round with `raw_esp = true`: our NAT detection is honest, charon's
    // libipsec fakes a NAT (it carries UDP-encapsulated ESP only), so we encapsulate.
    for (start, who, raw) in [("start", "iketcpd", false), ("none", "strongSwan", true)] {
        let d = Daemon::start(&n.ns_a, &dir, start, "10.201.0.1", raw);
        if start == "none" {
            // Ready once the control socket answers; then strongSwan initiates.
            let end = Instant::now() + Duration::from_secs(10);
            while d.status().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            f.sw("b", &["--initiate", "--child", "psk-net"]);
        }
        assert!(
            d.wait_child(),
            "{who} initiating: no Child SA: {:?}\n{}",
            d.status(),
            std::fs::read_to_string(&d.log).unwrap_or_default()
        );
        assert!(
            ping(&n.ns_a, "10.201.1.1", "10.201.2.1"),
            "{who} initiating: ping"
        );
        let sa = d.status().unwrap_or_default();
        assert_eq!(sa[0].transport, "udp-encap", "{who} initiating: {sa:?}");
        let up = iperf(&n, false);
        let down = iperf(&n, true);
        println!("{who} initiating: {up:.0} Mbit/s to strongSwan, {down:.0} Mbit/s from it");
        let sas = f.sw("b", &["--list-sas"]);
        assert!(
            sas.contains("psk-net") && sas.contains("INSTALLED"),
            "{sas}"
        );
        drop(d);
    }
}

/// Runs `ip` in namespace `ns`.
fn ip(ns: &str, args: &[&str]) {
    let ok = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip -n {ns} {args:?}");
}

/// Waits (bounded) until `f` holds.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

// RFC 4555 with strongSwan (charon's MOBIKE, its default): MOBIKE is negotiated both
// ways. With iketcpd initiating, our address changes (removed, another added): our
// UPDATE_SA_ADDRESSES moves the SA in charon and the tunnel carries traffic again. With
// charon initiating, its address changes: charon's UPDATE_SA_ADDRESSES moves the SA in
// iketcpd. No new IKE SA either time.
#[test]
fn strongswan_mobike_address_changes_both_ways() {
    if skip_or_fail(
        "strongswan_mobike_address_changes_both_ways",
        missing_prerequisite(),
    ) {
        return;
    }
    let n = Names::new("ssm");
    let f = Fixture::new("mobike", &n.settings());
    f.up("b");
    let dir = f.state_dir().join("iketcpd");
    std::fs::create_dir_all(&dir).unwrap();

    // iketcpd initiates from any address; 10.201.0.1 goes, 10.201.0.3 comes.
    let d = Daemon::start(&n.ns_a, &dir, "start", "0.0.0.0", false);
    assert!(
        d.wait_child(),
        "{}",
        std::fs::read_to_string(&d.log).unwrap_or_default()
    );
    assert!(d.status().unwrap()[0].mobike, "MOBIKE negotiated");
    assert!(ping(&n.ns_a, "10.201.1.1", "10.201.2.1"));
    let spi = d.status().unwrap()[0].spi_i.clone();
    ip(&n.ns_a, &["addr", "del", "10.201.0.1/24", "dev", &n.if_a]);
    ip(&n.ns_a, &["addr", "add", "10.201.0.3/24", "dev", &n.if_a]);
    let moved = wait_until(Duration::from_secs(10), || {
        f.sw("b", &["--list-sas"]).contains("10.201.0.3")
    });
    assert!(
        moved,
        "charon did not follow:\n{}\n{}",
        f.sw("b", &["--list-sas"]),
        std::fs::read_to_string(&d.log).unwrap_or_default()
    );
    assert!(
        wait_until(Duration::from_secs(5), || ping(
            &n.ns_a,
            "10.201.1.1",
            "10.201.2.1"
        )),
        "no traffic after the move"
    );
    let sas = d.status().unwrap();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].spi_i, spi, "the same IKE SA");
    drop(d);
    ip(&n.ns_a, &["addr", "del", "10.201.0.3/24", "dev", &n.if_a]);
    ip(&n.ns_a, &["addr", "add", "10.201.0.1/24", "dev", &n.if_a]);

    // charon initiates; 10.201.0.2 goes, 10.201.0.4 comes.
    let d = Daemon::start(&n.ns_a, &dir, "none", "10.201.0.1", false);
    assert!(wait_until(Duration::from_secs(10), || d.status().is_some()));
    f.sw("b", &["--initiate", "--child", "psk-net"]);
    assert!(
        d.wait_child(),
        "{}",
        std::fs::read_to_string(&d.log).unwrap_or_default()
    );
    assert!(d.status().unwrap()[0].mobike, "MOBIKE negotiated");
    assert!(ping(&n.ns_a, "10.201.1.1", "10.201.2.1"));
    let spi = d.status().unwrap()[0].spi_i.clone();
    // Removing a primary address takes its secondaries along: first out, then in.
    ip(&n.ns_b, &["addr", "del", "10.201.0.2/24", "dev", &n.if_b]);
    ip(&n.ns_b, &["addr", "add", "10.201.0.4/24", "dev", &n.if_b]);
    let moved = wait_until(Duration::from_secs(15), || {
        d.status()
            .is_some_and(|s| s.len() == 1 && s[0].remote.starts_with("10.201.0.4:"))
    });
    assert!(
        moved,
        "iketcpd did not follow: {:?}\n{}\n{}",
        d.status(),
        std::fs::read_to_string(&d.log).unwrap_or_default(),
        f.log("b")
    );
    assert!(
        wait_until(Duration::from_secs(5), || ping(
            &n.ns_a,
            "10.201.1.1",
            "10.201.2.1"
        )),
        "no traffic after the move"
    );
    assert_eq!(d.status().unwrap()[0].spi_i, spi, "the same IKE SA");
}

/// charon b's side of the virtual IP tests, added to its conf.d: `vipgw` leases from
/// 10.201.5.0/24 to an initiator that asks (a-vip), `vipc` asks for an address itself
/// (b-vipc) from a responder that has a pool.
const STRONGSWAN_VIP: &str = r#"
connections {
    vipgw {
        version = 2
        local_addrs = 10.201.0.2
        remote_addrs = 10.201.0.1
        proposals = aes128gcm16-prfsha256-ecp256
        pools = vippool
        local {
            auth = psk
            id = b-vip@ss.test
        }
        remote {
            auth = psk
            id = a-vip@ss.test
        }
        children {
            vipgw-net {
                local_ts = 10.201.2.0/24
                esp_proposals = aes128gcm16-ecp256
            }
        }
    }
    vipc {
        version = 2
        local_addrs = 10.201.0.2
        remote_addrs = 10.201.0.1
        proposals = aes128gcm16-prfsha256-ecp256
        vips = 0.0.0.0
        local {
            auth = psk
            id = b-vipc@ss.test
        }
        remote {
            auth = psk
            id = a-vipc@ss.test
        }
        children {
            vipc-net {
                remote_ts = 10.201.1.0/24
                esp_proposals = aes128gcm16-ecp256
            }
        }
    }
}
pools {
    vippool {
        addrs = 10.201.5.0/24
    }
}
secrets {
    ike-vip {
        id-1 = a-vip@ss.test
        id-2 = b-vip@ss.test
        secret = "iketcp-vip-0123456789abcdef"
    }
    ike-vipc {
        id-1 = a-vipc@ss.test
        id-2 = b-vipc@ss.test
        secret = "iketcp-vip-0123456789abcdef"
    }
}
"#;

// RFC 7296 §2.19 with strongSwan, both ways: iketcpd asks charon (a pool) for an
// address, gets one, puts it on its device and pings from it without naming it; charon
// asks iketcpd (`pools`) for one, installs it, and pings from it.
#[test]
fn strongswan_virtual_ips_both_ways() {
    if skip_or_fail("strongswan_virtual_ips_both_ways", missing_prerequisite()) {
        return;
    }
    let n = Names::new("ssv");
    let f = Fixture::new("vip", &n.settings());
    f.up("b");
    std::fs::write(
        f.state_dir().join("b/swanctl/conf.d/vip.conf"),
        STRONGSWAN_VIP,
    )
    .unwrap();
    f.sw("b", &["--load-all"]);
    let dir = f.state_dir().join("iketcpd");
    std::fs::create_dir_all(&dir).unwrap();
    let psk = psk_file(&dir, "psk", "iketcp-vip-0123456789abcdef");
    let d = Daemon::spawn(
        &n.ns_a,
        &dir,
        &format!(
            r#"
[daemon]
listen = ["10.201.0.1"]
listen_tcp = []
control_socket = "{}"
[tun]
name = "ssv0"
[[connection]]
name = "vip"
remote_addrs = ["10.201.0.2"]
local_id = "a-vip@ss.test"
remote_id = "b-vip@ss.test"
auth = "psk"
psk_file = "{psk}"
ike = ["aes128gcm16-prfsha256-ecp256"]
esp = ["aes128gcm16-ecp256"]
vips = ["0.0.0.0"]
remote_ts = ["10.201.2.0/24"]
start = "start"
[[connection]]
name = "vipc"
local_id = "a-vipc@ss.test"
remote_id = "b-vipc@ss.test"
auth = "psk"
psk_file = "{psk}"
ike = ["aes128gcm16-prfsha256-ecp256"]
esp = ["aes128gcm16-ecp256"]
local_ts = ["10.201.1.0/24"]
pools = ["10.201.6.0/24"]
"#,
            dir.join("iketcpd.sock").display(),
            psk = psk.display(),
        ),
    );
    let log = || std::fs::read_to_string(&d.log).unwrap_or_default();
    assert!(d.wait_child(), "no Child SA: {:?}\n{}", d.status(), log());
    let s = d.status().unwrap();
    assert_eq!(s[0].virtual_ips, ["10.201.5.1"], "{s:?}");
    // No source named: the route's preferred source is the virtual IP.
    let pinged = wait_until(Duration::from_secs(5), || {
        Command::new("ip")
            .args(["netns", "exec", &n.ns_a, "ping", "-c", "1", "-W", "1"])
            .arg("10.201.2.1")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(pinged, "ping from the virtual IP\n{}", log());
    let sas = f.sw("b", &["--list-sas", "--ike", "vipgw"]);
    assert!(sas.contains("10.201.5.1"), "{sas}");

    // The fixture's charon runs with `install_virtual_ip = no`: the address it will be
    // given (the first of our pool) goes on its loopback beforehand, so that its route
    // can name it as source.
    ip(&n.ns_b, &["addr", "add", "10.201.6.1/32", "dev", "lo"]);
    f.sw("b", &["--initiate", "--child", "vipc-net"]);
    let leased = wait_until(Duration::from_secs(10), || {
        d.status().is_some_and(|s| {
            s.iter()
                .any(|x| x.leased == ["10.201.6.1"] && !x.children.is_empty())
        })
    });
    assert!(leased, "{:?}\n{}\n{}", d.status(), log(), f.log("b"));
    assert!(
        wait_until(Duration::from_secs(5), || ping(
            &n.ns_b,
            "10.201.6.1",
            "10.201.1.1"
        )),
        "ping from charon's virtual IP\n{}",
        f.sw("b", &["--list-sas"])
    );
}
