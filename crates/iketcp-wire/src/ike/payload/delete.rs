//! RFC 7296 §3.11 Delete Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Protocol ID   |   SPI Size    |          Num of SPIs          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~               Security Parameter Index(es) (SPI)              ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::ProtocolId;

use super::u8_len;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delete {
    pub protocol_id: ProtocolId,
    /// 0 for IKE (the SPIs are in the header), 4 for AH and ESP.
    pub spi_size: u8,
    /// Each exactly `spi_size` octets: the SPIs of the deleted SAs in the direction the
    /// sender receives on.
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    /// The deletion of the IKE SA the message belongs to.
    pub fn ike() -> Self {
        Self {
            protocol_id: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// The deletion of Child SAs of `protocol_id` by their inbound SPIs.
    pub fn child(protocol_id: ProtocolId, spis: &[u32]) -> Self {
        Self {
            protocol_id,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The SPIs as 32-bit values, when they are 4 octets (AH and ESP).
    pub fn spis_u32(&self) -> impl Iterator<Item = u32> + '_ {
        self.spis.iter().filter_map(|s| {
            <[u8; 4]>::try_from(s.as_slice())
                .ok()
                .map(u32::from_be_bytes)
        })
    }

    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    ///
    /// Num of SPIs times SPI Size must equal the rest of the body. A non-zero count of
    /// zero-size SPIs means nothing and would let 8 octets allocate 65535 entries, so it
    /// is refused.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let protocol_id = ProtocolId(r.u8()?);
        let size_offset = r.offset();
        let spi_size = r.u8()?;
        let count_offset = r.offset();
        let count = usize::from(r.u16()?);
        if spi_size == 0 && count != 0 {
            return Err(WireError::new(WireErrorKind::BadValue, size_offset));
        }
        if count * usize::from(spi_size) != r.remaining() {
            return Err(WireError::new(
                WireErrorKind::BadLength { length: count },
                count_offset,
            ));
        }
        let mut spis = Vec::with_capacity(count);
        for _ in 0..count {
            spis.push(r.take(usize::from(spi_size))?.to_vec());
        }
        Ok(Self {
            protocol_id,
            spi_size,
            spis,
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        let size = usize::from(self.spi_size);
        if (size == 0 && !self.spis.is_empty()) || self.spis.iter().any(|s| s.len() != size) {
            return Err(WireError::new(WireErrorKind::BadValue, w.len()));
        }
        let count = u16::try_from(self.spis.len())
            .map_err(|_| WireError::new(WireErrorKind::TooMany, w.len()))?;
        w.u8(self.protocol_id.0);
        w.u8(u8_len(size, w.len())?);
        w.u16(count);
        for s in &self.spis {
            w.bytes(s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Delete, WireError> {
        Delete::parse(&mut Reader::new(b))
    }

    #[test]
    fn rfc7296_3_11_child_delete_golden_bytes() {
        let d = Delete::child(ProtocolId::ESP, &[0x0102_0304, 0xa0b0_c0d0]);
        let mut w = Writer::new();
        d.emit(&mut w).unwrap();
        assert_eq!(w.buf, [3, 4, 0, 2, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0]);
        assert_eq!(parse(&w.buf).unwrap(), d);
        assert_eq!(d.spis_u32().collect::<Vec<_>>(), [0x0102_0304, 0xa0b0_c0d0]);
    }

    #[test]
    fn rfc7296_3_11_num_spis_times_size_must_fill_the_body() {
        assert!(parse(&[3, 4, 0, 2, 1, 2, 3, 4]).is_err());
        assert!(parse(&[3, 4, 0, 1, 1, 2, 3, 4, 5]).is_err());
        assert!(parse(&[3, 4, 0, 0, 1, 2, 3, 4]).is_err());
        assert!(parse(&[1, 0, 0xff, 0xff]).is_err());
        assert_eq!(parse(&[1, 0, 0, 0]).unwrap(), Delete::ike());
    }

    #[test]
    fn rfc7296_3_11_spis_of_the_wrong_size_are_not_emitted() {
        let d = Delete {
            protocol_id: ProtocolId::ESP,
            spi_size: 4,
            spis: vec![vec![1, 2, 3]],
        };
        assert!(d.emit(&mut Writer::new()).is_err());
    }
}
