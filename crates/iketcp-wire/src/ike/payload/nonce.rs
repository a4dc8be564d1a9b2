//! RFC 7296 §3.9 Nonce Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                            Nonce Data                         ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The size limits ([`Nonce::MIN_LEN`], [`Nonce::MAX_LEN`]) are checked by the engine,
//! which also knows the negotiated PRF, whose key size the nonce must be at least half
//! of (§2.10); the wire keeps whatever the peer sent, so that a message with a bad nonce
//! can still be logged and answered.

use crate::codec::{Reader, Writer};
use crate::error::WireError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nonce {
    pub data: Vec<u8>,
}

impl Nonce {
    /// RFC 7296 §3.9: "between 16 and 256 octets, inclusive".
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 256;

    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            data: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.bytes(&self.data);
        Ok(())
    }

    /// Whether the length is within RFC 7296 §3.9's bounds.
    pub fn has_valid_len(&self) -> bool {
        (Self::MIN_LEN..=Self::MAX_LEN).contains(&self.data.len())
    }
}
