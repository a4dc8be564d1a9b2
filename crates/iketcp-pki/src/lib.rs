//! Certificate and signature authentication for IKEv2, with no I/O and no clock.
//!
//! - [`identity`]: Identification payload contents (RFC 7296 §3.5) and their configuration
//!   syntax.
//! - [`cert`]: X.509 certificates (RFC 7296 §3.6) and identity binding (RFC 4945 §3.1).
//! - [`trust`]: trusted CAs, chain validation (RFC 4945 §5) at a given time, CERTREQ
//!   hashes (RFC 7296 §3.7).
//! - [`key`]: private keys from PEM.
//! - [`algorithm_id`]: the AlgorithmIdentifiers of RFC 7427 §3 and Appendix A.
//! - [`hash_algorithms`]: the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §4).
//! - [`signature`]: signing and verifying AUTH payloads (RFC 7296 §2.15 and §3.8, RFC
//!   4754, RFC 7427, RFC 8420).
//!
//! The engine builds the octets to sign (RFC 7296 §2.15) and the payloads; this crate
//! only turns octets into AUTH data and back. Peer input (ID data, certificates, AUTH
//! data, notify bodies) is length-checked and never panics. Private keys stay inside
//! aws-lc-rs and are never printed.

pub mod algorithm_id;
pub mod cert;
mod der;
pub mod error;
pub mod hash_algorithms;
pub mod identity;
pub mod key;
pub mod signature;
pub mod trust;

pub use algorithm_id::{PssParams, SignatureAlgorithm, SignatureHash};
pub use cert::Certificate;
pub use error::PkiError;
pub use hash_algorithms::{
    HashAlgorithm, SIGNATURE_HASH_ALGORITHMS, encode_hash_algorithms, parse_hash_algorithms,
};
pub use identity::{Identity, dn_equal};
pub use key::{EcCurve, PrivateKey, PublicKeyAlgorithm};
pub use signature::{AuthScheme, DigitalSignature, RsaPadding, auth_method, verify_auth};
pub use trust::{CERTREQ_HASH_LEN, MAX_INTERMEDIATES, TrustStore, parse_certreq_hashes};
