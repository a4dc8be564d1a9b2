//! Protection of the Encrypted payload, SK {...} (RFC 7296 §3.14), and of the Encrypted
//! Fragment payload, SKF {...} (RFC 7383 §2.5), which shares its body layout.
//!
//! ```text
//! body = IV | E(inner payloads | Padding | Pad Length) | ICV
//! ```
//!
//! - AES-CBC + HMAC-SHA2 (RFC 7296 §3.14, RFC 3602, RFC 4868): a random 16-byte IV;
//!   padding to whole blocks; the ICV is the truncated HMAC over the message from the
//!   first octet of the IKE header through the last octet of ciphertext.
//! - AES-GCM-16 (RFC 5282) and ChaCha20-Poly1305 (RFC 7634): an 8-byte explicit IV; nonce
//!   = 4-byte salt (the end of SK_e) | IV; the AAD is the message from the IKE header
//!   through the SK (or SKF) payload header (RFC 5282 §5.1); the 16-byte tag is the ICV.
//!
//! Either way the caller hands over "everything before the body" as `aad`, so one API
//! serves SK and SKF. The header's length fields are part of those bytes, which is why
//! [`SkCipher::body_len`] exists: write the lengths first, then encrypt.
//!
//! **AEAD IVs.** An AEAD IV must never repeat under one key. Each [`SkCipher`] numbers its
//! messages with a 64-bit counter (the IV, big-endian, starting at 0), so exactly one
//! `SkCipher` may encrypt under a given key: build the outbound cipher once per IKE SA
//! and keep it. Retransmissions resend the stored bytes, they are not re-encrypted.

use core::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    UnboundCipherKey,
};
use aws_lc_rs::{constant_time, hmac};
use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::keymat::check_transforms;
use crate::rng::Rng;
use crate::secret::SecretBytes;
use crate::transform::{Encr, Integ};

const AEAD_IV_LEN: usize = 8;
const SALT_LEN: usize = 4;
const CBC_BLOCK: usize = 16;

/// One direction's SK payload protection: one encryption key and, for CBC, one
/// integrity key.
pub struct SkCipher {
    encr: Encr,
    integ: Option<Integ>,
    inner: Inner,
}

enum Inner {
    Aead {
        key: LessSafeKey,
        salt: [u8; SALT_LEN],
        next_iv: u64,
    },
    // Boxed: the aws-lc cipher and HMAC contexts are two kilobytes, the AEAD key small.
    Cbc(Box<CbcKeys>),
}

struct CbcKeys {
    enc: EncryptingKey,
    dec: DecryptingKey,
    mac: hmac::Key,
    icv_len: usize,
}

impl SkCipher {
    /// Builds the protection for `encr` (and `integ`, which must be `None` exactly when
    /// `encr` is an AEAD) from SK_e and SK_a of one direction.
    ///
    /// # Errors
    /// [`CryptoError::InvalidTransformCombination`], [`CryptoError::UnsupportedAlgorithm`],
    /// or [`CryptoError::BadKeyLength`] when a key is not as long as the transform needs.
    pub fn new(
        encr: Encr,
        integ: Option<Integ>,
        encr_key: &SecretBytes,
        integ_key: &SecretBytes,
    ) -> Result<Self, CryptoError> {
        check_transforms(encr, integ)?;
        check_len(encr.key_len(), encr_key.len())?;
        check_len(integ.map_or(0, Integ::key_len), integ_key.len())?;
        let key = encr_key.expose();
        let inner = match (encr, integ) {
            (Encr::AesCbc { key_bits }, Some(integ)) => {
                let alg = if key_bits == 128 { &AES_128 } else { &AES_256 };
                let unbound = || UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::Backend);
                Inner::Cbc(Box::new(CbcKeys {
                    enc: EncryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Backend)?,
                    dec: DecryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Backend)?,
                    mac: hmac::Key::new(integ.hmac(), integ_key.expose()),
                    icv_len: integ.icv_len(),
                }))
            }
            (Encr::AesGcm16 { key_bits }, None) => {
                let alg = if key_bits == 128 {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                aead_inner(alg, key, encr.cipher_key_len())?
            }
            (Encr::ChaCha20Poly1305, None) => {
                aead_inner(&aead::CHACHA20_POLY1305, key, encr.cipher_key_len())?
            }
            // check_transforms has refused every other combination.
            _ => return Err(CryptoError::InvalidTransformCombination),
        };
        Ok(Self { encr, integ, inner })
    }

    /// The encryption transform.
    #[must_use]
    pub fn encr(&self) -> Encr {
        self.encr
    }

    /// The integrity transform, `None` under an AEAD.
    #[must_use]
    pub fn integ(&self) -> Option<Integ> {
        self.integ
    }

    fn icv_len(&self) -> usize {
        match &self.inner {
            Inner::Aead { .. } => self.encr.aead_tag_len(),
            Inner::Cbc(cbc) => cbc.icv_len,
        }
    }

    /// The length of the body [`SkCipher::encrypt`] will produce for `plaintext_len`
    /// bytes of inner payloads: IV, ciphertext of the padded plaintext and Pad Length
    /// octet, and ICV.
    #[must_use]
    pub fn body_len(&self, plaintext_len: usize) -> usize {
        self.encr.iv_len() + padded_len(self.encr, plaintext_len) + self.icv_len()
    }

    /// The shortest body a peer can legitimately send (no inner payloads).
    #[must_use]
    pub fn min_body_len(&self) -> usize {
        self.body_len(0)
    }

    /// Encrypts the inner payload chain into an SK body, authenticating `aad` (the
    /// message from the IKE header through the SK or SKF payload header, with its final
    /// lengths already written).
    ///
    /// `rng` supplies the CBC IV (RFC 7296 §3.14: random and unpredictable); the AEADs
    /// take their IV from this cipher's counter and do not use it.
    ///
    /// # Errors
    /// [`CryptoError::IvExhausted`] after 2^64 AEAD messages, [`CryptoError::RngFailure`].
    pub fn encrypt(
        &mut self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, CryptoError> {
        let body_len = self.body_len(plaintext.len());
        let iv_len = self.encr.iv_len();
        let padded = padded_len(self.encr, plaintext.len());
        let pad = padded - plaintext.len() - 1;
        let mut body = Vec::with_capacity(body_len);
        body.resize(iv_len, 0);
        body.extend_from_slice(plaintext);
        // RFC 7296 §3.14: the padding "MAY contain any value"; zeros leak nothing.
        body.resize(iv_len + plaintext.len() + pad, 0);
        // pad < 255: at most one CBC block minus the Pad Length octet.
        body.push(pad as u8);
        match &mut self.inner {
            Inner::Aead { key, salt, next_iv } => {
                let iv = *next_iv;
                *next_iv = iv.checked_add(1).ok_or(CryptoError::IvExhausted)?;
                body[..AEAD_IV_LEN].copy_from_slice(&iv.to_be_bytes());
                let nonce = aead_nonce(salt, &body[..AEAD_IV_LEN]);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut body[AEAD_IV_LEN..])
                    .map_err(|_| CryptoError::Backend)?;
                body.extend_from_slice(tag.as_ref());
            }
            Inner::Cbc(cbc) => {
                let CbcKeys {
                    enc, mac, icv_len, ..
                } = &**cbc;
                let mut iv = [0u8; CBC_BLOCK];
                rng.fill(&mut iv)?;
                body[..CBC_BLOCK].copy_from_slice(&iv);
                enc.less_safe_encrypt(&mut body[CBC_BLOCK..], EncryptionContext::Iv128(iv.into()))
                    .map_err(|_| CryptoError::Backend)?;
                let icv = cbc_icv(mac, aad, &body);
                body.extend_from_slice(&icv.as_ref()[..*icv_len]);
            }
        }
        debug_assert_eq!(body.len(), body_len);
        Ok(body)
    }

    /// Verifies and decrypts an SK body (everything after the SK or SKF payload header),
    /// returning the inner payload chain without padding.
    ///
    /// The ICV is checked before anything is decrypted, in constant time.
    ///
    /// # Errors
    /// [`CryptoError::MalformedBody`] when the body cannot hold an IV, a Pad Length octet
    /// and an ICV, or (CBC) is not whole blocks; [`CryptoError::IntegrityCheckFailed`];
    /// [`CryptoError::BadPadding`] when the Pad Length points before the start of the
    /// plaintext.
    pub fn decrypt(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let Some(ct_len) = body.len().checked_sub(iv_len + icv_len) else {
            return Err(CryptoError::MalformedBody);
        };
        if ct_len == 0 || ct_len % self.encr.block_len() != 0 {
            return Err(CryptoError::MalformedBody);
        }
        let mut plain = match &self.inner {
            Inner::Aead { key, salt, .. } => {
                let nonce = aead_nonce(salt, &body[..AEAD_IV_LEN]);
                let mut in_out = body[AEAD_IV_LEN..].to_vec();
                let len = key
                    .open_in_place(nonce, Aad::from(aad), &mut in_out)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                in_out.truncate(len);
                in_out
            }
            Inner::Cbc(cbc) => {
                let CbcKeys { dec, mac, .. } = &**cbc;
                let (signed, icv) = body.split_at(body.len() - icv_len);
                let expected = cbc_icv(mac, aad, signed);
                constant_time::verify_slices_are_equal(&expected.as_ref()[..icv_len], icv)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?;
                let mut iv = [0u8; CBC_BLOCK];
                iv.copy_from_slice(&body[..CBC_BLOCK]);
                let mut in_out = signed[CBC_BLOCK..].to_vec();
                dec.decrypt(&mut in_out, DecryptionContext::Iv128(iv.into()))
                    .map_err(|_| CryptoError::Backend)?;
                in_out
            }
        };
        // RFC 7296 §3.14: any padding content is accepted; only its length must fit.
        // `plain` is non-empty: ct_len > 0 was checked above.
        let pad_len = usize::from(plain[plain.len() - 1]);
        let Some(inner_len) = plain.len().checked_sub(pad_len + 1) else {
            plain.zeroize();
            return Err(CryptoError::BadPadding);
        };
        plain[inner_len..].zeroize();
        plain.truncate(inner_len);
        Ok(plain)
    }
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl Drop for SkCipher {
    fn drop(&mut self) {
        // The AEAD and cipher keys are wiped by aws-lc when freed; the salt is ours.
        if let Inner::Aead { salt, .. } = &mut self.inner {
            salt.zeroize();
        }
    }
}

fn check_len(expected: usize, got: usize) -> Result<(), CryptoError> {
    if expected == got {
        Ok(())
    } else {
        Err(CryptoError::BadKeyLength { expected, got })
    }
}

fn aead_inner(
    alg: &'static aead::Algorithm,
    key: &[u8],
    cipher_key_len: usize,
) -> Result<Inner, CryptoError> {
    let (cipher_key, salt_bytes) = key.split_at(cipher_key_len);
    let unbound = UnboundKey::new(alg, cipher_key).map_err(|_| CryptoError::Backend)?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(salt_bytes);
    Ok(Inner::Aead {
        key: LessSafeKey::new(unbound),
        salt,
        next_iv: 0,
    })
}

/// RFC 5282 (the RFC 4106 nonce layout) and RFC 7634 §2: nonce = salt | explicit IV.
fn aead_nonce(salt: &[u8; SALT_LEN], iv: &[u8]) -> Nonce {
    let mut nonce = [0u8; aead::NONCE_LEN];
    nonce[..SALT_LEN].copy_from_slice(salt);
    nonce[SALT_LEN..].copy_from_slice(iv);
    Nonce::assume_unique_for_key(nonce)
}

fn cbc_icv(mac: &hmac::Key, aad: &[u8], iv_and_ciphertext: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(aad);
    ctx.update(iv_and_ciphertext);
    ctx.sign()
}

/// Plaintext plus the Pad Length octet, rounded up to the cipher's alignment.
fn padded_len(encr: Encr, plaintext_len: usize) -> usize {
    (plaintext_len + 1).next_multiple_of(encr.block_len())
}
