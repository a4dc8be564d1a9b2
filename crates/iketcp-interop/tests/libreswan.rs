//! Interop with libreswan 4.10 over RFC 9329 TCP, in network namespaces made by
//! `shared/interop/libreswan`: our node and driver run as a real process (`iketcp-peer`)
//! in one namespace, pluto (with the fixture's espintcp shim) in the other. We initiate
//! over TCP, pluto initiates to our TCP responder on 4500 and on 443, we fall back from
//! UDP to TCP, and the fixture's raw framing probe pokes our responder. Each case is
//! checked on our side (stdout events) and on pluto's (`whack --trafficstatus`,
//! `pluto.log`, and the shim's `shim.log`, which logs every record pluto's socket
//! carries).
//!
//! pluto has no ESP here: the shim fakes the kernel SAs and logs ESP records (SPI and
//! sequence number) instead of decrypting them, so our ESP is checked by its SPI only
//! and no ping is ever answered. pluto never retransmits over TCP.
//!
//! Needs root and the libreswan extraction (`install.sh` of the fixture, with
//! `IKETCP_INTEROP_RUN` exported, or `IKETCP_LIBRESWAN_ROOT`). Outside CI it skips with
//! a printed reason when they are missing; with `CI=true` it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Peer, shared_dir, skip_or_fail};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const PSK: &str = "psk=iketcp-interop-psk-0123456789";

fn fixture_dir() -> PathBuf {
    shared_dir().join("interop/libreswan")
}

/// The extracted libreswan package: `IKETCP_LIBRESWAN_ROOT`, or the one `install.sh`
/// recorded in `$IKETCP_INTEROP_RUN/libreswan/root.path`.
fn libreswan_root() -> Result<PathBuf, String> {
    let root = match std::env::var_os("IKETCP_LIBRESWAN_ROOT") {
        Some(r) => PathBuf::from(r),
        None => {
            let run = std::env::var_os("IKETCP_INTEROP_RUN").ok_or(
                "libreswan is not installed: run shared/interop/libreswan/install.sh with \
                 IKETCP_INTEROP_RUN exported (or set IKETCP_LIBRESWAN_ROOT)",
            )?;
            let recorded = Path::new(&run).join("libreswan/root.path");
            let text = std::fs::read_to_string(&recorded).map_err(|e| {
                format!(
                    "{}: {e} (run shared/interop/libreswan/install.sh)",
                    recorded.display()
                )
            })?;
            PathBuf::from(text.trim())
        }
    };
    let pluto = root.join("usr/libexec/ipsec/pluto");
    if pluto.exists() {
        Ok(root)
    } else {
        Err(format!("{} not found", pluto.display()))
    }
}

/// Why the libreswan fixture cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root for network namespaces".into());
    }
    if !fixture_dir().join("up.sh").exists() {
        return Some(format!("{} not found", fixture_dir().display()));
    }
    libreswan_root().err()
}

/// One run folder of the fixture, with its own namespace and interface names (three
/// letters, the process ID, a suffix: within 15 characters) and the extraction shared
/// with the installed one. Stops the plutos and removes the namespaces on drop; the run
/// folder (logs) is kept when the test failed.
struct Fixture {
    run: PathBuf,
    root: PathBuf,
    ns_a: String,
    ns_b: String,
    settings: Vec<(String, String)>,
}

impl Fixture {
    fn new(prefix: &str, tcp_port: u16) -> Self {
        let id = std::process::id();
        let run = std::env::temp_dir().join(format!("iketcp-ls-{prefix}-{id}"));
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run).unwrap();
        let (ns_a, ns_b) = (format!("{prefix}{id}-a"), format!("{prefix}{id}-b"));
        let settings = vec![
            ("LS_NS_A".into(), ns_a.clone()),
            ("LS_NS_B".into(), ns_b.clone()),
            ("LS_IF_A".into(), format!("{prefix}{id}va")),
            ("LS_IF_B".into(), format!("{prefix}{id}vb")),
            ("LS_TCP_PORT".into(), tcp_port.to_string()),
        ];
        Fixture {
            run,
            root: libreswan_root().expect("checked by missing_prerequisite"),
            ns_a,
            ns_b,
            settings,
        }
    }

    fn cmd(&self, script: &str) -> Command {
        let mut c = Command::new(fixture_dir().join(script));
        c.env("IKETCP_INTEROP_RUN", &self.run)
            .env("IKETCP_LIBRESWAN_ROOT", &self.root)
            .envs(self.settings.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
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

    /// Starts pluto `side` (and the namespaces).
    fn up(&self, side: &str) {
        let (ok, text) = self.script("up.sh", &[side]);
        assert!(ok, "up.sh {side} failed:\n{text}");
    }

    /// whack against pluto `side`, bounded by the fixture's `w`.
    fn w(&self, side: &str, args: &[&str]) -> String {
        let mut a = vec![side];
        a.extend_from_slice(args);
        let (ok, text) = self.script("w", &a);
        assert!(ok, "w {a:?} failed:\n{text}");
        text
    }

    fn file(&self, side: &str, name: &str) -> String {
        std::fs::read_to_string(self.run.join("libreswan").join(side).join(name))
            .unwrap_or_default()
    }

    /// pluto's log without its hex dumps.
    fn pluto_log(&self, side: &str) -> String {
        self.file(side, "pluto.log")
            .lines()
            .filter(|l| !l.contains(": | "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn shim_log(&self, side: &str) -> String {
        self.file(side, "shim.log")
    }

    /// Waits until `what` of `side` (read again each time) satisfies `ok`.
    fn wait_for(
        &self,
        side: &str,
        what: &str,
        read: impl Fn(&Fixture, &str) -> String,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let end = Instant::now() + SECS(15);
        loop {
            let text = read(self, side);
            if ok(&text) {
                return text;
            }
            assert!(Instant::now() < end, "pluto {side}: {what}; saw:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_has(&self, side: &str, needle: &str) -> String {
        self.wait_for(
            side,
            &format!("no {needle:?} in pluto.log"),
            |f, s| f.pluto_log(s),
            |t| t.contains(needle),
        )
    }

    fn shim_has(&self, side: &str, needle: &str) -> String {
        self.wait_for(
            side,
            &format!("no {needle:?} in shim.log"),
            |f, s| f.shim_log(s),
            |t| t.contains(needle),
        )
    }

    fn traffic(&self, side: &str) -> String {
        self.w(side, &["--trafficstatus"])
    }

    /// Waits until pluto `side` lists a Child SA of the `tcp` connection (present) or
    /// none (absent).
    fn wait_child(&self, side: &str, present: bool) -> String {
        self.wait_for(
            side,
            if present {
                "no Child SA in --trafficstatus"
            } else {
                "a Child SA still in --trafficstatus"
            },
            |f, s| f.traffic(s),
            |t| t.contains("\"tcp\"") == present,
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (ok, text) = self.script("down.sh", &[]);
        if !ok {
            eprintln!("down.sh failed:\n{text}");
        }
        if std::thread::panicking() {
            eprintln!("libreswan run folder kept: {}", self.run.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.run);
        }
    }
}

/// Our side in namespace a (10.202.0.1, 10.202.1.0/24), for pluto b.
fn side_a<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "local=10.202.0.1",
        "remote=10.202.0.2",
        "id=a.iketcp.test",
        "remote-id=b.iketcp.test",
        PSK,
        "local-ts=10.202.1.0/24",
        "remote-ts=10.202.2.0/24",
        "inner=10.202.1.1",
        "ping=10.202.2.1",
        // libreswan's only proposals: `ike=aes256-sha2_256;modp2048`, `esp=aes256-sha2_256`
        // with PFS (MODP-2048) on Child rekeys.
        "ike=aes256-sha256-modp2048",
        "esp=aes256-sha256-modp2048",
    ];
    v.extend_from_slice(extra);
    v
}

/// Our side in namespace b (10.202.0.2, 10.202.2.0/24), for pluto a.
fn side_b<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "local=10.202.0.2",
        "remote=10.202.0.1",
        "id=b.iketcp.test",
        "remote-id=a.iketcp.test",
        PSK,
        "local-ts=10.202.2.0/24",
        "remote-ts=10.202.1.0/24",
        "inner=10.202.2.1",
        "ping=10.202.1.1",
        "ike=aes256-sha256-modp2048",
        "esp=aes256-sha256-modp2048",
    ];
    v.extend_from_slice(extra);
    v
}

fn peer_log(fx: &Fixture, name: &str) -> PathBuf {
    fx.run.join(format!("iketcp-peer-{name}.log"))
}

/// The SPIs of a `CHILD-INSTALLED <in> <out>` line, as pluto prints them (0x%08x).
fn spis(line: &str) -> (String, String) {
    let mut w = line.split_whitespace().skip(1);
    let (i, o) = (w.next().unwrap(), w.next().unwrap());
    (format!("0x{i}"), format!("0x{o}"))
}

/// Waits for the next Child SA our node installs and returns its SPIs.
fn child_installed(peer: &mut Peer) -> (String, String) {
    spis(&peer.expect("CHILD-INSTALLED", SECS(15)))
}

/// Our `status` line: the IKE SA's path.
fn status(peer: &mut Peer) -> String {
    peer.send("status");
    peer.expect("SA ", SECS(5))
}

// R-CFG-1, R-FB-3, R-FRAME-1, R-FRAME-2, R-FRAME-3, R-CONN-1, R-CONN-9, R-ESP-1: with
// `tcp=yes` and no UDP socket at all, our node opens one TCP connection to pluto and
// runs IKE_SA_INIT, IKE_AUTH, a Child rekey, an IKE rekey and DELETE on it; our ESP goes
// over the same connection with the SPI pluto chose. pluto reads the stream prefix with
// one read(): the node's framer puts `IKETCP` in the same buffer as the first record and
// the driver writes each buffer with one write_all, so the prefix never arrives alone.
#[test]
fn libreswan_we_initiate_over_tcp() {
    if skip_or_fail("libreswan_we_initiate_over_tcp", missing_prerequisite()) {
        return;
    }
    let fx = Fixture::new("lsi", 4500);
    fx.up("b");
    let mut peer = Peer::spawn(
        &fx.ns_a,
        &side_a(&["initiate=1", "tcp=yes", "udp=0"]),
        &peer_log(&fx, "a"),
    );
    let (our_in, our_out) = child_installed(&mut peer);
    peer.expect("EVENT IkeUp", SECS(15));
    peer.expect("EVENT ChildUp", SECS(15));
    let path = status(&mut peer);
    assert!(
        path.contains("-> 10.202.0.2:4500 (tcp#"),
        "not over TCP: {path}"
    );
    // pluto's view: both SAs up, ESP in TCP, with the SPIs we have (its outbound SPI is
    // our inbound one).
    let log = fx.log_has("b", "responder established IKE SA");
    // pluto closes a stream whose first read() returns less than the prefix.
    assert!(!log.contains("expecting 6"), "{log}");
    let log = fx.log_has("b", "responder established Child SA");
    assert!(
        log.contains(&format!("ESPinTCP=>{our_in} <{our_out}")),
        "SPIs {our_in}/{our_out} not in pluto's Child SA:\n{log}"
    );
    assert!(log.contains("xfrm=AES_CBC_256-HMAC_SHA2_256_128"), "{log}");
    let t = fx.wait_child("b", true);
    assert!(t.contains("type=ESP"), "{t}");
    // Our pings are ESP records on the connection, with the SPI pluto negotiated.
    fx.shim_has("b", &format!("is ESP (SPI {our_out} seq 1,"));

    // Child rekey from our side, with PFS (MODP-2048), on the same connection.
    peer.send("rekey-child");
    let (new_in, new_out) = child_installed(&mut peer);
    peer.expect("EVENT ChildRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(5));
    let log = fx.log_has("b", "responder rekeyed Child SA");
    assert!(
        log.contains(&format!("ESPinTCP=>{new_in} <{new_out}"))
            && log.contains("HMAC_SHA2_256_128-MODP2048"),
        "{log}"
    );
    fx.shim_has("b", &format!("is ESP (SPI {new_out} seq 1,"));

    // IKE rekey from our side.
    peer.send("rekey-ike");
    peer.expect("EVENT IkeRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(15));
    fx.log_has("b", "responder rekeyed IKE SA");
    fx.wait_child("b", true);
    let after = status(&mut peer);
    // R-CONN-1: the same connection (same local port, same stream) throughout.
    let conn = |s: &str| s.split_whitespace().skip(4).collect::<Vec<_>>()[..4].join(" ");
    assert_eq!(conn(&path), conn(&after), "{path}\n{after}");
    assert_eq!(peer.count("CLOSED"), 0, "{}", peer.tail());

    // DELETE from our side: pluto's view empties, and we close the connection (R-CONN-9).
    peer.send("terminate");
    peer.expect("CLOSED tcp#", SECS(15));
    peer.expect("reason: Local", SECS(15));
    fx.wait_child("b", false);
    // One accepted socket for everything, and it is gone.
    let shim = fx.shim_has("b", "close (espintcp emulation");
    assert_eq!(
        shim.matches("emulating RFC 8229 framing").count(),
        1,
        "{shim}"
    );
    assert!(!shim.contains("bad RFC 8229 Length"), "{shim}");
    drop(peer);

    // Another run: pluto deletes the IKE SA, and we see it.
    let mut peer = Peer::spawn(
        &fx.ns_a,
        &side_a(&["initiate=1", "tcp=yes", "udp=0"]),
        &peer_log(&fx, "a2"),
    );
    peer.expect("EVENT ChildUp", SECS(15));
    fx.wait_child("b", true);
    fx.w("b", &["--terminate", "--name", "tcp"]);
    peer.expect("reason: PeerDeleted", SECS(15));
    peer.send("status");
    peer.expect("SA none", SECS(5));
    fx.wait_child("b", false);
}

/// pluto a initiates to our responder on TCP `port` (R-CFG-1: the listening port is
/// configured); pluto rekeys the Child SA and the IKE SA on the connection.
fn pluto_initiates(prefix: &str, port: u16, extra: &[&str]) {
    let fx = Fixture::new(prefix, port);
    fx.up("a");
    let listen = format!("listen-tcp={port}");
    let mut args = vec![listen.as_str()];
    args.extend_from_slice(extra);
    let mut peer = Peer::spawn(&fx.ns_b, &side_b(&args), &peer_log(&fx, "b"));
    fx.w("a", &["--initiate", "--name", "tcp"]);
    let (our_in, our_out) = child_installed(&mut peer);
    peer.expect("EVENT IkeUp", SECS(15));
    peer.expect("EVENT ChildUp", SECS(15));
    let path = status(&mut peer);
    assert!(
        path.contains(&format!("10.202.0.2:{port} -> 10.202.0.1:")) && path.contains("(tcp#"),
        "not over TCP {port}: {path}"
    );
    fx.log_has("a", "initiator established IKE SA");
    let log = fx.log_has("a", "initiator established Child SA");
    assert!(
        log.contains(&format!("ESPinTCP=>{our_in} <{our_out}")),
        "SPIs {our_in}/{our_out} not in pluto's Child SA:\n{log}"
    );
    fx.wait_child("a", true);
    // Our ESP reaches pluto over its own connection (RFC 9329 §6: the Responder sends
    // on the connection the Originator opened).
    fx.shim_has("a", &format!("is ESP (SPI {our_out} seq 1,"));

    // Rekeys started by pluto, on the same connection.
    fx.w("a", &["--rekey-ipsec", "--name", "tcp"]);
    let (_, new_out) = child_installed(&mut peer);
    peer.expect("EVENT ChildRekeyed", SECS(15));
    fx.log_has("a", "initiator rekeyed Child SA");
    fx.shim_has("a", &format!("is ESP (SPI {new_out} seq 1,"));
    fx.w("a", &["--rekey-ike", "--name", "tcp"]);
    peer.expect("EVENT IkeRekeyed", SECS(15));
    fx.log_has("a", "initiator rekeyed IKE SA");
    fx.wait_child("a", true);
    let after = status(&mut peer);
    assert!(after.contains("(tcp#"), "{after}");
    assert_eq!(peer.count("CLOSED"), 0, "{}", peer.tail());
    let shim = fx.shim_log("a");
    assert_eq!(
        shim.matches("emulating RFC 8229 framing").count(),
        1,
        "{shim}"
    );

    // pluto deletes the IKE SA.
    fx.w("a", &["--terminate", "--name", "tcp"]);
    peer.expect("reason: PeerDeleted", SECS(15));
    fx.wait_child("a", false);
}

// R-CFG-1, R-FRAME-1, R-CONN-5: pluto writes `IKETCP` in a segment of its own, before
// the first record; our responder on TCP 4500 takes the prefix and the records as they
// come and answers every request on pluto's connection.
#[test]
fn libreswan_initiates_to_our_tcp_4500() {
    if skip_or_fail(
        "libreswan_initiates_to_our_tcp_4500",
        missing_prerequisite(),
    ) {
        return;
    }
    pluto_initiates("lsr", 4500, &[]);
}

// R-CFG-1: a responder on TCP 443 only, with UDP listening turned off.
#[test]
fn libreswan_initiates_to_our_tcp_443_without_udp() {
    if skip_or_fail(
        "libreswan_initiates_to_our_tcp_443_without_udp",
        missing_prerequisite(),
    ) {
        return;
    }
    pluto_initiates("lsh", 443, &["udp=0"]);
}

/// The packets the fixture's `block-udp.sh` dropped in namespace `ns`.
fn udp_dropped(ns: &str) -> u64 {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "nft", "list", "table", "inet", "ls_block",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in:\n{text}"))
}

// R-FB-1, R-FB-2: UDP to pluto is dropped; with `tcp=fallback` we try IKE_SA_INIT over
// UDP (and retransmit it once) before a new IKE_SA_INIT over TCP, which pluto answers.
#[test]
fn libreswan_fallback_from_udp_to_tcp() {
    if skip_or_fail("libreswan_fallback_from_udp_to_tcp", missing_prerequisite()) {
        return;
    }
    let fx = Fixture::new("lsf", 4500);
    fx.up("b");
    let (ok, text) = fx.script("block-udp.sh", &["on", "b"]);
    assert!(ok, "block-udp.sh failed:\n{text}");
    let started = Instant::now();
    let mut peer = Peer::spawn(
        &fx.ns_a,
        &side_a(&["initiate=1", "tcp=fallback"]),
        &peer_log(&fx, "a"),
    );
    peer.expect("EVENT FellBackToTcp", SECS(10));
    peer.expect("EVENT ChildUp", SECS(15));
    let took = started.elapsed();
    let path = status(&mut peer);
    assert!(
        path.contains("-> 10.202.0.2:4500 (tcp#"),
        "not over TCP: {path}"
    );
    let dropped = udp_dropped(&fx.ns_b);
    assert!(
        dropped >= 2,
        "{dropped} UDP datagrams reached pluto's namespace: the IKE_SA_INIT and one \
         retransmission at least"
    );
    fx.log_has("b", "responder established Child SA");
    fx.wait_child("b", true);
    println!("Child SA up over TCP {took:?} after the start, {dropped} UDP datagrams dropped");
    peer.send("terminate");
    peer.expect("reason: Local", SECS(15));
    fx.wait_child("b", false);
}

/// Runs the fixture's probe in `mode` against our responder; its exit status.
fn probe(fx: &Fixture, mode: &str) -> (i32, String) {
    let out = Command::new("timeout")
        .args(["20", "ip", "netns", "exec", &fx.ns_a, "python3"])
        .arg(fixture_dir().join("tcp-framing-probe.py"))
        .args([mode, "gen", "10.202.0.2", "4500"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// R-FRAME-1, R-FRAME-2, R-FRAME-3, R-FRAME-6, R-SEC-4: the fixture's raw client against
// our responder. The prefix and record in one write, the record byte by byte, the
// prefix split 3+3 (accepted by us, unlike pluto, which reads it with one read()), an
// ESP record and a keepalive before IKE (dropped, the IKE answered): an IKE_SA_INIT
// response each time. IKE without a Length field reads as Length 0: the connection is
// closed.
#[test]
fn libreswan_framing_probe_against_our_responder() {
    if skip_or_fail(
        "libreswan_framing_probe_against_our_responder",
        missing_prerequisite(),
    ) {
        return;
    }
    let fx = Fixture::new("lsp", 4500);
    let (ok, text) = fx.script("netns.sh", &["up"]);
    assert!(ok, "netns.sh up failed:\n{text}");
    let mut peer = Peer::spawn(
        &fx.ns_b,
        &side_b(&["listen-tcp=4500", "udp=0"]),
        &peer_log(&fx, "b"),
    );
    let modes = [
        ("coalesced", 0),
        ("split", 0),
        ("split-prefix", 0),
        ("esp-first", 0),
        ("no-length", 3),
    ];
    // Each probe listens for 5 s after it sent: all at once, each on its own connection.
    let results: Vec<(i32, String)> = std::thread::scope(|s| {
        let probes: Vec<_> = modes
            .iter()
            .map(|(mode, _)| s.spawn(|| probe(&fx, mode)))
            .collect();
        probes.into_iter().map(|p| p.join().unwrap()).collect()
    });
    for ((mode, want), (code, out)) in modes.into_iter().zip(results) {
        assert_eq!(
            code,
            want,
            "probe {mode}:\n{out}\nour side:\n{}",
            peer.tail()
        );
        if want == 0 {
            assert!(out.contains("IKE exch=34 flags=0x20 msgid=0"), "{out}");
        }
    }
    peer.expect("CLOSED tcp#", SECS(5));
    peer.collect(Duration::from_millis(200));
    // Only the connection without a Length field was closed by us, for its framing.
    assert_eq!(peer.count("CLOSED"), 1, "{}", peer.tail());
    assert!(
        peer.tail().contains("framing: Length field 0"),
        "{}",
        peer.tail()
    );
}
