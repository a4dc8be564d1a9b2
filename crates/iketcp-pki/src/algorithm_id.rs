//! RFC 7427 §3 and Appendix A: the signature AlgorithmIdentifier carried in a Digital
//! Signature (method 14) AUTH payload.
//!
//! Encodings follow RFC 7427 Appendix A byte for byte, which is also what strongSwan
//! sends (`signature_params_build`):
//! - `sha{256,384,512}WithRSAEncryption` with NULL parameters (RFC 8017 Appendix A.2.4);
//! - `ecdsa-with-SHA{256,384,512}` with parameters absent (RFC 5758 §3.2);
//! - `id-Ed25519` with parameters absent (RFC 8410 §3, RFC 8420 §2);
//! - `id-RSASSA-PSS` with RSASSA-PSS-params (RFC 8017 Appendix A.2.3, RFC 4055 §3.1):
//!   the hash and the MGF1 hash as AlgorithmIdentifiers with NULL parameters, the salt
//!   length only when it differs from the default 20, the trailer field omitted.
//!
//! Parsing is more lenient where RFC 4055 §2.1 asks it to be: hash AlgorithmIdentifiers
//! with or without NULL, and NULL parameters on the ECDSA and Ed25519 identifiers (as
//! strongSwan's `signature_params_parse` also tolerates). SHA-1 is recognised but
//! refused: RFC 8247 §3.2 forbids it for signatures.

use crate::PkiError;
use crate::der::{self, Reader};
use crate::hash_algorithms::HashAlgorithm;

/// Object identifier contents (X.690 §8.19) of the algorithms used here.
mod oid {
    pub(super) const SHA1_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    pub(super) const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
    pub(super) const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub(super) const SHA256_WITH_RSA: &[u8] =
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub(super) const SHA384_WITH_RSA: &[u8] =
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub(super) const SHA512_WITH_RSA: &[u8] =
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    pub(super) const ECDSA_WITH_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    pub(super) const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub(super) const ECDSA_WITH_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub(super) const ECDSA_WITH_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    pub(super) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    pub(super) const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub(super) const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub(super) const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
}

/// RSASSA-PSS-params tags: EXPLICIT context tags [0] to [3] (RFC 8017 Appendix A.2.3).
const PSS_HASH: u8 = 0xa0;
const PSS_MGF: u8 = 0xa1;
const PSS_SALT: u8 = 0xa2;
const PSS_TRAILER: u8 = 0xa3;

/// The error for DER that does not parse.
const MALFORMED: PkiError = PkiError::MalformedAuthData;

/// The salt length RSASSA-PSS-params implies when the field is absent.
const PSS_DEFAULT_SALT_LEN: u32 = 20;

/// A hash usable in a method 14 signature. SHA-1 is absent on purpose (RFC 8247 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    /// SHA2-256.
    Sha256,
    /// SHA2-384.
    Sha384,
    /// SHA2-512.
    Sha512,
}

impl SignatureHash {
    /// The value announcing this hash in SIGNATURE_HASH_ALGORITHMS.
    #[must_use]
    pub const fn hash_algorithm(self) -> HashAlgorithm {
        match self {
            Self::Sha256 => HashAlgorithm::SHA2_256,
            Self::Sha384 => HashAlgorithm::SHA2_384,
            Self::Sha512 => HashAlgorithm::SHA2_512,
        }
    }

    /// The hash for an announced value, if it is one of these.
    #[must_use]
    pub const fn from_hash_algorithm(algorithm: HashAlgorithm) -> Option<Self> {
        match algorithm {
            HashAlgorithm::SHA2_256 => Some(Self::Sha256),
            HashAlgorithm::SHA2_384 => Some(Self::Sha384),
            HashAlgorithm::SHA2_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Digest length in octets, which is also the RSASSA-PSS salt length strongSwan and
    /// this crate use when signing.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }

    /// The hash AlgorithmIdentifier, with NULL parameters as RFC 7427 A.4.3 shows.
    fn algorithm_identifier(self) -> Vec<u8> {
        let mut contents = der::tlv(der::OID, self.oid());
        contents.extend_from_slice(&der::tlv(der::NULL, &[]));
        der::tlv(der::SEQUENCE, &contents)
    }

    /// Reads a hash AlgorithmIdentifier; SHA-1 and unknown hashes are unsupported.
    fn parse_algorithm_identifier(der: &[u8]) -> Result<Self, PkiError> {
        let (oid, params) = split_algorithm_identifier(der)?;
        if !params_absent_or_null(params) {
            return Err(PkiError::MalformedAuthData);
        }
        match oid {
            oid::SHA256 => Ok(Self::Sha256),
            oid::SHA384 => Ok(Self::Sha384),
            oid::SHA512 => Ok(Self::Sha512),
            _ => Err(PkiError::UnsupportedAlgorithm),
        }
    }
}

/// RSASSA-PSS parameters (RFC 8017 §9.1, Appendix A.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PssParams {
    /// The message hash.
    pub hash: SignatureHash,
    /// The hash inside MGF1.
    pub mgf1_hash: SignatureHash,
    /// The salt length in octets.
    pub salt_len: u32,
}

impl PssParams {
    /// The parameters strongSwan uses: MGF1 with the same hash, salt as long as the hash.
    #[must_use]
    pub const fn new(hash: SignatureHash) -> Self {
        Self {
            hash,
            mgf1_hash: hash,
            // Digest lengths are at most 64.
            salt_len: hash.output_len() as u32,
        }
    }

    fn to_der(self) -> Vec<u8> {
        let mut contents = der::tlv(PSS_HASH, &self.hash.algorithm_identifier());
        let mut mgf = der::tlv(der::OID, oid::MGF1);
        mgf.extend_from_slice(&self.mgf1_hash.algorithm_identifier());
        contents.extend_from_slice(&der::tlv(PSS_MGF, &der::tlv(der::SEQUENCE, &mgf)));
        // DER omits a field equal to its DEFAULT (X.690 §11.5).
        if self.salt_len != PSS_DEFAULT_SALT_LEN {
            contents.extend_from_slice(&der::tlv(PSS_SALT, &der::integer(self.salt_len)));
        }
        der::tlv(der::SEQUENCE, &contents)
    }

    fn parse(params: &[u8]) -> Result<Self, PkiError> {
        let mut fields = Reader::new(der::read_single(params, der::SEQUENCE).ok_or(MALFORMED)?);
        // An absent hash or MGF means SHA-1, which is refused; both are required here.
        let hash_field = fields.read_optional(PSS_HASH).ok_or(MALFORMED)?;
        let mgf_field = fields.read_optional(PSS_MGF).ok_or(MALFORMED)?;
        let salt_field = fields.read_optional(PSS_SALT).ok_or(MALFORMED)?;
        let trailer_field = fields.read_optional(PSS_TRAILER).ok_or(MALFORMED)?;
        if !fields.is_empty() {
            return Err(MALFORMED);
        }
        let hash = match hash_field {
            Some(field) => SignatureHash::parse_algorithm_identifier(field)?,
            None => return Err(PkiError::UnsupportedAlgorithm),
        };
        let mgf1_hash = match mgf_field {
            Some(field) => {
                let (mgf_oid, mgf_params) = split_algorithm_identifier(field)?;
                if mgf_oid != oid::MGF1 {
                    return Err(PkiError::UnsupportedAlgorithm);
                }
                SignatureHash::parse_algorithm_identifier(mgf_params.ok_or(MALFORMED)?)?
            }
            None => return Err(PkiError::UnsupportedAlgorithm),
        };
        let salt_len = match salt_field {
            Some(field) => {
                der::integer_u32(der::read_single(field, der::INTEGER).ok_or(MALFORMED)?)
                    .ok_or(MALFORMED)?
            }
            None => PSS_DEFAULT_SALT_LEN,
        };
        if let Some(field) = trailer_field {
            // trailerFieldBC (1) is the only value RFC 8017 defines.
            let trailer = der::integer_u32(der::read_single(field, der::INTEGER).ok_or(MALFORMED)?);
            if trailer != Some(1) {
                return Err(PkiError::UnsupportedAlgorithm);
            }
        }
        Ok(Self {
            hash,
            mgf1_hash,
            salt_len,
        })
    }
}

/// A signature algorithm of RFC 7427 §3, as named by its AlgorithmIdentifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// `ecdsa-with-SHA*`: ECDSA with a DER `Ecdsa-Sig-Value` (RFC 3279 §2.2.3), on any
    /// supported curve.
    Ecdsa(SignatureHash),
    /// `id-Ed25519`: PureEdDSA over the whole signed octets (RFC 8420).
    Ed25519,
    /// `sha*WithRSAEncryption`: RSASSA-PKCS1-v1_5.
    RsaPkcs1(SignatureHash),
    /// `id-RSASSA-PSS`.
    RsaPss(PssParams),
}

impl SignatureAlgorithm {
    /// The DER AlgorithmIdentifier (RFC 7427 Appendix A).
    #[must_use]
    pub fn to_der(&self) -> Vec<u8> {
        let (oid, params): (&[u8], Option<Vec<u8>>) = match *self {
            Self::Ecdsa(SignatureHash::Sha256) => (oid::ECDSA_WITH_SHA256, None),
            Self::Ecdsa(SignatureHash::Sha384) => (oid::ECDSA_WITH_SHA384, None),
            Self::Ecdsa(SignatureHash::Sha512) => (oid::ECDSA_WITH_SHA512, None),
            Self::Ed25519 => (oid::ED25519, None),
            Self::RsaPkcs1(hash) => {
                let oid = match hash {
                    SignatureHash::Sha256 => oid::SHA256_WITH_RSA,
                    SignatureHash::Sha384 => oid::SHA384_WITH_RSA,
                    SignatureHash::Sha512 => oid::SHA512_WITH_RSA,
                };
                (oid, Some(der::tlv(der::NULL, &[])))
            }
            Self::RsaPss(params) => (oid::RSASSA_PSS, Some(params.to_der())),
        };
        let mut contents = der::tlv(der::OID, oid);
        if let Some(params) = params {
            contents.extend_from_slice(&params);
        }
        der::tlv(der::SEQUENCE, &contents)
    }

    /// Parses a DER AlgorithmIdentifier that must span all of `der`.
    ///
    /// Malformed DER gives [`PkiError::MalformedAuthData`]; a well-formed identifier of
    /// an algorithm not accepted here gives [`PkiError::UnsupportedAlgorithm`].
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let (oid, params) = split_algorithm_identifier(der)?;
        let simple = |algorithm: Self| {
            if params_absent_or_null(params) {
                Ok(algorithm)
            } else {
                Err(PkiError::MalformedAuthData)
            }
        };
        match oid {
            oid::ECDSA_WITH_SHA256 => simple(Self::Ecdsa(SignatureHash::Sha256)),
            oid::ECDSA_WITH_SHA384 => simple(Self::Ecdsa(SignatureHash::Sha384)),
            oid::ECDSA_WITH_SHA512 => simple(Self::Ecdsa(SignatureHash::Sha512)),
            oid::ED25519 => simple(Self::Ed25519),
            oid::SHA256_WITH_RSA => simple(Self::RsaPkcs1(SignatureHash::Sha256)),
            oid::SHA384_WITH_RSA => simple(Self::RsaPkcs1(SignatureHash::Sha384)),
            oid::SHA512_WITH_RSA => simple(Self::RsaPkcs1(SignatureHash::Sha512)),
            oid::RSASSA_PSS => {
                PssParams::parse(params.ok_or(PkiError::UnsupportedAlgorithm)?).map(Self::RsaPss)
            }
            // Listed so that refusing SHA-1 reads as the decision it is (RFC 8247 §3.2).
            oid::SHA1_WITH_RSA | oid::ECDSA_WITH_SHA1 => Err(PkiError::UnsupportedAlgorithm),
            _ => Err(PkiError::UnsupportedAlgorithm),
        }
    }

    /// The SIGNATURE_HASH_ALGORITHMS value the signer must have been offered for this
    /// algorithm (RFC 7427 §4; Identity for Ed25519, RFC 8420 §2).
    #[must_use]
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        match self {
            Self::Ecdsa(hash) | Self::RsaPkcs1(hash) => hash.hash_algorithm(),
            Self::RsaPss(params) => params.hash.hash_algorithm(),
            Self::Ed25519 => HashAlgorithm::IDENTITY,
        }
    }
}

/// Splits an AlgorithmIdentifier spanning all of `der` into its OID contents and its
/// parameters element (tag and length included), if any.
fn split_algorithm_identifier(der: &[u8]) -> Result<(&[u8], Option<&[u8]>), PkiError> {
    let mut fields = Reader::new(der::read_single(der, der::SEQUENCE).ok_or(MALFORMED)?);
    let oid = fields.read(der::OID).ok_or(MALFORMED)?;
    if oid.is_empty() {
        return Err(MALFORMED);
    }
    let params = if fields.is_empty() {
        None
    } else {
        let start = fields.remaining();
        fields.read_any().ok_or(MALFORMED)?;
        if !fields.is_empty() {
            return Err(MALFORMED);
        }
        Some(start)
    };
    Ok((oid, params))
}

fn params_absent_or_null(params: Option<&[u8]>) -> bool {
    matches!(params, None | Some([der::NULL, 0x00]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pss_default_salt_is_encoded_only_when_not_twenty() {
        let twenty = PssParams {
            salt_len: 20,
            ..PssParams::new(SignatureHash::Sha256)
        };
        let der = SignatureAlgorithm::RsaPss(twenty).to_der();
        assert!(!der.windows(2).any(|w| w == [PSS_SALT, 0x03]));
        assert_eq!(
            SignatureAlgorithm::from_der(&der),
            Ok(SignatureAlgorithm::RsaPss(twenty))
        );
    }

    #[test]
    fn hash_without_null_is_accepted() {
        // ecdsa-with-SHA256 with NULL parameters, sha256WithRSAEncryption without.
        let ecdsa_null = [
            0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00,
        ];
        assert_eq!(
            SignatureAlgorithm::from_der(&ecdsa_null),
            Ok(SignatureAlgorithm::Ecdsa(SignatureHash::Sha256))
        );
        let rsa_absent = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
        ];
        assert_eq!(
            SignatureAlgorithm::from_der(&rsa_absent),
            Ok(SignatureAlgorithm::RsaPkcs1(SignatureHash::Sha256))
        );
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut der = SignatureAlgorithm::Ed25519.to_der();
        der.push(0);
        assert_eq!(
            SignatureAlgorithm::from_der(&der),
            Err(PkiError::MalformedAuthData)
        );
    }
}
