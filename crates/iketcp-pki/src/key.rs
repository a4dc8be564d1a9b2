//! Private keys for IKEv2 AUTH signatures (RFC 7296 §2.15), loaded from PEM: PKCS#8
//! (RFC 5958), SEC1 EC keys (RFC 5915) and PKCS#1 RSA keys (RFC 8017 Appendix A.1.2).
//!
//! STYLE §2.4: key material never leaves aws-lc-rs key objects, which wipe it when they
//! are freed; the decoded DER is held in a [`zeroize::Zeroizing`] buffer and wiped once
//! the key object exists, and `Debug` names the key type and nothing else. The caller's
//! PEM text, and the base64 scratch buffer of the PEM decoder, are beyond this crate's
//! reach: callers should wipe the PEM they read.

use core::fmt;

use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use crate::PkiError;
use crate::algorithm_id::SignatureHash;
use crate::cert::Certificate;

/// An elliptic curve this crate signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl EcCurve {
    /// Octets of one coordinate, and of each of `r` and `s` in RFC 4754 §7 signatures.
    #[must_use]
    pub const fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The hash RFC 4754 ties to the curve, also the one preferred in RFC 7427.
    #[must_use]
    pub const fn natural_hash(self) -> SignatureHash {
        match self {
            Self::P256 => SignatureHash::Sha256,
            Self::P384 => SignatureHash::Sha384,
            Self::P521 => SignatureHash::Sha512,
        }
    }
}

/// The algorithm of a public or private key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublicKeyAlgorithm {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus length.
        bits: u32,
    },
    /// ECDSA on a named curve.
    Ecdsa(EcCurve),
    /// Ed25519 (RFC 8410).
    Ed25519,
    /// Anything else, by OID in dotted form (with the curve OID for unknown EC curves).
    Other(String),
}

/// A private key able to sign AUTH payloads.
pub struct PrivateKey {
    pub(crate) inner: KeyInner,
}

pub(crate) enum KeyInner {
    /// One key object per hash: aws-lc-rs binds the digest to the key object, and P-521
    /// signs with three of them.
    Ecdsa {
        curve: EcCurve,
        by_hash: Vec<(SignatureHash, EcdsaKeyPair)>,
    },
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl PrivateKey {
    /// Loads the first private key found in PEM text (`PRIVATE KEY`, `EC PRIVATE KEY` or
    /// `RSA PRIVATE KEY`); encrypted keys are not supported.
    pub fn from_pem(pem: &[u8]) -> Result<Self, PkiError> {
        let der = Zeroizing::new(
            PrivateKeyDer::from_pem_slice(pem).map_err(|_| PkiError::Pem("private key"))?,
        );
        Self::from_key_der(&der)
    }

    /// Loads an unencrypted PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        if let Some(inner) = ecdsa_from(der, true) {
            return Ok(Self { inner });
        }
        if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(Self {
                inner: KeyInner::Ed25519(key),
            });
        }
        RsaKeyPair::from_pkcs8(der)
            .map(|key| Self {
                inner: KeyInner::Rsa(key),
            })
            .map_err(|_| PkiError::UnsupportedKey)
    }

    fn from_key_der(der: &PrivateKeyDer<'_>) -> Result<Self, PkiError> {
        match der {
            PrivateKeyDer::Pkcs8(key) => Self::from_pkcs8_der(key.secret_pkcs8_der()),
            PrivateKeyDer::Sec1(key) => ecdsa_from(key.secret_sec1_der(), false)
                .map(|inner| Self { inner })
                .ok_or(PkiError::UnsupportedKey),
            PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der())
                .map(|key| Self {
                    inner: KeyInner::Rsa(key),
                })
                .map_err(|_| PkiError::UnsupportedKey),
            _ => Err(PkiError::UnsupportedKey),
        }
    }

    /// The key's algorithm (never [`PublicKeyAlgorithm::Other`]).
    #[must_use]
    pub fn algorithm(&self) -> PublicKeyAlgorithm {
        match &self.inner {
            KeyInner::Ecdsa { curve, .. } => PublicKeyAlgorithm::Ecdsa(*curve),
            KeyInner::Ed25519(_) => PublicKeyAlgorithm::Ed25519,
            KeyInner::Rsa(key) => PublicKeyAlgorithm::Rsa {
                // Moduli are at most 16384 bits, far below u32::MAX.
                bits: (key.public_modulus_len() * 8) as u32,
            },
        }
    }

    /// The public key in the form a certificate's subjectPublicKey BIT STRING holds it:
    /// the uncompressed point, the raw Ed25519 key, or the DER `RSAPublicKey`.
    #[must_use]
    pub fn public_key(&self) -> Vec<u8> {
        match &self.inner {
            KeyInner::Ecdsa { by_hash, .. } => by_hash
                .first()
                .map(|(_, key)| key.public_key().as_ref().to_vec())
                .unwrap_or_default(),
            KeyInner::Ed25519(key) => key.public_key().as_ref().to_vec(),
            KeyInner::Rsa(key) => key.public_key().as_ref().to_vec(),
        }
    }

    /// Whether `cert` carries this key's public half, to catch a configuration that
    /// pairs a certificate with the wrong key before any peer sees it.
    #[must_use]
    pub fn matches_certificate(&self, cert: &Certificate) -> bool {
        cert.public_key_algorithm() == self.algorithm() && cert.public_key() == self.public_key()
    }

    /// The key object signing with `hash`, for ECDSA keys.
    pub(crate) fn ecdsa_key(&self, hash: SignatureHash) -> Option<(EcCurve, &EcdsaKeyPair)> {
        match &self.inner {
            KeyInner::Ecdsa { curve, by_hash } => by_hash
                .iter()
                .find(|(h, _)| *h == hash)
                .map(|(_, key)| (*curve, key)),
            _ => None,
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The DER-signature algorithms aws-lc-rs offers per curve, by hash.
fn ecdsa_signing_algorithms(
    curve: EcCurve,
) -> &'static [(SignatureHash, &'static EcdsaSigningAlgorithm)] {
    match curve {
        EcCurve::P256 => &[(SignatureHash::Sha256, &sig::ECDSA_P256_SHA256_ASN1_SIGNING)],
        EcCurve::P384 => &[(SignatureHash::Sha384, &sig::ECDSA_P384_SHA384_ASN1_SIGNING)],
        EcCurve::P521 => &[
            (SignatureHash::Sha512, &sig::ECDSA_P521_SHA512_ASN1_SIGNING),
            (SignatureHash::Sha384, &sig::ECDSA_P521_SHA384_ASN1_SIGNING),
            (SignatureHash::Sha256, &sig::ECDSA_P521_SHA256_ASN1_SIGNING),
        ],
    }
}

/// An ECDSA key on whichever supported curve the DER names, or `None` if it is not one.
fn ecdsa_from(der: &[u8], pkcs8: bool) -> Option<KeyInner> {
    [EcCurve::P256, EcCurve::P384, EcCurve::P521]
        .into_iter()
        .find_map(|curve| {
            let by_hash = ecdsa_signing_algorithms(curve)
                .iter()
                .map(|&(hash, alg)| {
                    let key = if pkcs8 {
                        EcdsaKeyPair::from_pkcs8(alg, der)
                    } else {
                        EcdsaKeyPair::from_private_key_der(alg, der)
                    };
                    key.ok().map(|key| (hash, key))
                })
                .collect::<Option<Vec<_>>>()?;
            Some(KeyInner::Ecdsa { curve, by_hash })
        })
}
