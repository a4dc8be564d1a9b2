//! RFC 7383 §2.5 Encrypted Fragment Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Fragment Number        |        Total Fragments        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Initialization Vector                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                      Encrypted content                        ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |             Padding (0-255 octets)            |
//! +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//! |                                               |  Pad Length   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Integrity Checksum Data                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Like SK it is the last payload of its message, and everything before the body,
//! Fragment Number and Total Fragments included, is covered by the ICV (§2.5). The
//! decrypted content of all fragments, concatenated in order, is a payload chain that
//! starts with the first fragment's [`EncryptedFragment::first_payload`].

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::PayloadType;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptedFragment {
    /// From 1 to `total_fragments`.
    pub fragment_number: u16,
    /// Not zero. It may grow between retransmissions when PMTU discovery shrinks the
    /// fragments (§2.5.2), so reassembly keeps the highest value seen.
    pub total_fragments: u16,
    /// Type of the first inner payload in fragment 1; [`PayloadType::NONE`] in every
    /// other fragment.
    pub first_payload: PayloadType,
    /// IV, ciphertext and ICV.
    pub body: Vec<u8>,
}

impl EncryptedFragment {
    /// Parses the body; `first_payload` is the generic header's Next Payload field and
    /// `r` must hold exactly the body.
    ///
    /// RFC 7383 §2.5: Fragment Number and Total Fragments are never zero and the number
    /// never exceeds the total; only fragment 1 names an inner payload.
    pub fn parse(first_payload: PayloadType, r: &mut Reader<'_>) -> Result<Self, WireError> {
        let offset = r.offset();
        let fragment = Self {
            fragment_number: r.u16()?,
            total_fragments: r.u16()?,
            first_payload,
            body: Vec::new(),
        };
        fragment.check(offset)?;
        Ok(Self {
            body: r.rest().to_vec(),
            ..fragment
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        self.check(w.len())?;
        w.u16(self.fragment_number);
        w.u16(self.total_fragments);
        w.bytes(&self.body);
        Ok(())
    }

    fn check(&self, offset: usize) -> Result<(), WireError> {
        let numbers_ok = self.fragment_number != 0
            && self.total_fragments != 0
            && self.fragment_number <= self.total_fragments;
        let next_ok = self.fragment_number == 1 || self.first_payload == PayloadType::NONE;
        if numbers_ok && next_ok {
            Ok(())
        } else {
            Err(WireError::new(WireErrorKind::BadValue, offset))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(first: u8, b: &[u8]) -> Result<EncryptedFragment, WireError> {
        EncryptedFragment::parse(PayloadType(first), &mut Reader::new(b))
    }

    #[test]
    fn rfc7383_2_5_fragment_numbers_golden_bytes() {
        let f = parse(35, &[0, 1, 0, 3, 0xee, 0xee]).unwrap();
        assert_eq!(
            f,
            EncryptedFragment {
                fragment_number: 1,
                total_fragments: 3,
                first_payload: PayloadType::IDi,
                body: vec![0xee, 0xee],
            }
        );
        let mut w = Writer::new();
        f.emit(&mut w).unwrap();
        assert_eq!(w.buf, [0, 1, 0, 3, 0xee, 0xee]);
    }

    #[test]
    fn rfc7383_2_5_fragment_number_zero_or_beyond_total_is_invalid() {
        assert!(parse(0, &[0, 0, 0, 3]).is_err());
        assert!(parse(0, &[0, 4, 0, 3]).is_err());
        assert!(parse(0, &[0, 1, 0, 0]).is_err());
        assert!(parse(0, &[0, 3, 0, 3]).is_ok());
        assert!(parse(0, &[0, 3]).is_err());
    }

    #[test]
    fn rfc7383_2_5_only_the_first_fragment_names_a_payload() {
        assert!(parse(35, &[0, 2, 0, 3]).is_err());
        let f = EncryptedFragment {
            fragment_number: 2,
            total_fragments: 2,
            first_payload: PayloadType::AUTH,
            body: vec![],
        };
        assert!(f.emit(&mut Writer::new()).is_err());
    }
}
