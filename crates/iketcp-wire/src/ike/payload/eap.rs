//! RFC 7296 §3.16 Extensible Authentication Protocol (EAP) Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                       EAP Message                             ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! EAP Message (RFC 3748 §4)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      | Identifier    |           Length              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      | Type_Data...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The message is kept whole, as EAP methods take whole packets, but its own Length
//! must equal the payload body: two disagreeing lengths are a malformed payload, and
//! handing one to an EAP library would leave it to pick which to trust.

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};

/// Code, Identifier and Length.
const EAP_HEADER_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Eap {
    /// The whole EAP packet, from Code on.
    pub message: Vec<u8>,
}

impl Eap {
    /// EAP Request (RFC 3748 §4).
    pub const CODE_REQUEST: u8 = 1;
    pub const CODE_RESPONSE: u8 = 2;
    pub const CODE_SUCCESS: u8 = 3;
    pub const CODE_FAILURE: u8 = 4;

    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let start = r.offset();
        let message = r.rest();
        check(message, start)?;
        Ok(Self {
            message: message.to_vec(),
        })
    }

    /// Refuses a message whose own Length disagrees with its size, since it could not
    /// be parsed back.
    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        check(&self.message, w.len())?;
        w.bytes(&self.message);
        Ok(())
    }

    pub fn code(&self) -> u8 {
        self.message.first().copied().unwrap_or(0)
    }

    pub fn identifier(&self) -> u8 {
        self.message.get(1).copied().unwrap_or(0)
    }

    /// The method type of a Request or Response; Success and Failure have none.
    pub fn eap_type(&self) -> Option<u8> {
        match self.code() {
            Self::CODE_REQUEST | Self::CODE_RESPONSE => self.message.get(EAP_HEADER_LEN).copied(),
            _ => None,
        }
    }
}

fn check(message: &[u8], offset: usize) -> Result<(), WireError> {
    let Some(&[_, _, hi, lo]) = message.first_chunk::<EAP_HEADER_LEN>() else {
        return Err(WireError::new(
            WireErrorKind::Truncated {
                needed: EAP_HEADER_LEN - message.len(),
            },
            offset + message.len(),
        ));
    };
    let length = usize::from(u16::from_be_bytes([hi, lo]));
    if length != message.len() {
        return Err(WireError::new(
            WireErrorKind::BadLength { length },
            offset + 2,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3748_4_eap_identity_request_round_trips() {
        let b = [1, 7, 0, 5, 1];
        let eap = Eap::parse(&mut Reader::new(&b)).unwrap();
        assert_eq!(eap.code(), Eap::CODE_REQUEST);
        assert_eq!(eap.identifier(), 7);
        assert_eq!(eap.eap_type(), Some(1));
        let mut w = Writer::new();
        eap.emit(&mut w).unwrap();
        assert_eq!(w.buf, b);
        let success = Eap {
            message: vec![3, 7, 0, 4],
        };
        assert_eq!(success.eap_type(), None);
    }

    #[test]
    fn rfc7296_3_16_eap_length_must_match_the_payload() {
        for b in [&[1u8, 7, 0, 6, 1][..], &[1, 7, 0, 4, 1], &[1, 7, 0], &[]] {
            assert!(Eap::parse(&mut Reader::new(b)).is_err(), "{b:?}");
        }
        let bad = Eap {
            message: vec![1, 7, 0, 9],
        };
        assert!(bad.emit(&mut Writer::new()).is_err());
    }
}
