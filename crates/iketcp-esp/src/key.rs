//! Key material handed over by IKE (RFC 7296 §2.17 KEYMAT) for one SA.
//!
//! The bytes are wiped when the value is dropped, and `Debug` prints only their length,
//! so an SA description can be logged without leaking the key.

use core::fmt;

use zeroize::Zeroizing;

/// Secret key material of one SA: encryption key (with the AEAD salt), then integrity key.
///
/// No `PartialEq`: comparing secrets with `==` would not be constant-time.
#[derive(Clone)]
pub struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret bytes; for handing to a cipher or to an explicit key export only.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for KeyMaterial {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for KeyMaterial {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for KeyMaterial {
    fn from(mut bytes: [u8; N]) -> Self {
        let key = Self::new(bytes.to_vec());
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial([redacted; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let k = KeyMaterial::from([0xab; 20]);
        let s = format!("{k:?}");
        assert!(!s.to_lowercase().contains("ab"), "{s}");
        assert!(s.contains("20 bytes"));
    }
}
