//! RFC 7296 §2.14, §2.15, §2.17, §2.18: the key schedule, recomputed step by step from
//! plain HMAC.

use aws_lc_rs::hmac;
use iketcp_crypto::{
    ChildKeySizes, CryptoError, Encr, IkeKeys, Integ, KEY_PAD, KeGroup, Prf, SecretBytes,
    SystemRng, child_sa_keys, psk_auth, rekey_skeyseed, signed_octets, skeyseed, verify_psk_auth,
};

fn mac(alg: hmac::Algorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(alg, key), data)
        .as_ref()
        .to_vec()
}

fn prf_plus(alg: hmac::Algorithm, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut t = Vec::new();
    for n in 1u8.. {
        if out.len() >= len {
            break;
        }
        let mut input = t.clone();
        input.extend_from_slice(seed);
        input.push(n);
        t = mac(alg, key, &input);
        out.extend_from_slice(&t);
    }
    out.truncate(len);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const NI: &[u8] = &[0x11; 32];
const NR: &[u8] = &[0x22; 48];
const SPI_I: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const SPI_R: [u8; 8] = [9, 10, 11, 12, 13, 14, 15, 16];

#[test]
fn ike_sa_keys_step_by_step() {
    let g_ir = [0x33u8; 32];
    for (prf, alg) in [
        (Prf::HmacSha256, hmac::HMAC_SHA256),
        (Prf::HmacSha384, hmac::HMAC_SHA384),
        (Prf::HmacSha512, hmac::HMAC_SHA512),
    ] {
        for (encr, integ) in [
            (Encr::AesGcm16 { key_bits: 256 }, None),
            (Encr::ChaCha20Poly1305, None),
            (Encr::AesCbc { key_bits: 128 }, Some(Integ::HmacSha512_256)),
        ] {
            let keys = IkeKeys::derive(prf, encr, integ, &g_ir, NI, NR, &SPI_I, &SPI_R).unwrap();

            let seed = mac(alg, &cat(&[NI, NR]), &g_ir);
            assert_eq!(skeyseed(prf, NI, NR, &g_ir).expose(), seed);
            let p = prf.output_len();
            let a = integ.map_or(0, Integ::key_len);
            let e = encr.key_len();
            let total = p + 2 * a + 2 * e + 2 * p;
            let km = prf_plus(alg, &seed, &cat(&[NI, NR, &SPI_I, &SPI_R]), total);
            let mut at = 0;
            let mut next = |n: usize| {
                let s = km[at..at + n].to_vec();
                at += n;
                s
            };
            assert_eq!(keys.sk_d.expose(), next(p));
            assert_eq!(keys.sk_ai.expose(), next(a));
            assert_eq!(keys.sk_ar.expose(), next(a));
            assert_eq!(keys.sk_ei.expose(), next(e));
            assert_eq!(keys.sk_er.expose(), next(e));
            assert_eq!(keys.sk_pi.expose(), next(p));
            assert_eq!(keys.sk_pr.expose(), next(p));
            assert_eq!(at, total);
        }
    }
}

#[test]
fn rekeyed_ike_sa_uses_the_old_prf_for_skeyseed() {
    let old_sk_d = SecretBytes::new(vec![0x44; 48]);
    let g_new = [0x55u8; 32];
    let keys = IkeKeys::derive_rekey(
        Prf::HmacSha384,
        &old_sk_d,
        Prf::HmacSha256,
        Encr::AesGcm16 { key_bits: 128 },
        None,
        &g_new,
        NI,
        NR,
        &SPI_I,
        &SPI_R,
    )
    .unwrap();
    let seed = mac(
        hmac::HMAC_SHA384,
        old_sk_d.expose(),
        &cat(&[&g_new, NI, NR]),
    );
    assert_eq!(
        rekey_skeyseed(Prf::HmacSha384, &old_sk_d, &g_new, NI, NR).expose(),
        seed
    );
    let km = prf_plus(
        hmac::HMAC_SHA256,
        &seed,
        &cat(&[NI, NR, &SPI_I, &SPI_R]),
        32,
    );
    assert_eq!(keys.sk_d.expose(), km);
    assert_eq!(keys.prf, Prf::HmacSha256);
}

#[test]
fn child_sa_keys_initiator_direction_first_encryption_first() {
    let sk_d = SecretBytes::new(vec![0x66; 32]);
    let sizes = ChildKeySizes {
        encr: 16,
        integ: 32,
    };
    let g_new = [0x77u8; 56];
    for g in [None, Some(&g_new[..])] {
        let keys = child_sa_keys(Prf::HmacSha256, &sk_d, g, NI, NR, sizes).unwrap();
        let seed = cat(&[g.unwrap_or(&[]), NI, NR]);
        let km = prf_plus(hmac::HMAC_SHA256, sk_d.expose(), &seed, 96);
        assert_eq!(keys.initiator_to_responder.encr.expose(), &km[..16]);
        assert_eq!(keys.initiator_to_responder.integ.expose(), &km[16..48]);
        assert_eq!(keys.responder_to_initiator.encr.expose(), &km[48..64]);
        assert_eq!(keys.responder_to_initiator.integ.expose(), &km[64..96]);
    }
    // AES-GCM for ESP: 16-byte key + 4-byte salt, no integrity key.
    let gcm = child_sa_keys(
        Prf::HmacSha256,
        &sk_d,
        None,
        NI,
        NR,
        ChildKeySizes { encr: 20, integ: 0 },
    )
    .unwrap();
    assert_eq!(gcm.initiator_to_responder.encr.len(), 20);
    assert!(gcm.responder_to_initiator.integ.is_empty());
}

#[test]
fn psk_auth_follows_section_2_15() {
    let keys = IkeKeys::derive(
        Prf::HmacSha256,
        Encr::AesGcm16 { key_bits: 256 },
        None,
        &[1; 32],
        NI,
        NR,
        &SPI_I,
        &SPI_R,
    )
    .unwrap();
    let message1 = b"IKE_SA_INIT request as sent";
    let idi_body = [2u8, 0, 0, 0, b'a', b'l', b'i', b'c', b'e'];
    let octets = signed_octets(Prf::HmacSha256, message1, NR, &keys.sk_pi, &idi_body);
    let maced_id = mac(hmac::HMAC_SHA256, keys.sk_pi.expose(), &idi_body);
    assert_eq!(octets, cat(&[message1, NR, &maced_id]));

    let psk = b"correct horse battery staple";
    let auth = psk_auth(Prf::HmacSha256, psk, &octets);
    let inner = mac(hmac::HMAC_SHA256, psk, b"Key Pad for IKEv2");
    assert_eq!(KEY_PAD, b"Key Pad for IKEv2");
    assert_eq!(auth, mac(hmac::HMAC_SHA256, &inner, &octets));

    assert!(verify_psk_auth(Prf::HmacSha256, psk, &octets, &auth).is_ok());
    let mut bad = auth.clone();
    bad[0] ^= 1;
    assert_eq!(
        verify_psk_auth(Prf::HmacSha256, psk, &octets, &bad).unwrap_err(),
        CryptoError::AuthenticationFailed
    );
    assert!(verify_psk_auth(Prf::HmacSha256, b"wrong", &octets, &auth).is_err());
    assert!(verify_psk_auth(Prf::HmacSha256, psk, &octets, &auth[..16]).is_err());
}

/// Two ends: key exchange, key derivation, and SK traffic in both directions.
#[test]
fn two_peers_derive_matching_keys_and_talk() {
    let mut rng = SystemRng::new();
    let i = KeGroup::Curve25519.start(&mut rng).unwrap();
    let r = KeGroup::Curve25519.start(&mut rng).unwrap();
    let (i_pub, r_pub) = (i.public_value().to_vec(), r.public_value().to_vec());
    let gi = i.complete(&r_pub).unwrap();
    let gr = r.complete(&i_pub).unwrap();
    let derive = |g: &SecretBytes| {
        IkeKeys::derive(
            Prf::HmacSha256,
            Encr::AesCbc { key_bits: 256 },
            Some(Integ::HmacSha256_128),
            g.expose(),
            NI,
            NR,
            &SPI_I,
            &SPI_R,
        )
        .unwrap()
    };
    let (ki, kr) = (derive(&gi), derive(&gr));
    assert_eq!(ki, kr);
    let (mut i_out, i_in) = ki.sk_ciphers(true).unwrap();
    let (mut r_out, r_in) = kr.sk_ciphers(false).unwrap();
    let hdr = [0u8; 32];
    let req = i_out.encrypt(&hdr, b"request", &mut rng).unwrap();
    assert_eq!(r_in.decrypt(&hdr, &req).unwrap(), b"request");
    let resp = r_out.encrypt(&hdr, b"response", &mut rng).unwrap();
    assert_eq!(i_in.decrypt(&hdr, &resp).unwrap(), b"response");
    // Each direction has its own keys.
    assert!(i_in.decrypt(&hdr, &req).is_err());
}

#[test]
fn debug_never_prints_key_bytes() {
    let keys = IkeKeys::derive(
        Prf::HmacSha256,
        Encr::AesGcm16 { key_bits: 128 },
        None,
        &[0xab; 32],
        NI,
        NR,
        &SPI_I,
        &SPI_R,
    )
    .unwrap();
    let s = format!("{keys:?}");
    assert!(s.contains("sk_d: SecretBytes(<32 bytes>)"), "{s}");
    assert!(s.contains("sk_ei: SecretBytes(<20 bytes>)"), "{s}");
    assert!(s.contains("sk_ai: SecretBytes(<0 bytes>)"), "{s}");
}

#[test]
fn transform_combinations_are_checked() {
    let derive = |encr, integ| {
        IkeKeys::derive(
            Prf::HmacSha256,
            encr,
            integ,
            &[0; 32],
            NI,
            NR,
            &SPI_I,
            &SPI_R,
        )
    };
    assert_eq!(
        derive(Encr::ChaCha20Poly1305, Some(Integ::HmacSha256_128)).unwrap_err(),
        CryptoError::InvalidTransformCombination
    );
    assert_eq!(
        derive(Encr::AesCbc { key_bits: 128 }, None).unwrap_err(),
        CryptoError::InvalidTransformCombination
    );
}
