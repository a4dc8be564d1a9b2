//! RFC 7427 §4 SIGNATURE_HASH_ALGORITHMS: the notify both peers send in IKE_SA_INIT to
//! announce the hashes they accept in Digital Signature (method 14) AUTH payloads.
//!
//! Its body is a bare list of 2-octet values from the IANA "IKEv2 Hash Algorithms"
//! registry. Sending it is also how a peer says it supports RFC 7427 at all: without it,
//! the classic methods of RFC 7296 §3.8 and RFC 4754 are used (see
//! [`PrivateKey::choose_scheme`](crate::PrivateKey::choose_scheme)).

use core::fmt;

use crate::PkiError;

/// Notify Message Type of SIGNATURE_HASH_ALGORITHMS (RFC 7427 §7).
pub const SIGNATURE_HASH_ALGORITHMS: u16 = 16431;

/// A value of the IANA "IKEv2 Hash Algorithms" registry (RFC 7427 §7, RFC 8420 §2).
///
/// A newtype rather than an enum so that values a peer announces and this crate does not
/// know stay representable (and print as hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HashAlgorithm(pub u16);

impl HashAlgorithm {
    /// SHA-1; RFC 8247 §3.2 forbids it for signatures, so it is never announced here.
    pub const SHA1: Self = Self(1);
    /// SHA2-256.
    pub const SHA2_256: Self = Self(2);
    /// SHA2-384.
    pub const SHA2_384: Self = Self(3);
    /// SHA2-512.
    pub const SHA2_512: Self = Self(4);
    /// "Identity": the signature algorithm hashes internally, as Ed25519 does (RFC 8420 §2).
    pub const IDENTITY: Self = Self(5);

    /// What this crate can verify, in the order it announces them.
    pub const SUPPORTED: &'static [Self] = &[
        Self::SHA2_256,
        Self::SHA2_384,
        Self::SHA2_512,
        Self::IDENTITY,
    ];

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SHA1 => "SHA1",
            Self::SHA2_256 => "SHA2_256",
            Self::SHA2_384 => "SHA2_384",
            Self::SHA2_512 => "SHA2_512",
            Self::IDENTITY => "IDENTITY",
            _ => return None,
        })
    }
}

impl fmt::Debug for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "HashAlgorithm({:#06x})", self.0),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The notify body announcing `algorithms`.
#[must_use]
pub fn encode_hash_algorithms(algorithms: &[HashAlgorithm]) -> Vec<u8> {
    algorithms.iter().flat_map(|a| a.0.to_be_bytes()).collect()
}

/// The algorithms of a received notify body, in the peer's order, unknown values
/// included. An odd length is malformed; an empty list is accepted and simply offers
/// nothing.
pub fn parse_hash_algorithms(data: &[u8]) -> Result<Vec<HashAlgorithm>, PkiError> {
    let chunks = data.chunks_exact(2);
    if !chunks.remainder().is_empty() {
        return Err(PkiError::MalformedHashAlgorithms);
    }
    Ok(chunks
        .map(|pair| HashAlgorithm(u16::from_be_bytes([pair[0], pair[1]])))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let body = encode_hash_algorithms(HashAlgorithm::SUPPORTED);
        assert_eq!(body, [0, 2, 0, 3, 0, 4, 0, 5]);
        assert_eq!(
            parse_hash_algorithms(&body).unwrap(),
            HashAlgorithm::SUPPORTED
        );
    }

    #[test]
    fn odd_length_is_malformed_and_unknown_values_survive() {
        assert_eq!(
            parse_hash_algorithms(&[0, 2, 0]),
            Err(PkiError::MalformedHashAlgorithms)
        );
        let parsed = parse_hash_algorithms(&[0xff, 0x01]).unwrap();
        assert_eq!(parsed, [HashAlgorithm(0xff01)]);
        assert_eq!(format!("{:?}", parsed[0]), "HashAlgorithm(0xff01)");
        assert!(parse_hash_algorithms(&[]).unwrap().is_empty());
    }
}
