//! Interop with strongSwan 5.9.8 over UDP, in network namespaces made by
//! `shared/interop/strongswan`: our engine and ESP engine run as a real process
//! (`iketcp-peer`) in one namespace, charon in the other. Both directions of setup,
//! rekeys of Child and IKE SAs from each side, liveness, DELETE from each side, and ping
//! through the tunnel both ways, checked on our side and in strongSwan's own view.
//!
//! Needs root, the strongSwan packages (`install.sh` of the fixture) and TUN. Outside CI
//! it skips with a printed reason when they are missing; with `CI=true` it fails instead.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

fn shared_dir() -> PathBuf {
    std::env::var_os("IKETCP_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn fixture_dir() -> PathBuf {
    shared_dir().join("interop/strongswan")
}

fn missing_prerequisite() -> Option<String> {
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

fn skip_or_fail(test: &str) -> bool {
    if let Some(why) = missing_prerequisite() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cannot run {test} under CI: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return true;
    }
    false
}

/// One run folder of the fixture; stops the daemons and removes the namespaces on drop.
struct Fixture {
    run: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let run = std::env::temp_dir().join(format!("iketcp-ss-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&run).unwrap();
        let f = Fixture { run };
        // A leftover from an interrupted run would hold the namespace names.
        f.script("down.sh", &[]);
        f
    }

    fn cmd(&self, script: &str) -> Command {
        let mut c = Command::new(fixture_dir().join(script));
        c.env("IKETCP_INTEROP_RUN", &self.run);
        c
    }

    fn script(&self, script: &str, args: &[&str]) -> (bool, String) {
        let out = self.cmd(script).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn up(&self, side: &str) {
        let (ok, text) = self.script("up.sh", &[side]);
        assert!(ok, "up.sh {side} failed:\n{text}");
    }

    fn sw(&self, side: &str, args: &[&str]) -> String {
        let mut a = vec![side];
        a.extend_from_slice(args);
        let (ok, text) = self.script("sw", &a);
        assert!(ok, "sw {a:?} failed:\n{text}");
        text
    }

    fn log(&self, side: &str) -> String {
        std::fs::read_to_string(self.run.join("strongswan").join(side).join("charon.log"))
            .unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.script("down.sh", &[]);
        let _ = std::fs::remove_dir_all(&self.run);
    }
}

/// Our side: `iketcp-peer` in a namespace, talked to over stdin/stdout.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    fn spawn(ns: &str, args: &[&str]) -> Self {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_iketcp-peer")])
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(std::env::temp_dir().join(format!("iketcp-peer-{ns}.log")))
                    .unwrap(),
            ))
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

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for a line containing `what`, after those already matched.
    fn expect(&mut self, what: &str, timeout: Duration) -> String {
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
    fn collect(&mut self, for_: Duration) {
        let end = Instant::now() + for_;
        while let Ok(l) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
    }

    fn count(&self, what: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(what)).count()
    }

    fn tail(&self) -> String {
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

fn ping(ns: &str, from: &str, to: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", "-I", from, to,
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const PSK: &str = "psk=iketcp-psk-0123456789abcdef";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Pings across the tunnel both ways: from strongSwan's inner address to ours (answered by
/// our process through our ESP), and our own pings answered by strongSwan's host.
fn assert_traffic(peer: &mut Peer, ss_ns: &str, ss_inner: &str, our_inner: &str) {
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

#[test]
fn strongswan_interop_psk_both_directions() {
    if skip_or_fail("strongswan_interop_psk_both_directions") {
        return;
    }
    let fx = Fixture::new("psk");

    // --- We initiate; charon b responds. ---
    fx.up("b");
    let mut peer = Peer::spawn(
        "ss-a",
        &[
            "local=10.201.0.1",
            "remote=10.201.0.2",
            "id=a-psk@ss.test",
            "remote-id=b-psk@ss.test",
            PSK,
            "local-ts=10.201.1.0/24",
            "remote-ts=10.201.2.0/24",
            "inner=10.201.1.1",
            "ping=10.201.2.1",
            "initiate=1",
        ],
    );
    peer.expect("EVENT ChildUp", SECS(15));
    let sas = fx.sw("b", &["--list-sas"]);
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED") && sas.contains("TUNNEL-in-UDP"),
        "{sas}"
    );
    assert!(
        sas.contains("AES_GCM_16-128/PRF_HMAC_SHA2_256/ECP_256"),
        "{sas}"
    );
    assert_traffic(&mut peer, "ss-b", "10.201.2.1", "10.201.1.1");

    // Child rekey from our side (PFS with group 19, as strongSwan's proposal demands).
    peer.send("rekey-child");
    peer.expect("EVENT ChildRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(5));
    assert_traffic(&mut peer, "ss-b", "10.201.2.1", "10.201.1.1");

    // IKE rekey from our side.
    peer.send("rekey-ike");
    peer.expect("EVENT IkeRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(15));
    // Child rekey and IKE rekey from strongSwan's side.
    fx.sw("b", &["--rekey", "--child", "psk-net"]);
    peer.expect("EVENT ChildRekeyed", SECS(15));
    fx.sw("b", &["--rekey", "--ike", "psk"]);
    peer.expect("EVENT IkeRekeyed", SECS(15));
    assert_traffic(&mut peer, "ss-b", "10.201.2.1", "10.201.1.1");

    // A liveness check from our side is answered.
    peer.send("liveness");
    peer.collect(SECS(2));
    assert_eq!(
        peer.count("IkeDown"),
        2,
        "only the two rekeyed IKE SAs went down:\n{}",
        peer.tail()
    );
    let sas = fx.sw("b", &["--list-sas"]);
    assert_eq!(sas.matches("ESTABLISHED").count(), 1, "{sas}");
    assert_eq!(sas.matches("INSTALLED").count(), 1, "{sas}");

    // strongSwan deletes the IKE SA.
    fx.sw("b", &["--terminate", "--ike", "psk"]);
    peer.expect("reason: PeerDeleted", SECS(15));
    peer.send("status");
    peer.expect("SA none", SECS(5));
    drop(peer);

    // --- charon a initiates; we respond in ss-b. ---
    fx.script("charonctl.sh", &["stop", "b"]);
    fx.up("a");
    let mut peer = Peer::spawn(
        "ss-b",
        &[
            "local=10.201.0.2",
            "remote=10.201.0.1",
            "id=b-psk@ss.test",
            "remote-id=a-psk@ss.test",
            PSK,
            "local-ts=10.201.2.0/24",
            "remote-ts=10.201.1.0/24",
            "inner=10.201.2.1",
            "ping=10.201.1.1",
        ],
    );
    fx.sw("a", &["--initiate", "--child", "psk-net"]);
    peer.expect("EVENT ChildUp", SECS(15));
    let sas = fx.sw("a", &["--list-sas"]);
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    assert_traffic(&mut peer, "ss-a", "10.201.1.1", "10.201.2.1");
    fx.sw("a", &["--rekey", "--child", "psk-net"]);
    peer.expect("EVENT ChildRekeyed", SECS(15));
    peer.send("rekey-child");
    peer.expect("EVENT ChildRekeyed", SECS(15));
    assert_traffic(&mut peer, "ss-a", "10.201.1.1", "10.201.2.1");
    // We delete the IKE SA; strongSwan's view empties.
    peer.send("terminate");
    peer.expect("reason: Local", SECS(15));
    let end = Instant::now() + SECS(10);
    loop {
        let sas = fx.sw("a", &["--list-sas"]);
        if !sas.contains("ESTABLISHED") {
            break;
        }
        assert!(
            Instant::now() < end,
            "strongSwan still lists the SA:\n{sas}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        fx.log("a").contains("received DELETE for IKE_SA"),
        "{}",
        fx.log("a")
    );
}
