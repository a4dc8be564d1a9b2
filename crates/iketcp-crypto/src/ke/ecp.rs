//! Elliptic-curve groups 19 (P-256) and 20 (P-384) in IKEv2 (RFC 5903).
//!
//! RFC 5903 §7: the Key Exchange Data is x | y, each coordinate a fixed-length
//! big-endian integer, with no point-format octet; the shared secret is the
//! x-coordinate of the agreed point. aws-lc wants the SEC 1 uncompressed form, so the
//! 0x04 octet is added on the way in and dropped on the way out. Parsing the peer's
//! point in aws-lc checks that it lies on the curve, the test RFC 6989 requires of a
//! received ECP value; neither curve has a cofactor, so no subgroup check remains.

use core::fmt;

use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P384, PrivateKey, UnparsedPublicKey};

use super::{ActiveKe, KeGroup, with_retries};
use crate::error::CryptoError;
use crate::rng::Rng;
use crate::secret::SecretBytes;

/// SEC 1 §2.3.3: the leading octet of an uncompressed point.
const UNCOMPRESSED: u8 = 0x04;

pub(crate) struct EcpKe {
    group: KeGroup,
    alg: &'static agreement::Algorithm,
    private: PrivateKey,
    public: Vec<u8>,
}

impl EcpKe {
    pub(crate) fn start(group: KeGroup, rng: &mut dyn Rng) -> Result<Self, CryptoError> {
        let alg = match group {
            KeGroup::Ecp256 => &ECDH_P256,
            KeGroup::Ecp384 => &ECDH_P384,
            _ => return Err(CryptoError::UnsupportedAlgorithm),
        };
        let scalar_len = group.shared_secret_len();
        let private = with_retries(|| {
            let mut scalar = SecretBytes::zeroed(scalar_len);
            rng.fill(scalar.expose_mut())?;
            // Refused when zero or not below the group order: draw again.
            Ok(PrivateKey::from_private_key(alg, scalar.expose()).ok())
        })?;
        let public = private
            .compute_public_key()
            .map_err(|_| CryptoError::Backend)?;
        let point = public.as_ref();
        if point.len() != 1 + group.public_value_len() || point[0] != UNCOMPRESSED {
            return Err(CryptoError::Backend);
        }
        Ok(Self {
            group,
            alg,
            private,
            public: point[1..].to_vec(),
        })
    }
}

impl ActiveKe for EcpKe {
    fn group(&self) -> KeGroup {
        self.group
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != self.group.public_value_len() {
            return Err(CryptoError::BadPeerPublicValue);
        }
        let mut point = Vec::with_capacity(1 + peer.len());
        point.push(UNCOMPRESSED);
        point.extend_from_slice(peer);
        agreement::agree(
            &self.private,
            UnparsedPublicKey::new(self.alg, &point),
            CryptoError::BadPeerPublicValue,
            |x| Ok(SecretBytes::from_slice(x)),
        )
    }
}

impl fmt::Debug for EcpKe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcpKe")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}
