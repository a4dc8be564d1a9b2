//! Helpers for the strongSwan interop tests: the fixture of `shared/interop/strongswan`
//! (one run folder and its own namespace names) and our `iketcp-peer` process.

#![allow(dead_code)] // each test file uses its own part of these helpers

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

pub fn shared_dir() -> PathBuf {
    std::env::var_os("IKETCP_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn fixture_dir() -> PathBuf {
    shared_dir().join("interop/strongswan")
}

/// Why the strongSwan fixture cannot run here, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root for network namespaces".into());
    }
    if !fixture_dir().join("up.sh").exists() {
        return Some(format!("{} not found", fixture_dir().display()));
    }
    if !Path::new("/usr/lib/ipsec/charon").exists() {
        return Some(
            "strongSwan is not installed (run shared/interop/strongswan/install.sh)".into(),
        );
    }
    None
}

/// Prints why `test` is skipped and returns true when `why` is set, or panics under CI.
pub fn skip_or_fail(test: &str, why: Option<String>) -> bool {
    if let Some(why) = why {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cannot run {test} under CI: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return true;
    }
    false
}

/// One run folder of the fixture with its own settings (`SS_*` variables, e.g. namespace
/// names); stops the daemons and removes the namespaces on drop.
pub struct Fixture {
    run: PathBuf,
    settings: Vec<(String, String)>,
}

impl Fixture {
    pub fn new(name: &str, settings: &[(&str, &str)]) -> Self {
        let run = std::env::temp_dir().join(format!("iketcp-ss-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&run).unwrap();
        let f = Fixture {
            run,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        // A leftover from an interrupted run would hold the namespace names.
        f.script("down.sh", &[]);
        f
    }

    fn cmd(&self, script: &str) -> Command {
        let mut c = Command::new(fixture_dir().join(script));
        c.env("IKETCP_INTEROP_RUN", &self.run);
        c.envs(self.settings.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn script(&self, script: &str, args: &[&str]) -> (bool, String) {
        let out = self.cmd(script).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// charon's log of `side`.
    pub fn log(&self, side: &str) -> String {
        std::fs::read_to_string(self.run.join("strongswan").join(side).join("charon.log"))
            .unwrap_or_default()
    }

    pub fn up(&self, side: &str) {
        let (ok, text) = self.script("up.sh", &[side]);
        assert!(ok, "up.sh {side} failed:\n{text}");
    }

    /// The fixture's state folder (`$IKETCP_INTEROP_RUN/strongswan`): `pki/`, and each
    /// side's `charon.log` under `a/` and `b/`.
    pub fn state_dir(&self) -> PathBuf {
        self.run.join("strongswan")
    }

    pub fn sw(&self, side: &str, args: &[&str]) -> String {
        let mut a = vec![side];
        a.extend_from_slice(args);
        let (ok, text) = self.script("sw", &a);
        assert!(ok, "sw {a:?} failed:\n{text}");
        text
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.script("down.sh", &[]);
        let _ = std::fs::remove_dir_all(&self.run);
    }
}

/// Our side: `iketcp-peer` in a namespace, talked to over stdin/stdout, its log (stderr)
/// in a file.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    pub fn spawn(ns: &str, args: &[&str], log: &Path) -> Self {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_iketcp-peer")])
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Peer {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        };
        p.expect("READY", Duration::from_secs(10));
        p
    }

    pub fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for a line containing `what`, after those already matched.
    pub fn expect(&mut self, what: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "no line with {what:?} within {timeout:?}; saw:\n{}",
                        self.tail()
                    )
                }
            }
        }
    }

    /// Reads what is there without waiting long.
    pub fn collect(&mut self, for_: Duration) {
        let end = Instant::now() + for_;
        while let Ok(l) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
    }

    pub fn count(&self, what: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(what)).count()
    }

    pub fn tail(&self) -> String {
        let n = self.seen.len().saturating_sub(40);
        self.seen[n..].join("\n")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three pings from `from` to `to` inside namespace `ns`.
pub fn ping(ns: &str, from: &str, to: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", "-I", from, to,
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pings across the tunnel both ways: from strongSwan's inner address to ours (answered by
/// our process through our ESP), and our own pings answered by strongSwan's host.
pub fn assert_traffic(peer: &mut Peer, ss_ns: &str, ss_inner: &str, our_inner: &str) {
    assert!(
        ping(ss_ns, ss_inner, our_inner),
        "ping {ss_inner} -> {our_inner} through the tunnel failed:\n{}",
        peer.tail()
    );
    peer.collect(Duration::from_millis(300));
    let before = peer.count("PING-REPLY");
    peer.collect(Duration::from_millis(1200));
    assert!(
        peer.count("PING-REPLY") > before,
        "our pings got no reply:\n{}",
        peer.tail()
    );
}

/// Namespace and veth names unique to this process, so test files never collide.
pub struct Names {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
}

impl Names {
    /// `prefix` of three letters keeps interface names within 15 characters.
    pub fn new(prefix: &str) -> Self {
        let id = std::process::id();
        Names {
            ns_a: format!("{prefix}{id}-a"),
            ns_b: format!("{prefix}{id}-b"),
            if_a: format!("{prefix}{id}va"),
            if_b: format!("{prefix}{id}vb"),
        }
    }

    pub fn settings(&self) -> [(&str, &str); 4] {
        [
            ("SS_NS_A", &self.ns_a),
            ("SS_NS_B", &self.ns_b),
            ("SS_IF_A", &self.if_a),
            ("SS_IF_B", &self.if_b),
        ]
    }
}
