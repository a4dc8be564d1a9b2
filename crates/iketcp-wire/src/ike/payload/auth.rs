//! RFC 7296 §3.8 Authentication Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Auth Method   |                RESERVED                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                      Authentication Data                      ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! For DIGITAL_SIGNATURE (RFC 7427) the data starts with a length-prefixed
//! AlgorithmIdentifier; that belongs to the signature code, so it stays opaque here.

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::AuthMethod;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Auth {
    pub method: AuthMethod,
    pub data: Vec<u8>,
}

impl Auth {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let method = AuthMethod(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(Self {
            method,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u8(self.method.0);
        w.bytes(&[0; 3]);
        w.bytes(&self.data);
        Ok(())
    }
}
