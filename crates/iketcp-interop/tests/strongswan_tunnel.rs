//! `iketcpd` with its tunnel device against strongSwan 5.9.8's data plane
//! (kernel-libipsec) over UDP: a ping and an iperf3 TCP flow each way between the inner
//! subnets, with `iketcpd` initiating and with strongSwan initiating. Needs root, the
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
    fn start(ns: &str, dir: &Path, start: &str) -> Daemon {
        let socket = dir.join("iketcpd.sock");
        let psk = dir.join("psk");
        std::fs::write(&psk, "iketcp-psk-0123456789abcdef").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&psk, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.join("iketcpd.toml");
        // Side a of the fixture (its `psk` connection, psk-net Child SA): the outer
        // address of a, the inner subnets of the fixture. 10.201.1.1 is on a's lo; the
        // device takes another address of the subnet.
        std::fs::write(
            &config,
            format!(
                r#"
[daemon]
listen = ["10.201.0.1"]
listen_tcp = []
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
        .unwrap();
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
    for (start, who) in [("start", "iketcpd"), ("none", "strongSwan")] {
        let d = Daemon::start(&n.ns_a, &dir, start);
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
