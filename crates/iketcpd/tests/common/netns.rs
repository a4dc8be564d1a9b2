//! Network namespaces, daemons in them and their configuration files, for the tests
//! and the tunnel benchmark (root only).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iketcp_ctl::{IkeSaStatus, Reply, Request};

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
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

pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn start(ns: &str, config: &Path, socket: PathBuf) -> Daemon {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_iketcpd"))
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iketcpd starts");
        let d = Daemon { child, socket };
        let end = Instant::now() + Duration::from_secs(10);
        while d.status().is_none() {
            assert!(Instant::now() < end, "iketcpd did not come up in {ns}");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    pub fn status(&self) -> Option<Vec<IkeSaStatus>> {
        match iketcp_ctl::request(
            &self.socket,
            &Request::Status { connection: None },
            Duration::from_secs(5),
        ) {
            Ok(Reply::Status { ike_sas, .. }) => Some(ike_sas),
            _ => None,
        }
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
