//! Curve25519 key exchange, group 31 (RFC 8031, on RFC 7748).
//!
//! RFC 8031 §2: the Key Exchange Data and the shared secret are the 32-byte
//! little-endian u-coordinates of RFC 7748 §5. RFC 8031 (after RFC 7748 §6.1): an
//! all-zero shared secret, which a low-order peer point produces, MUST be refused.

use core::fmt;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};

use super::{ActiveKe, KeGroup, with_retries};
use crate::error::CryptoError;
use crate::rng::Rng;
use crate::secret::SecretBytes;

const LEN: usize = 32;

pub(crate) struct X25519Ke {
    private: PrivateKey,
    public: [u8; LEN],
}

impl X25519Ke {
    pub(crate) fn start(rng: &mut dyn Rng) -> Result<Self, CryptoError> {
        // Every 32-byte string is a valid X25519 private key (it is clamped on use).
        let private = with_retries(|| {
            let mut scalar = SecretBytes::zeroed(LEN);
            rng.fill(scalar.expose_mut())?;
            Ok(PrivateKey::from_private_key(&X25519, scalar.expose()).ok())
        })?;
        let public_key = private
            .compute_public_key()
            .map_err(|_| CryptoError::Backend)?;
        let public: [u8; LEN] = public_key
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::Backend)?;
        Ok(Self { private, public })
    }
}

impl ActiveKe for X25519Ke {
    fn group(&self) -> KeGroup {
        KeGroup::Curve25519
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != LEN {
            return Err(CryptoError::BadPeerPublicValue);
        }
        agreement::agree(
            &self.private,
            UnparsedPublicKey::new(&X25519, peer),
            CryptoError::BadPeerPublicValue,
            |shared| {
                // aws-lc refuses the all-zero result itself; check again so the rule
                // does not rest on one library's behaviour. Constant time: OR of all.
                if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
                    return Err(CryptoError::BadPeerPublicValue);
                }
                Ok(SecretBytes::from_slice(shared))
            },
        )
    }
}

impl fmt::Debug for X25519Ke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X25519Ke").finish_non_exhaustive()
    }
}
