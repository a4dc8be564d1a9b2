//! RFC 7296 §3.5 Identification Payloads
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   ID Type     |                 RESERVED                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                   Identification Data                         ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! IDi and IDr share this format; [`Payload::IdI`](crate::ike::Payload::IdI) and
//! [`Payload::IdR`](crate::ike::Payload::IdR) tell them apart. The whole body, ID Type
//! and RESERVED included, enters the AUTH computation (§2.15, RestOfInitIDPayload), so
//! the engine MACs the body as [`Id::emit`] writes it, RESERVED zero.

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::IdType;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id {
    pub id_type: IdType,
    /// Four or sixteen octets for the address types, the name itself for FQDN and
    /// RFC822_ADDR (no terminator), DER for the ASN.1 types, opaque for KEY_ID.
    pub data: Vec<u8>,
}

impl Id {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let id_type = IdType(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(Self {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u8(self.id_type.0);
        w.bytes(&[0; 3]);
        w.bytes(&self.data);
        Ok(())
    }
}
