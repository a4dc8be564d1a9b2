//! Errors of the IKEv2 cryptography (STYLE §2.8: one `thiserror` enum, `#[non_exhaustive]`).
//!
//! The variants say *what* failed, never with which secret: an error may be logged, so
//! none carries key material, and the integrity failures deliberately carry nothing at all
//! (RFC 7296 §2.21: an unauthenticated message is dropped without telling the sender why).

/// Why a cryptographic operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ICV or AEAD tag did not verify (RFC 7296 §3.14, RFC 5282 §5).
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// The decrypted Pad Length does not fit inside the decrypted data (RFC 7296 §3.14).
    #[error("bad padding")]
    BadPadding,
    /// An SK body is too short for its IV and ICV, or its ciphertext is not a whole number
    /// of cipher blocks.
    #[error("malformed encrypted body")]
    MalformedBody,
    /// The peer's key exchange value is not acceptable for the group (wrong length, out of
    /// range, not on the curve, or a low-order point).
    #[error("bad peer public value")]
    BadPeerPublicValue,
    /// The transform or the combination of transforms is not implemented.
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// Encryption and integrity do not combine: an AEAD was given an integrity
    /// transform, or a plain cipher was given none (RFC 5282 §8).
    #[error("invalid combination of transforms")]
    InvalidTransformCombination,
    /// prf+ was asked for more than 255 blocks (RFC 7296 §2.13).
    #[error("requested output too long")]
    OutputTooLong,
    /// A key does not have the length its algorithm requires.
    #[error("bad key length: expected {expected}, got {got}")]
    BadKeyLength {
        /// The length the algorithm requires.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The 64-bit AEAD IV counter of one key is used up; the SA must be rekeyed.
    #[error("IV space exhausted")]
    IvExhausted,
    /// The random source failed.
    #[error("random source failed")]
    RngFailure,
    /// A received AUTH value did not match the expected one (RFC 7296 §2.15).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The backend refused an operation for a reason that is not the peer's doing.
    #[error("cryptographic backend failure")]
    Backend,
}
