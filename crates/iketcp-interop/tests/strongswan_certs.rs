//! Certificate authentication against strongSwan 5.9.8 (RFC 7296 §2.15, RFC 7427), with
//! the fixture's PKI (`gen-certs.sh`: ECDSA P-256 and RSA-3072 certificates made by
//! OpenSSL). Our `iketcp-peer` runs with `cert=`, `key=` and `ca=` in one namespace,
//! charon in the other, using the fixture's connections:
//! - `ecdsa`: RFC 7427 with ecdsa-with-SHA256;
//! - `rsa`: RFC 7427 with PKCS#1 v1.5 and SHA-256; RSA-3072 makes IKE_AUTH larger than
//!   the fragment size, so both sides send it as RFC 7383 fragments;
//! - `rsapss`: RFC 7427 with RSASSA-PSS and SHA-256 (strongSwan's `rsa/pss-sha256`).
//!
//! Each connection is set up with us initiating (charon b responds) and with charon a
//! initiating (we respond); each time ping goes both ways through the tunnel, strongSwan
//! lists the SAs as ESTABLISHED and INSTALLED, and its log names the signature scheme it
//! verified ours with. Each test uses namespace names of its own.
//!
//! Needs root, the strongSwan packages (`install.sh` of the fixture) and TUN. Outside CI
//! it skips with a printed reason when they are missing; with `CI=true` it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Fixture, Names, Peer, assert_traffic, missing_prerequisite, skip_or_fail};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// One of the fixture's certificate connections.
struct Conn {
    /// The swanctl connection name; its child is `<name>-net`.
    name: &'static str,
    /// The PKI file stem of the end-entity credentials (`<side>-<stem>.{pem,key}`) and
    /// of the CA (`ca-<stem>.pem`).
    stem: &'static str,
    /// Extra `iketcp-peer` arguments.
    extra: &'static [&'static str],
    /// How charon's log names the scheme it verified our AUTH with.
    scheme: &'static str,
    /// Whether IKE_AUTH is fragmented (RFC 7383) in both directions.
    fragmented: bool,
}

const CONNS: [Conn; 3] = [
    Conn {
        name: "ecdsa",
        stem: "ecdsa",
        extra: &[],
        scheme: "ECDSA_WITH_SHA256_DER",
        fragmented: false,
    },
    Conn {
        name: "rsa",
        stem: "rsa",
        extra: &[],
        scheme: "RSA_EMSA_PKCS1_SHA2_256",
        fragmented: true,
    },
    Conn {
        name: "rsapss",
        stem: "rsa",
        extra: &["rsa-padding=pss"],
        scheme: "RSA_EMSA_PSS_SHA2_256_SALT_32",
        fragmented: true,
    },
];

fn peer_log(tag: &str, conn: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "iketcp-peer-certs-{tag}-{conn}-{}.log",
        std::process::id()
    ))
}

/// The `iketcp-peer` arguments for `conn` as side `me` ("a" or "b").
fn peer_args(pki: &Path, conn: &Conn, me: &str, initiate: bool) -> Vec<String> {
    let (peer, local, remote, local_ts, remote_ts, inner, ping) = if me == "a" {
        (
            "b",
            "10.201.0.1",
            "10.201.0.2",
            "10.201.1.0/24",
            "10.201.2.0/24",
            "10.201.1.1",
            "10.201.2.1",
        )
    } else {
        (
            "a",
            "10.201.0.2",
            "10.201.0.1",
            "10.201.2.0/24",
            "10.201.1.0/24",
            "10.201.2.1",
            "10.201.1.1",
        )
    };
    let file = |name: String| format!("{}", pki.join(name).display());
    let mut args = vec![
        format!("local={local}"),
        format!("remote={remote}"),
        // ID_FQDN, equal to a subjectAltName of the certificate.
        format!("id={me}.{}.ss.test", conn.name),
        format!("remote-id={peer}.{}.ss.test", conn.name),
        format!("cert={}", file(format!("{me}-{}.pem", conn.stem))),
        format!("key={}", file(format!("{me}-{}.key", conn.stem))),
        format!("ca={}", file(format!("ca-{}.pem", conn.stem))),
        format!("local-ts={local_ts}"),
        format!("remote-ts={remote_ts}"),
        format!("inner={inner}"),
        format!("ping={ping}"),
    ];
    args.extend(conn.extra.iter().map(|s| s.to_string()));
    if initiate {
        args.push("initiate=1".into());
    }
    args
}

/// strongSwan's view of `conn` on `side`: established with certificates and installed.
fn assert_listed(fx: &Fixture, side: &str, conn: &Conn) {
    let sas = fx.sw(side, &["--list-sas", "--ike", conn.name]);
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED") && sas.contains("TUNNEL-in-UDP"),
        "{sas}"
    );
    assert!(sas.contains(&format!("{}-net", conn.name)), "{sas}");
}

/// What charon's log must say about one setup: it verified our AUTH with the expected
/// scheme (and so our CERT chained to its CA and carried our ID), it used the certificate
/// we sent, it matched our CERTREQ to its CA when we initiated, and, for RSA-3072, both
/// sides fragmented IKE_AUTH.
fn assert_charon_log(log_before: usize, log: &str, conn: &Conn, our_id: &str, initiator: bool) {
    let log = &log[log_before..];
    if initiator {
        // RFC 7296 §3.7: the SHA-1 of the CA's SubjectPublicKeyInfo names it.
        let certreq = format!(
            "received cert request for \"O=iketcp-test, CN=iketcp test CA {}\"",
            conn.stem
        );
        assert!(log.contains(&certreq), "no {certreq:?} in:\n{log}");
    }
    let verified = format!(
        "authentication of '{our_id}' with {} successful",
        conn.scheme
    );
    assert!(log.contains(&verified), "no {verified:?} in:\n{log}");
    assert!(
        log.contains("received end entity cert"),
        "strongSwan did not take our CERT:\n{log}"
    );
    assert!(log.contains("N(HASH_ALG)"), "{log}");
    if conn.fragmented {
        // Our IKE_AUTH reached charon in fragments, and charon sent its own in fragments,
        // which we reassembled (or the SA would not be up).
        assert!(
            log.contains("reassembled fragmented IKE message"),
            "charon received no fragments from us:\n{log}"
        );
        assert!(
            log.contains("splitting IKE message"),
            "charon sent no fragments:\n{log}"
        );
    }
}

/// Waits until strongSwan lists no IKE SA of `conn` on `side`.
fn wait_gone(fx: &Fixture, side: &str, conn: &Conn) {
    let end = Instant::now() + SECS(10);
    loop {
        let sas = fx.sw(side, &["--list-sas", "--ike", conn.name]);
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

#[test]
fn strongswan_certs_we_initiate() {
    if skip_or_fail("strongswan_certs_we_initiate", missing_prerequisite()) {
        return;
    }
    let names = Names::new("ssi");
    let fx = Fixture::new("certs-i", &names.settings());
    fx.up("b");
    let pki = fx.state_dir().join("pki");
    for conn in &CONNS {
        let before = fx.log("b").len();
        let args = peer_args(&pki, conn, "a", true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let our_log = peer_log("i", conn.name);
        let mut peer = Peer::spawn(&names.ns_a, &args, &our_log);
        peer.expect("EVENT ChildUp", SECS(15));
        assert_listed(&fx, "b", conn);
        assert_charon_log(
            before,
            &fx.log("b"),
            conn,
            &format!("a.{}.ss.test", conn.name),
            true,
        );
        assert_traffic(&mut peer, &names.ns_b, "10.201.2.1", "10.201.1.1");
        peer.send("terminate");
        peer.expect("reason: Local", SECS(15));
        wait_gone(&fx, "b", conn);
        drop(peer);
        // Kept only when the test fails.
        let _ = std::fs::remove_file(our_log);
    }
}

#[test]
fn strongswan_certs_strongswan_initiates() {
    if skip_or_fail(
        "strongswan_certs_strongswan_initiates",
        missing_prerequisite(),
    ) {
        return;
    }
    let names = Names::new("ssr");
    let fx = Fixture::new("certs-r", &names.settings());
    fx.up("a");
    let pki = fx.state_dir().join("pki");
    for conn in &CONNS {
        let before = fx.log("a").len();
        let args = peer_args(&pki, conn, "b", false);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let our_log = peer_log("r", conn.name);
        let mut peer = Peer::spawn(&names.ns_b, &args, &our_log);
        let child = format!("{}-net", conn.name);
        fx.sw("a", &["--initiate", "--child", &child]);
        peer.expect("EVENT ChildUp", SECS(15));
        assert_listed(&fx, "a", conn);
        assert_charon_log(
            before,
            &fx.log("a"),
            conn,
            &format!("b.{}.ss.test", conn.name),
            false,
        );
        assert_traffic(&mut peer, &names.ns_a, "10.201.1.1", "10.201.2.1");
        // strongSwan deletes the IKE SA this time.
        fx.sw("a", &["--terminate", "--ike", conn.name]);
        peer.expect("reason: PeerDeleted", SECS(15));
        wait_gone(&fx, "a", conn);
        drop(peer);
        let _ = std::fs::remove_file(our_log);
    }
}
