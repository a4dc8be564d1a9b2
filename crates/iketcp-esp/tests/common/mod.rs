//! Shared helpers: packet builders, keys, engine pairs and hand-built ESP packets.
#![allow(dead_code)]

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use iketcp_esp::{AesKeySize, Algorithm, Engine, Integrity, RandomError, RandomSource, SaParams};

pub const SPI: u32 = 0x1000_0001;

pub fn all_algorithms() -> Vec<Algorithm> {
    let mut v = vec![
        Algorithm::AesGcm16_128,
        Algorithm::AesGcm16_256,
        Algorithm::ChaCha20Poly1305,
    ];
    for key in [AesKeySize::Aes128, AesKeySize::Aes256] {
        for integrity in [
            Integrity::HmacSha256_128,
            Integrity::HmacSha384_192,
            Integrity::HmacSha512_256,
        ] {
            v.push(Algorithm::AesCbc { key, integrity });
        }
    }
    v
}

/// Deterministic key material of the right length for `alg`.
pub fn key_for(alg: Algorithm) -> Vec<u8> {
    (0..alg.key_material_len())
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect()
}

/// An IPv4/UDP packet with `payload_len` bytes of payload.
pub fn ipv4_packet(payload_len: usize) -> Vec<u8> {
    let total = 20 + 8 + payload_len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&5678u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// An IPv6/TCP-ish packet with `payload_len` bytes after the fixed header.
pub fn ipv6_packet(payload_len: usize) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    p[6] = 6;
    p[7] = 64;
    p[8] = 0x20;
    p[23] = 1;
    p[24] = 0x20;
    p[39] = 2;
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    p
}

/// A sender engine with `params` outbound and a receiver engine with `params` inbound.
pub fn pair(params: &SaParams) -> (Engine, Engine) {
    let mut tx = Engine::new();
    let mut rx = Engine::new();
    tx.install_outbound(params).unwrap();
    rx.install_inbound(params).unwrap();
    (tx, rx)
}

pub fn encap(tx: &mut Engine, spi: u32, ip: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; ip.len() + 128];
    let e = tx.encapsulate(spi, ip, &mut out).unwrap();
    out.truncate(e.len);
    out
}

/// A random source that returns a fixed pattern, for byte-exact CBC packets.
pub struct FixedRng(pub [u8; 16]);

impl RandomSource for FixedRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
        Ok(())
    }
}

/// An AES-GCM ESP packet built straight from aws-lc-rs with the RFC 4106 layout, around an
/// arbitrary plaintext (payload, padding, Pad Length and Next Header chosen by the test).
pub fn gcm_packet(
    key: &[u8],
    spi: u32,
    seq: u64,
    esn: bool,
    iv: [u8; 8],
    plaintext: &[u8],
) -> Vec<u8> {
    let (k, salt) = key.split_at(key.len() - 4);
    let alg = if k.len() == 16 {
        &aead::AES_128_GCM
    } else {
        &aead::AES_256_GCM
    };
    aead_packet(alg, k, salt, spi, seq, esn, iv, plaintext)
}

#[allow(clippy::too_many_arguments)]
pub fn aead_packet(
    alg: &'static aead::Algorithm,
    k: &[u8],
    salt: &[u8],
    spi: u32,
    seq: u64,
    esn: bool,
    iv: [u8; 8],
    plaintext: &[u8],
) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(alg, k).unwrap());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(&iv);
    let mut aad = spi.to_be_bytes().to_vec();
    if esn {
        aad.extend_from_slice(&((seq >> 32) as u32).to_be_bytes());
    }
    aad.extend_from_slice(&(seq as u32).to_be_bytes());
    let mut ct = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut ct,
        )
        .unwrap();
    let mut pkt = spi.to_be_bytes().to_vec();
    pkt.extend_from_slice(&(seq as u32).to_be_bytes());
    pkt.extend_from_slice(&iv);
    pkt.extend_from_slice(&ct);
    pkt.extend_from_slice(tag.as_ref());
    pkt
}

/// Payload followed by RFC 4303 §2.4 default padding to `align`, Pad Length, Next Header.
pub fn with_trailer(payload: &[u8], align: usize, next_header: u8) -> Vec<u8> {
    let pad = (align - (payload.len() + 2) % align) % align;
    let mut p = payload.to_vec();
    p.extend((1..=pad).map(|i| i as u8));
    p.push(pad as u8);
    p.push(next_header);
    p
}
