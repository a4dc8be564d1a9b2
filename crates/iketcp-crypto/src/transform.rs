//! The transforms this crate implements, by their IANA "IKEv2 Transform Attribute"
//! numbers (RFC 7296 §3.3.2), with the key and output lengths the key schedule needs.
//!
//! These are closed enums of what is *implemented*; the wire crate keeps the open IANA
//! registries, and the engine maps one onto the other with `from_iana`, so an unknown or
//! unimplemented transform is simply `None` there and never reaches the cryptography.

use aws_lc_rs::hmac;

/// Transform type 2, pseudorandom function (RFC 7296 §3.3.2, RFC 4868 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256, IANA 5.
    HmacSha256,
    /// PRF_HMAC_SHA2_384, IANA 6.
    HmacSha384,
    /// PRF_HMAC_SHA2_512, IANA 7.
    HmacSha512,
}

impl Prf {
    /// Every implemented PRF, strongest last.
    pub const ALL: [Prf; 3] = [Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512];

    /// The PRF for a transform ID of type 2, if implemented.
    #[must_use]
    pub const fn from_iana(id: u16) -> Option<Self> {
        match id {
            5 => Some(Self::HmacSha256),
            6 => Some(Self::HmacSha384),
            7 => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// The transform ID.
    #[must_use]
    pub const fn iana(self) -> u16 {
        match self {
            Self::HmacSha256 => 5,
            Self::HmacSha384 => 6,
            Self::HmacSha512 => 7,
        }
    }

    /// Output length in bytes: the size of each prf+ block and of SKEYSEED.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    /// Length of SK_d, SK_pi and SK_pr. RFC 7296 §2.14 takes the PRF's "preferred key
    /// size", which RFC 4868 §2.1.2 sets to the hash output length for these PRFs.
    #[must_use]
    pub const fn key_len(self) -> usize {
        self.output_len()
    }

    pub(crate) fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha384 => hmac::HMAC_SHA384,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// Transform type 3, integrity algorithm (RFC 7296 §3.3.2, RFC 4868 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_SHA2_256_128, IANA 12.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192, IANA 13.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256, IANA 14.
    HmacSha512_256,
}

impl Integ {
    /// Every implemented integrity algorithm.
    pub const ALL: [Integ; 3] = [
        Integ::HmacSha256_128,
        Integ::HmacSha384_192,
        Integ::HmacSha512_256,
    ];

    /// The integrity algorithm for a transform ID of type 3, if implemented.
    #[must_use]
    pub const fn from_iana(id: u16) -> Option<Self> {
        match id {
            12 => Some(Self::HmacSha256_128),
            13 => Some(Self::HmacSha384_192),
            14 => Some(Self::HmacSha512_256),
            _ => None,
        }
    }

    /// The transform ID.
    #[must_use]
    pub const fn iana(self) -> u16 {
        match self {
            Self::HmacSha256_128 => 12,
            Self::HmacSha384_192 => 13,
            Self::HmacSha512_256 => 14,
        }
    }

    /// Length of SK_ai / SK_ar: the hash output length (RFC 4868 §2.1.1).
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV: half the hash output (RFC 4868 §2.1.1).
    #[must_use]
    pub const fn icv_len(self) -> usize {
        self.key_len() / 2
    }

    pub(crate) fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256_128 => hmac::HMAC_SHA256,
            Self::HmacSha384_192 => hmac::HMAC_SHA384,
            Self::HmacSha512_256 => hmac::HMAC_SHA512,
        }
    }
}

/// Transform type 1, encryption algorithm (RFC 7296 §3.3.2).
///
/// `key_bits` is the value of the Key Length attribute (RFC 7296 §3.3.5); only 128 and
/// 256 are implemented, and [`Encr::from_iana`] yields nothing else. A value built by
/// hand with another length is refused with
/// [`CryptoError::UnsupportedAlgorithm`](crate::CryptoError::UnsupportedAlgorithm) where
/// keys are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_CBC, IANA 12 (RFC 3602), with a separate integrity transform.
    AesCbc {
        /// 128 or 256.
        key_bits: u16,
    },
    /// ENCR_AES_GCM_16, IANA 20: AES-GCM with a 16-byte ICV (RFC 5282).
    AesGcm16 {
        /// 128 or 256.
        key_bits: u16,
    },
    /// ENCR_CHACHA20_POLY1305, IANA 28 (RFC 7634).
    ChaCha20Poly1305,
}

impl Encr {
    /// The encryption algorithm for a transform ID of type 1 and its Key Length
    /// attribute, if implemented.
    ///
    /// AES requires the attribute (RFC 7296 §3.3.5: it has a variable key length);
    /// ChaCha20-Poly1305 forbids it (RFC 7634 §2–3: fixed 256-bit key).
    #[must_use]
    pub const fn from_iana(id: u16, key_len_attr: Option<u16>) -> Option<Self> {
        match (id, key_len_attr) {
            (12, Some(bits @ (128 | 256))) => Some(Self::AesCbc { key_bits: bits }),
            (20, Some(bits @ (128 | 256))) => Some(Self::AesGcm16 { key_bits: bits }),
            (28, None) => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The transform ID.
    #[must_use]
    pub const fn iana(self) -> u16 {
        match self {
            Self::AesCbc { .. } => 12,
            Self::AesGcm16 { .. } => 20,
            Self::ChaCha20Poly1305 => 28,
        }
    }

    /// The Key Length attribute to send with the transform, if any.
    #[must_use]
    pub const fn key_len_attr(self) -> Option<u16> {
        match self {
            Self::AesCbc { key_bits } | Self::AesGcm16 { key_bits } => Some(key_bits),
            Self::ChaCha20Poly1305 => None,
        }
    }

    /// Whether this is a combined-mode algorithm, negotiated without an integrity
    /// transform (RFC 5282 §8, RFC 7634 §2–3).
    #[must_use]
    pub const fn is_aead(self) -> bool {
        !matches!(self, Self::AesCbc { .. })
    }

    /// Whether the key length is one this crate implements.
    #[must_use]
    pub const fn is_supported(self) -> bool {
        match self {
            Self::AesCbc { key_bits } | Self::AesGcm16 { key_bits } => {
                key_bits == 128 || key_bits == 256
            }
            Self::ChaCha20Poly1305 => true,
        }
    }

    /// Length of SK_ei / SK_er. For the AEADs this is the cipher key plus a 4-byte salt
    /// taken from the keying material (RFC 5282 §7, RFC 7634 §2–3).
    #[must_use]
    pub const fn key_len(self) -> usize {
        self.cipher_key_len() + self.salt_len()
    }

    /// The cipher key alone, without the salt.
    #[must_use]
    pub const fn cipher_key_len(self) -> usize {
        match self {
            Self::AesCbc { key_bits } | Self::AesGcm16 { key_bits } => key_bits as usize / 8,
            Self::ChaCha20Poly1305 => 32,
        }
    }

    /// The salt at the end of an AEAD key (4 bytes), or 0.
    #[must_use]
    pub const fn salt_len(self) -> usize {
        if self.is_aead() { 4 } else { 0 }
    }

    /// Length of the IV at the start of an SK body: a cipher block for CBC (RFC 7296
    /// §3.14), 8 bytes for the AEADs (RFC 5282 §3, RFC 7634 §2).
    #[must_use]
    pub const fn iv_len(self) -> usize {
        if self.is_aead() { 8 } else { 16 }
    }

    /// The alignment the padding must reach. CBC needs whole blocks; the AEADs are
    /// counter-mode ciphers and need none (RFC 5282 §3, RFC 7634 §2–3), so nothing is padded.
    #[must_use]
    pub const fn block_len(self) -> usize {
        if self.is_aead() { 1 } else { 16 }
    }

    /// The AEAD tag length (16 for both AEADs here), or 0 for CBC, whose ICV length
    /// comes from the integrity transform.
    #[must_use]
    pub const fn aead_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_numbers_round_trip() {
        for p in Prf::ALL {
            assert_eq!(Prf::from_iana(p.iana()), Some(p));
        }
        for i in Integ::ALL {
            assert_eq!(Integ::from_iana(i.iana()), Some(i));
        }
        for e in [
            Encr::AesCbc { key_bits: 128 },
            Encr::AesCbc { key_bits: 256 },
            Encr::AesGcm16 { key_bits: 128 },
            Encr::AesGcm16 { key_bits: 256 },
            Encr::ChaCha20Poly1305,
        ] {
            assert_eq!(Encr::from_iana(e.iana(), e.key_len_attr()), Some(e));
        }
        assert_eq!(Prf::from_iana(2), None, "HMAC-SHA1 is not implemented");
        assert_eq!(Encr::from_iana(12, Some(192)), None);
        assert_eq!(Encr::from_iana(20, None), None, "AES needs a key length");
        assert_eq!(
            Encr::from_iana(28, Some(256)),
            None,
            "RFC 7634: no key length"
        );
    }

    #[test]
    fn aead_keys_carry_a_salt() {
        assert_eq!(Encr::AesGcm16 { key_bits: 128 }.key_len(), 20);
        assert_eq!(Encr::AesGcm16 { key_bits: 256 }.key_len(), 36);
        assert_eq!(Encr::ChaCha20Poly1305.key_len(), 36);
        assert_eq!(Encr::AesCbc { key_bits: 256 }.key_len(), 32);
    }
}
