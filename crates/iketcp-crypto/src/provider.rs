//! The provider seam (STYLE §2.4, after rustls's `CryptoProvider`): the operations an
//! IKE engine may want to swap as a whole, as a struct of `&'static dyn` traits.
//!
//! Two operations sit behind it: key exchange and SK payload protection. They are
//! the ones a fuzzing provider must replace (so fuzzers get past ICVs and need not do
//! real Diffie-Hellman) and the ones a second backend would accelerate. The PRF, prf+ and
//! the key schedule stay plain functions: every provider would compute them identically.
//! [`AWS_LC_RS`] is the one backend here.

use core::fmt;

use crate::error::CryptoError;
use crate::ke::{ActiveKe, KeGroup};
use crate::rng::Rng;
use crate::secret::SecretBytes;
use crate::sk::SkCipher;
use crate::transform::{Encr, Integ};

/// SK payload protection for one direction (RFC 7296 §3.14); see [`SkCipher`].
pub trait SkProtect: Send + fmt::Debug {
    /// Body length for `plaintext_len` bytes of inner payloads.
    fn body_len(&self, plaintext_len: usize) -> usize;

    /// Encrypts inner payloads into an SK body, authenticating `aad`.
    ///
    /// # Errors
    /// As [`SkCipher::encrypt`].
    fn encrypt(
        &mut self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, CryptoError>;

    /// Verifies and decrypts an SK body.
    ///
    /// # Errors
    /// As [`SkCipher::decrypt`].
    fn decrypt(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

impl SkProtect for SkCipher {
    fn body_len(&self, plaintext_len: usize) -> usize {
        SkCipher::body_len(self, plaintext_len)
    }

    fn encrypt(
        &mut self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, CryptoError> {
        SkCipher::encrypt(self, aad, plaintext, rng)
    }

    fn decrypt(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        SkCipher::decrypt(self, aad, body)
    }
}

/// Key exchange groups.
pub trait KeProvider: Send + Sync + fmt::Debug {
    /// The groups this provider implements, in order of preference.
    fn groups(&self) -> &'static [KeGroup];

    /// Starts an exchange in `group`.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedAlgorithm`] for a group not in [`KeProvider::groups`];
    /// otherwise as [`KeGroup::start`].
    fn start(&self, group: KeGroup, rng: &mut dyn Rng) -> Result<Box<dyn ActiveKe>, CryptoError>;
}

/// Builds SK payload protection from negotiated transforms and keys.
pub trait SkProvider: Send + Sync + fmt::Debug {
    /// The protection for one direction.
    ///
    /// # Errors
    /// As [`SkCipher::new`].
    fn sk(
        &self,
        encr: Encr,
        integ: Option<Integ>,
        encr_key: &SecretBytes,
        integ_key: &SecretBytes,
    ) -> Result<Box<dyn SkProtect>, CryptoError>;
}

/// The swappable cryptography, one `&'static` implementation per field; override a
/// field with `CryptoProvider { sk: &MINE, ..AWS_LC_RS }`.
#[derive(Debug, Clone, Copy)]
pub struct CryptoProvider {
    /// Key exchange.
    pub ke: &'static dyn KeProvider,
    /// SK payload protection.
    pub sk: &'static dyn SkProvider,
}

/// The aws-lc-rs backend (MODP through crypto-bigint).
pub const AWS_LC_RS: CryptoProvider = CryptoProvider {
    ke: &AwsLcRs,
    sk: &AwsLcRs,
};

/// The aws-lc-rs implementation of the provider traits.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcRs;

/// Curve25519 first: the cheapest and the one without point-validation pitfalls.
const AWS_LC_RS_GROUPS: [KeGroup; 4] = [
    KeGroup::Curve25519,
    KeGroup::Ecp256,
    KeGroup::Ecp384,
    KeGroup::Modp2048,
];

impl KeProvider for AwsLcRs {
    fn groups(&self) -> &'static [KeGroup] {
        &AWS_LC_RS_GROUPS
    }

    fn start(&self, group: KeGroup, rng: &mut dyn Rng) -> Result<Box<dyn ActiveKe>, CryptoError> {
        group.start(rng)
    }
}

impl SkProvider for AwsLcRs {
    fn sk(
        &self,
        encr: Encr,
        integ: Option<Integ>,
        encr_key: &SecretBytes,
        integ_key: &SecretBytes,
    ) -> Result<Box<dyn SkProtect>, CryptoError> {
        Ok(Box::new(SkCipher::new(encr, integ, encr_key, integ_key)?))
    }
}
