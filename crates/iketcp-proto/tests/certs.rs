//! Certificate authentication in IKE_AUTH (RFC 7296 §2.15, §3.6–3.8; RFC 7427; RFC 8420)
//! between two engines on a virtual clock, with certificates made by rcgen and a wall
//! clock fixed by the test.
//!
//! Besides "the SAs come up", the tests decrypt what each side sent and check the
//! encodings: SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT, CERT and CERTREQ payloads, and the
//! AUTH payload's method, AlgorithmIdentifier and signature, verified here against
//! signed octets recomputed from the IKE_SA_INIT messages.

#[path = "../../iketcp-pki/tests/common/mod.rs"]
mod pki;
use iketcp_sim::engine as sim;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use iketcp_crypto::{SkCipher, keymat};
use iketcp_pki::{Certificate, PrivateKey, RsaPadding, TrustStore, verify_auth};
use iketcp_proto::config::{WallClock, id_from_identity, identity_from_id};
use iketcp_proto::{AuthConfig, DownReason, EndpointConfig, Event, PeerConfig, Refusal};
use iketcp_wire::codec::Writer;
use iketcp_wire::ike::{
    AuthMethod, CertEncoding, ExchangeType, Id, IdType, Message, NotifyType, Payload, PayloadType,
    parse_chain,
};
use pki::{Alg, Ca, EeSpec, Issued};
use sim::{A, B, World, id, pair_configs, stream_path};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// RFC 7427 §4 body we announce: SHA2-256, SHA2-384, SHA2-512, Identity (RFC 8420).
const HASH_ALG_BODY: &str = "0002 0003 0004 0005";

/// One side's credentials.
struct Creds {
    issued: Issued,
    /// Intermediates sent after the end-entity certificate.
    chain_rest: Vec<Certificate>,
}

impl Creds {
    fn auth(&self, trust: &TrustStore, padding: RsaPadding) -> AuthConfig {
        let key = PrivateKey::from_pem(self.issued.key_pem.as_bytes()).unwrap();
        let mut chain = vec![self.issued.cert.clone()];
        chain.extend(self.chain_rest.iter().cloned());
        AuthConfig::pubkey(key, chain, trust.clone())
            .unwrap()
            .with_rsa_padding(padding)
    }
}

fn issue(ca: &Ca, alg: Alg, name: &str, slot: u8) -> Creds {
    let mut spec = EeSpec::new(alg, name);
    spec.key_slot = slot;
    Creds {
        issued: ca.issue(&spec),
        chain_rest: Vec::new(),
    }
}

fn trust(ca: &Ca) -> TrustStore {
    let mut t = TrustStore::new();
    t.add(ca.cert.clone()).unwrap();
    t
}

/// Mirror-image configurations with FQDN identities `a.sim.test` and `b.sim.test`.
fn cert_configs(a: AuthConfig, b: AuthConfig) -> (PeerConfig, PeerConfig) {
    let (mut pa, mut pb) = pair_configs();
    pa.local_id = id("a.sim.test");
    pa.remote_id = id("b.sim.test");
    pb.local_id = id("b.sim.test");
    pb.remote_id = id("a.sim.test");
    pa.auth = a;
    pb.auth = b;
    (pa, pb)
}

/// January 1st, 2025: inside the 2020–2030 validity of the test certificates.
fn in_validity() -> SystemTime {
    pki::at(2025)
}

fn config_at(t: SystemTime) -> EndpointConfig {
    EndpointConfig {
        wall_clock: WallClock::fixed(t),
        ..EndpointConfig::default()
    }
}

/// Runs IKE_SA_INIT and IKE_AUTH with `initiator` starting; true if both sides have the
/// IKE SA and the Child SA.
fn run(w: &mut World, initiator: usize) -> bool {
    let now = w.at();
    let name = if initiator == A { "b" } else { "a" };
    w.ep(initiator).initiate(now, name, Some("net")).unwrap();
    w.run_until(secs(10), |w| {
        w.ike_up(A) && w.ike_up(B) && w.children(A) == 1 && w.children(B) == 1
    })
}

/// The IKE_SA_INIT message `side` sent last (after any cookie or INVALID_KE retry).
fn sent_init(w: &World, side: usize) -> (Vec<u8>, Message) {
    let (_, _, bytes) = w.sides[side]
        .sent
        .iter()
        .rev()
        .find(|(_, _, m)| {
            Message::parse(m).is_ok_and(|m| m.header.exchange == ExchangeType::IKE_SA_INIT)
        })
        .expect("an IKE_SA_INIT message");
    (bytes.clone(), Message::parse(bytes).unwrap())
}

fn nonce(msg: &Message) -> Vec<u8> {
    msg.payloads
        .iter()
        .find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data.clone()),
            _ => None,
        })
        .unwrap()
}

fn hash_alg_notify(msg: &Message) -> Option<Vec<u8>> {
    msg.notifies()
        .find(|n| n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .map(|n| n.data.clone())
}

/// What `side` sent in IKE_AUTH (request or response), decrypted with the SA's keys and
/// reassembled if it was fragmented; and whether it was.
fn sent_auth(w: &World, side: usize) -> (Vec<Payload>, bool) {
    let sa = &w.sides[side].ep.ike_sas()[0];
    let keys = w.sides[side].ep.export_ike_keys(sa.id).unwrap();
    let (sk_e, sk_a) = if keys.original_initiator {
        (&keys.keys.sk_ei, &keys.keys.sk_ai)
    } else {
        (&keys.keys.sk_er, &keys.keys.sk_ar)
    };
    let cipher = SkCipher::new(keys.keys.encr, keys.keys.integ, sk_e, sk_a).unwrap();
    let mut parts: Vec<(u16, PayloadType, Vec<u8>)> = Vec::new();
    for (_, _, raw) in &w.sides[side].sent {
        let msg = Message::parse(raw).unwrap();
        if msg.header.exchange != ExchangeType::IKE_AUTH {
            continue;
        }
        let open = |body: &[u8]| {
            cipher
                .decrypt(&raw[..raw.len() - body.len()], body)
                .unwrap()
        };
        if let Some(sk) = msg.encrypted() {
            return (
                parse_chain(sk.first_payload, &open(&sk.body)).unwrap(),
                false,
            );
        }
        let f = msg.encrypted_fragment().expect("SK or SKF");
        if !parts.iter().any(|p| p.0 == f.fragment_number) {
            parts.push((f.fragment_number, f.first_payload, open(&f.body)));
        }
    }
    assert!(!parts.is_empty(), "no IKE_AUTH sent by side {side}");
    parts.sort_by_key(|p| p.0);
    let first = parts[0].1;
    let plain: Vec<u8> = parts.into_iter().flat_map(|p| p.2).collect();
    (parse_chain(first, &plain).unwrap(), true)
}

fn summary(payloads: &[Payload]) -> String {
    payloads
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn id_body(id: &Id) -> Vec<u8> {
    let mut w = Writer::new();
    id.emit(&mut w).unwrap();
    w.into_vec()
}

/// The RFC 7296 §2.15 octets `side` signed, recomputed from what went over the wire.
fn signed_octets(w: &World, side: usize, id: &Id) -> Vec<u8> {
    let sa = &w.sides[side].ep.ike_sas()[0];
    let keys = w.sides[side].ep.export_ike_keys(sa.id).unwrap().keys;
    let initiator = sa.initiator;
    let (own_init, _) = sent_init(w, side);
    let (_, other_init) = sent_init(w, 1 - side);
    let sk_p = if initiator { &keys.sk_pi } else { &keys.sk_pr };
    keymat::signed_octets(keys.prf, &own_init, &nonce(&other_init), sk_p, &id_body(id))
}

/// Checks the payloads of `side`'s IKE_AUTH: the order, CERT (X509_SIGNATURE, end entity
/// then intermediates), CERTREQ from the initiator naming `ca_of_peer`, and an AUTH
/// payload of `method` whose data starts with `auth_prefix` and verifies with the
/// end-entity certificate. Returns the AUTH data.
fn check_auth_payloads(
    w: &World,
    side: usize,
    chain: &[&Certificate],
    ca_of_peer: &Ca,
    method: AuthMethod,
    auth_prefix: &[u8],
) -> Vec<u8> {
    let (payloads, _) = sent_auth(w, side);
    let initiator = w.sides[side].ep.ike_sas()[0].initiator;
    let certs: String = vec!["CERT"; chain.len()].join(" ");
    let expected = if initiator {
        format!("IDi {certs} CERTREQ IDr AUTH N(MOBIKE_SUP) SA TSi TSr")
    } else {
        format!("IDr {certs} AUTH N(MOBIKE_SUP) SA TSi TSr")
    };
    assert_eq!(summary(&payloads), expected);
    let sent_certs: Vec<_> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(c) => Some(c),
            _ => None,
        })
        .collect();
    for (sent, cert) in sent_certs.iter().zip(chain) {
        assert_eq!(sent.encoding, CertEncoding::X509_SIGNATURE);
        assert_eq!(sent.data, cert.der());
    }
    if initiator {
        let req = payloads
            .iter()
            .find_map(|p| match p {
                Payload::CertReq(r) => Some(r),
                _ => None,
            })
            .unwrap();
        assert_eq!(req.encoding, CertEncoding::X509_SIGNATURE);
        // RFC 7296 §3.7: SHA-1 of the CA's SubjectPublicKeyInfo, 20 octets.
        assert_eq!(req.data, ca_of_peer.cert.spki_sha1());
        assert_eq!(req.data.len(), 20);
    }
    let own_id = payloads
        .iter()
        .find_map(|p| match p {
            Payload::IdI(i) if initiator => Some(i),
            Payload::IdR(i) if !initiator => Some(i),
            _ => None,
        })
        .unwrap();
    assert_eq!(own_id.id_type, IdType::FQDN);
    let auth = payloads
        .iter()
        .find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(auth.method, method);
    assert!(
        auth.data.starts_with(auth_prefix),
        "AUTH data starts {:02x?}",
        &auth.data[..auth_prefix.len().min(auth.data.len())]
    );
    let octets = signed_octets(w, side, own_id);
    verify_auth(chain[0], auth.method.0, &auth.data, &octets).expect("AUTH verifies");
    auth.data.clone()
}

/// Both sides announced SIGNATURE_HASH_ALGORITHMS with our body, after FRAG_SUP.
fn check_hash_alg_notifies(w: &World) {
    for side in [A, B] {
        let (_, msg) = sent_init(w, side);
        assert_eq!(
            hash_alg_notify(&msg),
            Some(hex(HASH_ALG_BODY)),
            "side {side}"
        );
        assert!(msg.to_string().contains("N(FRAG_SUP) N(HASH_ALG)"), "{msg}");
    }
}

/// A setup of one key type: a CA of `ca_alg`, end entities of `alg` for a and b.
fn setup(ca_alg: Alg, alg: Alg, padding: RsaPadding) -> (World, Creds, Creds, Ca) {
    let ca = Ca::new("sim CA", ca_alg);
    let ca_a = issue(&ca, alg, "a.sim.test", 0);
    let ca_b = issue(&ca, alg, "b.sim.test", 1);
    let t = trust(&ca);
    let (a, b) = cert_configs(ca_a.auth(&t, padding), ca_b.auth(&t, padding));
    let w = World::with_config(1, config_at(in_validity()), a, b);
    (w, ca_a, ca_b, ca)
}

/// The AUTH data prefix of method 14: the AlgorithmIdentifier's length octet, then the
/// AlgorithmIdentifier (RFC 7427 §3, DER from RFC 7427 Appendix A and RFC 8420).
fn digital_signature_prefix(algorithm_id: &str) -> Vec<u8> {
    let der = hex(algorithm_id);
    let mut out = vec![der.len() as u8];
    out.extend(der);
    out
}

const ECDSA_SHA256: &str = "300a 0608 2a86 48ce 3d04 0302";
const ED25519: &str = "3005 0603 2b65 70";
const SHA256_WITH_RSA: &str = "300d 0609 2a86 4886 f70d 0101 0b05 00";
const RSASSA_PSS_SHA256: &str = "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 \
                                 0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 \
                                 8648 0165 0304 0201 0500 a203 0201 20";

// RFC 7427 §3 with ECDSA P-256: method 14, ecdsa-with-SHA256, a DER Ecdsa-Sig-Value; from
// either side as initiator.
#[test]
fn rfc7427_ecdsa_p256_both_directions() {
    for initiator in [A, B] {
        let (mut w, a, b, ca) = setup(Alg::P256, Alg::P256, RsaPadding::Pkcs1);
        assert!(run(&mut w, initiator), "{}", w.dump());
        w.assert_children_agree();
        check_hash_alg_notifies(&w);
        let prefix = digital_signature_prefix(ECDSA_SHA256);
        for (side, creds) in [(A, &a), (B, &b)] {
            let data = check_auth_payloads(
                &w,
                side,
                &[&creds.issued.cert],
                &ca,
                AuthMethod::DIGITAL_SIGNATURE,
                &prefix,
            );
            // The signature is a DER SEQUENCE of two INTEGERs.
            assert_eq!(data[prefix.len()], 0x30);
            assert_eq!(
                usize::from(data[prefix.len() + 1]) + 2,
                data.len() - prefix.len()
            );
        }
    }
}

// RFC 8420: Ed25519 signs the octets themselves under id-Ed25519; it needs Identity (5)
// among the announced hashes.
#[test]
fn rfc8420_ed25519() {
    let (mut w, a, b, ca) = setup(Alg::Ed25519, Alg::Ed25519, RsaPadding::Pkcs1);
    assert!(run(&mut w, A), "{}", w.dump());
    w.assert_children_agree();
    let prefix = digital_signature_prefix(ED25519);
    for (side, creds) in [(A, &a), (B, &b)] {
        let data = check_auth_payloads(
            &w,
            side,
            &[&creds.issued.cert],
            &ca,
            AuthMethod::DIGITAL_SIGNATURE,
            &prefix,
        );
        assert_eq!(data.len(), prefix.len() + 64);
    }
}

// RFC 7427 with RSA-2048: PKCS#1 v1.5 with SHA-256 (sha256WithRSAEncryption, NULL
// parameters), and RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-octet salt (RFC 7427
// A.4.3), each side signing with its configured padding.
#[test]
fn rfc7427_rsa_2048_pkcs1_and_pss() {
    for (padding, algorithm_id) in [
        (RsaPadding::Pkcs1, SHA256_WITH_RSA),
        (RsaPadding::Pss, RSASSA_PSS_SHA256),
    ] {
        let (mut w, a, b, ca) = setup(Alg::Rsa2048, Alg::Rsa2048, padding);
        assert!(run(&mut w, A), "{padding:?}\n{}", w.dump());
        w.assert_children_agree();
        let prefix = digital_signature_prefix(algorithm_id);
        for (side, creds) in [(A, &a), (B, &b)] {
            let data = check_auth_payloads(
                &w,
                side,
                &[&creds.issued.cert],
                &ca,
                AuthMethod::DIGITAL_SIGNATURE,
                &prefix,
            );
            assert_eq!(data.len(), prefix.len() + 256, "{padding:?}");
        }
    }
}

// Each side signs with its own scheme and accepts any the other uses: a signs PSS, b
// PKCS#1 v1.5; an ECDSA CA certifies RSA end entities.
#[test]
fn rfc7427_mixed_schemes_and_key_types() {
    let ca = Ca::new("sim CA", Alg::P256);
    let a = issue(&ca, Alg::Rsa2048, "a.sim.test", 0);
    let b = issue(&ca, Alg::P256, "b.sim.test", 1);
    let t = trust(&ca);
    let (pa, pb) = cert_configs(a.auth(&t, RsaPadding::Pss), b.auth(&t, RsaPadding::Pkcs1));
    let mut w = World::with_config(3, config_at(in_validity()), pa, pb);
    assert!(run(&mut w, A), "{}", w.dump());
    check_auth_payloads(
        &w,
        A,
        &[&a.issued.cert],
        &ca,
        AuthMethod::DIGITAL_SIGNATURE,
        &digital_signature_prefix(RSASSA_PSS_SHA256),
    );
    check_auth_payloads(
        &w,
        B,
        &[&b.issued.cert],
        &ca,
        AuthMethod::DIGITAL_SIGNATURE,
        &digital_signature_prefix(ECDSA_SHA256),
    );
}

fn ike_down(w: &World, side: usize) -> Option<DownReason> {
    w.events(side).find_map(|e| match e {
        Event::IkeDown { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// Runs a setup that must fail; returns both sides' down reasons.
fn refused(a: PeerConfig, b: PeerConfig, at: SystemTime) -> (World, DownReason, DownReason) {
    let mut w = World::with_config(7, config_at(at), a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    w.run_for(secs(60));
    assert!(!w.ike_up(A) && !w.ike_up(B), "{}", w.dump());
    assert_eq!(w.children(A) + w.children(B), 0);
    let (ra, rb) = (ike_down(&w, A), ike_down(&w, B));
    let dump = w.dump();
    (
        w,
        ra.unwrap_or_else(|| panic!("a never went down\n{dump}")),
        rb.unwrap_or_else(|| panic!("b never went down\n{dump}")),
    )
}

/// The responder refused the initiator: AUTHENTICATION_FAILED back, both sides down.
fn assert_responder_refused(w: &World, ra: DownReason, rb: DownReason) {
    assert_eq!(rb, DownReason::AuthFailed, "{}", w.dump());
    assert_eq!(
        ra,
        DownReason::Refused(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED)),
        "{}",
        w.dump()
    );
    assert!(w.dump().contains("IKE_AUTH response 1 [ SK ]"));
}

// RFC 7296 §2.15 (and RFC 4945 §5): a certificate from a CA the verifier does not trust
// is refused, by the responder and by the initiator.
#[test]
fn rfc7296_2_15_unknown_ca_refused() {
    let ca = Ca::new("sim CA", Alg::P256);
    let other = Ca::new("other CA", Alg::P384);
    let a = issue(&ca, Alg::P256, "a.sim.test", 0);
    let b = issue(&ca, Alg::P256, "b.sim.test", 1);
    // The responder trusts another CA only.
    let (pa, pb) = cert_configs(
        a.auth(&trust(&ca), RsaPadding::Pkcs1),
        b.auth(&trust(&other), RsaPadding::Pkcs1),
    );
    let (w, ra, rb) = refused(pa, pb, in_validity());
    assert_responder_refused(&w, ra, rb);

    // The initiator trusts another CA: the responder is up for a moment, the initiator
    // refuses its answer.
    let (pa, pb) = cert_configs(
        a.auth(&trust(&other), RsaPadding::Pkcs1),
        b.auth(&trust(&ca), RsaPadding::Pkcs1),
    );
    let mut w = World::with_config(8, config_at(in_validity()), pa, pb);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    w.run_for(secs(5));
    assert!(!w.ike_up(A), "{}", w.dump());
    assert_eq!(ike_down(&w, A), Some(DownReason::AuthFailed));
    assert_eq!(w.children(A), 0);
}

// RFC 7296 §2.15, RFC 4945 §3.1: the ID must be one the certificate carries. a claims
// c.sim.test with a certificate for a.sim.test; b expects c.sim.test and refuses.
#[test]
fn rfc4945_3_1_id_not_in_certificate_refused() {
    let ca = Ca::new("sim CA", Alg::P256);
    let a = issue(&ca, Alg::P256, "a.sim.test", 0);
    let b = issue(&ca, Alg::P256, "b.sim.test", 1);
    let t = trust(&ca);
    let (mut pa, mut pb) =
        cert_configs(a.auth(&t, RsaPadding::Pkcs1), b.auth(&t, RsaPadding::Pkcs1));
    pa.local_id = id("c.sim.test");
    pb.remote_id = id("c.sim.test");
    let (w, ra, rb) = refused(pa.clone(), pb.clone(), in_validity());
    assert_responder_refused(&w, ra, rb);

    // The same as an RFC 822 identity the certificate does not carry either.
    pa.local_id = id("a@sim.test");
    pb.remote_id = id("a@sim.test");
    let (w, ra, rb) = refused(pa, pb, in_validity());
    assert_responder_refused(&w, ra, rb);

    // An ID the certificate carries but that b is not configured for finds no config.
    let (pa, mut pb) = cert_configs(a.auth(&t, RsaPadding::Pkcs1), b.auth(&t, RsaPadding::Pkcs1));
    pb.remote_id = id("x.sim.test");
    let (w, ra, rb) = refused(pa, pb, in_validity());
    assert_responder_refused(&w, ra, rb);
}

// RFC 5280 §4.1.2.5 through the injected wall clock: the same certificates are refused
// after their notAfter and before their notBefore, and accepted in between.
#[test]
fn rfc5280_validity_from_the_injected_wall_clock() {
    let ca = Ca::new("sim CA", Alg::P256);
    let a = issue(&ca, Alg::P256, "a.sim.test", 0);
    let b = issue(&ca, Alg::P256, "b.sim.test", 1);
    let t = trust(&ca);
    let (pa, pb) = cert_configs(a.auth(&t, RsaPadding::Pkcs1), b.auth(&t, RsaPadding::Pkcs1));
    for year in [2031, 2019] {
        let (w, ra, rb) = refused(pa.clone(), pb.clone(), pki::at(year));
        assert_responder_refused(&w, ra, rb);
    }
    let mut w = World::with_config(9, config_at(pki::at(2029)), pa.clone(), pb.clone());
    assert!(run(&mut w, A), "{}", w.dump());

    // The clock is asked when a chain is checked, not when the endpoint is made.
    let when = Arc::new(std::sync::Mutex::new(pki::at(2025)));
    let source = when.clone();
    let cfg = EndpointConfig {
        wall_clock: WallClock::from_fn(move || *source.lock().unwrap()),
        ..EndpointConfig::default()
    };
    *when.lock().unwrap() = pki::at(2035);
    let mut w = World::with_config(10, cfg, pa, pb);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    w.run_for(secs(60));
    assert_eq!(ike_down(&w, B), Some(DownReason::AuthFailed));
}

// RFC 7296 §2.15: an AUTH that does not verify with the certificate's key is refused
// (a's certificate, b's key); AuthConfig::pubkey catches that pairing up front.
#[test]
fn rfc7296_2_15_wrong_key_refused() {
    let ca = Ca::new("sim CA", Alg::P256);
    let a = issue(&ca, Alg::P256, "a.sim.test", 0);
    let b = issue(&ca, Alg::P256, "b.sim.test", 1);
    let t = trust(&ca);
    let wrong = PrivateKey::from_pem(b.issued.key_pem.as_bytes()).unwrap();
    assert!(AuthConfig::pubkey(wrong, vec![a.issued.cert.clone()], t.clone()).is_err());
    assert!(
        AuthConfig::pubkey(
            PrivateKey::from_pem(b.issued.key_pem.as_bytes()).unwrap(),
            vec![],
            t.clone()
        )
        .is_err()
    );
    let forged = AuthConfig::Pubkey {
        key: Arc::new(PrivateKey::from_pem(b.issued.key_pem.as_bytes()).unwrap()),
        cert_chain: vec![a.issued.cert.clone()],
        trust: t.clone(),
        rsa_padding: RsaPadding::Pkcs1,
    };
    let (pa, pb) = cert_configs(forged, b.auth(&t, RsaPadding::Pkcs1));
    let (w, ra, rb) = refused(pa, pb, in_validity());
    assert_responder_refused(&w, ra, rb);
}

// A PSK peer meets a certificate peer: the methods do not mix, and AUTH fails cleanly.
#[test]
fn rfc7296_2_15_psk_against_certificate_refused() {
    let ca = Ca::new("sim CA", Alg::P256);
    let b = issue(&ca, Alg::P256, "b.sim.test", 1);
    let (psk, _) = pair_configs();
    let (pa, pb) = cert_configs(psk.auth.clone(), b.auth(&trust(&ca), RsaPadding::Pkcs1));
    let (w, ra, rb) = refused(pa, pb, in_validity());
    assert_responder_refused(&w, ra, rb);
    // A PSK initiator announces no hash algorithms; the certificate responder does.
    assert_eq!(hash_alg_notify(&sent_init(&w, A).1), None);
    assert!(hash_alg_notify(&sent_init(&w, B).1).is_some());
}

/// A chain of RSA-3072 certificates: root CA, intermediate CA, end entities.
fn rsa3072_chain() -> (Ca, Creds, Creds) {
    let root = Ca::new("sim root CA", Alg::Rsa3072);
    let mid = root.intermediate("sim intermediate CA", Alg::Rsa3072);
    let mut a = issue(&mid, Alg::Rsa3072, "a.sim.test", 0);
    let mut b = issue(&mid, Alg::Rsa3072, "b.sim.test", 1);
    a.chain_rest = vec![mid.cert.clone()];
    b.chain_rest = vec![mid.cert.clone()];
    (root, a, b)
}

fn has_fragments(w: &World, side: usize) -> bool {
    w.sides[side]
        .sent
        .iter()
        .any(|(_, _, m)| Message::parse(m).is_ok_and(|m| m.header.next_payload == PayloadType::SKF))
}

// RFC 7383 with certificates (R-FRAG-1): RSA-3072 end entity plus intermediate make
// IKE_AUTH larger than the fragment size; over UDP both directions are fragmented and
// reassembled, over a stream nothing is. The intermediate travels in a second CERT
// payload and the chain validates to the root alone.
#[test]
fn r_frag_1_rsa_3072_chain_fragments_over_udp_only() {
    let (root, a, b) = rsa3072_chain();
    let t = trust(&root);
    let (pa, pb) = cert_configs(a.auth(&t, RsaPadding::Pkcs1), b.auth(&t, RsaPadding::Pkcs1));
    let mut w = World::with_config(11, config_at(in_validity()), pa.clone(), pb.clone());
    assert!(run(&mut w, A), "{}", w.dump());
    w.assert_children_agree();
    assert!(has_fragments(&w, A) && has_fragments(&w, B), "{}", w.dump());
    let (_, fragmented) = sent_auth(&w, A);
    assert!(fragmented);
    for (side, creds) in [(A, &a), (B, &b)] {
        let chain = [&creds.issued.cert, &creds.chain_rest[0]];
        check_auth_payloads(
            &w,
            side,
            &chain,
            &root,
            AuthMethod::DIGITAL_SIGNATURE,
            &digital_signature_prefix(SHA256_WITH_RSA),
        );
    }
    assert!(w.dump().contains("SKF(1/"), "{}", w.dump());

    // Over a stream: no fragments, the same messages whole.
    let mut w = World::with_config(12, config_at(in_validity()), pa, pb);
    let now = w.at();
    w.ep(A)
        .initiate_on(now, "b", Some("net"), stream_path(12))
        .unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    assert!(
        !has_fragments(&w, A) && !has_fragments(&w, B),
        "{}",
        w.dump()
    );
    let (payloads, fragmented) = sent_auth(&w, A);
    assert!(!fragmented);
    assert_eq!(
        summary(&payloads),
        "IDi CERT CERT CERTREQ IDr AUTH N(MOBIKE_SUP) SA TSi TSr"
    );
}

// The one mapping between ID payloads and iketcp-pki identities round-trips, and the
// configuration's Debug output names the key type but carries no key material.
#[test]
fn identity_mapping_and_debug_redaction() {
    for text in [
        "a.sim.test",
        "a@sim.test",
        "10.0.0.1",
        "C=CH, O=iketcp-test, CN=a",
    ] {
        let identity = iketcp_pki::Identity::parse(text).unwrap();
        let wire = id_from_identity(&identity);
        assert_eq!(identity_from_id(&wire).unwrap(), identity, "{text}");
    }
    assert_eq!(
        id_from_identity(&iketcp_pki::Identity::parse("a.sim.test").unwrap()),
        id("a.sim.test")
    );
    let ca = Ca::new("sim CA", Alg::P256);
    let a = issue(&ca, Alg::P256, "a.sim.test", 0);
    let auth = a.auth(&trust(&ca), RsaPadding::Pkcs1);
    let debug = format!("{auth:?}");
    assert!(debug.contains("Ecdsa(P256)"), "{debug}");
    let body: String = a
        .issued
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!debug.contains(&body[..16]), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}
