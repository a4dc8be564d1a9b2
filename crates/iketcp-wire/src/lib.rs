//! Wire formats of iketcp: bytes in, typed values out, and back.
//!
//! - [`ike`]: IKEv2 messages (RFC 7296 §3) and IKE fragments (RFC 7383).
//! - [`esp`]: the ESP packet (RFC 4303 §2).
//! - [`encap::udp`]: UDP encapsulation on port 4500 (RFC 3948 §2).
//! - [`encap::stream`]: IKE and ESP over a byte stream (RFC 9329 §3–4, formerly RFC 8229).
//!
//! Nothing here does I/O, allocates per byte, or panics on hostile input: every parser
//! checks each length against its container and reports a [`WireError`] with the offset.

pub mod codec;
pub mod encap;
pub mod error;
pub mod esp;
pub mod http;
pub mod ike;

pub use error::{WireError, WireErrorKind};

/// The non-ESP marker (RFC 3948 §2.2): four zero octets where an ESP SPI would be, so IKE
/// and ESP can share UDP port 4500 and a RFC 9329 stream.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
