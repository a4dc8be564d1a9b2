//! The packet layouts checked against aws-lc-rs primitives driven directly by the test:
//! RFC 4106 §3–5 (AES-GCM), RFC 7634 (ChaCha20-Poly1305), RFC 3602 + RFC 4868 (AES-CBC
//! with HMAC-SHA-2) and the ESN rules of RFC 4303 §2.2.1 and §3.3.2.1.

mod common;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use common::*;
use iketcp_esp::{AesKeySize, Algorithm, Engine, Integrity, Mode, SaParams};

/// The engine's packet equals the one built from the RFC 4106 layout by hand: nonce =
/// salt || explicit IV, AAD = SPI || seq (|| with ESN: SPI || seq-high || seq-low).
#[test]
fn aes_gcm_matches_rfc4106_layout() {
    for alg in [Algorithm::AesGcm16_128, Algorithm::AesGcm16_256] {
        for (esn, seq) in [(false, 1u64), (false, 0xdead_beef), (true, (3 << 32) | 17)] {
            let key = key_for(alg);
            let params = SaParams::new(SPI, alg, key.clone())
                .with_esn(esn)
                .with_initial_seq(seq);
            let (mut tx, _) = pair(&params);
            let ip = ipv4_packet(61);
            let esp = encap(&mut tx, SPI, &ip);
            let expected = gcm_packet(
                &key,
                SPI,
                seq,
                esn,
                seq.to_be_bytes(),
                &with_trailer(&ip, 4, 4),
            );
            assert_eq!(esp, expected, "{alg:?} esn={esn}");
        }
    }
}

/// A fixed AES-128-GCM packet: key, salt, SPI, sequence number and plaintext are
/// constants, so a change of layout or of aws-lc-rs shows up as a byte difference.
#[test]
fn aes_128_gcm_fixed_vector() {
    let key: Vec<u8> = (0u8..16).chain([0xca, 0xfe, 0xba, 0xbe]).collect();
    let params = SaParams::new(0x0000_4321, Algorithm::AesGcm16_128, key.clone())
        .with_initial_seq(0x8765_4321);
    let (mut tx, mut rx) = pair(&params);
    let mut ip = vec![
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 59, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];
    ip[10..12].copy_from_slice(&[0xf6, 0xd7]);
    let esp = encap(&mut tx, 0x0000_4321, &ip);
    // Header, then the explicit IV (the sequence number), then 24 bytes of ciphertext
    // (20 of packet, 2 of padding, 2 of trailer) and the 16-byte ICV.
    assert_eq!(
        &esp[..16],
        &[
            0, 0, 0x43, 0x21, 0x87, 0x65, 0x43, 0x21, 0, 0, 0, 0, 0x87, 0x65, 0x43, 0x21
        ]
    );
    assert_eq!(esp.len(), 8 + 8 + 24 + 16);
    // Independently: decrypt with aws-lc-rs and read the plaintext back.
    let k = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key[..16]).unwrap());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&key[16..]);
    nonce[4..].copy_from_slice(&esp[8..16]);
    let mut ct = esp[16..].to_vec();
    let pt = k
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&esp[..8]),
            &mut ct,
        )
        .unwrap();
    assert_eq!(&pt[..20], &ip[..]);
    assert_eq!(&pt[20..], &[1, 2, 2, 4]);
    let mut out = [0u8; 64];
    assert!(rx.decapsulate(&esp, &mut out).is_ok());
}

#[test]
fn chacha20_poly1305_matches_rfc7634_layout() {
    let alg = Algorithm::ChaCha20Poly1305;
    for (esn, seq) in [(false, 7u64), (true, (1 << 32) | 2)] {
        let key = key_for(alg);
        let params = SaParams::new(SPI, alg, key.clone())
            .with_esn(esn)
            .with_initial_seq(seq)
            .with_mode(Mode::Transport);
        let (mut tx, _) = pair(&params);
        let ip = ipv6_packet(33);
        let esp = encap(&mut tx, SPI, &ip);
        let expected = aead_packet(
            &aead::CHACHA20_POLY1305,
            &key[..32],
            &key[32..],
            SPI,
            seq,
            esn,
            seq.to_be_bytes(),
            &with_trailer(&ip[40..], 4, 6),
        );
        assert_eq!(esp, expected, "esn={esn}");
    }
}

/// RFC 3602 + RFC 4868: IV || AES-CBC(payload || padding || trailer), then the HMAC over
/// SPI .. ciphertext (and the ESN high bits, RFC 4303 §3.3.2.1) truncated to half.
#[test]
fn aes_cbc_hmac_matches_an_independent_computation() {
    let iv = [0xa5u8, 0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    for aes in [AesKeySize::Aes128, AesKeySize::Aes256] {
        for integrity in [
            Integrity::HmacSha256_128,
            Integrity::HmacSha384_192,
            Integrity::HmacSha512_256,
        ] {
            for (esn, seq) in [(false, 42u64), (true, (9 << 32) | 42)] {
                let alg = Algorithm::AesCbc {
                    key: aes,
                    integrity,
                };
                let key = key_for(alg);
                let params = SaParams::new(SPI, alg, key.clone())
                    .with_esn(esn)
                    .with_initial_seq(seq);
                let mut tx = Engine::with_rng(Box::new(FixedRng(iv)));
                tx.install_outbound(&params).unwrap();
                let ip = ipv4_packet(45);
                let esp = encap(&mut tx, SPI, &ip);

                let (ek, ik) = key.split_at(aes.key_len());
                let cipher = if aes == AesKeySize::Aes128 {
                    &AES_128
                } else {
                    &AES_256
                };
                let enc = EncryptingKey::cbc(UnboundCipherKey::new(cipher, ek).unwrap()).unwrap();
                let mut ct = with_trailer(&ip, 16, 4);
                enc.less_safe_encrypt(&mut ct, EncryptionContext::Iv128(iv.into()))
                    .unwrap();
                let mut expected = SPI.to_be_bytes().to_vec();
                expected.extend_from_slice(&(seq as u32).to_be_bytes());
                expected.extend_from_slice(&iv);
                expected.extend_from_slice(&ct);
                let mut authed = expected.clone();
                if esn {
                    authed.extend_from_slice(&((seq >> 32) as u32).to_be_bytes());
                }
                let hmac_alg = match integrity {
                    Integrity::HmacSha256_128 => hmac::HMAC_SHA256,
                    Integrity::HmacSha384_192 => hmac::HMAC_SHA384,
                    Integrity::HmacSha512_256 => hmac::HMAC_SHA512,
                };
                let tag = hmac::sign(&hmac::Key::new(hmac_alg, ik), &authed);
                expected.extend_from_slice(&tag.as_ref()[..integrity.icv_len()]);
                assert_eq!(esp, expected, "{alg:?} esn={esn}");
            }
        }
    }
}

/// RFC 4231 test case 2 through RFC 4868's truncation: the HMAC-SHA-256 primitive the ICV
/// relies on gives the published value.
#[test]
fn hmac_sha256_rfc4231_case2() {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, b"Jefe"),
        b"what do ya want for nothing?",
    );
    let expected = [
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75,
        0xc7,
    ];
    assert_eq!(&tag.as_ref()[..16], &expected);
}
