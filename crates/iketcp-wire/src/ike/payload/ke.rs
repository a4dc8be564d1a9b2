//! RFC 7296 §3.4 Key Exchange Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Diffie-Hellman Group Num    |           RESERVED            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                       Key Exchange Data                       ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Whether the data has the group's length is the key exchange's check: a wrong length
//! earns INVALID_SYNTAX there, while a wrong group earns INVALID_KE_PAYLOAD, and only
//! the engine knows which groups it accepts.

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::TransformId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ke {
    /// The key exchange method, from the `KE_` constants of [`TransformId`].
    pub group: TransformId,
    /// The public value or ciphertext; ECP points without the `0x04` prefix (RFC 5903).
    pub data: Vec<u8>,
}

impl Ke {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let group = TransformId(r.u16()?);
        let _reserved = r.u16()?;
        Ok(Self {
            group,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u16(self.group.0);
        w.u16(0);
        w.bytes(&self.data);
        Ok(())
    }
}
