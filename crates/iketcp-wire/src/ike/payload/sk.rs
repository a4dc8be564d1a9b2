//! RFC 7296 §3.14 Encrypted and Authenticated Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Initialization Vector                     |
//! |         (length is block size for encryption algorithm)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Encrypted IKE Payloads                     ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |             Padding (0-255 octets)            |
//! +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//! |                                               |  Pad Length   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Integrity Checksum Data                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The Next Payload field of SK names the first payload *inside* the ciphertext, and SK
//! is always the last payload of its message, so the chain of cleartext payloads ends
//! with it. The body (IV, ciphertext, ICV) is opaque here: only the SA knows the
//! cipher. Once decrypted, the inner payloads are read with
//! [`parse_chain`](crate::ike::parse_chain) starting from
//! [`Encrypted::first_payload`], and written with [`emit_chain`](crate::ike::emit_chain).
//!
//! Because SK is last, its body is the final `body.len()` octets of the message, and
//! everything before it (IKE header, earlier payloads, SK's generic header) is what the
//! ICV covers besides the body, or the associated data of an AEAD (RFC 5282 §5.1).
//! To send, emit the message with a body of the final size, then encrypt and write the
//! ICV in place at `len - body.len()`: the lengths in the header are then already right.

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::PayloadType;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Encrypted {
    /// Type of the first encrypted payload ([`PayloadType::NONE`] if there is none, as
    /// in an empty INFORMATIONAL used for liveness checks).
    pub first_payload: PayloadType,
    /// IV, ciphertext (inner payloads, padding and Pad Length) and ICV.
    pub body: Vec<u8>,
}

impl Encrypted {
    /// Parses the body; `first_payload` is the generic header's Next Payload field and
    /// `r` must hold exactly the body.
    pub fn parse(first_payload: PayloadType, r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            first_payload,
            body: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.bytes(&self.body);
        Ok(())
    }
}
