//! The cryptography of an IKEv2 engine (RFC 7296), with no I/O and no clock.
//!
//! - [`transform`]: the implemented transforms by IANA number (RFC 7296 §3.3.2).
//! - [`prf`](mod@prf): prf and prf+ (RFC 7296 §2.13).
//! - [`keymat`]: SKEYSEED and the SK_* keys (§2.14), IKE SA rekey (§2.18), Child SA
//!   KEYMAT (§2.17) and shared-key AUTH (§2.15).
//! - [`sk`]: the Encrypted payload body (§3.14, RFC 5282, RFC 7634), also for SKF
//!   fragments (RFC 7383).
//! - [`ke`]: Diffie-Hellman groups 14, 19, 20 and 31 (RFC 3526, RFC 5903, RFC 8031).
//! - [`rng`]: the injected random source, system or seeded.
//! - [`digest`]: SHA-1 for the NAT detection hashes (RFC 7296 §2.23).
//! - [`provider`]: the swappable parts as one struct of traits.
//! - [`wireshark`]: key export for test captures (opt-in; writes secrets).
//!
//! One backend: aws-lc-rs for every primitive, crypto-bigint for MODP arithmetic.
//! Secrets live in [`SecretBytes`], wiped on drop and redacted in `Debug`; nothing here
//! logs. Peer input (KE values, SK bodies) is length-checked before use and never
//! panics.

pub mod digest;
pub mod error;
pub mod ke;
pub mod keymat;
pub mod prf;
pub mod provider;
pub mod rng;
pub mod secret;
pub mod sk;
pub mod transform;
pub mod wireshark;

pub use digest::{sha1, sha256};
pub use error::CryptoError;
pub use ke::{ActiveKe, KeGroup};
pub use keymat::{
    ChildKeySizes, ChildKeys, DirectionKeys, IkeKeys, KEY_PAD, child_keymat, child_sa_keys,
    psk_auth, rekey_skeyseed, signed_octets, skeyseed, verify_psk_auth,
};
pub use prf::{prf, prf_parts, prf_plus};
pub use provider::{AWS_LC_RS, AwsLcRs, CryptoProvider, KeProvider, SkProtect, SkProvider};
pub use rng::{DeterministicRng, Rng, SystemRng};
pub use secret::{SecretBytes, constant_time_eq};
pub use sk::SkCipher;
pub use transform::{Encr, Integ, Prf};
