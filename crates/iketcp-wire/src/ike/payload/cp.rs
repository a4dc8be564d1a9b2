//! RFC 7296 §3.15 Configuration Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C| RESERVED    |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   CFG Type    |                    RESERVED                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                   Configuration Attributes                    ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! §3.15.1 Configuration Attributes
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|         Attribute Type      |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                             Value                             ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Values stay raw: a CFG_REQUEST carries empty ones, and each attribute's own length
//! rule (4 octets for INTERNAL_IP4_ADDRESS, 17 for INTERNAL_IP6_ADDRESS, ...) is checked
//! where the value is used.

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::{CfgAttributeType, CfgType};

/// The R bit: reserved, ignored on receipt.
const RESERVED_BIT: u16 = 0x8000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    pub cfg_type: CfgType,
    pub attributes: Vec<CfgAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CfgAttribute {
    /// 15 bits; the top bit of the field is reserved.
    pub ty: CfgAttributeType,
    pub value: Vec<u8>,
}

impl Config {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let cfg_type = CfgType(r.u8()?);
        let _reserved = r.take(3)?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let ty = CfgAttributeType(r.u16()? & !RESERVED_BIT);
            let len_offset = r.offset();
            let len = usize::from(r.u16()?);
            if len > r.remaining() {
                return Err(WireError::new(
                    WireErrorKind::BadLength { length: len },
                    len_offset,
                ));
            }
            attributes.push(CfgAttribute {
                ty,
                value: r.take(len)?.to_vec(),
            });
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u8(self.cfg_type.0);
        w.bytes(&[0; 3]);
        for a in &self.attributes {
            if a.ty.0 & RESERVED_BIT != 0 {
                return Err(WireError::new(WireErrorKind::BadValue, w.len()));
            }
            w.u16(a.ty.0);
            let at = w.placeholder_u16();
            w.bytes(&a.value);
            w.patch_u16_len(at, at + 2)?;
        }
        Ok(())
    }

    /// The values of every attribute of type `ty`, in order.
    pub fn values(&self, ty: CfgAttributeType) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |a| a.ty == ty)
            .map(|a| a.value.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7296_3_15_request_golden_bytes() {
        let cp = Config {
            cfg_type: CfgType::REQUEST,
            attributes: vec![
                CfgAttribute {
                    ty: CfgAttributeType::INTERNAL_IP4_ADDRESS,
                    value: vec![],
                },
                CfgAttribute {
                    ty: CfgAttributeType::INTERNAL_IP4_DNS,
                    value: vec![192, 0, 2, 53],
                },
            ],
        };
        let golden = [1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 4, 192, 0, 2, 53];
        let mut w = Writer::new();
        cp.emit(&mut w).unwrap();
        assert_eq!(w.buf, golden);
        let back = Config::parse(&mut Reader::new(&golden)).unwrap();
        assert_eq!(back, cp);
        assert_eq!(
            back.values(CfgAttributeType::INTERNAL_IP4_DNS)
                .collect::<Vec<_>>(),
            [&[192, 0, 2, 53][..]]
        );
    }

    #[test]
    fn rfc7296_3_15_1_reserved_bit_is_ignored_and_lengths_checked() {
        let b = [2, 0, 0, 0, 0x80, 1, 0, 0];
        let cp = Config::parse(&mut Reader::new(&b)).unwrap();
        assert_eq!(cp.attributes[0].ty, CfgAttributeType::INTERNAL_IP4_ADDRESS);
        assert!(Config::parse(&mut Reader::new(&[2, 0, 0, 0, 0, 1, 0, 1])).is_err());
        assert!(Config::parse(&mut Reader::new(&[2, 0, 0, 0, 0, 1, 0])).is_err());
    }
}
