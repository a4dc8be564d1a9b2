//! Errors of certificate authentication (STYLE §2.8: one `thiserror` enum, `#[non_exhaustive]`).
//!
//! No variant carries key material or raw peer bytes: an error may be logged, and the
//! AUTH failures say only *that* verification failed (RFC 7296 §2.21: the peer learns
//! AUTHENTICATION_FAILED and nothing more).

/// Why a certificate, key, identity or AUTH payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The PEM text is malformed, or holds no section of the kind asked for.
    #[error("malformed PEM or no {0} in it")]
    Pem(&'static str),
    /// The bytes are not an X.509 certificate this crate can read.
    #[error("malformed certificate")]
    MalformedCertificate,
    /// The private key could not be decoded, or is of a type or curve not supported here.
    #[error("unsupported or malformed private key")]
    UnsupportedKey,
    /// The certificate's public key is of a type or curve not supported here.
    #[error("unsupported public key algorithm {0}")]
    UnsupportedPublicKey(String),
    /// An identity string or ID payload body is malformed (RFC 7296 §3.5).
    #[error("invalid identity: {0}")]
    InvalidIdentity(&'static str),
    /// The ID Type is not one this crate handles (RFC 7296 §3.5).
    #[error("unsupported ID type {0}")]
    UnsupportedIdType(u8),
    /// The AUTH payload's Auth Method is not a signature method handled here
    /// (RFC 7296 §3.8).
    #[error("unsupported auth method {0}")]
    UnsupportedAuthMethod(u8),
    /// The AUTH data of method 14 does not follow RFC 7427 §3, or a classic signature
    /// has the wrong size.
    #[error("malformed AUTH data")]
    MalformedAuthData,
    /// The signature algorithm is known but refused: SHA-1 in RFC 7427 (RFC 8247 §3.2),
    /// an RSASSA-PSS MGF1 hash that differs from the message hash, or a scheme the
    /// backend cannot produce.
    #[error("unsupported signature algorithm")]
    UnsupportedAlgorithm,
    /// The signature algorithm does not fit the key (an ECDSA AUTH for an RSA certificate,
    /// a classic ECDSA method for the wrong curve).
    #[error("signature algorithm does not match the key")]
    KeyMismatch,
    /// The signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The certificate's keyUsage excludes signatures (RFC 4945 §5.1.3.2).
    #[error("certificate key usage does not allow signatures")]
    KeyUsage,
    /// No signature scheme is acceptable to both our key and the peer's
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4).
    #[error("no signature scheme acceptable to both sides")]
    NoCommonScheme,
    /// The chain does not lead to a trusted CA.
    #[error("certificate issuer not trusted")]
    UnknownIssuer,
    /// A certificate of the chain has expired at the validation time.
    #[error("certificate expired")]
    Expired,
    /// A certificate of the chain is not yet valid at the validation time.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// A certificate of the chain carries extended key usages, none of them acceptable
    /// for IKE (RFC 4945 §5.1.3.12).
    #[error("certificate extended key usage not acceptable for IKE")]
    ExtendedKeyUsage,
    /// More intermediate certificates than allowed, or a path too deep to build.
    #[error("certificate chain too long")]
    ChainTooLong,
    /// Chain validation failed for another reason (webpki's description).
    #[error("invalid certificate chain: {0}")]
    InvalidChain(String),
    /// The validation time lies before 1970.
    #[error("validation time before the Unix epoch")]
    InvalidTime,
    /// A SIGNATURE_HASH_ALGORITHMS notify body has an odd length (RFC 7427 §4).
    #[error("malformed SIGNATURE_HASH_ALGORITHMS data")]
    MalformedHashAlgorithms,
    /// A CERTREQ Certification Authority field is not a whole number of SHA-1 hashes
    /// (RFC 7296 §3.7).
    #[error("malformed CERTREQ data")]
    MalformedCertReq,
    /// The backend refused an operation for a reason that is not the peer's doing.
    #[error("cryptographic backend failure")]
    Backend,
}
