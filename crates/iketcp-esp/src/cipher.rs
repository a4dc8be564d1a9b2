//! RFC 4303 §3.3.2 and §3.4.4: packet encryption, ICV computation and verification, over
//! aws-lc-rs.
//!
//! - AEADs (RFC 4106 §3–5, RFC 7634 §2–3): nonce = salt || the 8-byte explicit IV; the IV
//!   is the 64-bit sequence number, which never repeats under one key (RFC 4106 §3.1
//!   suggests exactly this). AAD = SPI || Sequence Number, or with ESN
//!   SPI || high 32 bits || low 32 bits (RFC 4106 §5).
//! - AES-CBC + HMAC (RFC 3602, RFC 4868): random IV; the ICV covers SPI through the
//!   ciphertext, plus the ESN high bits appended for the computation only
//!   (RFC 4303 §3.3.2.1); it is checked in constant time before anything is decrypted.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    UnboundCipherKey,
};
use aws_lc_rs::{constant_time, hmac};
use zeroize::Zeroizing;

use crate::algorithm::{AesKeySize, Algorithm, Integrity, SALT_LEN};
use crate::error::EspError;
use crate::key::KeyMaterial;
use crate::random::RandomSource;

const AEAD_IV_LEN: usize = 8;
const AEAD_TAG_LEN: usize = 16;
const CBC_IV_LEN: usize = 16;
const CBC_BLOCK: usize = 16;

/// Where a packet sits in its SA's number space: what the AAD or ICV binds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqCtx {
    pub spi: u32,
    /// The full sequence number; only its low half travels in the packet.
    pub seq: u64,
    pub esn: bool,
}

impl SeqCtx {
    /// The ESP header as sent: SPI and the low 32 bits of the sequence number.
    fn header(&self) -> [u8; 8] {
        let mut h = [0u8; 8];
        h[..4].copy_from_slice(&self.spi.to_be_bytes());
        h[4..].copy_from_slice(&(self.seq as u32).to_be_bytes());
        h
    }

    fn seq_high(&self) -> [u8; 4] {
        ((self.seq >> 32) as u32).to_be_bytes()
    }

    /// RFC 4106 §5 (and RFC 7634 §3): 8 bytes without ESN, 12 with it.
    fn aad(&self) -> ([u8; 12], usize) {
        let mut a = [0u8; 12];
        a[..4].copy_from_slice(&self.spi.to_be_bytes());
        if self.esn {
            a[4..].copy_from_slice(&self.seq.to_be_bytes());
            (a, 12)
        } else {
            a[4..8].copy_from_slice(&(self.seq as u32).to_be_bytes());
            (a, 8)
        }
    }
}

/// Why opening a packet failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// Lengths that no sender could have produced.
    Malformed,
    /// The ICV did not verify.
    Forged,
}

fn aead_nonce(salt: &[u8; SALT_LEN], iv: [u8; AEAD_IV_LEN]) -> Nonce {
    let mut n = [0u8; 12];
    n[..SALT_LEN].copy_from_slice(salt);
    n[SALT_LEN..].copy_from_slice(&iv);
    Nonce::assume_unique_for_key(n)
}

fn split_aead_key(
    algorithm: Algorithm,
    key: &KeyMaterial,
) -> Result<(&[u8], Zeroizing<[u8; SALT_LEN]>), EspError> {
    let bytes = key.expose_secret();
    let bad = EspError::KeyLength {
        algorithm,
        expected: algorithm.key_material_len(),
        got: bytes.len(),
    };
    if bytes.len() != algorithm.key_material_len() {
        return Err(bad);
    }
    let (k, s) = bytes.split_at_checked(bytes.len() - SALT_LEN).ok_or(bad)?;
    let mut salt = Zeroizing::new([0u8; SALT_LEN]);
    salt.copy_from_slice(s);
    Ok((k, salt))
}

fn aead_key(algorithm: Algorithm, key: &[u8]) -> Result<LessSafeKey, EspError> {
    let alg = match algorithm {
        Algorithm::AesGcm16_128 => &aead::AES_128_GCM,
        Algorithm::AesGcm16_256 => &aead::AES_256_GCM,
        Algorithm::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        _ => return Err(EspError::Crypto),
    };
    let unbound = UnboundKey::new(alg, key).map_err(|_| EspError::Crypto)?;
    Ok(LessSafeKey::new(unbound))
}

fn hmac_algorithm(integrity: Integrity) -> hmac::Algorithm {
    match integrity {
        Integrity::HmacSha256_128 => hmac::HMAC_SHA256,
        Integrity::HmacSha384_192 => hmac::HMAC_SHA384,
        Integrity::HmacSha512_256 => hmac::HMAC_SHA512,
    }
}

/// The CBC key and HMAC key of an AES-CBC SA.
fn split_cbc_key(
    algorithm: Algorithm,
    aes: AesKeySize,
    integrity: Integrity,
    key: &KeyMaterial,
) -> Result<(UnboundCipherKey, hmac::Key), EspError> {
    let bytes = key.expose_secret();
    if bytes.len() != algorithm.key_material_len() {
        return Err(EspError::KeyLength {
            algorithm,
            expected: algorithm.key_material_len(),
            got: bytes.len(),
        });
    }
    let (ek, ik) = bytes
        .split_at_checked(aes.key_len())
        .ok_or(EspError::Crypto)?;
    let cipher = match aes {
        AesKeySize::Aes128 => &AES_128,
        AesKeySize::Aes256 => &AES_256,
    };
    let enc = UnboundCipherKey::new(cipher, ek).map_err(|_| EspError::Crypto)?;
    Ok((enc, hmac::Key::new(hmac_algorithm(integrity), ik)))
}

/// HMAC over header || IV || ciphertext (|| ESN high bits), the full untruncated tag.
fn cbc_mac(mac: &hmac::Key, ctx: &SeqCtx, iv_and_ciphertext: &[u8]) -> hmac::Tag {
    let mut c = hmac::Context::with_key(mac);
    c.update(&ctx.header());
    c.update(iv_and_ciphertext);
    if ctx.esn {
        // RFC 4303 §3.3.2.1: the high-order bits are covered but never sent.
        c.update(&ctx.seq_high());
    }
    c.sign()
}

/// Lays payload and trailer out in `ct`, which must be exactly as long as both.
fn copy_plaintext(ct: &mut [u8], payload: &[u8], trailer: &[u8]) -> Result<(), EspError> {
    let (p, t) = ct
        .split_at_mut_checked(payload.len())
        .ok_or(EspError::Crypto)?;
    if t.len() != trailer.len() {
        return Err(EspError::Crypto);
    }
    p.copy_from_slice(payload);
    t.copy_from_slice(trailer);
    Ok(())
}

/// The cipher and HMAC keys of an AES-CBC SA, for one direction.
pub(crate) struct CbcKeys<K> {
    key: K,
    mac: hmac::Key,
    icv_len: usize,
}

/// The sending half of an SA's keys.
pub(crate) enum SealKey {
    Aead {
        key: LessSafeKey,
        salt: Zeroizing<[u8; SALT_LEN]>,
    },
    // Boxed: an AES key schedule and an HMAC context dwarf the AEAD variant.
    Cbc(Box<CbcKeys<EncryptingKey>>),
    #[cfg(feature = "insecure-fuzzing")]
    Null,
}

impl SealKey {
    pub(crate) fn new(algorithm: Algorithm, key: &KeyMaterial) -> Result<Self, EspError> {
        match algorithm {
            Algorithm::AesCbc {
                key: aes,
                integrity,
            } => {
                let (enc, mac) = split_cbc_key(algorithm, aes, integrity, key)?;
                Ok(Self::Cbc(Box::new(CbcKeys {
                    key: EncryptingKey::cbc(enc).map_err(|_| EspError::Crypto)?,
                    mac,
                    icv_len: integrity.icv_len(),
                })))
            }
            #[cfg(feature = "insecure-fuzzing")]
            Algorithm::NullForFuzzing => Ok(Self::Null),
            _ => {
                let (k, salt) = split_aead_key(algorithm, key)?;
                Ok(Self::Aead {
                    key: aead_key(algorithm, k)?,
                    salt,
                })
            }
        }
    }

    /// Writes IV || E(payload || trailer) || ICV into `body`, which must be exactly that
    /// long.
    pub(crate) fn seal(
        &self,
        ctx: &SeqCtx,
        payload: &[u8],
        trailer: &[u8],
        body: &mut [u8],
        rng: &mut dyn RandomSource,
    ) -> Result<(), EspError> {
        match self {
            Self::Aead { key, salt } => {
                let iv = ctx.seq.to_be_bytes();
                let (iv_out, rest) = body
                    .split_at_mut_checked(AEAD_IV_LEN)
                    .ok_or(EspError::Crypto)?;
                iv_out.copy_from_slice(&iv);
                let (ct, tag_out) = rest
                    .split_at_mut_checked(payload.len() + trailer.len())
                    .ok_or(EspError::Crypto)?;
                // Copy, then seal in place: measured no slower than aws-lc-rs's
                // out-of-place scatter for AES-GCM and faster for ChaCha20-Poly1305, whose
                // scatter path runs a separate keystream block for the trailer.
                copy_plaintext(ct, payload, trailer)?;
                let (aad, aad_len) = ctx.aad();
                let tag = key
                    .seal_in_place_separate_tag(
                        aead_nonce(salt, iv),
                        Aad::from(aad.get(..aad_len).ok_or(EspError::Crypto)?),
                        ct,
                    )
                    .map_err(|_| EspError::Crypto)?;
                if tag_out.len() != AEAD_TAG_LEN {
                    return Err(EspError::Crypto);
                }
                tag_out.copy_from_slice(tag.as_ref());
                Ok(())
            }
            Self::Cbc(keys) => {
                let CbcKeys { key, mac, icv_len } = &**keys;
                let ct_len = payload.len() + trailer.len();
                let icv_start = body.len().checked_sub(*icv_len).ok_or(EspError::Crypto)?;
                let (authed, icv) = body
                    .split_at_mut_checked(icv_start)
                    .ok_or(EspError::Crypto)?;
                let (iv, ct) = authed
                    .split_at_mut_checked(CBC_IV_LEN)
                    .ok_or(EspError::Crypto)?;
                if ct.len() != ct_len || !ct_len.is_multiple_of(CBC_BLOCK) {
                    return Err(EspError::Crypto);
                }
                let mut iv_bytes = [0u8; CBC_IV_LEN];
                rng.fill(&mut iv_bytes).map_err(|_| EspError::Random)?;
                iv.copy_from_slice(&iv_bytes);
                copy_plaintext(ct, payload, trailer)?;
                key.less_safe_encrypt(ct, EncryptionContext::Iv128(iv_bytes.into()))
                    .map_err(|_| EspError::Crypto)?;
                let tag = cbc_mac(mac, ctx, authed);
                icv.copy_from_slice(tag.as_ref().get(..*icv_len).ok_or(EspError::Crypto)?);
                Ok(())
            }
            #[cfg(feature = "insecure-fuzzing")]
            Self::Null => {
                let (iv, rest) = body
                    .split_at_mut_checked(AEAD_IV_LEN)
                    .ok_or(EspError::Crypto)?;
                iv.copy_from_slice(&ctx.seq.to_be_bytes());
                let (ct, icv) = rest
                    .split_at_mut_checked(payload.len() + trailer.len())
                    .ok_or(EspError::Crypto)?;
                copy_plaintext(ct, payload, trailer)?;
                icv.fill(0);
                Ok(())
            }
        }
    }
}

/// The receiving half of an SA's keys.
pub(crate) enum OpenKey {
    Aead {
        key: LessSafeKey,
        salt: Zeroizing<[u8; SALT_LEN]>,
    },
    Cbc(Box<CbcKeys<DecryptingKey>>),
    #[cfg(feature = "insecure-fuzzing")]
    Null,
}

impl OpenKey {
    pub(crate) fn new(algorithm: Algorithm, key: &KeyMaterial) -> Result<Self, EspError> {
        match algorithm {
            Algorithm::AesCbc {
                key: aes,
                integrity,
            } => {
                let (dec, mac) = split_cbc_key(algorithm, aes, integrity, key)?;
                Ok(Self::Cbc(Box::new(CbcKeys {
                    key: DecryptingKey::cbc(dec).map_err(|_| EspError::Crypto)?,
                    mac,
                    icv_len: integrity.icv_len(),
                })))
            }
            #[cfg(feature = "insecure-fuzzing")]
            Algorithm::NullForFuzzing => Ok(Self::Null),
            _ => {
                let (k, salt) = split_aead_key(algorithm, key)?;
                Ok(Self::Aead {
                    key: aead_key(algorithm, k)?,
                    salt,
                })
            }
        }
    }

    /// Verifies `body` (IV || ciphertext || ICV) and decrypts the ciphertext into the start
    /// of `out`; returns the ciphertext length. Nothing is decrypted unless the ICV holds.
    pub(crate) fn open(
        &self,
        ctx: &SeqCtx,
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, OpenFailure> {
        match self {
            Self::Aead { key, salt } => {
                let (iv, rest) = body
                    .split_first_chunk::<AEAD_IV_LEN>()
                    .ok_or(OpenFailure::Malformed)?;
                let ct_len = rest
                    .len()
                    .checked_sub(AEAD_TAG_LEN)
                    .ok_or(OpenFailure::Malformed)?;
                let (ct, tag) = rest
                    .split_at_checked(ct_len)
                    .ok_or(OpenFailure::Malformed)?;
                let out = out.get_mut(..ct_len).ok_or(OpenFailure::Malformed)?;
                let (aad, aad_len) = ctx.aad();
                key.open_separate_gather(
                    aead_nonce(salt, *iv),
                    Aad::from(aad.get(..aad_len).ok_or(OpenFailure::Malformed)?),
                    ct,
                    tag,
                    out,
                )
                .map_err(|_| OpenFailure::Forged)?;
                Ok(ct_len)
            }
            Self::Cbc(keys) => {
                let CbcKeys { key, mac, icv_len } = &**keys;
                let authed_len = body
                    .len()
                    .checked_sub(*icv_len)
                    .ok_or(OpenFailure::Malformed)?;
                let (authed, icv) = body
                    .split_at_checked(authed_len)
                    .ok_or(OpenFailure::Malformed)?;
                let (iv, ct) = authed
                    .split_first_chunk::<CBC_IV_LEN>()
                    .ok_or(OpenFailure::Malformed)?;
                if ct.is_empty() || !ct.len().is_multiple_of(CBC_BLOCK) {
                    return Err(OpenFailure::Malformed);
                }
                let tag = cbc_mac(mac, ctx, authed);
                let expected = tag.as_ref().get(..*icv_len).ok_or(OpenFailure::Forged)?;
                constant_time::verify_slices_are_equal(expected, icv)
                    .map_err(|_| OpenFailure::Forged)?;
                let out = out.get_mut(..ct.len()).ok_or(OpenFailure::Malformed)?;
                out.copy_from_slice(ct);
                key.decrypt(out, DecryptionContext::Iv128((*iv).into()))
                    .map_err(|_| OpenFailure::Malformed)?;
                Ok(ct.len())
            }
            #[cfg(feature = "insecure-fuzzing")]
            Self::Null => {
                let ct = body
                    .get(AEAD_IV_LEN..)
                    .and_then(|r| r.get(..r.len().checked_sub(AEAD_TAG_LEN)?))
                    .ok_or(OpenFailure::Malformed)?;
                let out = out.get_mut(..ct.len()).ok_or(OpenFailure::Malformed)?;
                out.copy_from_slice(ct);
                Ok(ct.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_layout_follows_rfc4106_section5() {
        let ctx = SeqCtx {
            spi: 0x0102_0304,
            seq: 0x0000_0005_0000_0007,
            esn: true,
        };
        let (a, n) = ctx.aad();
        assert_eq!(&a[..n], &[1, 2, 3, 4, 0, 0, 0, 5, 0, 0, 0, 7]);
        let ctx = SeqCtx { esn: false, ..ctx };
        let (a, n) = ctx.aad();
        assert_eq!(&a[..n], &[1, 2, 3, 4, 0, 0, 0, 7]);
        assert_eq!(ctx.header(), [1, 2, 3, 4, 0, 0, 0, 7]);
    }
}
