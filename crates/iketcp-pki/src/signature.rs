//! RFC 7296 §2.15 and §3.8 signature AUTH payloads: signing the octets the engine built,
//! and verifying a peer's AUTH against its certificate.
//!
//! Methods handled:
//! - 14, Digital Signature (RFC 7427 §3): one octet giving the length of the DER
//!   AlgorithmIdentifier, the AlgorithmIdentifier, then the signature. ECDSA signatures
//!   in it are DER `Ecdsa-Sig-Value`s (the encoding `ecdsa-with-SHA*` defines, RFC 3279
//!   §2.2.3), as strongSwan's `SIGN_ECDSA_WITH_SHA*_DER` schemes produce; Ed25519 signs
//!   the octets themselves (RFC 8420).
//! - 9, 10, 11, ECDSA with SHA-256/P-256, SHA-384/P-384, SHA-512/P-521 (RFC 4754 §7): the
//!   signature is `r | s`, each left-padded to the curve's size, not DER.
//! - 1, RSA Digital Signature (RFC 7296 §3.8): RSASSA-PKCS1-v1_5 with SHA-1. Verified
//!   only: aws-lc-rs has no SHA-1 RSA signing, and RFC 8247 §3.2 asks for method 14.
//!
//! What aws-lc-rs can sign, and so what [`PrivateKey::sign_auth`] produces: ECDSA P-256
//! with SHA-256, P-384 with SHA-384, P-521 with SHA-256/384/512; Ed25519; RSA PKCS#1 v1.5
//! and RSASSA-PSS with SHA-256/384/512, PSS with MGF1 of the same hash and a salt as long
//! as the hash (strongSwan's choice). Verification accepts more: ECDSA with any of the
//! three hashes on any of the three curves, and RSASSA-PSS with any salt length the
//! AlgorithmIdentifier states. It refuses an MGF1 hash that differs from the message hash
//! (aws-lc-rs ties them together), RSA moduli below 2048 bits or above 8192, and SHA-1 in
//! method 14 (RFC 8247 §3.2).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, RsaPssSaltLength, VerificationAlgorithm};

use crate::PkiError;
use crate::algorithm_id::{PssParams, SignatureAlgorithm, SignatureHash};
use crate::cert::Certificate;
use crate::der;
use crate::hash_algorithms::HashAlgorithm;
use crate::key::{EcCurve, KeyInner, PrivateKey, PublicKeyAlgorithm};

/// Auth Method values of the signature methods (RFC 7296 §3.8, RFC 4754 §4, RFC 7427 §7).
pub mod auth_method {
    /// RSA Digital Signature: PKCS#1 v1.5 with SHA-1.
    pub const RSA_DIGITAL_SIGNATURE: u8 = 1;
    /// ECDSA with SHA-256 on the P-256 curve.
    pub const ECDSA_SHA256_P256: u8 = 9;
    /// ECDSA with SHA-384 on the P-384 curve.
    pub const ECDSA_SHA384_P384: u8 = 10;
    /// ECDSA with SHA-512 on the P-521 curve.
    pub const ECDSA_SHA512_P521: u8 = 11;
    /// Digital Signature, algorithm named in the AUTH data.
    pub const DIGITAL_SIGNATURE: u8 = 14;
}

/// How an AUTH payload is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// The method fixed by the key: 9, 10 or 11 for ECDSA (RFC 4754), 1 for RSA (not
    /// available for signing here).
    Classic,
    /// Method 14 with the given algorithm (RFC 7427).
    DigitalSignature(SignatureAlgorithm),
}

/// Which RSA signature scheme to prefer in method 14.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5, strongSwan's default.
    #[default]
    Pkcs1,
    /// RSASSA-PSS (strongSwan's `rsa_pss = yes`).
    Pss,
}

impl PrivateKey {
    /// Picks the scheme to sign with, given what the peer announced in
    /// SIGNATURE_HASH_ALGORITHMS (`None` when it sent no such notify).
    ///
    /// As in strongSwan's `select_signature_schemes`: without the notify the peer may not
    /// know RFC 7427, so ECDSA keys use their RFC 4754 method; with it, method 14 with the
    /// first hash of our preference order the peer accepts. The order follows the key:
    /// the curve's own hash first for ECDSA, and for RSA SHA-256 up to 3072 bits, SHA-384
    /// up to 7680 bits, SHA-512 above (strongSwan's `signature_schemes_for_key`).
    ///
    /// An ECDSA key whose hashes the peer all refused falls back to its RFC 4754 method,
    /// which needs no negotiation. An RSA key without a common hash, or facing a peer
    /// without the notify, has no scheme: method 1 cannot be signed here. Ed25519 has only
    /// method 14, and needs Identity when the peer announced a list (RFC 8420 §2).
    pub fn choose_scheme(
        &self,
        peer_hashes: Option<&[HashAlgorithm]>,
        rsa_padding: RsaPadding,
    ) -> Result<AuthScheme, PkiError> {
        let offered = |hash: SignatureHash| {
            peer_hashes.is_some_and(|list| list.contains(&hash.hash_algorithm()))
        };
        match &self.inner {
            KeyInner::Ed25519(_) => match peer_hashes {
                Some(list) if !list.contains(&HashAlgorithm::IDENTITY) => {
                    Err(PkiError::NoCommonScheme)
                }
                _ => Ok(AuthScheme::DigitalSignature(SignatureAlgorithm::Ed25519)),
            },
            KeyInner::Ecdsa { by_hash, .. } => Ok(by_hash
                .iter()
                .map(|(hash, _)| *hash)
                .find(|&hash| offered(hash))
                .map_or(AuthScheme::Classic, |hash| {
                    AuthScheme::DigitalSignature(SignatureAlgorithm::Ecdsa(hash))
                })),
            KeyInner::Rsa(key) => {
                let bits = key.public_modulus_len() * 8;
                let order = match bits {
                    0..=3072 => [
                        SignatureHash::Sha256,
                        SignatureHash::Sha384,
                        SignatureHash::Sha512,
                    ],
                    3073..=7680 => [
                        SignatureHash::Sha384,
                        SignatureHash::Sha512,
                        SignatureHash::Sha256,
                    ],
                    _ => [
                        SignatureHash::Sha512,
                        SignatureHash::Sha384,
                        SignatureHash::Sha256,
                    ],
                };
                let hash = order
                    .into_iter()
                    .find(|&hash| offered(hash))
                    .ok_or(PkiError::NoCommonScheme)?;
                Ok(AuthScheme::DigitalSignature(match rsa_padding {
                    RsaPadding::Pkcs1 => SignatureAlgorithm::RsaPkcs1(hash),
                    RsaPadding::Pss => SignatureAlgorithm::RsaPss(PssParams::new(hash)),
                }))
            }
        }
    }

    /// Signs the AUTH octets (RFC 7296 §2.15) and returns the Auth Method and the
    /// Authentication Data of the AUTH payload.
    pub fn sign_auth(
        &self,
        scheme: AuthScheme,
        signed_octets: &[u8],
    ) -> Result<(u8, Vec<u8>), PkiError> {
        match scheme {
            AuthScheme::Classic => self.sign_classic(signed_octets),
            AuthScheme::DigitalSignature(algorithm) => {
                let signature = self.sign_with(algorithm, signed_octets)?;
                Ok((
                    auth_method::DIGITAL_SIGNATURE,
                    DigitalSignature::encode(&algorithm, &signature),
                ))
            }
        }
    }

    fn sign_classic(&self, octets: &[u8]) -> Result<(u8, Vec<u8>), PkiError> {
        let KeyInner::Ecdsa { curve, .. } = &self.inner else {
            // Method 1 needs RSA with SHA-1, which aws-lc-rs does not sign; Ed25519 has no
            // classic method.
            return Err(PkiError::UnsupportedAlgorithm);
        };
        let curve = *curve;
        let (_, key) = self
            .ecdsa_key(curve.natural_hash())
            .ok_or(PkiError::UnsupportedAlgorithm)?;
        let der_signature = key
            .sign(&SystemRandom::new(), octets)
            .map_err(|_| PkiError::Backend)?;
        let fixed = der::ecdsa_der_to_fixed(der_signature.as_ref(), curve.field_len())
            .ok_or(PkiError::Backend)?;
        Ok((classic_ecdsa_method(curve), fixed))
    }

    fn sign_with(&self, algorithm: SignatureAlgorithm, octets: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = SystemRandom::new();
        match (&self.inner, algorithm) {
            (KeyInner::Ecdsa { .. }, SignatureAlgorithm::Ecdsa(hash)) => {
                let (_, key) = self.ecdsa_key(hash).ok_or(PkiError::UnsupportedAlgorithm)?;
                key.sign(&rng, octets)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| PkiError::Backend)
            }
            (KeyInner::Ed25519(key), SignatureAlgorithm::Ed25519) => key
                .try_sign(octets)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| PkiError::Backend),
            (
                KeyInner::Rsa(key),
                SignatureAlgorithm::RsaPkcs1(hash)
                | SignatureAlgorithm::RsaPss(PssParams { hash, .. }),
            ) => {
                let encoding: &'static sig::RsaSignatureEncoding = match algorithm {
                    SignatureAlgorithm::RsaPss(params) => {
                        if params != PssParams::new(hash) {
                            return Err(PkiError::UnsupportedAlgorithm);
                        }
                        match hash {
                            SignatureHash::Sha256 => &sig::RSA_PSS_SHA256,
                            SignatureHash::Sha384 => &sig::RSA_PSS_SHA384,
                            SignatureHash::Sha512 => &sig::RSA_PSS_SHA512,
                        }
                    }
                    _ => match hash {
                        SignatureHash::Sha256 => &sig::RSA_PKCS1_SHA256,
                        SignatureHash::Sha384 => &sig::RSA_PKCS1_SHA384,
                        SignatureHash::Sha512 => &sig::RSA_PKCS1_SHA512,
                    },
                };
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(encoding, &rng, octets, &mut signature)
                    .map_err(|_| PkiError::Backend)?;
                Ok(signature)
            }
            _ => Err(PkiError::KeyMismatch),
        }
    }
}

/// The Authentication Data of a method 14 AUTH payload (RFC 7427 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigitalSignature<'a> {
    /// The signature algorithm the AlgorithmIdentifier names.
    pub algorithm: SignatureAlgorithm,
    /// The signature value.
    pub signature: &'a [u8],
}

impl<'a> DigitalSignature<'a> {
    /// Splits received Authentication Data. The length octet must cover exactly one
    /// AlgorithmIdentifier, and a non-empty signature must follow.
    pub fn parse(auth_data: &'a [u8]) -> Result<Self, PkiError> {
        let (&len, rest) = auth_data.split_first().ok_or(PkiError::MalformedAuthData)?;
        let len = usize::from(len);
        if rest.len() <= len {
            return Err(PkiError::MalformedAuthData);
        }
        let (algorithm_id, signature) = rest.split_at(len);
        Ok(Self {
            algorithm: SignatureAlgorithm::from_der(algorithm_id)?,
            signature,
        })
    }

    /// Builds Authentication Data from an algorithm and a signature.
    #[must_use]
    pub fn encode(algorithm: &SignatureAlgorithm, signature: &[u8]) -> Vec<u8> {
        let algorithm_id = algorithm.to_der();
        let mut out = Vec::with_capacity(1 + algorithm_id.len() + signature.len());
        // Every AlgorithmIdentifier built here fits the length octet: the longest,
        // RSASSA-PSS with a four-octet salt length, is 71 octets.
        out.push(algorithm_id.len() as u8);
        out.extend_from_slice(&algorithm_id);
        out.extend_from_slice(signature);
        out
    }
}

/// Verifies a peer's AUTH payload against the public key of its (already validated)
/// end-entity certificate.
///
/// The caller checks separately that the certificate chains to a trusted CA
/// ([`TrustStore::validate`](crate::TrustStore::validate)), that it matches the peer's ID
/// ([`Certificate::matches_identity`]), and, for method 14, that the hash was among those
/// it announced ([`SignatureAlgorithm::hash_algorithm`]).
pub fn verify_auth(
    cert: &Certificate,
    auth_method: u8,
    auth_data: &[u8],
    signed_octets: &[u8],
) -> Result<(), PkiError> {
    if !cert.signing_allowed() {
        return Err(PkiError::KeyUsage);
    }
    let key = cert.public_key();
    let algorithm = cert.public_key_algorithm();
    match &algorithm {
        PublicKeyAlgorithm::Other(name) => {
            return Err(PkiError::UnsupportedPublicKey(name.clone()));
        }
        // aws-lc-rs verifies RSA moduli of 2048 to 8192 bits; say so rather than report a
        // bad signature.
        PublicKeyAlgorithm::Rsa { bits } if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(bits) => {
            return Err(PkiError::UnsupportedPublicKey(format!("RSA-{bits}")));
        }
        _ => {}
    }
    let verified = match auth_method {
        auth_method::RSA_DIGITAL_SIGNATURE => {
            let PublicKeyAlgorithm::Rsa { .. } = algorithm else {
                return Err(PkiError::KeyMismatch);
            };
            sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY.verify_sig(
                key,
                signed_octets,
                auth_data,
            )
        }
        auth_method::ECDSA_SHA256_P256
        | auth_method::ECDSA_SHA384_P384
        | auth_method::ECDSA_SHA512_P521 => {
            let PublicKeyAlgorithm::Ecdsa(curve) = algorithm else {
                return Err(PkiError::KeyMismatch);
            };
            if classic_ecdsa_method(curve) != auth_method {
                return Err(PkiError::KeyMismatch);
            }
            if auth_data.len() != 2 * curve.field_len() {
                return Err(PkiError::MalformedAuthData);
            }
            let verifier: &dyn VerificationAlgorithm = match curve {
                EcCurve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
                EcCurve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
                EcCurve::P521 => &sig::ECDSA_P521_SHA512_FIXED,
            };
            verifier.verify_sig(key, signed_octets, auth_data)
        }
        auth_method::DIGITAL_SIGNATURE => {
            let parsed = DigitalSignature::parse(auth_data)?;
            verify_digital_signature(&algorithm, key, parsed, signed_octets)?
        }
        other => return Err(PkiError::UnsupportedAuthMethod(other)),
    };
    verified.map_err(|_| PkiError::BadSignature)
}

fn verify_digital_signature(
    key_algorithm: &PublicKeyAlgorithm,
    key: &[u8],
    parsed: DigitalSignature<'_>,
    octets: &[u8],
) -> Result<Result<(), aws_lc_rs::error::Unspecified>, PkiError> {
    use SignatureHash::{Sha256, Sha384, Sha512};
    let signature = parsed.signature;
    Ok(match (key_algorithm, parsed.algorithm) {
        (PublicKeyAlgorithm::Ecdsa(curve), SignatureAlgorithm::Ecdsa(hash)) => {
            let verifier: &dyn VerificationAlgorithm = match (curve, hash) {
                (EcCurve::P256, Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                (EcCurve::P256, Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                (EcCurve::P256, Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
                (EcCurve::P384, Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                (EcCurve::P384, Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                (EcCurve::P384, Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
                (EcCurve::P521, Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
                (EcCurve::P521, Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
                (EcCurve::P521, Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
            };
            verifier.verify_sig(key, octets, signature)
        }
        (PublicKeyAlgorithm::Ed25519, SignatureAlgorithm::Ed25519) => {
            sig::ED25519.verify_sig(key, octets, signature)
        }
        (PublicKeyAlgorithm::Rsa { .. }, SignatureAlgorithm::RsaPkcs1(hash)) => match hash {
            Sha256 => sig::RSA_PKCS1_2048_8192_SHA256.verify_sig(key, octets, signature),
            Sha384 => sig::RSA_PKCS1_2048_8192_SHA384.verify_sig(key, octets, signature),
            Sha512 => sig::RSA_PKCS1_2048_8192_SHA512.verify_sig(key, octets, signature),
        },
        (PublicKeyAlgorithm::Rsa { .. }, SignatureAlgorithm::RsaPss(params)) => {
            if params.mgf1_hash != params.hash {
                return Err(PkiError::UnsupportedAlgorithm);
            }
            // A salt longer than any supported modulus cannot verify; u16 holds them all.
            let Ok(salt_len) = u16::try_from(params.salt_len) else {
                return Err(PkiError::BadSignature);
            };
            let base = match params.hash {
                Sha256 => sig::RSA_PSS_2048_8192_SHA256,
                Sha384 => sig::RSA_PSS_2048_8192_SHA384,
                Sha512 => sig::RSA_PSS_2048_8192_SHA512,
            };
            base.with_pss_salt_length(RsaPssSaltLength::Custom(salt_len))
                .verify_sig(key, octets, signature)
        }
        _ => return Err(PkiError::KeyMismatch),
    })
}

/// The RSA modulus sizes the aws-lc-rs verification parameters accept.
const RSA_MIN_BITS: u32 = 2048;
const RSA_MAX_BITS: u32 = 8192;

const fn classic_ecdsa_method(curve: EcCurve) -> u8 {
    match curve {
        EcCurve::P256 => auth_method::ECDSA_SHA256_P256,
        EcCurve::P384 => auth_method::ECDSA_SHA384_P384,
        EcCurve::P521 => auth_method::ECDSA_SHA512_P521,
    }
}
