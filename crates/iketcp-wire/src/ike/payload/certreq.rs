//! RFC 7296 §3.7 Certificate Request Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Cert Encoding |                                               |
//! +-+-+-+-+-+-+-+-+                                               |
//! ~                    Certification Authority                    ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::CertEncoding;

/// Length of one trust anchor entry for X509_SIGNATURE: the SHA-1 hash of a CA's
/// subjectPublicKeyInfo.
pub const CA_HASH_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertReq {
    pub encoding: CertEncoding,
    /// For X509_SIGNATURE, concatenated [`CA_HASH_LEN`]-octet hashes; see
    /// [`CertReq::ca_hashes`]. Kept whole because other encodings define other
    /// contents, and an empty list is legal (any CA will do).
    pub data: Vec<u8>,
}

impl CertReq {
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

    /// The CA key hashes of an X509_SIGNATURE request; a trailing partial hash is
    /// skipped, as a peer's formatting slip should not cost the whole request.
    pub fn ca_hashes(&self) -> impl Iterator<Item = &[u8]> {
        self.data.chunks_exact(CA_HASH_LEN)
    }
}
