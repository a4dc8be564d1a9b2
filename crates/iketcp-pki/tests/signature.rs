//! AUTH payload signatures: RFC 7427 §3 (method 14), RFC 4754 (methods 9–11), RFC 7296
//! §3.8 (method 1), and the scheme chooser of RFC 7427 §4.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, RsaKeyPair, RsaPssSaltLength, RsaSignatureEncoding};
use common::{Alg, Ca, EeSpec, Issued};
use iketcp_pki::{
    AuthScheme, DigitalSignature, HashAlgorithm, PkiError, PssParams, PublicKeyAlgorithm,
    RsaPadding, SignatureAlgorithm, SignatureHash, auth_method, verify_auth,
};
use rcgen::KeyUsagePurpose;

const OCTETS: &[u8] = b"IKE_SA_INIT message | Nr | prf(SK_pi, IDi')";

fn issued(alg: Alg) -> Issued {
    let ca = Ca::new("sig CA", Alg::P256);
    ca.issue(&EeSpec::new(alg, "peer.test"))
}

fn all_schemes(alg: Alg) -> Vec<AuthScheme> {
    use SignatureAlgorithm as S;
    use SignatureHash::{Sha256, Sha384, Sha512};
    match alg {
        Alg::P256 => vec![
            AuthScheme::DigitalSignature(S::Ecdsa(Sha256)),
            AuthScheme::Classic,
        ],
        Alg::P384 => vec![
            AuthScheme::DigitalSignature(S::Ecdsa(Sha384)),
            AuthScheme::Classic,
        ],
        Alg::P521 => vec![
            AuthScheme::DigitalSignature(S::Ecdsa(Sha256)),
            AuthScheme::DigitalSignature(S::Ecdsa(Sha384)),
            AuthScheme::DigitalSignature(S::Ecdsa(Sha512)),
            AuthScheme::Classic,
        ],
        Alg::Ed25519 => vec![AuthScheme::DigitalSignature(S::Ed25519)],
        Alg::Rsa2048 | Alg::Rsa3072 => [Sha256, Sha384, Sha512]
            .into_iter()
            .flat_map(|h| [S::RsaPkcs1(h), S::RsaPss(PssParams::new(h))])
            .map(AuthScheme::DigitalSignature)
            .collect(),
    }
}

#[test]
fn every_scheme_round_trips_and_refuses_tampering() {
    for alg in Alg::ALL {
        let peer = issued(alg);
        for scheme in all_schemes(alg) {
            let (method, data) = peer.key.sign_auth(scheme, OCTETS).unwrap();
            let expected_method = match (scheme, alg) {
                (AuthScheme::DigitalSignature(_), _) => auth_method::DIGITAL_SIGNATURE,
                (AuthScheme::Classic, Alg::P256) => auth_method::ECDSA_SHA256_P256,
                (AuthScheme::Classic, Alg::P384) => auth_method::ECDSA_SHA384_P384,
                (AuthScheme::Classic, _) => auth_method::ECDSA_SHA512_P521,
            };
            assert_eq!(method, expected_method, "{alg:?} {scheme:?}");
            verify_auth(&peer.cert, method, &data, OCTETS)
                .unwrap_or_else(|e| panic!("{alg:?} {scheme:?}: {e}"));

            let mut octets = OCTETS.to_vec();
            octets[3] ^= 1;
            assert_eq!(
                verify_auth(&peer.cert, method, &data, &octets),
                Err(PkiError::BadSignature),
                "{alg:?} {scheme:?} tampered octets"
            );
            let mut tampered = data.clone();
            *tampered.last_mut().unwrap() ^= 0x40;
            assert_eq!(
                verify_auth(&peer.cert, method, &tampered, OCTETS),
                Err(PkiError::BadSignature),
                "{alg:?} {scheme:?} tampered signature"
            );
        }
    }
}

#[test]
fn classic_ecdsa_is_fixed_size_r_s_not_der() {
    for (alg, len, method) in [
        (Alg::P256, 64, auth_method::ECDSA_SHA256_P256),
        (Alg::P384, 96, auth_method::ECDSA_SHA384_P384),
        (Alg::P521, 132, auth_method::ECDSA_SHA512_P521),
    ] {
        let peer = issued(alg);
        let (signed_method, data) = peer.key.sign_auth(AuthScheme::Classic, OCTETS).unwrap();
        assert_eq!((signed_method, data.len()), (method, len), "{alg:?}");
        // Cut or padded signatures are malformed, not merely wrong.
        for bad in [&data[1..], &[&data[..], &[0]].concat()[..]] {
            assert_eq!(
                verify_auth(&peer.cert, method, bad, OCTETS),
                Err(PkiError::MalformedAuthData),
                "{alg:?}"
            );
        }
    }
}

#[test]
fn signature_from_another_key_is_refused() {
    let ca = Ca::new("sig CA", Alg::P256);
    for alg in Alg::ALL {
        let signer = ca.issue(&EeSpec::new(alg, "signer.test"));
        let other = ca.issue(&EeSpec {
            key_slot: 1,
            ..EeSpec::new(alg, "other.test")
        });
        for scheme in all_schemes(alg) {
            let (method, data) = signer.key.sign_auth(scheme, OCTETS).unwrap();
            assert_eq!(
                verify_auth(&other.cert, method, &data, OCTETS),
                Err(PkiError::BadSignature),
                "{alg:?} {scheme:?}"
            );
        }
    }
}

#[test]
fn algorithm_that_does_not_fit_the_key_is_refused() {
    let ecdsa = issued(Alg::P256);
    let p384 = issued(Alg::P384);
    let rsa = issued(Alg::Rsa2048);
    let ed = issued(Alg::Ed25519);

    let (method, data) = ecdsa
        .key
        .sign_auth(
            AuthScheme::DigitalSignature(SignatureAlgorithm::Ecdsa(SignatureHash::Sha256)),
            OCTETS,
        )
        .unwrap();
    assert_eq!(
        verify_auth(&rsa.cert, method, &data, OCTETS),
        Err(PkiError::KeyMismatch)
    );
    assert_eq!(
        verify_auth(&ed.cert, method, &data, OCTETS),
        Err(PkiError::KeyMismatch)
    );

    // RFC 4754 ties the method to the curve.
    let (method, data) = ecdsa.key.sign_auth(AuthScheme::Classic, OCTETS).unwrap();
    assert_eq!(method, auth_method::ECDSA_SHA256_P256);
    assert_eq!(
        verify_auth(&p384.cert, method, &data, OCTETS),
        Err(PkiError::KeyMismatch)
    );
    assert_eq!(
        verify_auth(&ecdsa.cert, auth_method::ECDSA_SHA384_P384, &data, OCTETS),
        Err(PkiError::KeyMismatch)
    );
    assert_eq!(
        verify_auth(
            &ecdsa.cert,
            auth_method::RSA_DIGITAL_SIGNATURE,
            &data,
            OCTETS
        ),
        Err(PkiError::KeyMismatch)
    );

    // A key cannot sign with another key type's algorithm.
    assert_eq!(
        rsa.key.sign_auth(
            AuthScheme::DigitalSignature(SignatureAlgorithm::Ed25519),
            OCTETS
        ),
        Err(PkiError::KeyMismatch)
    );
    // Shared-key MIC (2) and unknown methods are not signatures.
    assert_eq!(
        verify_auth(&ecdsa.cert, 2, &data, OCTETS),
        Err(PkiError::UnsupportedAuthMethod(2))
    );
}

#[test]
fn what_the_backend_cannot_sign_is_refused_not_faked() {
    let rsa = issued(Alg::Rsa2048);
    let ed = issued(Alg::Ed25519);
    let p256 = issued(Alg::P256);
    // Method 1 is RSA with SHA-1, which aws-lc-rs does not sign.
    assert_eq!(
        rsa.key.sign_auth(AuthScheme::Classic, OCTETS),
        Err(PkiError::UnsupportedAlgorithm)
    );
    assert_eq!(
        ed.key.sign_auth(AuthScheme::Classic, OCTETS),
        Err(PkiError::UnsupportedAlgorithm)
    );
    // P-256 signs only with SHA-256 in aws-lc-rs.
    assert_eq!(
        p256.key.sign_auth(
            AuthScheme::DigitalSignature(SignatureAlgorithm::Ecdsa(SignatureHash::Sha384)),
            OCTETS
        ),
        Err(PkiError::UnsupportedAlgorithm)
    );
    // PSS signing uses salt = hash length only.
    let odd_salt = PssParams {
        salt_len: 20,
        ..PssParams::new(SignatureHash::Sha256)
    };
    assert_eq!(
        rsa.key.sign_auth(
            AuthScheme::DigitalSignature(SignatureAlgorithm::RsaPss(odd_salt)),
            OCTETS
        ),
        Err(PkiError::UnsupportedAlgorithm)
    );
}

/// RSASSA-PSS with a salt length other than the hash length: verification takes the
/// length from the AlgorithmIdentifier.
#[test]
fn pss_with_any_salt_length_verifies() {
    let peer = issued(Alg::Rsa2048);
    let pkcs8 = rustls_pki_types_der(&peer.key_pem);
    let key = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();

    const SALT_0: RsaSignatureEncoding =
        sig::RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(0));
    const SALT_20: RsaSignatureEncoding =
        sig::RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(20));
    const SALT_64: RsaSignatureEncoding =
        sig::RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(64));
    for (encoding, salt_len) in [(&SALT_0, 0u32), (&SALT_20, 20), (&SALT_64, 64)] {
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(encoding, &SystemRandom::new(), OCTETS, &mut signature)
            .unwrap();
        let params = PssParams {
            salt_len,
            ..PssParams::new(SignatureHash::Sha256)
        };
        let data = DigitalSignature::encode(&SignatureAlgorithm::RsaPss(params), &signature);
        verify_auth(&peer.cert, auth_method::DIGITAL_SIGNATURE, &data, OCTETS)
            .unwrap_or_else(|e| panic!("salt {salt_len}: {e}"));

        // The same signature announced with the default salt length does not verify.
        let wrong = DigitalSignature::encode(
            &SignatureAlgorithm::RsaPss(PssParams::new(SignatureHash::Sha256)),
            &signature,
        );
        assert_eq!(
            verify_auth(&peer.cert, auth_method::DIGITAL_SIGNATURE, &wrong, OCTETS),
            Err(PkiError::BadSignature),
            "salt {salt_len}"
        );
    }

    // An MGF1 hash other than the message hash is refused, not misverified.
    let (_, data) = peer
        .key
        .sign_auth(
            AuthScheme::DigitalSignature(SignatureAlgorithm::RsaPss(PssParams::new(
                SignatureHash::Sha256,
            ))),
            OCTETS,
        )
        .unwrap();
    let parsed = DigitalSignature::parse(&data).unwrap();
    let mixed = PssParams {
        mgf1_hash: SignatureHash::Sha512,
        ..PssParams::new(SignatureHash::Sha256)
    };
    let data = DigitalSignature::encode(&SignatureAlgorithm::RsaPss(mixed), parsed.signature);
    assert_eq!(
        verify_auth(&peer.cert, auth_method::DIGITAL_SIGNATURE, &data, OCTETS),
        Err(PkiError::UnsupportedAlgorithm)
    );
}

fn rustls_pki_types_der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .secret_pkcs8_der()
        .to_vec()
}

#[test]
fn ecdsa_on_p521_verifies_every_hash_and_p256_verifies_foreign_hashes() {
    // aws-lc-rs signs P-256 only with SHA-256, but a peer may use SHA-384 with it; check
    // with a P-521 key that the verifier picks the hash from the AlgorithmIdentifier.
    let peer = issued(Alg::P521);
    for hash in [
        SignatureHash::Sha256,
        SignatureHash::Sha384,
        SignatureHash::Sha512,
    ] {
        let (_, data) = peer
            .key
            .sign_auth(
                AuthScheme::DigitalSignature(SignatureAlgorithm::Ecdsa(hash)),
                OCTETS,
            )
            .unwrap();
        let parsed = DigitalSignature::parse(&data).unwrap();
        assert_eq!(parsed.algorithm, SignatureAlgorithm::Ecdsa(hash));
        // Relabelled with another hash, the signature no longer verifies.
        let other = if hash == SignatureHash::Sha256 {
            SignatureHash::Sha512
        } else {
            SignatureHash::Sha256
        };
        let relabelled =
            DigitalSignature::encode(&SignatureAlgorithm::Ecdsa(other), parsed.signature);
        assert_eq!(
            verify_auth(
                &peer.cert,
                auth_method::DIGITAL_SIGNATURE,
                &relabelled,
                OCTETS
            ),
            Err(PkiError::BadSignature)
        );
    }
}

#[test]
fn key_usage_without_signing_is_refused() {
    let ca = Ca::new("sig CA", Alg::P256);
    let peer = ca.issue(&EeSpec {
        key_usages: vec![KeyUsagePurpose::KeyEncipherment],
        ..EeSpec::new(Alg::P256, "enc-only.test")
    });
    assert!(!peer.cert.signing_allowed());
    let (method, data) = peer.key.sign_auth(AuthScheme::Classic, OCTETS).unwrap();
    assert_eq!(
        verify_auth(&peer.cert, method, &data, OCTETS),
        Err(PkiError::KeyUsage)
    );

    let non_repudiation = ca.issue(&EeSpec {
        key_usages: vec![KeyUsagePurpose::ContentCommitment],
        ..EeSpec::new(Alg::P256, "nr.test")
    });
    assert!(non_repudiation.cert.signing_allowed());
    let no_key_usage = ca.issue(&EeSpec {
        key_usages: Vec::new(),
        ..EeSpec::new(Alg::P256, "none.test")
    });
    assert!(no_key_usage.cert.signing_allowed());
}

#[test]
fn malformed_auth_data_is_refused() {
    let peer = issued(Alg::P256);
    let (_, data) = peer
        .key
        .sign_auth(
            AuthScheme::DigitalSignature(SignatureAlgorithm::Ecdsa(SignatureHash::Sha256)),
            OCTETS,
        )
        .unwrap();
    let id_len = usize::from(data[0]);
    for bad in [
        Vec::new(),
        vec![0],
        data[..1 + id_len].to_vec(),           // no signature
        [&[data[0] + 1], &data[1..]].concat(), // length covers a signature byte
        [&[data[0] - 1], &data[1..]].concat(), // length cuts the AlgorithmIdentifier
    ] {
        assert_eq!(
            verify_auth(&peer.cert, auth_method::DIGITAL_SIGNATURE, &bad, OCTETS),
            Err(PkiError::MalformedAuthData),
            "{bad:02x?}"
        );
    }
    // SHA-1 is recognised and refused (RFC 8247 §3.2).
    let sha1_rsa = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
    ];
    let data = [&[sha1_rsa.len() as u8], &sha1_rsa[..], &[1, 2, 3]].concat();
    assert_eq!(
        verify_auth(&peer.cert, auth_method::DIGITAL_SIGNATURE, &data, OCTETS),
        Err(PkiError::UnsupportedAlgorithm)
    );
}

#[test]
fn chooser_follows_the_peer_hashes() {
    use HashAlgorithm as H;
    use SignatureAlgorithm as S;
    use SignatureHash::{Sha256, Sha384, Sha512};
    let all = HashAlgorithm::SUPPORTED;
    let ds = AuthScheme::DigitalSignature;

    let p256 = issued(Alg::P256).key;
    assert_eq!(
        p256.choose_scheme(Some(all), RsaPadding::Pkcs1),
        Ok(ds(S::Ecdsa(Sha256)))
    );
    // Without the notify the peer may not know RFC 7427: RFC 4754.
    assert_eq!(
        p256.choose_scheme(None, RsaPadding::Pkcs1),
        Ok(AuthScheme::Classic)
    );
    // A peer refusing every hash the key can sign also gets RFC 4754.
    assert_eq!(
        p256.choose_scheme(Some(&[H::SHA2_512]), RsaPadding::Pkcs1),
        Ok(AuthScheme::Classic)
    );

    let p384 = issued(Alg::P384).key;
    assert_eq!(
        p384.choose_scheme(Some(all), RsaPadding::Pkcs1),
        Ok(ds(S::Ecdsa(Sha384)))
    );
    let p521 = issued(Alg::P521).key;
    assert_eq!(
        p521.choose_scheme(Some(all), RsaPadding::Pkcs1),
        Ok(ds(S::Ecdsa(Sha512)))
    );
    assert_eq!(
        p521.choose_scheme(Some(&[H::SHA2_256]), RsaPadding::Pkcs1),
        Ok(ds(S::Ecdsa(Sha256)))
    );

    let ed = issued(Alg::Ed25519).key;
    assert_eq!(
        ed.choose_scheme(Some(all), RsaPadding::Pkcs1),
        Ok(ds(S::Ed25519))
    );
    assert_eq!(
        ed.choose_scheme(None, RsaPadding::Pkcs1),
        Ok(ds(S::Ed25519))
    );
    assert_eq!(
        ed.choose_scheme(Some(&[H::SHA2_256]), RsaPadding::Pkcs1),
        Err(PkiError::NoCommonScheme)
    );

    let rsa = issued(Alg::Rsa3072).key;
    assert_eq!(rsa.key_bits(), 3072);
    assert_eq!(
        rsa.choose_scheme(Some(all), RsaPadding::Pkcs1),
        Ok(ds(S::RsaPkcs1(Sha256)))
    );
    assert_eq!(
        rsa.choose_scheme(Some(all), RsaPadding::Pss),
        Ok(ds(S::RsaPss(PssParams::new(Sha256))))
    );
    assert_eq!(
        rsa.choose_scheme(Some(&[H::SHA1, H::SHA2_512]), RsaPadding::Pkcs1),
        Ok(ds(S::RsaPkcs1(Sha512)))
    );
    assert_eq!(
        rsa.choose_scheme(None, RsaPadding::Pkcs1),
        Err(PkiError::NoCommonScheme)
    );
    assert_eq!(
        rsa.choose_scheme(Some(&[H::SHA1, H::IDENTITY]), RsaPadding::Pkcs1),
        Err(PkiError::NoCommonScheme)
    );

    // Whatever is chosen can be signed and verified.
    let peer = issued(Alg::Rsa2048);
    let scheme = peer.key.choose_scheme(Some(all), RsaPadding::Pss).unwrap();
    let (method, data) = peer.key.sign_auth(scheme, OCTETS).unwrap();
    verify_auth(&peer.cert, method, &data, OCTETS).unwrap();
}

trait KeyBits {
    fn key_bits(&self) -> u32;
}

impl KeyBits for iketcp_pki::PrivateKey {
    fn key_bits(&self) -> u32 {
        match self.algorithm() {
            PublicKeyAlgorithm::Rsa { bits } => bits,
            _ => 0,
        }
    }
}

#[test]
fn private_key_debug_redacts_and_key_matches_its_certificate() {
    let peer = issued(Alg::P256);
    let other = issued(Alg::P256);
    let debug = format!("{:?}", peer.key);
    assert_eq!(debug, "PrivateKey { algorithm: Ecdsa(P256), .. }");
    assert!(peer.key.matches_certificate(&peer.cert));
    for alg in Alg::ALL {
        let issued = issued(alg);
        assert!(issued.key.matches_certificate(&issued.cert), "{alg:?}");
        assert_eq!(issued.cert.public_key_algorithm(), issued.key.algorithm());
    }
    // Slot 0 keys are shared; a different slot is a different key.
    let ca = Ca::new("sig CA", Alg::P256);
    let second = ca.issue(&EeSpec {
        key_slot: 1,
        ..EeSpec::new(Alg::P256, "second.test")
    });
    assert!(!peer.key.matches_certificate(&second.cert));
    assert!(other.key.matches_certificate(&peer.cert));
}

#[test]
fn keys_load_from_sec1_and_pkcs1_pem() {
    let p256 = issued(Alg::P256);
    let rsa = issued(Alg::Rsa2048);
    // Re-wrap the PKCS#8 bodies in the legacy formats by extracting the inner key.
    let sec1 = inner_private_key(&rustls_pki_types_der(&p256.key_pem));
    let pkcs1 = inner_private_key(&rustls_pki_types_der(&rsa.key_pem));
    let sec1_pem = pem("EC PRIVATE KEY", &sec1);
    let pkcs1_pem = pem("RSA PRIVATE KEY", &pkcs1);
    let from_sec1 = iketcp_pki::PrivateKey::from_pem(sec1_pem.as_bytes()).unwrap();
    let from_pkcs1 = iketcp_pki::PrivateKey::from_pem(pkcs1_pem.as_bytes()).unwrap();
    assert!(from_sec1.matches_certificate(&p256.cert));
    assert!(from_pkcs1.matches_certificate(&rsa.cert));
    assert_eq!(
        iketcp_pki::PrivateKey::from_pem(p256.pem.as_bytes()).unwrap_err(),
        PkiError::Pem("private key")
    );
    assert_eq!(
        iketcp_pki::PrivateKey::from_pem(pem("PRIVATE KEY", b"\x30\x03\x02\x01\x00").as_bytes())
            .unwrap_err(),
        PkiError::UnsupportedKey
    );
}

/// The privateKey OCTET STRING contents of a PKCS#8 PrivateKeyInfo (RFC 5958 §2).
fn inner_private_key(pkcs8: &[u8]) -> Vec<u8> {
    fn element(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = bytes[0];
        let (len, header) = match bytes[1] {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 => (usize::from(bytes[2]), 3),
            0x82 => ((usize::from(bytes[2]) << 8) | usize::from(bytes[3]), 4),
            _ => panic!("length"),
        };
        (tag, &bytes[header..header + len], &bytes[header + len..])
    }
    let (_, info, _) = element(pkcs8);
    let (_, _, rest) = element(info); // version
    let (_, _, rest) = element(rest); // algorithm
    let (tag, key, _) = element(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|line| core::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
