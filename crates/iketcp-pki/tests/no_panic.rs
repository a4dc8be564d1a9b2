//! Peer input never panics: ID payloads, AUTH data, certificates, notify and CERTREQ
//! bodies, whatever their bytes; and what parses re-encodes to the same bytes.

mod common;

use std::sync::OnceLock;

use common::{Alg, Ca, EeSpec, Issued, at};
use iketcp_pki::{
    Certificate, DigitalSignature, Identity, PssParams, SignatureAlgorithm, SignatureHash,
    TrustStore, encode_hash_algorithms, parse_certreq_hashes, parse_hash_algorithms, verify_auth,
};
use proptest::prelude::*;

struct Fixture {
    ca: Ca,
    ecdsa: Issued,
    rsa: Issued,
    ed: Issued,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ca = Ca::new("root", Alg::P256);
        Fixture {
            ecdsa: ca.issue(&EeSpec::new(Alg::P256, "ecdsa.test")),
            rsa: ca.issue(&EeSpec::new(Alg::Rsa2048, "rsa.test")),
            ed: ca.issue(&EeSpec::new(Alg::Ed25519, "ed.test")),
            ca,
        }
    })
}

fn hash() -> impl Strategy<Value = SignatureHash> {
    prop_oneof![
        Just(SignatureHash::Sha256),
        Just(SignatureHash::Sha384),
        Just(SignatureHash::Sha512)
    ]
}

fn algorithm() -> impl Strategy<Value = SignatureAlgorithm> {
    prop_oneof![
        hash().prop_map(SignatureAlgorithm::Ecdsa),
        Just(SignatureAlgorithm::Ed25519),
        hash().prop_map(SignatureAlgorithm::RsaPkcs1),
        (hash(), hash(), any::<u32>()).prop_map(|(hash, mgf1_hash, salt_len)| {
            SignatureAlgorithm::RsaPss(PssParams {
                hash,
                mgf1_hash,
                salt_len,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn identity_from_wire(id_type in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(id) = Identity::from_wire(id_type, &data) {
            prop_assert_eq!(id.id_type(), id_type);
            prop_assert_eq!(id.data(), data);
            let _ = id.to_string();
        }
    }

    #[test]
    fn identity_dn_from_wire_with_der_shape(body in proptest::collection::vec(any::<u8>(), 0..60)) {
        // Start with a SEQUENCE header so more inputs reach the Name parser.
        let mut data = vec![0x30, body.len() as u8];
        data.extend_from_slice(&body);
        if let Ok(id) = Identity::from_wire(Identity::ID_DER_ASN1_DN, &data) {
            let _ = id.to_string();
            let _ = iketcp_pki::dn_equal(&data, fixture().ecdsa.cert.subject_der());
        }
    }

    #[test]
    fn identity_strings(text in "\\PC{0,40}") {
        if let Ok(id) = Identity::parse(&text) {
            prop_assert_eq!(Identity::from_wire(id.id_type(), &id.data()), Ok(id.clone()));
            let _ = fixture().ecdsa.cert.matches_identity(&id);
        }
    }

    #[test]
    fn dn_strings(parts in proptest::collection::vec(("(C|O|OU|CN|E|DC|2\\.5\\.4\\.[0-9]{1,2})", "[ -~]{0,12}"), 0..6)) {
        let text = parts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
        if let Ok(id) = Identity::parse(&text) {
            prop_assert_eq!(Identity::from_wire(id.id_type(), &id.data()), Ok(id.clone()));
            let _ = id.to_string();
        }
    }

    #[test]
    fn algorithm_identifier_round_trip(algorithm in algorithm()) {
        let der = algorithm.to_der();
        prop_assert_eq!(SignatureAlgorithm::from_der(&der), Ok(algorithm));
        let data = DigitalSignature::encode(&algorithm, &[1, 2, 3]);
        prop_assert_eq!(DigitalSignature::parse(&data).map(|d| d.algorithm), Ok(algorithm));
    }

    #[test]
    fn algorithm_identifier_bytes(der in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(algorithm) = SignatureAlgorithm::from_der(&der) {
            let _ = algorithm.hash_algorithm();
        }
    }

    #[test]
    fn mutated_algorithm_identifiers(algorithm in algorithm(), index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut der = algorithm.to_der();
        let at = index.index(der.len());
        der[at] = byte;
        let _ = SignatureAlgorithm::from_der(&der);
    }

    #[test]
    fn auth_data(method in prop_oneof![Just(1u8), Just(9), Just(10), Just(11), Just(14), any::<u8>()],
                 data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let f = fixture();
        for cert in [&f.ecdsa.cert, &f.rsa.cert, &f.ed.cert] {
            prop_assert!(verify_auth(cert, method, &data, b"octets").is_err());
        }
    }

    #[test]
    fn auth_data_with_valid_header(algorithm in algorithm(), signature in proptest::collection::vec(any::<u8>(), 0..600)) {
        let f = fixture();
        let data = DigitalSignature::encode(&algorithm, &signature);
        for cert in [&f.ecdsa.cert, &f.rsa.cert, &f.ed.cert] {
            prop_assert!(verify_auth(cert, 14, &data, b"octets").is_err());
        }
    }

    #[test]
    fn notify_and_certreq_bodies(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(list) = parse_hash_algorithms(&data) {
            prop_assert_eq!(encode_hash_algorithms(&list), data.clone());
        }
        if let Ok(hashes) = parse_certreq_hashes(&data) {
            prop_assert_eq!(hashes.concat(), data);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn certificate_bytes(der in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Certificate::from_der(der);
    }

    #[test]
    fn mutated_certificates(which in 0usize..3, flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
                            cut in any::<prop::sample::Index>()) {
        let f = fixture();
        let original = [&f.ecdsa.cert, &f.rsa.cert, &f.ed.cert][which].der().to_vec();
        let mut der = original.clone();
        for (index, byte) in &flips {
            let at = index.index(der.len());
            der[at] = *byte;
        }
        let truncated = der[..cut.index(der.len())].to_vec();
        let trust = TrustStore::from_pem([f.ca.pem.as_bytes()]).unwrap();
        for bytes in [der, truncated] {
            if let Ok(cert) = Certificate::from_der(bytes.clone()) {
                let _ = cert.matches_identity(&Identity::Fqdn("ecdsa.test".into()));
                let _ = cert.public_key_algorithm();
                let valid = trust.validate(&cert, &[], at(2025));
                if bytes != original {
                    // A changed byte inside the signed part must not validate; a changed
                    // byte in the signature value or unused bits may still parse, but can
                    // never yield a different, valid certificate.
                    if valid.is_ok() {
                        let original = Certificate::from_der(original.clone()).unwrap();
                        prop_assert_eq!(cert.public_key(), original.public_key());
                    }
                }
                let _ = verify_auth(&cert, 14, &[0x0c, 0x30, 0x0a], b"x");
            }
        }
    }
}
