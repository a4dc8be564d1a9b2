//! Wireshark 4.0 `esp_sa` rows (format in shared/tools/wireshark/README.md).

mod common;

use common::*;
use iketcp_esp::wireshark::esp_sa_row;
use iketcp_esp::{AesKeySize, Algorithm, EspError, Integrity, SaParams};

#[test]
fn gcm_row_carries_key_and_salt_with_null_auth() {
    let key: Vec<u8> = (1u8..=20).collect();
    let p = SaParams::new(0xc0ff_ee01, Algorithm::AesGcm16_128, key);
    let row = esp_sa_row(
        &p,
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(
        row,
        "\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xc0ffee01\",\"AES-GCM with 16 octet ICV [RFC4106]\",\
         \"0x0102030405060708090a0b0c0d0e0f1011121314\",\"NULL\",\"0x\""
    );
}

#[test]
fn cbc_row_splits_encryption_and_integrity_keys() {
    let alg = Algorithm::AesCbc {
        key: AesKeySize::Aes128,
        integrity: Integrity::HmacSha256_128,
    };
    let key: Vec<u8> = (0u8..48).collect();
    let p = SaParams::new(0x10, alg, key);
    let row = esp_sa_row(
        &p,
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    )
    .unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!(fields[0], "\"IPv6\"");
    assert_eq!(fields[3], "\"0x00000010\"");
    assert_eq!(fields[4], "\"AES-CBC [RFC3602]\"");
    assert_eq!(fields[5], "\"0x000102030405060708090a0b0c0d0e0f\"");
    assert_eq!(fields[6], "\"HMAC-SHA-256-128 [RFC4868]\"");
    assert_eq!(fields[7].len(), 2 + 2 + 64);
}

#[test]
fn unsupported_by_wireshark_is_refused() {
    let alg = Algorithm::ChaCha20Poly1305;
    let v4 = "192.0.2.1".parse().unwrap();
    let p = SaParams::new(1, alg, key_for(alg));
    assert!(matches!(
        esp_sa_row(&p, v4, v4),
        Err(EspError::Unsupported { .. })
    ));
    let alg = Algorithm::AesGcm16_256;
    let p = SaParams::new(1, alg, key_for(alg)).with_esn(true);
    assert!(esp_sa_row(&p, v4, v4).is_err());
    let p = SaParams::new(1, alg, key_for(alg));
    assert!(esp_sa_row(&p, v4, "::1".parse().unwrap()).is_err());
}
