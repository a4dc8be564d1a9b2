//! Interop with strongSwan 5.9.8 over UDP, in network namespaces made by
//! `shared/interop/strongswan`: our engine and ESP engine run as a real process
//! (`iketcp-peer`) in one namespace, charon in the other. Both directions of setup,
//! rekeys of Child and IKE SAs from each side, liveness, DELETE from each side, and ping
//! through the tunnel both ways, checked on our side and in strongSwan's own view.
//!
//! Needs root, the strongSwan packages (`install.sh` of the fixture) and TUN. Outside CI
//! it skips with a printed reason when they are missing; with `CI=true` it fails instead.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, Names, Peer, assert_traffic, missing_prerequisite, skip_or_fail};

const PSK: &str = "psk=iketcp-psk-0123456789abcdef";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Our side as initiator in namespace a, against charon b.
fn initiator_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
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
    ];
    v.extend_from_slice(extra);
    v
}

/// Our side as responder in namespace b, for charon a.
fn responder_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "local=10.201.0.2",
        "remote=10.201.0.1",
        "id=b-psk@ss.test",
        "remote-id=a-psk@ss.test",
        PSK,
        "local-ts=10.201.2.0/24",
        "remote-ts=10.201.1.0/24",
        "inner=10.201.2.1",
        "ping=10.201.1.1",
    ];
    v.extend_from_slice(extra);
    v
}

fn log(names: &Names, side: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("iketcp-peer-{}-{side}.log", names.ns_a))
}

#[test]
fn strongswan_interop_psk_both_directions() {
    if skip_or_fail(
        "strongswan_interop_psk_both_directions",
        missing_prerequisite(),
    ) {
        return;
    }
    let names = Names::new("ssp");
    let (ns_a, ns_b) = (names.ns_a.as_str(), names.ns_b.as_str());
    let fx = Fixture::new("psk", &names.settings());

    // --- We initiate; charon b responds. ---
    fx.up("b");
    let mut peer = Peer::spawn(ns_a, &initiator_args(&[]), &log(&names, "a"));
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
    assert_traffic(&mut peer, ns_b, "10.201.2.1", "10.201.1.1");

    // Child rekey from our side (PFS with group 19, as strongSwan's proposal demands).
    peer.send("rekey-child");
    peer.expect("EVENT ChildRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(5));
    assert_traffic(&mut peer, ns_b, "10.201.2.1", "10.201.1.1");

    // IKE rekey from our side.
    peer.send("rekey-ike");
    peer.expect("EVENT IkeRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(15));
    // Child rekey and IKE rekey from strongSwan's side.
    fx.sw("b", &["--rekey", "--child", "psk-net"]);
    peer.expect("EVENT ChildRekeyed", SECS(15));
    fx.sw("b", &["--rekey", "--ike", "psk"]);
    peer.expect("EVENT IkeRekeyed", SECS(15));
    assert_traffic(&mut peer, ns_b, "10.201.2.1", "10.201.1.1");

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

    // --- AES-CBC + HMAC-SHA2 and MODP-2048 for IKE, CBC + HMAC for ESP. ---
    let mut peer = Peer::spawn(
        ns_a,
        &initiator_args(&["ike=aes256-sha256-modp2048", "esp=aes128-sha256-ecp256"]),
        &log(&names, "a"),
    );
    peer.expect("EVENT ChildUp", SECS(15));
    let sas = fx.sw("b", &["--list-sas"]);
    assert!(
        sas.contains("AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"),
        "{sas}"
    );
    assert!(sas.contains("ESP:AES_CBC-128/HMAC_SHA2_256_128"), "{sas}");
    assert_traffic(&mut peer, ns_b, "10.201.2.1", "10.201.1.1");
    peer.send("rekey-child");
    peer.expect("EVENT ChildRekeyed", SECS(15));
    assert_traffic(&mut peer, ns_b, "10.201.2.1", "10.201.1.1");
    peer.send("terminate");
    peer.expect("reason: Local", SECS(15));
    drop(peer);

    // --- charon a initiates; we respond in namespace b. ---
    fx.script("charonctl.sh", &["stop", "b"]);
    fx.up("a");
    let mut peer = Peer::spawn(ns_b, &responder_args(&[]), &log(&names, "b"));
    fx.sw("a", &["--initiate", "--child", "psk-net"]);
    peer.expect("EVENT ChildUp", SECS(15));
    let sas = fx.sw("a", &["--list-sas"]);
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    assert_traffic(&mut peer, ns_a, "10.201.1.1", "10.201.2.1");
    fx.sw("a", &["--rekey", "--child", "psk-net"]);
    peer.expect("EVENT ChildRekeyed", SECS(15));
    peer.send("rekey-child");
    peer.expect("EVENT ChildRekeyed", SECS(15));
    fx.sw("a", &["--rekey", "--ike", "psk"]);
    peer.expect("EVENT IkeRekeyed", SECS(15));
    assert_traffic(&mut peer, ns_a, "10.201.1.1", "10.201.2.1");
    // We delete the IKE SA; strongSwan's view empties.
    peer.send("terminate");
    peer.expect("reason: Local", SECS(15));
    wait_gone(&fx, "a");
    assert!(
        fx.log("a").contains("received DELETE for IKE_SA"),
        "{}",
        fx.log("a")
    );
    drop(peer);

    // --- We accept only MODP-2048: strongSwan's group-19 KE gets INVALID_KE_PAYLOAD
    // and it retries with group 14 (RFC 7296 §1.2). ---
    let mut peer = Peer::spawn(
        ns_b,
        &responder_args(&["ike=aes256-sha256-modp2048"]),
        &log(&names, "b"),
    );
    fx.sw("a", &["--initiate", "--child", "psk-net"]);
    peer.expect("EVENT ChildUp", SECS(15));
    assert!(
        fx.log("a").contains("it requested MODP_2048"),
        "{}",
        fx.log("a")
    );
    let sas = fx.sw("a", &["--list-sas"]);
    assert!(sas.contains("MODP_2048"), "{sas}");
    assert_traffic(&mut peer, ns_a, "10.201.1.1", "10.201.2.1");
    // strongSwan deletes the Child SA alone; the IKE SA stays.
    fx.sw("a", &["--terminate", "--child", "psk-net"]);
    peer.expect("EVENT ChildDown", SECS(15));
    peer.send("status");
    let status = peer.expect("SA ", SECS(5));
    assert!(
        status.contains("children=") && !status.contains("SA none"),
        "{status}"
    );
}

/// Waits until charon `side` lists no established IKE SA.
fn wait_gone(fx: &Fixture, side: &str) {
    let end = Instant::now() + SECS(10);
    loop {
        let sas = fx.sw(side, &["--list-sas"]);
        if !sas.contains("ESTABLISHED") {
            return;
        }
        assert!(
            Instant::now() < end,
            "strongSwan still lists the SA:\n{sas}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
