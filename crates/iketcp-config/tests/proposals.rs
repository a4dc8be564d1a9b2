//! strongSwan proposal strings to the engine's transforms.

use iketcp_config::proposal::{Protocol, check_implemented, parse};
use iketcp_proto::config::suites;
use iketcp_proto::proposal::ProposalSpec;
use iketcp_wire::ike::{Transform, TransformId as T, TransformType};

fn t(ty: TransformType, id: T) -> Transform {
    Transform::new(ty, id)
}
fn encr(id: T, bits: u16) -> Transform {
    Transform::with_key_length(TransformType::ENCR, id, bits)
}
fn prf(id: T) -> Transform {
    t(TransformType::PRF, id)
}
fn integ(id: T) -> Transform {
    t(TransformType::INTEG, id)
}
fn ke(id: T) -> Transform {
    t(TransformType::KE, id)
}
fn esn(id: T) -> Transform {
    t(TransformType::ESN, id)
}
fn spec(transforms: Vec<Transform>) -> ProposalSpec {
    ProposalSpec { transforms }
}

#[test]
fn strongswan_strings_match_the_suites() {
    let table: Vec<(&str, Protocol, ProposalSpec)> = vec![
        (
            "aes256gcm16-prfsha384-x25519",
            Protocol::Ike,
            suites::ike_aes256gcm16_prfsha384_x25519(),
        ),
        (
            "aes128gcm16-prfsha256-ecp256",
            Protocol::Ike,
            suites::ike_aes128gcm16_prfsha256_ecp256(),
        ),
        (
            "aes256-sha256-modp2048",
            Protocol::Ike,
            suites::ike_aes256_sha256_modp2048(),
        ),
        ("aes128gcm16", Protocol::Esp, suites::esp_aes128gcm16(None)),
        (
            "aes128gcm16-ecp256",
            Protocol::Esp,
            suites::esp_aes128gcm16(Some(T::KE_ECP_256)),
        ),
        (
            "aes128-sha256",
            Protocol::Esp,
            suites::esp_aes128_sha256(None),
        ),
        (
            "aes128-sha256-ecp256",
            Protocol::Esp,
            suites::esp_aes128_sha256(Some(T::KE_ECP_256)),
        ),
        (
            "aes256-sha256-modp2048",
            Protocol::Esp,
            suites::esp_aes256_sha256(Some(T::KE_MODP_2048)),
        ),
        // The defaults, written out.
        (
            "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha384-prfsha256-prfsha512-x25519-ecp256-ecp384",
            Protocol::Ike,
            suites::default_ike()[0].clone(),
        ),
        (
            "aes256gcm16-aes128gcm16-chacha20poly1305-x25519-ecp256-noesn",
            Protocol::Esp,
            suites::default_esp()[0].clone(),
        ),
    ];
    for (text, protocol, want) in table {
        assert_eq!(parse(text, protocol).unwrap(), want, "{text}");
        check_implemented(text).unwrap();
    }
}

#[test]
fn strongswan_strings_to_transforms() {
    let table: Vec<(&str, Protocol, Vec<Transform>)> = vec![
        (
            "chacha20poly1305-prfsha256-ecp256",
            Protocol::Ike,
            vec![
                t(TransformType::ENCR, T::ENCR_CHACHA20_POLY1305),
                prf(T::PRF_HMAC_SHA2_256),
                ke(T::KE_ECP_256),
            ],
        ),
        (
            "aes256gcm16-x25519",
            Protocol::Esp,
            vec![
                encr(T::ENCR_AES_GCM_16, 256),
                ke(T::KE_CURVE25519),
                esn(T::ESN_NO),
            ],
        ),
        (
            "aes256gcm16",
            Protocol::Esp,
            vec![encr(T::ENCR_AES_GCM_16, 256), esn(T::ESN_NO)],
        ),
        (
            "chacha20poly1305-esn",
            Protocol::Esp,
            vec![
                t(TransformType::ENCR, T::ENCR_CHACHA20_POLY1305),
                esn(T::ESN_YES),
            ],
        ),
        (
            "aes128gcm16-esn-noesn",
            Protocol::Esp,
            vec![
                encr(T::ENCR_AES_GCM_16, 128),
                esn(T::ESN_YES),
                esn(T::ESN_NO),
            ],
        ),
        // An integrity algorithm gives IKE its PRF; a prf… keyword overrides that.
        (
            "aes128-aes256-sha384-sha512-ecp384",
            Protocol::Ike,
            vec![
                encr(T::ENCR_AES_CBC, 128),
                encr(T::ENCR_AES_CBC, 256),
                prf(T::PRF_HMAC_SHA2_384),
                prf(T::PRF_HMAC_SHA2_512),
                integ(T::INTEG_HMAC_SHA2_384_192),
                integ(T::INTEG_HMAC_SHA2_512_256),
                ke(T::KE_ECP_384),
            ],
        ),
        (
            "aes256-sha512-prfsha256-x25519",
            Protocol::Ike,
            vec![
                encr(T::ENCR_AES_CBC, 256),
                prf(T::PRF_HMAC_SHA2_256),
                integ(T::INTEG_HMAC_SHA2_512_256),
                ke(T::KE_CURVE25519),
            ],
        ),
        (
            "aes-sha2_256-modp2048",
            Protocol::Esp,
            vec![
                encr(T::ENCR_AES_CBC, 128),
                integ(T::INTEG_HMAC_SHA2_256_128),
                ke(T::KE_MODP_2048),
                esn(T::ESN_NO),
            ],
        ),
        // Known to the table, refused later as not implemented.
        (
            "aes192-sha256",
            Protocol::Esp,
            vec![
                encr(T::ENCR_AES_CBC, 192),
                integ(T::INTEG_HMAC_SHA2_256_128),
                esn(T::ESN_NO),
            ],
        ),
        (
            "aes256gcm12-aes128gcm8-aes256gcm128-aes128gcm96",
            Protocol::Esp,
            vec![
                encr(T::ENCR_AES_GCM_12, 256),
                encr(T::ENCR_AES_GCM_8, 128),
                encr(T::ENCR_AES_GCM_16, 256),
                encr(T::ENCR_AES_GCM_12, 128),
                esn(T::ESN_NO),
            ],
        ),
        (
            "AES256GCM16-PRFSHA384-CURVE25519",
            Protocol::Ike,
            suites::ike_aes256gcm16_prfsha384_x25519().transforms,
        ),
    ];
    for (text, protocol, want) in table {
        assert_eq!(parse(text, protocol).unwrap(), spec(want), "{text}");
    }
}

#[test]
fn not_implemented_is_named() {
    for (text, token) in [
        ("aes192-sha256", "aes192"),
        ("aes256gcm12", "aes256gcm12"),
        ("aes128-sha1", "sha1"),
        ("aes256gcm16-prfsha384-modp3072", "modp3072"),
        ("aes256gcm16-prfsha384-ecp521", "ecp521"),
        ("3des-sha256", "3des"),
    ] {
        let e = check_implemented(text).unwrap_err();
        assert!(
            e.contains(&format!("\"{token}\" is not implemented")),
            "{text}: {e}"
        );
    }
}

#[test]
fn malformed_proposals() {
    let cases: &[(&str, Protocol, &str)] = &[
        ("aes999", Protocol::Esp, "unknown algorithm \"aes999\""),
        (
            "aes256gcm16-prfsha384-x25519-x25519",
            Protocol::Ike,
            "listed twice",
        ),
        ("aes256gcm16--x25519", Protocol::Ike, "empty algorithm"),
        ("", Protocol::Esp, "empty proposal"),
        ("sha256-x25519", Protocol::Ike, "no encryption algorithm"),
        (
            "aes256gcm16-aes256-sha256",
            Protocol::Esp,
            "cannot share a proposal",
        ),
        (
            "aes256gcm16-sha256",
            Protocol::Esp,
            "takes no integrity algorithm",
        ),
        ("aes256", Protocol::Esp, "needs an integrity algorithm"),
        ("aes256gcm16-x25519", Protocol::Ike, "needs a PRF"),
        (
            "aes256gcm16-prfsha384",
            Protocol::Ike,
            "needs a key exchange method",
        ),
        (
            "aes256gcm16-prfsha384",
            Protocol::Esp,
            "ESP proposals have none",
        ),
        (
            "aes256gcm16-prfsha384-x25519-esn",
            Protocol::Ike,
            "ESP proposals only",
        ),
    ];
    for &(text, protocol, want) in cases {
        let e = parse(text, protocol).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
    }
}
