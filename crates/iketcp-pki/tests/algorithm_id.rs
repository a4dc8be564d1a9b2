//! RFC 7427 Appendix A: the AlgorithmIdentifiers of a Digital Signature AUTH payload,
//! byte for byte, and the SIGNATURE_HASH_ALGORITHMS notify of RFC 7427 §4.

use iketcp_pki::{
    DigitalSignature, HashAlgorithm, PkiError, PssParams, SignatureAlgorithm, SignatureHash,
    encode_hash_algorithms, parse_hash_algorithms,
};

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// RFC 7427 A.1.2–A.1.4: sha{256,384,512}WithRSAEncryption, NULL parameters.
#[test]
fn pkcs1_identifiers() {
    let cases = [
        (
            SignatureHash::Sha256,
            "300d 0609 2a86 4886 f70d 0101 0b05 00",
        ),
        (
            SignatureHash::Sha384,
            "300d 0609 2a86 4886 f70d 0101 0c05 00",
        ),
        (
            SignatureHash::Sha512,
            "300d 0609 2a86 4886 f70d 0101 0d05 00",
        ),
    ];
    for (hash, bytes) in cases {
        let algorithm = SignatureAlgorithm::RsaPkcs1(hash);
        assert_eq!(algorithm.to_der(), hex(bytes), "{hash:?}");
        assert_eq!(SignatureAlgorithm::from_der(&hex(bytes)), Ok(algorithm));
    }
}

/// RFC 7427 A.3.2–A.3.4: ecdsa-with-SHA{256,384,512}, parameters absent.
#[test]
fn ecdsa_identifiers() {
    let cases = [
        (SignatureHash::Sha256, "300a 0608 2a86 48ce 3d04 0302"),
        (SignatureHash::Sha384, "300a 0608 2a86 48ce 3d04 0303"),
        (SignatureHash::Sha512, "300a 0608 2a86 48ce 3d04 0304"),
    ];
    for (hash, bytes) in cases {
        let algorithm = SignatureAlgorithm::Ecdsa(hash);
        assert_eq!(algorithm.to_der(), hex(bytes), "{hash:?}");
        assert_eq!(SignatureAlgorithm::from_der(&hex(bytes)), Ok(algorithm));
    }
}

/// RFC 8420 §2 (and RFC 8410 §3): id-Ed25519, parameters absent.
#[test]
fn ed25519_identifier() {
    assert_eq!(
        SignatureAlgorithm::Ed25519.to_der(),
        hex("3005 0603 2b65 70")
    );
    assert_eq!(
        SignatureAlgorithm::from_der(&hex("3005 0603 2b65 70")),
        Ok(SignatureAlgorithm::Ed25519)
    );
}

/// RFC 7427 A.4.3: RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt length 32; the same
/// structure with SHA-384/48 and SHA-512/64, as strongSwan builds them.
#[test]
fn pss_identifiers() {
    let sha256 = "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0201 0500 \
                  a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 \
                  0201 20";
    let sha384 = "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0202 0500 \
                  a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0202 0500 a203 \
                  0201 30";
    let sha512 = "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0203 0500 \
                  a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0203 0500 a203 \
                  0201 40";
    for (hash, bytes) in [
        (SignatureHash::Sha256, sha256),
        (SignatureHash::Sha384, sha384),
        (SignatureHash::Sha512, sha512),
    ] {
        let algorithm = SignatureAlgorithm::RsaPss(PssParams::new(hash));
        assert_eq!(algorithm.to_der(), hex(bytes), "{hash:?}");
        assert_eq!(hex(bytes).len(), 67);
        assert_eq!(SignatureAlgorithm::from_der(&hex(bytes)), Ok(algorithm));
    }
}

/// RFC 4055 §2.1: hash AlgorithmIdentifiers may omit NULL; an explicit trailerField of 1
/// and an explicit salt length of 20 are accepted too.
#[test]
fn pss_variants_are_read() {
    let no_nulls = "303d 0609 2a86 4886 f70d 0101 0a30 30a0 0d30 0b06 0960 8648 0165 0304 0201 \
                    a11a 3018 0609 2a86 4886 f70d 0101 0830 0b06 0960 8648 0165 0304 0201 a203 \
                    0201 20";
    assert_eq!(
        SignatureAlgorithm::from_der(&hex(no_nulls)),
        Ok(SignatureAlgorithm::RsaPss(PssParams::new(
            SignatureHash::Sha256
        )))
    );
    let with_trailer_salt_20 = "3046 0609 2a86 4886 f70d 0101 0a30 39a0 0f30 0d06 0960 8648 0165 \
                                0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 \
                                8648 0165 0304 0201 0500 a203 0201 14a3 0302 0101";
    assert_eq!(
        SignatureAlgorithm::from_der(&hex(with_trailer_salt_20)),
        Ok(SignatureAlgorithm::RsaPss(PssParams {
            salt_len: 20,
            ..PssParams::new(SignatureHash::Sha256)
        }))
    );
    // A trailer field other than 1 is not RSASSA-PSS as RFC 8017 defines it.
    let mut bad_trailer = hex(with_trailer_salt_20);
    *bad_trailer.last_mut().unwrap() = 2;
    assert_eq!(
        SignatureAlgorithm::from_der(&bad_trailer),
        Err(PkiError::UnsupportedAlgorithm)
    );
}

/// SHA-1 forms of RFC 7427 A.1.1, A.3.1, A.4.1 and A.4.2 are recognised and refused
/// (RFC 8247 §3.2).
#[test]
fn sha1_identifiers_are_refused() {
    for bytes in [
        "300d 0609 2a86 4886 f70d 0101 0505 00",
        "3009 0607 2a86 48ce 3d04 01",
        // RSASSA-PSS with empty parameters: every default, so SHA-1.
        "300d 0609 2a86 4886 f70d 0101 0a30 00",
        // RSASSA-PSS with the default parameters spelled out (RFC 7427 A.4.2).
        "303e 0609 2a86 4886 f70d 0101 0a30 31a0 0b30 0906 052b 0e03 021a 0500 a118 3016 \
         0609 2a86 4886 f70d 0101 0830 0906 052b 0e03 021a 0500 a203 0201 14a3 0302 0101",
    ] {
        assert_eq!(
            SignatureAlgorithm::from_der(&hex(bytes)),
            Err(PkiError::UnsupportedAlgorithm),
            "{bytes}"
        );
    }
}

#[test]
fn malformed_identifiers() {
    for bytes in [
        "",
        "30",
        "3000",
        "300a 0608 2a86 48ce 3d04 03",        // length beyond the data
        "300b 0608 2a86 48ce 3d04 0302 00",   // stray octet inside
        "300c 0608 2a86 48ce 3d04 0302 0400", // parameters that are not NULL
        "3005 0603 2b65 7000",                // trailing octet after the SEQUENCE
    ] {
        assert_eq!(
            SignatureAlgorithm::from_der(&hex(bytes)),
            Err(PkiError::MalformedAuthData),
            "{bytes}"
        );
    }
    // Unknown algorithms are well-formed but unsupported.
    assert_eq!(
        SignatureAlgorithm::from_der(&hex("3005 0603 2b65 71")),
        Err(PkiError::UnsupportedAlgorithm)
    );
}

/// RFC 7427 §3: length octet, AlgorithmIdentifier, signature.
#[test]
fn auth_data_layout() {
    let algorithm = SignatureAlgorithm::Ecdsa(SignatureHash::Sha256);
    let data = DigitalSignature::encode(&algorithm, &[0xaa, 0xbb]);
    assert_eq!(data, hex("0c 300a 0608 2a86 48ce 3d04 0302 aabb"));
    assert_eq!(
        DigitalSignature::parse(&data),
        Ok(DigitalSignature {
            algorithm,
            signature: &[0xaa, 0xbb],
        })
    );
}

#[test]
fn hash_algorithm_of_each_signature_algorithm() {
    assert_eq!(
        SignatureAlgorithm::Ecdsa(SignatureHash::Sha384).hash_algorithm(),
        HashAlgorithm::SHA2_384
    );
    assert_eq!(
        SignatureAlgorithm::Ed25519.hash_algorithm(),
        HashAlgorithm::IDENTITY
    );
    assert_eq!(
        SignatureAlgorithm::RsaPss(PssParams::new(SignatureHash::Sha512)).hash_algorithm(),
        HashAlgorithm::SHA2_512
    );
}

/// RFC 7427 §4: a list of 2-octet values; RFC 7427 §7 and RFC 8420 §2 give the numbers.
#[test]
fn signature_hash_algorithms_notify() {
    assert_eq!(iketcp_pki::SIGNATURE_HASH_ALGORITHMS, 16431);
    assert_eq!(
        [
            HashAlgorithm::SHA1,
            HashAlgorithm::SHA2_256,
            HashAlgorithm::SHA2_384,
            HashAlgorithm::SHA2_512,
            HashAlgorithm::IDENTITY
        ]
        .map(|h| h.0),
        [1, 2, 3, 4, 5]
    );
    let body = encode_hash_algorithms(HashAlgorithm::SUPPORTED);
    assert_eq!(body, hex("0002 0003 0004 0005"));
    // What strongSwan 5.9 sends: SHA2-256, SHA2-384, SHA2-512, Identity.
    assert_eq!(
        parse_hash_algorithms(&body).unwrap(),
        HashAlgorithm::SUPPORTED
    );
    assert_eq!(
        parse_hash_algorithms(&hex("0002 00")),
        Err(PkiError::MalformedHashAlgorithms)
    );
}
