//! Liveness against strongSwan 5.9.8 (RFC 7296 §2.4, R-DPD-1): with the fixture's `dpd`
//! connection (charon checks after 5 s of silence, `dpd_action = clear`), each side's
//! liveness checks are answered by the other; once charon's namespace drops our IKE
//! datagrams, our next check goes unanswered, our engine declares the peer dead after
//! its retransmissions, and charon clears its side too.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fixture, Names, Peer, missing_prerequisite, skip_or_fail};

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn r_dpd_1_liveness_with_strongswan() {
    if skip_or_fail("r_dpd_1_liveness_with_strongswan", missing_prerequisite()) {
        return;
    }
    let names = Names::new("ssd");
    let fx = Fixture::new("dpd", &names.settings());
    fx.up("b");
    let log = std::env::temp_dir().join(format!("iketcp-peer-{}.log", names.ns_a));
    // No traffic through the tunnel, so both sides must check liveness in IKE.
    let mut peer = Peer::spawn(
        &names.ns_a,
        &[
            "local=10.201.0.1",
            "remote=10.201.0.2",
            "id=a-dpd@ss.test",
            "remote-id=b-dpd@ss.test",
            "psk=iketcp-dpd-0123456789abcdef",
            "local-ts=10.201.1.0/24",
            "remote-ts=10.201.2.0/24",
            "inner=10.201.1.1",
            "initiate=1",
            "retransmit-ms=500",
        ],
        &log,
    );
    peer.expect("EVENT ChildUp", SECS(15));
    // With nothing else going on, charon checks after 5 s of silence; we answer.
    wait_for_log(&fx, "parsed INFORMATIONAL response", SECS(20));
    // Our own check is answered by charon.
    peer.send("liveness");
    wait_for_log(&fx, "parsed INFORMATIONAL request", SECS(10));
    peer.collect(SECS(1));
    assert_eq!(peer.count("IkeDown"), 0, "{}", peer.tail());

    // charon's host stops answering: drop our IKE on its side.
    let nft = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(["netns", "exec", &names.ns_b, "nft"])
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "nft {args:?} failed");
    };
    nft(&["add", "table", "inet", "iketcpdpd"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "iketcpdpd",
        "in",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    nft(&[
        "add",
        "rule",
        "inet",
        "iketcpdpd",
        "in",
        "ip",
        "saddr",
        "10.201.0.1",
        "udp",
        "dport",
        "{ 500, 4500 }",
        "drop",
    ]);
    // Our next check goes unanswered: 0.5 + 0.75 + 1.125 + 1.69 s of retransmissions.
    let started = Instant::now();
    peer.send("liveness");
    peer.expect("reason: Timeout", SECS(20));
    let took = started.elapsed();
    assert!(took >= SECS(3), "declared dead too soon: {took:?}");
    peer.send("status");
    peer.expect("SA none", SECS(5));
    // charon gives up on its side as well (its own retransmissions, then clear).
    let end = Instant::now() + SECS(60);
    loop {
        let sas = fx.sw("b", &["--list-sas"]);
        if !sas.contains("ESTABLISHED") {
            break;
        }
        assert!(Instant::now() < end, "charon still lists the SA:\n{sas}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn wait_for_log(fx: &Fixture, what: &str, timeout: Duration) {
    let end = Instant::now() + timeout;
    while !fx.log("b").contains(what) {
        assert!(
            Instant::now() < end,
            "{what:?} not in charon's log:\n{}",
            fx.log("b")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
