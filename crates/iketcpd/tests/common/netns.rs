//! Network namespaces, daemons in them and their configuration files, for the tests
//! and the tunnel benchmark (root only).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::daemon::Daemon;

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// True when the caller may go on; false (with the reason printed) when it must skip
/// because it is not root. Under `CI=true` it never skips: CI runs as root.
pub fn root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "this test needs root (network namespaces, TUN) and CI runs as root"
    );
    println!("skipped: needs root for network namespaces and TUN");
    false
}

/// Root and every one of `tools`, or a printed reason to skip (never under `CI=true`,
/// which installs them).
pub fn ready(tools: &[&str]) -> bool {
    if !root_or_skip() {
        return false;
    }
    for t in tools {
        if !sh(&["sh", "-c", &format!("command -v {t}")]) {
            assert!(std::env::var("CI").is_err(), "CI installs {t}");
            println!("skipped: needs {t}");
            return false;
        }
    }
    true
}

/// A namespace tag unique to this process and to `n` (tests of one file number theirs).
pub fn tag(n: u32) -> String {
    format!("{}", std::process::id() % 10_000 + n * 10_000)
}

pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces and a veth between them, removed on drop.
pub struct Net {
    pub a: String,
    pub b: String,
}

impl Net {
    pub fn new(tag: &str) -> Net {
        let n = Net {
            a: format!("ikt{tag}a"),
            b: format!("ikt{tag}b"),
        };
        n.down();
        let (va, vb) = (format!("v{tag}a"), format!("v{tag}b"));
        for c in [
            vec!["ip", "netns", "add", &n.a],
            vec!["ip", "netns", "add", &n.b],
            vec![
                "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
            ],
            vec!["ip", "link", "set", &va, "netns", &n.a],
            vec!["ip", "link", "set", &vb, "netns", &n.b],
            vec!["ip", "-n", &n.a, "addr", "add", "10.204.0.1/24", "dev", &va],
            vec!["ip", "-n", &n.b, "addr", "add", "10.204.0.2/24", "dev", &vb],
            vec!["ip", "-n", &n.a, "link", "set", &va, "up"],
            vec!["ip", "-n", &n.b, "link", "set", &vb, "up"],
            vec!["ip", "-n", &n.a, "link", "set", "lo", "up"],
            vec!["ip", "-n", &n.b, "link", "set", "lo", "up"],
        ] {
            assert!(sh(&c), "{c:?}");
        }
        n
    }

    fn down(&self) {
        sh(&["ip", "netns", "del", &self.a]);
        sh(&["ip", "netns", "del", &self.b]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.down();
    }
}

/// An iperf3 TCP transfer from `ns_client` (bound to `from`) to a server on `server`
/// in `ns_server`, for `secs` seconds: its JSON report, `None` if it could not run.
/// Bounded: the client gives up after its run plus 10 s, the server with it.
pub fn iperf(
    ns_client: &str,
    ns_server: &str,
    server: &str,
    from: &str,
    secs: u32,
) -> Option<serde_json::Value> {
    let mut srv = Command::new("ip")
        .args([
            "netns", "exec", ns_server, "iperf3", "-s", "-1", "-B", server,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // The server is up when its port listens.
    let listening = (0..100).any(|_| {
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns_server, "ss", "-Htln", "sport", "=", ":5201",
            ])
            .output();
        if out.is_ok_and(|o| !o.stdout.is_empty()) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        false
    });
    let out = listening
        .then(|| {
            Command::new("timeout")
                .arg(format!("{}", secs + 10))
                .args([
                    "ip", "netns", "exec", ns_client, "iperf3", "-c", server, "-B", from,
                ])
                .args(["-t", &secs.to_string(), "-J"])
                .output()
                .ok()
        })
        .flatten();
    let _ = srv.kill();
    let _ = srv.wait();
    serde_json::from_slice(&out?.stdout).ok()
}

/// Bytes the receiver got in each one-second interval of an iperf3 report.
pub fn iperf_intervals(report: &serde_json::Value) -> Vec<u64> {
    report["intervals"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["sum"]["bytes"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// `count` pings, 0.2 s apart, from the road warrior's inner address (10.1.0.1, in
/// `ns`) to the gateway's (10.2.0.1) through the tunnel: whether an answer came back
/// (ping's own success), and its output.
pub fn ping_inner(ns: &str, count: u32) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c", &count.to_string()])
        .args(["-i", "0.2", "-W", "2", "-I", "10.1.0.1", "10.2.0.1"])
        .output()
        .expect("ping runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Runs one nft command (words split on spaces) in namespace `ns`.
pub fn nft(ns: &str, rule: &str) -> bool {
    let mut c = vec!["ip", "netns", "exec", ns, "nft"];
    c.extend(rule.split(' '));
    sh(&c)
}

/// UDP to the IKE ports dropped at the input of namespace `ns`.
pub fn drop_udp(ns: &str) {
    for rule in [
        "add table inet ikt",
        "add chain inet ikt in { type filter hook input priority 0 ; }",
        "add rule inet ikt in udp dport { 500, 4500 } drop",
    ] {
        assert!(nft(ns, rule), "nft {rule}");
    }
}

pub fn config(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let psk = dir.join("psk");
    std::fs::write(&psk, "iketcpd-tun-test-shared-secret-0123456789\n").unwrap();
    std::fs::set_permissions(&psk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text.replace("PSK", &psk.display().to_string())).unwrap();
    p
}

/// A road warrior in `Net::a` (inner subnet 10.1.0.0/24) and a gateway in `Net::b`
/// (10.2.0.0/24), each with a tunnel device: their configuration files and control
/// sockets in a fresh directory, removed on drop. `road` holds the lines of the road
/// warrior's connection that differ between uses (`start`, `enable_tcp`).
pub struct TunPair {
    pub dir: PathBuf,
    pub road: PathBuf,
    pub road_socket: PathBuf,
    pub gateway: PathBuf,
    pub gateway_socket: PathBuf,
}

impl TunPair {
    pub fn new(name: &str, road: &str) -> TunPair {
        Self::with_gateway(name, road, "")
    }

    /// As `new`, with `gateway` added to the gateway's `[daemon]` table (`{dir}` in it
    /// names the pair's directory).
    pub fn with_gateway(name: &str, road: &str, gateway: &str) -> TunPair {
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (road_socket, gateway_socket) = (dir.join("a.sock"), dir.join("b.sock"));
        let road = config(
            &dir,
            "a.toml",
            &format!(
                r#"
[daemon]
listen = ["10.204.0.1"]
listen_tcp = []
max_message_length = 65533
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
{road}
"#,
                road_socket.display()
            ),
        );
        let gateway = config(
            &dir,
            "b.toml",
            &format!(
                r#"
[daemon]
listen = ["10.204.0.2"]
listen_tcp = [4500]
max_message_length = 65533
control_socket = "{}"
{}
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
                gateway_socket.display(),
                gateway.replace("{dir}", &dir.display().to_string()),
            ),
        );
        TunPair {
            dir,
            road,
            road_socket,
            gateway,
            gateway_socket,
        }
    }

    /// Starts the gateway, then the road warrior: `(road, gateway)`.
    pub fn start(&self, net: &Net) -> (Daemon, Daemon) {
        let b = Daemon::start_in(&net.b, &self.gateway, self.gateway_socket.clone());
        let a = Daemon::start_in(&net.a, &self.road, self.road_socket.clone());
        (a, b)
    }
}

impl Drop for TunPair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The local ports of `ns`'s established TCP connections to `dst`:`port`.
pub fn connections(ns: &str, dst: &str, port: u16) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-Htn", "state", "established"])
        .args(["dst", dst, "dport", "=", &format!(":{port}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

/// tshark writing what crosses `iface` in `ns` to `file` (the first `snaplen` bytes of
/// each packet, when given).
pub struct Capture(std::process::Child);

impl Capture {
    /// Returns once tshark says it is capturing.
    pub fn start(
        ns: &str,
        iface: &str,
        filter: &str,
        file: &Path,
        snaplen: Option<u32>,
    ) -> Capture {
        let mut c = Command::new("ip");
        c.args([
            "netns", "exec", ns, "tshark", "-n", "-i", iface, "-f", filter,
        ]);
        if let Some(n) = snaplen {
            c.args(["-s", &n.to_string()]);
        }
        let mut tshark = c
            .arg("-w")
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark starts");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = tshark.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("Capturing on") {
                    let _ = tx.send(());
                }
            }
        });
        let c = Capture(tshark);
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("tshark started capturing");
        c
    }

    /// SIGINT, so that tshark writes out what it holds; killed if it takes too long.
    pub fn stop(mut self) {
        sh(&["kill", "-INT", &self.0.id().to_string()]);
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.0.try_wait().ok().flatten().is_none() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
