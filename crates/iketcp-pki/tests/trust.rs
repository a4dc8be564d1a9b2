//! Chain validation (RFC 4945 §5), the IKE extended key usage policy (RFC 4945
//! §5.1.3.12) and CERTREQ hashes (RFC 7296 §3.7).

mod common;

use common::{Alg, Ca, EeSpec, at};
use iketcp_pki::{
    CERTREQ_HASH_LEN, Certificate, MAX_INTERMEDIATES, PkiError, TrustStore, parse_certreq_hashes,
};
use rcgen::ExtendedKeyUsagePurpose as Eku;

fn store(cas: &[&Ca]) -> TrustStore {
    TrustStore::from_pem(cas.iter().map(|ca| ca.pem.as_bytes())).unwrap()
}

#[test]
fn valid_chains_of_every_key_type() {
    for alg in Alg::ALL {
        let ca = Ca::new("root", alg);
        let peer = ca.issue(&EeSpec::new(alg, "peer.test"));
        store(&[&ca])
            .validate(&peer.cert, &[], at(2025))
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
}

#[test]
fn intermediate_chain() {
    let root = Ca::new("root", Alg::Rsa2048);
    let sub = root.intermediate("sub", Alg::P384);
    let peer = sub.issue(&EeSpec::new(Alg::P256, "peer.test"));
    let trust = store(&[&root]);
    trust
        .validate(&peer.cert, std::slice::from_ref(&sub.cert), at(2025))
        .unwrap();
    // Without the intermediate there is no path.
    assert_eq!(
        trust.validate(&peer.cert, &[], at(2025)),
        Err(PkiError::UnknownIssuer)
    );
    // Trusting the intermediate alone is enough.
    store(&[&sub]).validate(&peer.cert, &[], at(2025)).unwrap();
}

#[test]
fn wrong_ca_is_refused() {
    let ca = Ca::new("root", Alg::P256);
    let other = Ca::new("other root", Alg::P256);
    let peer = ca.issue(&EeSpec::new(Alg::P256, "peer.test"));
    assert_eq!(
        store(&[&other]).validate(&peer.cert, &[], at(2025)),
        Err(PkiError::UnknownIssuer)
    );
    assert_eq!(
        TrustStore::new().validate(&peer.cert, &[], at(2025)),
        Err(PkiError::UnknownIssuer)
    );
    // Handing over the real CA as an "intermediate" does not make it trusted.
    assert_eq!(
        store(&[&other]).validate(&peer.cert, std::slice::from_ref(&ca.cert), at(2025)),
        Err(PkiError::UnknownIssuer)
    );
}

#[test]
fn validity_period_uses_the_given_time() {
    let ca = Ca::new("root", Alg::P256);
    let peer = ca.issue(&EeSpec::new(Alg::P256, "peer.test")); // 2020..2030
    let trust = store(&[&ca]);
    trust.validate(&peer.cert, &[], at(2021)).unwrap();
    assert_eq!(
        trust.validate(&peer.cert, &[], at(2031)),
        Err(PkiError::Expired)
    );
    assert_eq!(
        trust.validate(&peer.cert, &[], at(2019)),
        Err(PkiError::NotYetValid)
    );
    assert_eq!(
        trust.validate(
            &peer.cert,
            &[],
            std::time::UNIX_EPOCH - std::time::Duration::from_secs(1)
        ),
        Err(PkiError::InvalidTime)
    );
}

#[test]
fn eku_policy() {
    let ca = Ca::new("root", Alg::P256);
    let trust = store(&[&ca]);
    let ipsec_ike = Eku::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 17]);
    let accepted: [Vec<Eku>; 6] = [
        vec![],
        vec![ipsec_ike.clone()],
        vec![Eku::ServerAuth],
        vec![Eku::ClientAuth],
        vec![Eku::Any],
        vec![Eku::CodeSigning, ipsec_ike],
    ];
    for ekus in accepted {
        let peer = ca.issue(&EeSpec {
            ekus: ekus.clone(),
            ..EeSpec::new(Alg::P256, "peer.test")
        });
        trust
            .validate(&peer.cert, &[], at(2025))
            .unwrap_or_else(|e| panic!("{ekus:?}: {e}"));
    }
    for ekus in [
        vec![Eku::CodeSigning],
        vec![Eku::EmailProtection, Eku::TimeStamping],
    ] {
        let peer = ca.issue(&EeSpec {
            ekus: ekus.clone(),
            ..EeSpec::new(Alg::P256, "peer.test")
        });
        assert_eq!(
            trust.validate(&peer.cert, &[], at(2025)),
            Err(PkiError::ExtendedKeyUsage),
            "{ekus:?}"
        );
    }
}

#[test]
fn a_ca_is_not_an_end_entity() {
    let ca = Ca::new("root", Alg::P256);
    let sub = ca.intermediate("sub", Alg::P256);
    assert!(matches!(
        store(&[&ca]).validate(&sub.cert, &[], at(2025)),
        Err(PkiError::InvalidChain(_))
    ));
}

#[test]
fn too_many_intermediates_are_refused_before_any_work() {
    let ca = Ca::new("root", Alg::P256);
    let peer = ca.issue(&EeSpec::new(Alg::P256, "peer.test"));
    let extra = vec![ca.cert.clone(); MAX_INTERMEDIATES + 1];
    assert_eq!(
        store(&[&ca]).validate(&peer.cert, &extra, at(2025)),
        Err(PkiError::ChainTooLong)
    );
    let allowed = vec![ca.cert.clone(); MAX_INTERMEDIATES];
    store(&[&ca])
        .validate(&peer.cert, &allowed, at(2025))
        .unwrap();
}

#[test]
fn certreq_hashes_are_sha1_of_the_spki() {
    let a = Ca::new("a", Alg::P256);
    let b = Ca::new("b", Alg::Ed25519);
    let trust = store(&[&a, &b]);
    let hashes = trust.certreq_hashes();
    assert_eq!(hashes.len(), 2);
    for (ca, hash) in [&a, &b].iter().zip(&hashes) {
        let expected = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            ca.cert.spki_der(),
        );
        assert_eq!(hash.as_slice(), expected.as_ref());
        assert!(trust.ca_matches(hash));
    }
    assert!(!trust.ca_matches(&[0; CERTREQ_HASH_LEN]));
    assert!(!trust.ca_matches(&hashes[0][..19]));

    let data = trust.certreq_data();
    assert_eq!(data.len(), 2 * CERTREQ_HASH_LEN);
    assert_eq!(parse_certreq_hashes(&data).unwrap(), hashes);
    assert_eq!(
        parse_certreq_hashes(&data[1..]),
        Err(PkiError::MalformedCertReq)
    );
    assert!(parse_certreq_hashes(&[]).unwrap().is_empty());
}

#[test]
fn pem_loading() {
    let a = Ca::new("a", Alg::P256);
    let b = Ca::new("b", Alg::P384);
    let bundle = format!("{}{}", a.pem, b.pem);
    let certs = Certificate::all_from_pem(bundle.as_bytes()).unwrap();
    assert_eq!(certs, [a.cert.clone(), b.cert.clone()]);
    assert_eq!(Certificate::from_pem(bundle.as_bytes()).unwrap(), a.cert);
    assert_eq!(TrustStore::from_pem([bundle.as_bytes()]).unwrap().len(), 2);
    assert_eq!(
        Certificate::from_pem(b"no pem here"),
        Err(PkiError::Pem("certificate"))
    );
    assert_eq!(
        TrustStore::from_pem([&b""[..]]).unwrap_err(),
        PkiError::Pem("certificate")
    );
    let mut der = a.cert.der().to_vec();
    der.push(0);
    assert_eq!(
        Certificate::from_der(der),
        Err(PkiError::MalformedCertificate)
    );
}
