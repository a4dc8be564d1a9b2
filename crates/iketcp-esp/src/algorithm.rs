//! ESP transforms and their packet geometry: RFC 4106 (AES-GCM), RFC 7634
//! (ChaCha20-Poly1305), RFC 3602 (AES-CBC) with RFC 4868 (HMAC-SHA-2).
//!
//! Key material is laid out as IKEv2 derives it (RFC 7296 §2.17: encryption key first,
//! integrity key after it); for the AEADs the last four bytes are the salt (RFC 4106 §8.1,
//! RFC 7634 §2).

use iketcp_wire::esp::HEADER_LEN;

/// Length of the salt appended to an AEAD key (RFC 4106 §8.1, RFC 7634 §2).
pub const SALT_LEN: usize = 4;

/// An ESP transform: the cipher and, when it is not an AEAD, its integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// AES-GCM with a 16-octet ICV and a 128-bit key (ENCR_AES_GCM_16, RFC 4106).
    AesGcm16_128,
    /// AES-GCM with a 16-octet ICV and a 256-bit key (ENCR_AES_GCM_16, RFC 4106).
    AesGcm16_256,
    /// ChaCha20-Poly1305 (ENCR_CHACHA20_POLY1305, RFC 7634).
    ChaCha20Poly1305,
    /// AES-CBC (RFC 3602) with an HMAC-SHA-2 ICV (RFC 4868).
    AesCbc {
        key: AesKeySize,
        integrity: Integrity,
    },
    /// No confidentiality and no integrity: the ICV check always passes. It lets a fuzzer
    /// reach the anti-replay window and the trailer checks; it must never carry traffic.
    #[cfg(feature = "insecure-fuzzing")]
    NullForFuzzing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    Aes128,
    Aes256,
}

impl AesKeySize {
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes256 => 32,
        }
    }
}

/// RFC 4868 integrity transforms: key length equals the hash output, the ICV is half of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    HmacSha256_128,
    HmacSha384_192,
    HmacSha512_256,
}

impl Integrity {
    /// RFC 4868 §2.1.1: the key is as long as the hash output.
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// RFC 4868 §2.3: the ICV is the hash output truncated to half its length.
    pub const fn icv_len(self) -> usize {
        self.key_len() / 2
    }
}

/// The AEADs' ICV (RFC 4106 §6 with the 16-octet variant; RFC 7634 §3).
const AEAD_ICV_LEN: usize = 16;
/// The AEADs' explicit IV (RFC 4106 §3.1, RFC 7634 §2).
const AEAD_IV_LEN: usize = 8;
const AES_BLOCK: usize = 16;

impl Algorithm {
    /// Bytes of key material the SA needs: encryption key (plus salt), then integrity key.
    pub const fn key_material_len(self) -> usize {
        match self {
            Self::AesGcm16_128 => 16 + SALT_LEN,
            Self::AesGcm16_256 | Self::ChaCha20Poly1305 => 32 + SALT_LEN,
            Self::AesCbc { key, integrity } => key.key_len() + integrity.key_len(),
            #[cfg(feature = "insecure-fuzzing")]
            Self::NullForFuzzing => 0,
        }
    }

    /// Length of the IV carried at the start of the payload.
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesCbc { .. } => AES_BLOCK,
            _ => AEAD_IV_LEN,
        }
    }

    pub const fn icv_len(self) -> usize {
        match self {
            Self::AesCbc { integrity, .. } => integrity.icv_len(),
            _ => AEAD_ICV_LEN,
        }
    }

    /// What payload plus trailer must be a multiple of (RFC 4303 §2.4: the cipher block
    /// size, and at least 4 so the ICV is aligned).
    pub const fn alignment(self) -> usize {
        match self {
            Self::AesCbc { .. } => AES_BLOCK,
            _ => 4,
        }
    }

    pub const fn is_aead(self) -> bool {
        !matches!(self, Self::AesCbc { .. })
    }

    /// Length of the ESP packet that carries `payload_len` bytes of payload data: header,
    /// IV, payload, padding, Pad Length, Next Header and ICV. Sizes encapsulation buffers
    /// and, read backwards, the inner MTU (R-ESP-5).
    pub fn esp_len(self, payload_len: usize) -> usize {
        HEADER_LEN + self.iv_len() + payload_len + self.pad_len(payload_len) + 2 + self.icv_len()
    }

    /// Padding bytes after `payload_len` bytes of payload (RFC 4303 §2.4). The same as
    /// `iketcp_wire::esp::pad_len`, but every alignment here is a power of two, so masks
    /// replace the two divisions on the per-packet path.
    pub(crate) const fn pad_len(self, payload_len: usize) -> usize {
        let mask = self.alignment() - 1;
        (self.alignment() - ((payload_len + 2) & mask)) & mask
    }

    /// Smallest ciphertext a packet can carry: one cipher block, or for the AEADs the two
    /// trailer bytes (Pad Length and Next Header).
    pub(crate) const fn min_ciphertext_len(self) -> usize {
        match self {
            Self::AesCbc { .. } => AES_BLOCK,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_len_agrees_with_the_wire_crate() {
        for alg in [
            Algorithm::AesGcm16_128,
            Algorithm::AesCbc {
                key: AesKeySize::Aes128,
                integrity: Integrity::HmacSha256_128,
            },
        ] {
            for n in 0..200 {
                assert_eq!(
                    alg.pad_len(n),
                    iketcp_wire::esp::pad_len(n, alg.alignment()),
                    "{alg:?} {n}"
                );
            }
        }
    }

    #[test]
    fn geometry_of_each_transform() {
        let cbc = Algorithm::AesCbc {
            key: AesKeySize::Aes256,
            integrity: Integrity::HmacSha384_192,
        };
        assert_eq!(cbc.key_material_len(), 32 + 48);
        assert_eq!(cbc.icv_len(), 24);
        assert_eq!(cbc.iv_len(), 16);
        assert_eq!(Algorithm::AesGcm16_128.key_material_len(), 20);
        assert_eq!(Algorithm::ChaCha20Poly1305.key_material_len(), 36);
        // 8 header + 8 IV + 1400 payload + 2 pad + 2 trailer + 16 ICV.
        assert_eq!(Algorithm::AesGcm16_128.esp_len(1400), 1436);
        // 8 + 16 + 1400 + 6 pad + 2 + 16: 1408 is the next multiple of 16 after 1402.
        assert_eq!(
            Algorithm::AesCbc {
                key: AesKeySize::Aes128,
                integrity: Integrity::HmacSha256_128
            }
            .esp_len(1400),
            1448
        );
    }
}
