//! The ESP data plane of iketcp: a sans-IO engine for RFC 4303 ESP, whose packets travel
//! raw, in UDP (RFC 3948) or in a stream (RFC 9329); the framing is the caller's.
//!
//! IKE installs and removes SAs ([`Engine::install_outbound`], [`Engine::install_inbound`],
//! [`Engine::remove`]); the data path calls [`Engine::encapsulate`] and
//! [`Engine::decapsulate`] with caller-owned buffers and gets lengths back, so the hot
//! path allocates nothing; lifetime limits come back through [`Engine::poll_event`] as
//! rekey requests. Nothing here reads a clock or touches a socket.
//!
//! - [`algorithm`]: the transforms (RFC 4106, RFC 7634, RFC 3602 + RFC 4868).
//! - `replay`: the anti-replay window and ESN inference (RFC 4303 §3.4.3, Appendix A).
//! - [`sa`]: one SA's outbound and inbound processing (RFC 4303 §3.3, §3.4).
//! - [`selector`]: the inbound traffic selector check (RFC 4301 §5.2).
//! - [`engine`]: the SA database and the entry points.
//! - [`lifetime`]: byte and packet lifetimes and the events they raise.
//! - [`wireshark`]: key export for test captures (opt-in; writes secrets).
//!
//! Keys live in [`KeyMaterial`], wiped on drop and redacted in `Debug`; nothing here logs
//! them.

pub mod algorithm;
mod cipher;
pub mod engine;
pub mod error;
#[cfg(feature = "insecure-fuzzing")]
pub mod fuzzing;
mod ip;
pub mod key;
pub mod lifetime;
pub mod random;
mod replay;
pub mod sa;
pub mod selector;
pub mod stats;
pub mod wireshark;

pub mod ecn;

pub use algorithm::{AesKeySize, Algorithm, Integrity};
pub use engine::Engine;
pub use error::EspError;
pub use key::KeyMaterial;
pub use lifetime::{EspEvent, Lifetime, Limit};
pub use random::{RandomError, RandomSource, SystemRandomSource};
pub use replay::MAX_REPLAY_WINDOW;
pub use sa::{
    DEFAULT_REPLAY_WINDOW, Decapsulated, Direction, Encapsulated, Mode, STREAM_REPLAY_WINDOW,
    SaParams,
};
pub use selector::InboundSelectors;
pub use stats::{SaStats, Stats};
