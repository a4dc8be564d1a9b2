//! RFC 7296 §3.14, RFC 5282, RFC 7634: SK payload bodies.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use iketcp_crypto::{CryptoError, DeterministicRng, Encr, Integ, SecretBytes, SkCipher};

fn suites() -> Vec<(Encr, Option<Integ>)> {
    let mut v = vec![
        (Encr::AesGcm16 { key_bits: 128 }, None),
        (Encr::AesGcm16 { key_bits: 256 }, None),
        (Encr::ChaCha20Poly1305, None),
    ];
    for bits in [128, 256] {
        for integ in Integ::ALL {
            v.push((Encr::AesCbc { key_bits: bits }, Some(integ)));
        }
    }
    v
}

fn keys(encr: Encr, integ: Option<Integ>) -> (SecretBytes, SecretBytes) {
    let ek = (0..encr.key_len()).map(|i| i as u8 ^ 0x5a).collect();
    let ak = (0..integ.map_or(0, Integ::key_len))
        .map(|i| i as u8 ^ 0xa5)
        .collect();
    (SecretBytes::new(ek), SecretBytes::new(ak))
}

fn pair(encr: Encr, integ: Option<Integ>) -> (SkCipher, SkCipher) {
    let (ek, ak) = keys(encr, integ);
    (
        SkCipher::new(encr, integ, &ek, &ak).unwrap(),
        SkCipher::new(encr, integ, &ek, &ak).unwrap(),
    )
}

/// A stand-in IKE header (28 bytes) and SK generic header (4 bytes).
fn aad() -> Vec<u8> {
    let mut a: Vec<u8> = (0..28).collect();
    a.extend_from_slice(&[0x29, 0, 0, 0]);
    a
}

#[test]
fn round_trip_every_suite_and_length() {
    let mut rng = DeterministicRng::from_u64(1);
    for (encr, integ) in suites() {
        let (mut tx, rx) = pair(encr, integ);
        for len in [0usize, 1, 14, 15, 16, 17, 100, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let body = tx.encrypt(&aad(), &plaintext, &mut rng).unwrap();
            assert_eq!(body.len(), tx.body_len(len), "{encr:?} {integ:?} {len}");
            assert_eq!(rx.decrypt(&aad(), &body).unwrap(), plaintext);
        }
    }
}

#[test]
fn cbc_bodies_are_whole_blocks_and_aead_bodies_are_unpadded() {
    for (encr, integ) in suites() {
        let (tx, _) = pair(encr, integ);
        for len in 0..40 {
            let ct = tx.body_len(len) - encr.iv_len() - integ.map_or(16, Integ::icv_len);
            if encr.is_aead() {
                assert_eq!(ct, len + 1);
            } else {
                assert_eq!(ct % 16, 0);
                assert!(ct > len && ct <= len + 16);
            }
        }
    }
}

#[test]
fn any_tampered_byte_fails_the_integrity_check() {
    let mut rng = DeterministicRng::from_u64(2);
    for (encr, integ) in suites() {
        let (mut tx, rx) = pair(encr, integ);
        let aad = aad();
        let body = tx.encrypt(&aad, b"IDi AUTH SA TSi TSr", &mut rng).unwrap();
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                rx.decrypt(&aad, &bad).unwrap_err(),
                CryptoError::IntegrityCheckFailed,
                "{encr:?} body byte {i}"
            );
        }
        for i in 0..aad.len() {
            let mut bad = aad.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                rx.decrypt(&bad, &body).unwrap_err(),
                CryptoError::IntegrityCheckFailed,
                "{encr:?} aad byte {i}"
            );
        }
    }
}

#[test]
fn truncated_or_extended_bodies_are_refused() {
    let mut rng = DeterministicRng::from_u64(3);
    for (encr, integ) in suites() {
        let (mut tx, rx) = pair(encr, integ);
        let body = tx.encrypt(&aad(), b"payloads", &mut rng).unwrap();
        for cut in 0..body.len() {
            assert!(
                rx.decrypt(&aad(), &body[..cut]).is_err(),
                "{encr:?} cut {cut}"
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(rx.decrypt(&aad(), &longer).is_err());
        assert_eq!(
            rx.decrypt(&aad(), &[]).unwrap_err(),
            CryptoError::MalformedBody
        );
    }
}

#[test]
fn bad_pad_length_is_refused_but_any_padding_content_is_accepted() {
    // Build bodies by hand under AES-GCM: the tag covers them, so the padding checks run.
    let encr = Encr::AesGcm16 { key_bits: 128 };
    let (ek, ak) = keys(encr, None);
    let rx = SkCipher::new(encr, None, &ek, &ak).unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &ek.expose()[..16]).unwrap());
    let seal = |plain: &[u8]| {
        let iv = [9u8; 8];
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&ek.expose()[16..]);
        nonce[4..].copy_from_slice(&iv);
        let mut body = iv.to_vec();
        let mut ct = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad()),
            &mut ct,
        )
        .unwrap();
        body.extend_from_slice(&ct);
        body
    };
    // 3 bytes of payload, 5 bytes of arbitrary padding, Pad Length 5.
    let ok = seal(&[1, 2, 3, 0xde, 0xad, 0xbe, 0xef, 0x77, 5]);
    assert_eq!(rx.decrypt(&aad(), &ok).unwrap(), vec![1, 2, 3]);
    // Pad Length 9 with only 8 bytes before it.
    let bad = seal(&[1, 2, 3, 0, 0, 0, 0, 0, 9]);
    assert_eq!(
        rx.decrypt(&aad(), &bad).unwrap_err(),
        CryptoError::BadPadding
    );
}

/// RFC 5282: nonce = salt (last 4 bytes of SK_e) | 8-byte IV, the AAD exactly as given,
/// the 16-byte tag at the end; checked by opening the body with aws-lc-rs directly.
#[test]
fn aes_gcm_layout_matches_rfc5282() {
    for bits in [128u16, 256] {
        let encr = Encr::AesGcm16 { key_bits: bits };
        let (ek, ak) = keys(encr, None);
        let mut tx = SkCipher::new(encr, None, &ek, &ak).unwrap();
        let mut rng = DeterministicRng::from_u64(4);
        let plaintext = b"inner payload chain";
        let _first = tx.encrypt(&aad(), plaintext, &mut rng).unwrap();
        let body = tx.encrypt(&aad(), plaintext, &mut rng).unwrap();

        let klen = usize::from(bits / 8);
        let alg = if bits == 128 {
            &aead::AES_128_GCM
        } else {
            &aead::AES_256_GCM
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, &ek.expose()[..klen]).unwrap());
        let (iv, rest) = body.split_at(8);
        assert_eq!(iv, 1u64.to_be_bytes(), "IVs count messages from 0");
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&ek.expose()[klen..]);
        nonce[4..].copy_from_slice(iv);
        let mut in_out = rest.to_vec();
        let opened = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad()),
                &mut in_out,
            )
            .unwrap();
        // No padding under an AEAD: the plaintext then Pad Length 0.
        let mut expected = plaintext.to_vec();
        expected.push(0);
        assert_eq!(opened, expected.as_slice());
    }
}

/// RFC 7634 §2: the same nonce construction for ChaCha20-Poly1305.
#[test]
fn chacha20_poly1305_layout_matches_rfc7634() {
    let encr = Encr::ChaCha20Poly1305;
    let (ek, ak) = keys(encr, None);
    let mut tx = SkCipher::new(encr, None, &ek, &ak).unwrap();
    let mut rng = DeterministicRng::from_u64(5);
    let body = tx.encrypt(&aad(), b"x", &mut rng).unwrap();
    let key =
        LessSafeKey::new(UnboundKey::new(&aead::CHACHA20_POLY1305, &ek.expose()[..32]).unwrap());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&ek.expose()[32..]);
    nonce[4..].copy_from_slice(&body[..8]);
    let mut in_out = body[8..].to_vec();
    let opened = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad()),
            &mut in_out,
        )
        .unwrap();
    assert_eq!(opened, b"x\x00");
}

/// RFC 7296 §3.14: the CBC ICV is the truncated HMAC of header through ciphertext.
#[test]
fn cbc_icv_covers_the_message_through_the_ciphertext() {
    use aws_lc_rs::hmac;
    let encr = Encr::AesCbc { key_bits: 128 };
    let integ = Integ::HmacSha256_128;
    let (ek, ak) = keys(encr, Some(integ));
    let mut tx = SkCipher::new(encr, Some(integ), &ek, &ak).unwrap();
    let mut rng = DeterministicRng::from_u64(6);
    let body = tx.encrypt(&aad(), b"abc", &mut rng).unwrap();
    assert_eq!(body.len(), 16 + 16 + 16);
    let (signed, icv) = body.split_at(body.len() - 16);
    let mut msg = aad();
    msg.extend_from_slice(signed);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, ak.expose()), &msg);
    assert_eq!(icv, &tag.as_ref()[..16]);
}

#[test]
fn keys_and_transforms_are_checked() {
    let gcm = Encr::AesGcm16 { key_bits: 256 };
    let cbc = Encr::AesCbc { key_bits: 256 };
    let k36 = SecretBytes::zeroed(36);
    let k32 = SecretBytes::zeroed(32);
    let none = SecretBytes::zeroed(0);
    assert_eq!(
        SkCipher::new(gcm, Some(Integ::HmacSha256_128), &k36, &k32).unwrap_err(),
        CryptoError::InvalidTransformCombination
    );
    assert_eq!(
        SkCipher::new(cbc, None, &k32, &none).unwrap_err(),
        CryptoError::InvalidTransformCombination
    );
    assert_eq!(
        SkCipher::new(gcm, None, &k32, &none).unwrap_err(),
        CryptoError::BadKeyLength {
            expected: 36,
            got: 32
        }
    );
    assert_eq!(
        SkCipher::new(Encr::AesGcm16 { key_bits: 192 }, None, &k32, &none).unwrap_err(),
        CryptoError::UnsupportedAlgorithm
    );
}

#[test]
fn debug_hides_keys() {
    let (tx, _) = pair(Encr::AesGcm16 { key_bits: 128 }, None);
    let s = format!("{tx:?}");
    assert!(s.starts_with("SkCipher"), "{s}");
    assert!(!s.contains("5a"), "{s}");
}
