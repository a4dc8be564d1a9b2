//! RFC 7296 §3.12 Vendor ID Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                        Vendor ID (VID)                        ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::codec::{Reader, Writer};
use crate::error::WireError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VendorId {
    pub data: Vec<u8>,
}

impl VendorId {
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
}
