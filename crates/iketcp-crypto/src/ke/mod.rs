//! Key exchange (RFC 7296 §1.2, §2.12, §3.4): the groups this crate implements and the
//! one-shot exchange state.
//!
//! [`KeGroup::start`] makes a fresh ephemeral key and returns it as a boxed
//! [`ActiveKe`]; [`ActiveKe::complete`] consumes it, so an ephemeral secret is used for
//! exactly one exchange (RFC 7296 §2.12 allows reuse; this crate does not).
//!
//! Key Exchange Data encodings (what [`ActiveKe::public_value`] returns and `complete`
//! expects):
//! - MODP group 14 (RFC 3526 §3): the 256-byte big-endian value, left-padded with zeros
//!   (RFC 7296 §3.4).
//! - ECP groups 19 and 20 (RFC 5903 §7): x | y, each coordinate fixed-length, *without*
//!   the 0x04 prefix of the SEC 1 uncompressed form.
//! - Curve25519, group 31 (RFC 8031 §2): the 32-byte u-coordinate.
//!
//! The ephemeral secrets come from the caller's [`Rng`], so a seeded simulation replays
//! its key exchanges exactly.

use core::fmt;

use crate::error::CryptoError;
use crate::rng::Rng;
use crate::secret::SecretBytes;

mod ecp;
mod modp;
mod x25519;

/// Transform type 4, key exchange method (RFC 7296 §3.3.2; IANA numbers from RFC 3526,
/// RFC 5903, RFC 8031).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeGroup {
    /// 2048-bit MODP group, IANA 14 (RFC 3526 §3).
    Modp2048,
    /// 256-bit random ECP group (NIST P-256), IANA 19 (RFC 5903).
    Ecp256,
    /// 384-bit random ECP group (NIST P-384), IANA 20 (RFC 5903).
    Ecp384,
    /// Curve25519, IANA 31 (RFC 8031).
    Curve25519,
}

impl KeGroup {
    /// Every implemented group.
    pub const ALL: [KeGroup; 4] = [
        KeGroup::Modp2048,
        KeGroup::Ecp256,
        KeGroup::Ecp384,
        KeGroup::Curve25519,
    ];

    /// The group for a transform ID of type 4, if implemented.
    #[must_use]
    pub const fn from_iana(id: u16) -> Option<Self> {
        match id {
            14 => Some(Self::Modp2048),
            19 => Some(Self::Ecp256),
            20 => Some(Self::Ecp384),
            31 => Some(Self::Curve25519),
            _ => None,
        }
    }

    /// The transform ID, also the KE payload's Diffie-Hellman Group Num (§3.4).
    #[must_use]
    pub const fn iana(self) -> u16 {
        match self {
            Self::Modp2048 => 14,
            Self::Ecp256 => 19,
            Self::Ecp384 => 20,
            Self::Curve25519 => 31,
        }
    }

    /// Length of the Key Exchange Data; a peer value of any other length is refused.
    #[must_use]
    pub const fn public_value_len(self) -> usize {
        match self {
            Self::Modp2048 => 256,
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
            Self::Curve25519 => 32,
        }
    }

    /// Length of the shared secret g^ir.
    #[must_use]
    pub const fn shared_secret_len(self) -> usize {
        match self {
            Self::Modp2048 => 256,
            Self::Ecp256 => 32,
            Self::Ecp384 => 48,
            Self::Curve25519 => 32,
        }
    }

    /// Generates an ephemeral key pair from `rng`.
    ///
    /// # Errors
    /// [`CryptoError::RngFailure`], or [`CryptoError::Backend`] if no valid private key
    /// came out of the random source after repeated tries.
    pub fn start(self, rng: &mut dyn Rng) -> Result<Box<dyn ActiveKe>, CryptoError> {
        match self {
            Self::Modp2048 => Ok(Box::new(modp::ModpKe::start(rng)?)),
            Self::Ecp256 | Self::Ecp384 => Ok(Box::new(ecp::EcpKe::start(self, rng)?)),
            Self::Curve25519 => Ok(Box::new(x25519::X25519Ke::start(rng)?)),
        }
    }
}

/// One side of a key exchange in progress: the ephemeral private key and its public
/// value. `Debug` shows the group only.
pub trait ActiveKe: Send {
    /// The group.
    fn group(&self) -> KeGroup;

    /// The Key Exchange Data to send, in IKE encoding.
    fn public_value(&self) -> &[u8];

    /// Combines the private key with the peer's Key Exchange Data into the shared secret
    /// g^ir, consuming the private key.
    ///
    /// # Errors
    /// [`CryptoError::BadPeerPublicValue`] when the peer's value has the wrong length or
    /// is not a valid element of the group.
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SecretBytes, CryptoError>;
}

impl fmt::Debug for dyn ActiveKe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveKe")
            .field("group", &self.group())
            .finish_non_exhaustive()
    }
}

/// Draws private keys until the backend accepts one. A uniformly random string is
/// refused with probability about 2^-32 at worst (P-256: scalars at or above the group
/// order), so the bound is reached only by a broken source.
pub(crate) fn with_retries<T>(
    mut attempt: impl FnMut() -> Result<Option<T>, CryptoError>,
) -> Result<T, CryptoError> {
    const TRIES: usize = 16;
    for _ in 0..TRIES {
        if let Some(v) = attempt()? {
            return Ok(v);
        }
    }
    Err(CryptoError::Backend)
}
