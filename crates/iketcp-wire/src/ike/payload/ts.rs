//! RFC 7296 §3.13 Traffic Selector Payload
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Number of TSs |                 RESERVED                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                       <Traffic Selectors>                     ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! §3.13.1 Traffic Selector
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   TS Type     |IP Protocol ID*|       Selector Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Start Port*         |           End Port*           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                         Starting Address*                     ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! ~                         Ending Address*                       ~
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! TSi and TSr share this format. A selector of a type other than the two address
//! ranges (RFC 4595 Fibre Channel, RFC 9478 security labels, or a future one) is kept
//! as opaque bytes: §2.9 has the responder narrow or ignore selectors it does not
//! understand, which the engine cannot do if the whole message failed to parse.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::TsType;

/// Length of a TS_IPV4_ADDR_RANGE selector.
pub const IPV4_SELECTOR_LEN: usize = 16;
/// Length of a TS_IPV6_ADDR_RANGE selector.
pub const IPV6_SELECTOR_LEN: usize = 40;
/// TS Type, IP Protocol ID and Selector Length: what every selector type has.
const SELECTOR_HEADER_LEN: usize = 4;

/// A TSi or TSr payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ts {
    pub selectors: Vec<Selector>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE, by the addresses' family.
    Ip(TrafficSelector),
    /// Any other type, kept as received.
    Opaque {
        ts_type: TsType,
        /// The second octet: the IP Protocol ID in RFC 7296's types, whatever the
        /// type's own specification says in others.
        ip_protocol: u8,
        /// Everything after the Selector Length field.
        data: Vec<u8>,
    },
}

/// An address range with an IP protocol and a port range (RFC 7296 §3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// 0 for any protocol.
    pub ip_protocol: u8,
    /// For ICMP these carry type and code (§3.13.1); 0 to 65535 is any port, and
    /// start > end is the OPAQUE port selector.
    pub start_port: u16,
    pub end_port: u16,
    /// Both addresses must be of the same family, which sets the TS Type.
    pub start_addr: IpAddr,
    pub end_addr: IpAddr,
}

impl TrafficSelector {
    /// All of IPv4: any protocol, any port.
    pub fn ipv4_any() -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: Ipv4Addr::UNSPECIFIED.into(),
            end_addr: Ipv4Addr::BROADCAST.into(),
        }
    }

    /// All of IPv6: any protocol, any port.
    pub fn ipv6_any() -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: Ipv6Addr::UNSPECIFIED.into(),
            end_addr: Ipv6Addr::from(u128::MAX).into(),
        }
    }

    /// The TS Type the addresses call for.
    pub fn ts_type(&self) -> TsType {
        match self.start_addr {
            IpAddr::V4(_) => TsType::IPV4_ADDR_RANGE,
            IpAddr::V6(_) => TsType::IPV6_ADDR_RANGE,
        }
    }
}

impl Selector {
    pub fn ts_type(&self) -> TsType {
        match self {
            Self::Ip(ts) => ts.ts_type(),
            Self::Opaque { ts_type, .. } => *ts_type,
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ts_type = TsType(r.u8()?);
        let ip_protocol = r.u8()?;
        let len_offset = r.offset();
        let len = usize::from(r.u16()?);
        let expected = match ts_type {
            TsType::IPV4_ADDR_RANGE => Some(IPV4_SELECTOR_LEN),
            TsType::IPV6_ADDR_RANGE => Some(IPV6_SELECTOR_LEN),
            _ => None,
        };
        let bad_len = match expected {
            Some(e) => len != e,
            None => len < SELECTOR_HEADER_LEN,
        };
        if bad_len || len - SELECTOR_HEADER_LEN > r.remaining() {
            return Err(WireError::new(
                WireErrorKind::BadLength { length: len },
                len_offset,
            ));
        }
        let mut body = r.sub(len - SELECTOR_HEADER_LEN)?;
        let selector = match ts_type {
            TsType::IPV4_ADDR_RANGE => Self::Ip(TrafficSelector {
                ip_protocol,
                start_port: body.u16()?,
                end_port: body.u16()?,
                start_addr: Ipv4Addr::from(body.array::<4>()?).into(),
                end_addr: Ipv4Addr::from(body.array::<4>()?).into(),
            }),
            TsType::IPV6_ADDR_RANGE => Self::Ip(TrafficSelector {
                ip_protocol,
                start_port: body.u16()?,
                end_port: body.u16()?,
                start_addr: Ipv6Addr::from(body.array::<16>()?).into(),
                end_addr: Ipv6Addr::from(body.array::<16>()?).into(),
            }),
            _ => Self::Opaque {
                ts_type,
                ip_protocol,
                data: body.rest().to_vec(),
            },
        };
        body.finish()?;
        Ok(selector)
    }

    fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        let start = w.len();
        match self {
            Self::Ip(ts) => {
                w.u8(ts.ts_type().0);
                w.u8(ts.ip_protocol);
                let at = w.placeholder_u16();
                w.u16(ts.start_port);
                w.u16(ts.end_port);
                match (ts.start_addr, ts.end_addr) {
                    (IpAddr::V4(s), IpAddr::V4(e)) => {
                        w.bytes(&s.octets());
                        w.bytes(&e.octets());
                    }
                    (IpAddr::V6(s), IpAddr::V6(e)) => {
                        w.bytes(&s.octets());
                        w.bytes(&e.octets());
                    }
                    _ => return Err(WireError::new(WireErrorKind::BadValue, start)),
                }
                w.patch_u16_len(at, start)
            }
            Self::Opaque {
                ts_type,
                ip_protocol,
                data,
            } => {
                // An opaque selector of an address-range type would parse back as `Ip`
                // (or not at all), so it is refused rather than emitted.
                if matches!(*ts_type, TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE) {
                    return Err(WireError::new(WireErrorKind::BadValue, start));
                }
                w.u8(ts_type.0);
                w.u8(*ip_protocol);
                let at = w.placeholder_u16();
                w.bytes(data);
                w.patch_u16_len(at, start)
            }
        }
    }
}

impl Ts {
    /// Parses the body (everything after the generic payload header); `r` must hold
    /// exactly the body. Number of TSs must match the selectors present.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let count = r.u8()?;
        let _reserved = r.take(3)?;
        let mut selectors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            selectors.push(Selector::parse(r)?);
        }
        r.finish()?;
        Ok(Self { selectors })
    }

    pub fn emit(&self, w: &mut Writer) -> Result<(), WireError> {
        let count = u8::try_from(self.selectors.len())
            .map_err(|_| WireError::new(WireErrorKind::TooMany, w.len()))?;
        w.u8(count);
        w.bytes(&[0; 3]);
        for s in &self.selectors {
            s.emit(w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Ts, WireError> {
        Ts::parse(&mut Reader::new(b))
    }

    #[test]
    fn rfc7296_3_13_1_ipv4_range_golden_bytes() {
        let ts = Ts {
            selectors: vec![Selector::Ip(TrafficSelector {
                ip_protocol: 6,
                start_port: 443,
                end_port: 443,
                start_addr: Ipv4Addr::new(10, 0, 0, 0).into(),
                end_addr: Ipv4Addr::new(10, 0, 0, 255).into(),
            })],
        };
        let golden = [
            1, 0, 0, 0, // one selector
            7, 6, 0, 16, // IPv4 range, TCP, 16 octets
            0x01, 0xbb, 0x01, 0xbb, // port 443..443
            10, 0, 0, 0, 10, 0, 0, 255,
        ];
        let mut w = Writer::new();
        ts.emit(&mut w).unwrap();
        assert_eq!(w.buf, golden);
        assert_eq!(parse(&golden).unwrap(), ts);
    }

    #[test]
    fn rfc7296_3_13_1_address_range_lengths_are_fixed() {
        let mut w = Writer::new();
        Ts {
            selectors: vec![Selector::Ip(TrafficSelector::ipv6_any())],
        }
        .emit(&mut w)
        .unwrap();
        assert_eq!(w.len(), 4 + IPV6_SELECTOR_LEN);
        assert!(parse(&w.buf).is_ok());
        for bad in [39u8, 41, 16] {
            let mut b = w.buf.clone();
            b[7] = bad;
            assert!(parse(&b).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc7296_3_13_number_of_tss_must_match() {
        let mut w = Writer::new();
        Ts {
            selectors: vec![Selector::Ip(TrafficSelector::ipv4_any())],
        }
        .emit(&mut w)
        .unwrap();
        let mut b = w.buf.clone();
        b[0] = 0;
        assert_eq!(parse(&b).unwrap_err().kind, WireErrorKind::TrailingData);
        b[0] = 2;
        assert!(parse(&b).is_err());
    }

    #[test]
    fn rfc7296_2_9_unknown_selector_types_survive_as_opaque() {
        let b = [1, 0, 0, 0, 10, 0, 0, 7, 0xaa, 0xbb, 0xcc];
        let ts = parse(&b).unwrap();
        assert_eq!(
            ts.selectors,
            [Selector::Opaque {
                ts_type: TsType::SECLABEL,
                ip_protocol: 0,
                data: vec![0xaa, 0xbb, 0xcc],
            }]
        );
        let mut w = Writer::new();
        ts.emit(&mut w).unwrap();
        assert_eq!(w.buf, b);
    }

    #[test]
    fn rfc7296_3_13_1_mixed_families_are_not_emitted() {
        let ts = TrafficSelector {
            end_addr: Ipv6Addr::LOCALHOST.into(),
            ..TrafficSelector::ipv4_any()
        };
        assert!(Selector::Ip(ts).emit(&mut Writer::new()).is_err());
    }
}
