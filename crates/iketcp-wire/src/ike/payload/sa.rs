//! RFC 7296 §3.3 Security Association Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                          <Proposals>                          ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! §3.3.1 Proposal Substructure
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Substruc |   RESERVED    |         Proposal Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        SPI (variable)                         ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                        <Transforms>                           ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! §3.3.2 Transform Substructure
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Substruc |   RESERVED    |        Transform Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Transform Type |   RESERVED    |          Transform ID         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                      Transform Attributes                     ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! §3.3.5 Transform Attributes
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |A|       Attribute Type        |    AF=0  Attribute Length     |
//! |F|                             |    AF=1  Attribute Value      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   AF=0  Attribute Value                       |
//! |                   AF=1  Not Transmitted                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The Last Substruc octets repeat what the lengths already say (0 on the last proposal
//! or transform, 2 before another proposal, 3 before another transform); a message in
//! which they disagree is malformed, so the parser checks them rather than trusting
//! either. Proposal numbering and which transforms a protocol needs are proposal
//! selection's business (§2.7, §3.3.6), not the wire's.

use core::fmt;

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::{AttributeType, ProtocolId, TransformId, TransformType};

use super::u8_len;

/// Last Substruc value of the last proposal or transform.
const LAST: u8 = 0;
/// Last Substruc value of a proposal followed by another.
const MORE_PROPOSALS: u8 = 2;
/// Last Substruc value of a transform followed by another.
const MORE_TRANSFORMS: u8 = 3;

/// Fixed part of a proposal: substructure header plus number, protocol, SPI size and
/// transform count.
const PROPOSAL_FIXED_LEN: usize = 8;
/// Fixed part of a transform: substructure header plus type and ID.
const TRANSFORM_FIXED_LEN: usize = 8;

/// The Attribute Format bit: set for TV (a 2-octet value in place of the length).
const AF_TV: u16 = 0x8000;

/// The SA payload: proposals in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sa {
    pub proposals: Vec<Proposal>,
}

/// One proposal: a protocol, its SPI, and the transforms offered for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposal Num: 1 for the first; equal numbers are a legacy AND of protocols.
    pub number: u8,
    pub protocol_id: ProtocolId,
    /// Empty in the IKE_SA_INIT exchange, 8 octets when rekeying an IKE SA, 4 for
    /// AH and ESP.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    pub ty: TransformType,
    pub id: TransformId,
    pub attributes: Vec<Attribute>,
}

/// A transform attribute; only KEY_LENGTH is defined, and it is TV.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// 15 bits: the top bit of the field is the format flag.
    pub ty: AttributeType,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// Type/Value (AF = 1): the value sits where a length would be.
    Tv(u16),
    /// Type/Length/Value (AF = 0).
    Tlv(Vec<u8>),
}

impl Sa {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut proposals = Vec::new();
        // RFC 7296 §3.3: an SA payload carries one or more proposals, so an empty body
        // fails here as truncated.
        loop {
            let (last, mut body) = substructure(r, PROPOSAL_FIXED_LEN)?;
            proposals.push(Proposal::parse(&mut body)?);
            match last.value {
                LAST => {
                    r.finish()?;
                    return Ok(Self { proposals });
                }
                MORE_PROPOSALS if !r.is_empty() => {}
                MORE_PROPOSALS => {
                    return Err(r.err(WireErrorKind::Truncated {
                        needed: PROPOSAL_FIXED_LEN,
                    }));
                }
                _ => return Err(WireError::new(WireErrorKind::BadValue, last.offset)),
            }
        }
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        if self.proposals.is_empty() {
            return Err(WireError::new(WireErrorKind::BadValue, w.len()));
        }
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let more = if i + 1 == n { LAST } else { MORE_PROPOSALS };
            p.emit(more, w)?;
        }
        Ok(())
    }
}

/// A Last Substruc octet and where it was, for the error report.
struct LastSubstruc {
    value: u8,
    offset: usize,
}

/// Reads a proposal or transform header and returns a reader over the rest of it, the
/// 4 header octets being counted by the length.
fn substructure<'a>(
    r: &mut Reader<'a>,
    min_len: usize,
) -> Result<(LastSubstruc, Reader<'a>), WireError> {
    let offset = r.offset();
    let value = r.u8()?;
    let _reserved = r.u8()?;
    let len_offset = r.offset();
    let len = usize::from(r.u16()?);
    if len < min_len || len - 4 > r.remaining() {
        return Err(WireError::new(
            WireErrorKind::BadLength { length: len },
            len_offset,
        ));
    }
    Ok((LastSubstruc { value, offset }, r.sub(len - 4)?))
}

/// Writes a substructure header with a length placeholder; returns what
/// [`Writer::patch_u16_len`] needs.
fn begin_substructure(last: u8, w: &mut Writer) -> (usize, usize) {
    let start = w.len();
    w.u8(last);
    w.u8(0);
    (w.placeholder_u16(), start)
}

impl Proposal {
    /// Parses what follows the proposal's Last Substruc, RESERVED and Length fields.
    fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let number = r.u8()?;
        let protocol_id = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let count_offset = r.offset();
        let count = r.u8()?;
        let spi = r.take(spi_size)?.to_vec();
        let mut transforms = Vec::with_capacity(usize::from(count));
        for i in 0..count {
            let (last, mut body) = substructure(r, TRANSFORM_FIXED_LEN)?;
            let expected = if i + 1 == count {
                LAST
            } else {
                MORE_TRANSFORMS
            };
            if last.value != expected {
                return Err(WireError::new(WireErrorKind::BadValue, last.offset));
            }
            transforms.push(Transform::parse(&mut body)?);
        }
        // More bytes than the announced transforms need: the count is wrong.
        if !r.is_empty() {
            return Err(WireError::new(WireErrorKind::BadValue, count_offset));
        }
        Ok(Self {
            number,
            protocol_id,
            spi,
            transforms,
        })
    }

    fn emit(&self, last: u8, w: &mut Writer) -> Result<(), WireError> {
        let (at, start) = begin_substructure(last, w);
        w.u8(self.number);
        w.u8(self.protocol_id.0);
        w.u8(u8_len(self.spi.len(), w.len())?);
        let count = u8::try_from(self.transforms.len())
            .map_err(|_| WireError::new(WireErrorKind::TooMany, w.len()))?;
        w.u8(count);
        w.bytes(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            let more = if i + 1 == self.transforms.len() {
                LAST
            } else {
                MORE_TRANSFORMS
            };
            t.emit(more, w)?;
        }
        w.patch_u16_len(at, start)
    }

    /// The KEY_LENGTH of the first transform of type `ty`, if it has one.
    pub fn key_length(&self, ty: TransformType) -> Option<u16> {
        self.transforms
            .iter()
            .find(|t| t.ty == ty)
            .and_then(Transform::key_length)
    }
}

/// `ESP:ENCR_AES_CBC_256/INTEG_HMAC_SHA2_256_128/ESN_NO`, the way strongSwan logs
/// proposals.
impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.protocol_id)?;
        for (i, t) in self.transforms.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl Transform {
    /// A transform without attributes.
    pub fn new(ty: TransformType, id: TransformId) -> Self {
        Self {
            ty,
            id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a KEY_LENGTH attribute, as AES-CBC, AES-CTR and AES-GCM need.
    pub fn with_key_length(ty: TransformType, id: TransformId, bits: u16) -> Self {
        Self {
            ty,
            id,
            attributes: vec![Attribute {
                ty: AttributeType::KEY_LENGTH,
                value: AttributeValue::Tv(bits),
            }],
        }
    }

    /// The KEY_LENGTH attribute's value in bits.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Tv(v) if a.ty == AttributeType::KEY_LENGTH => Some(v),
            _ => None,
        })
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ty = TransformType(r.u8()?);
        let _reserved = r.u8()?;
        let id = TransformId(r.u16()?);
        let mut attributes = Vec::new();
        while !r.is_empty() {
            attributes.push(Attribute::parse(r)?);
        }
        Ok(Self { ty, id, attributes })
    }

    fn emit(&self, last: u8, w: &mut Writer) -> Result<(), WireError> {
        let (at, start) = begin_substructure(last, w);
        w.u8(self.ty.0);
        w.u8(0);
        w.u16(self.id.0);
        for a in &self.attributes {
            a.emit(w)?;
        }
        w.patch_u16_len(at, start)
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id.display(self.ty))?;
        if let Some(bits) = self.key_length() {
            write!(f, "_{bits}")?;
        }
        Ok(())
    }
}

impl Attribute {
    fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let raw = r.u16()?;
        let ty = AttributeType(raw & !AF_TV);
        let value = if raw & AF_TV != 0 {
            AttributeValue::Tv(r.u16()?)
        } else {
            let len_offset = r.offset();
            let len = usize::from(r.u16()?);
            if len > r.remaining() {
                return Err(WireError::new(
                    WireErrorKind::BadLength { length: len },
                    len_offset,
                ));
            }
            AttributeValue::Tlv(r.take(len)?.to_vec())
        };
        Ok(Self { ty, value })
    }

    fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        if self.ty.0 & AF_TV != 0 {
            return Err(WireError::new(WireErrorKind::BadValue, w.len()));
        }
        match &self.value {
            AttributeValue::Tv(v) => {
                w.u16(self.ty.0 | AF_TV);
                w.u16(*v);
            }
            AttributeValue::Tlv(v) => {
                w.u16(self.ty.0);
                let at = w.placeholder_u16();
                w.bytes(v);
                w.patch_u16_len(at, at + 2)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Sa, WireError> {
        Sa::parse(&mut Reader::new(b))
    }

    /// One ESP proposal, SPI 0x01020304, two transforms, the first with KEY_LENGTH.
    const ESP_PROPOSAL: [u8; 32] = [
        0x00, 0x00, 0x00, 0x20, // last proposal, length 32
        0x01, 0x03, 0x04, 0x02, // number 1, ESP, SPI size 4, 2 transforms
        0x01, 0x02, 0x03, 0x04, // SPI
        0x03, 0x00, 0x00, 0x0c, // more transforms, length 12
        0x01, 0x00, 0x00, 0x14, // ENCR AES_GCM_16
        0x80, 0x0e, 0x01, 0x00, // KEY_LENGTH 256 (TV)
        0x00, 0x00, 0x00, 0x08, // last transform, length 8
        0x05, 0x00, 0x00, 0x00, // ESN NO
    ];

    #[test]
    fn rfc7296_3_3_esp_proposal_golden_bytes() {
        let sa = Sa {
            proposals: vec![Proposal {
                number: 1,
                protocol_id: ProtocolId::ESP,
                spi: vec![1, 2, 3, 4],
                transforms: vec![
                    Transform::with_key_length(
                        TransformType::ENCR,
                        TransformId::ENCR_AES_GCM_16,
                        256,
                    ),
                    Transform::new(TransformType::ESN, TransformId::ESN_NO),
                ],
            }],
        };
        let mut w = Writer::new();
        sa.emit(&mut w).unwrap();
        assert_eq!(w.buf, ESP_PROPOSAL);
        assert_eq!(parse(&ESP_PROPOSAL).unwrap(), sa);
        assert_eq!(sa.proposals[0].key_length(TransformType::ENCR), Some(256));
        assert_eq!(
            sa.proposals[0].to_string(),
            "ESP:ENCR_AES_GCM_16_256/ESN_NO"
        );
    }

    #[test]
    fn rfc7296_3_3_1_last_substruc_must_match_the_proposal_chain() {
        let mut b = ESP_PROPOSAL;
        b[0] = MORE_PROPOSALS;
        assert!(parse(&b).is_err());
        b[0] = 1;
        assert_eq!(parse(&b).unwrap_err().kind, WireErrorKind::BadValue);
        let mut two = ESP_PROPOSAL.to_vec();
        two.extend_from_slice(&ESP_PROPOSAL);
        assert_eq!(parse(&two).unwrap_err().kind, WireErrorKind::TrailingData);
        two[0] = MORE_PROPOSALS;
        assert_eq!(parse(&two).unwrap().proposals.len(), 2);
    }

    #[test]
    fn rfc7296_3_3_2_last_substruc_must_match_the_transform_count() {
        let mut b = ESP_PROPOSAL;
        b[12] = LAST;
        assert_eq!(parse(&b).unwrap_err().offset, 12);
        let mut b = ESP_PROPOSAL;
        b[24] = MORE_TRANSFORMS;
        assert_eq!(parse(&b).unwrap_err().offset, 24);
        // Num Transforms one too small leaves a transform over, one too big runs out.
        let mut b = ESP_PROPOSAL;
        b[7] = 1;
        assert!(parse(&b).is_err());
        b[7] = 3;
        assert!(parse(&b).is_err());
    }

    #[test]
    fn rfc7296_3_3_an_sa_without_proposals_is_refused() {
        assert!(parse(&[]).is_err());
        assert!(Sa { proposals: vec![] }.emit(&mut Writer::new()).is_err());
    }

    #[test]
    fn rfc7296_3_3_5_tlv_attribute_round_trips_and_is_length_checked() {
        let t = Transform {
            ty: TransformType::ENCR,
            id: TransformId(1),
            attributes: vec![Attribute {
                ty: AttributeType(0x1234),
                value: AttributeValue::Tlv(vec![9, 9, 9]),
            }],
        };
        let mut w = Writer::new();
        t.emit(LAST, &mut w).unwrap();
        assert_eq!(&w.buf[8..], &[0x12, 0x34, 0x00, 0x03, 9, 9, 9]);
        let mut r = Reader::new(&w.buf);
        let (_, mut body) = substructure(&mut r, TRANSFORM_FIXED_LEN).unwrap();
        assert_eq!(Transform::parse(&mut body).unwrap(), t);
        let mut bad = w.buf.clone();
        bad[11] = 4;
        let mut r = Reader::new(&bad);
        let (_, mut body) = substructure(&mut r, TRANSFORM_FIXED_LEN).unwrap();
        assert!(Transform::parse(&mut body).is_err());
        let wide = Attribute {
            ty: AttributeType(0x8001),
            value: AttributeValue::Tv(0),
        };
        assert!(wide.emit(&mut Writer::new()).is_err());
    }
}
