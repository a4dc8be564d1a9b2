//! RFC 7296 §3.6 Certificate Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Cert Encoding |                                               |
//! +-+-+-+-+-+-+-+-+                                               |
//! ~                       Certificate Data                        ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::CertEncoding;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cert {
    pub encoding: CertEncoding,
    /// A DER certificate for X509_SIGNATURE; a 20-octet SHA-1 hash followed by a URL
    /// for the hash-and-URL encodings.
    pub data: Vec<u8>,
}

impl Cert {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let encoding = CertEncoding(r.u8()?);
        Ok(Self {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u8(self.encoding.0);
        w.bytes(&self.data);
        Ok(())
    }
}
