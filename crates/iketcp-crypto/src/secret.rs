//! Secret byte strings: SKEYSEED, the SK_* keys, g^ir, pre-shared keys (RFC 7296 §2.14).
//!
//! STYLE §2.4 and §2.9: a secret is wiped when dropped and never printed. [`SecretBytes`]
//! has no `Display` and no `AsRef<[u8]>`, so every read of the bytes goes through
//! [`SecretBytes::expose`], which is easy to find in review.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Key material, wiped on drop; `Debug` shows only its length.
#[derive(Clone, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    ///
    /// The vector should have been allocated at its final size: bytes left behind by an
    /// earlier reallocation of it cannot be wiped from here.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// `len` zero bytes, to be filled in place through [`SecretBytes::expose_mut`].
    #[must_use]
    pub fn zeroed(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// The secret bytes. Callers must not log or copy them into unprotected storage.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, writable.
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes; lengths are not secret (they follow from the negotiated transforms).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty (as SK_a is under an AEAD).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths: for MACs,
/// cookies and anything else an attacker may probe byte by byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Constant time in the contents; the lengths, which are public, may leak.
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl Eq for SecretBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_length() {
        let s = SecretBytes::from_slice(b"hunter2hunter2");
        assert_eq!(format!("{s:?}"), "SecretBytes(<14 bytes>)");
    }

    #[test]
    fn equality_compares_contents() {
        let a = SecretBytes::from_slice(&[1, 2, 3]);
        assert_eq!(a, SecretBytes::from_slice(&[1, 2, 3]));
        assert_ne!(a, SecretBytes::from_slice(&[1, 2, 4]));
        assert_ne!(a, SecretBytes::from_slice(&[1, 2]));
    }
}
