//! RFC 7296 §3.10 Notify Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                Security Parameter Index (SPI)                 ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                       Notification Data                       ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The notification data of each type (a cookie, NAT detection hashes, a REDIRECT
//! gateway identity, ...) is interpreted by the feature that owns the type; here it is
//! opaque, so a notify of any type, known or not, round-trips unchanged.

use crate::codec::{Reader, Writer};
use crate::error::WireError;
use crate::ike::registry::{NotifyType, ProtocolId};

use super::u8_len;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notify {
    /// [`ProtocolId::NONE`] unless the notify concerns a Child SA (AH, ESP); RFC 7296
    /// §3.10 also allows IKE with an empty SPI.
    pub protocol_id: ProtocolId,
    /// The SPI the notify is about, usually empty; its length is the SPI Size field.
    pub spi: Vec<u8>,
    pub notify_type: NotifyType,
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify about no particular SA: protocol 0, no SPI.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol_id: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// The SEPARATE_TRANSPORTS notify with the configured type number `ty` (default
    /// [`NotifyType::SEPARATE_TRANSPORTS_DEFAULT`]): protocol 0, SPI size 0, no data, as
    /// draft-smyslov-ipsecme-ikev2-separate-transports defines it.
    pub fn separate_transports(ty: NotifyType) -> Self {
        Self::new(ty, Vec::new())
    }

    /// Whether this is a SEPARATE_TRANSPORTS notify under the configured type number
    /// `ty`. Any notification data is ignored, as the draft requires (future versions
    /// may define some); a notify that names a protocol or an SPI is not one, since the
    /// draft fixes both to zero and a peer that gets them wrong is better treated as not
    /// supporting the extension.
    pub fn is_separate_transports(&self, ty: NotifyType) -> bool {
        self.notify_type == ty && self.protocol_id == ProtocolId::NONE && self.spi.is_empty()
    }

    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let protocol_id = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let notify_type = NotifyType(r.u16()?);
        let spi = r.take(spi_size)?.to_vec();
        Ok(Self {
            protocol_id,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        w.u8(self.protocol_id.0);
        w.u8(u8_len(self.spi.len(), w.len())?);
        w.u16(self.notify_type.0);
        w.bytes(&self.spi);
        w.bytes(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7296_3_10_notify_with_spi_golden_bytes() {
        let n = Notify {
            protocol_id: ProtocolId::ESP,
            spi: vec![0xc0, 0xff, 0xee, 0x01],
            notify_type: NotifyType::REKEY_SA,
            data: vec![],
        };
        let mut w = Writer::new();
        n.emit(&mut w).unwrap();
        assert_eq!(w.buf, [3, 4, 0x40, 0x09, 0xc0, 0xff, 0xee, 0x01]);
        assert_eq!(Notify::parse(&mut Reader::new(&w.buf)).unwrap(), n);
    }

    #[test]
    fn rfc7296_3_10_spi_size_beyond_the_body_is_refused() {
        let b = [3, 5, 0x40, 0x09, 1, 2, 3, 4];
        assert!(Notify::parse(&mut Reader::new(&b)).is_err());
    }

    // R-SEP-1: protocol 0, SPI size 0, no data, under the configured type number.
    #[test]
    fn separate_transports_notify_has_no_protocol_spi_or_data() {
        let ty = NotifyType::SEPARATE_TRANSPORTS_DEFAULT;
        let mut w = Writer::new();
        Notify::separate_transports(ty).emit(&mut w).unwrap();
        assert_eq!(w.buf, [0, 0, 0xa0, 0x00]);
        assert!(Notify::separate_transports(ty).is_separate_transports(ty));
        let other = NotifyType(0xa123);
        assert!(Notify::separate_transports(other).is_separate_transports(other));
        assert!(!Notify::separate_transports(other).is_separate_transports(ty));
    }

    // R-SEP-1: data on receipt is ignored.
    #[test]
    fn separate_transports_notify_data_on_receipt_is_ignored() {
        let ty = NotifyType::SEPARATE_TRANSPORTS_DEFAULT;
        let b = [0, 0, 0xa0, 0x00, 1, 2, 3];
        let n = Notify::parse(&mut Reader::new(&b)).unwrap();
        assert!(n.is_separate_transports(ty));
        let with_spi = Notify {
            spi: vec![1; 4],
            protocol_id: ProtocolId::ESP,
            ..Notify::separate_transports(ty)
        };
        assert!(!with_spi.is_separate_transports(ty));
    }
}
