//! The inbound selector check of RFC 4301 §5.2: a packet that arrives on an SA and
//! authenticates may still carry traffic the SA was never negotiated for.
//!
//! RFC 4301 §5.2, step 4: after ESP processing, the receiver matches the packet against
//! the inbound selectors of the SAD entry, to verify that the packet is appropriate for
//! the SA it arrived on; a packet that does not match is discarded and audited. Without
//! this check an authenticated peer can inject packets with any inner source address,
//! past every firewall rule that trusts the tunnel's address ranges.
//!
//! The selectors are the Child SA's TSi and TSr (RFC 7296 §2.9), read as sets: a packet
//! is admitted when its source lies in some remote selector and its destination in some
//! local selector, each of those selectors also admitting the packet's protocol and its
//! port on that side. Everything is compiled at install time into fixed ranges, so the
//! per-packet check is a bounded header walk and a linear scan, with no allocation.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use iketcp_wire::ike::TrafficSelector;

use crate::error::EspError;

/// The traffic an inbound SA may carry: the selectors IKE negotiated for its Child SA.
///
/// `remote` is the peer's side (the inner source of an inbound packet), `local` is ours
/// (its inner destination). An empty list admits nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InboundSelectors {
    pub local: Vec<TrafficSelector>,
    pub remote: Vec<TrafficSelector>,
}

impl InboundSelectors {
    pub fn new(local: Vec<TrafficSelector>, remote: Vec<TrafficSelector>) -> Self {
        Self { local, remote }
    }
}

// Protocol numbers (IANA "Assigned Internet Protocol Numbers").
const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;
const MOBILITY: u8 = 135;
const UDP_LITE: u8 = 136;
// RFC 4301 §4.4.1.1: the IPv6 extension headers skipped by default to find the Next Layer
// Protocol are exactly these four; AH (51) and ESP (50) are deliberately not among them,
// since for a selector lookup they are Next Layer Protocols themselves.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DESTINATION_OPTIONS: u8 = 60;

/// How many IPv6 extension headers the walk skips before giving up. Real packets carry
/// one or two; the bound keeps the cost of a hostile chain constant.
const MAX_EXTENSION_HEADERS: usize = 8;

const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;

/// An inner address, or none where the engine sees none (transport mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    Unseen,
    V4(u32),
    V6(u128),
}

/// The port field of a selector (RFC 7296 §3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRange {
    /// 0 to 65535. RFC 4301 §4.4.1: ANY encompasses OPAQUE, so it also matches packets
    /// whose ports cannot be read.
    Any,
    /// Start greater than end. RFC 4301 §4.4.1: OPAQUE stands for a field that is not
    /// available for examination (a non-initial fragment, a protocol without ports), so
    /// it matches exactly the packets whose ports cannot be read.
    Opaque,
    Range(u16, u16),
}

impl PortRange {
    fn of(ts: &TrafficSelector) -> Self {
        match (ts.start_port, ts.end_port) {
            (0, u16::MAX) => Self::Any,
            (s, e) if s > e => Self::Opaque,
            (s, e) => Self::Range(s, e),
        }
    }

    /// `port` is `None` when the packet's port (or type and code) is not available.
    #[inline]
    fn admits(self, port: Option<u16>) -> bool {
        match self {
            Self::Any => true,
            Self::Opaque => port.is_none(),
            Self::Range(s, e) => port.is_some_and(|p| s <= p && p <= e),
        }
    }
}

/// One selector of one address family, with its addresses as integers: IPv4 apart,
/// so that the common case compares 32 bits and a rule fits in 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Rule<A> {
    start: A,
    end: A,
    /// 0 for any protocol.
    protocol: u8,
    ports: PortRange,
}

impl<A: Copy + Ord> Rule<A> {
    /// `addr` is `None` in transport mode, where the engine sees no addresses.
    #[inline]
    fn admits(&self, addr: Option<A>, protocol: Option<u8>, port: Option<u16>) -> bool {
        let addr_ok = addr.is_none_or(|a| self.start <= a && a <= self.end);
        // A protocol the walk could not find matches only a selector for any protocol.
        let protocol_ok = self.protocol == 0 || protocol == Some(self.protocol);
        addr_ok && protocol_ok && self.ports.admits(port)
    }
}

/// The selectors of one side (TSi or TSr), by family.
#[derive(Debug, Clone, Default)]
struct Side {
    v4: Box<[Rule<u32>]>,
    v6: Box<[Rule<u128>]>,
}

impl Side {
    fn new(selectors: &[TrafficSelector]) -> Result<Self, EspError> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for ts in selectors {
            let (protocol, ports) = (ts.ip_protocol, PortRange::of(ts));
            match (ts.start_addr, ts.end_addr) {
                (IpAddr::V4(s), IpAddr::V4(e)) => v4.push(Rule {
                    start: s.into(),
                    end: e.into(),
                    protocol,
                    ports,
                }),
                (IpAddr::V6(s), IpAddr::V6(e)) => v6.push(Rule {
                    start: s.into(),
                    end: e.into(),
                    protocol,
                    ports,
                }),
                // RFC 7296 §3.13.1: both addresses are of the family the TS Type names.
                _ => return Err(EspError::InvalidSelector),
            }
        }
        Ok(Self {
            v4: v4.into(),
            v6: v6.into(),
        })
    }

    #[inline]
    fn admits(&self, addr: Addr, protocol: Option<u8>, port: Option<u16>) -> bool {
        match addr {
            Addr::V4(a) => self.v4.iter().any(|r| r.admits(Some(a), protocol, port)),
            Addr::V6(a) => self.v6.iter().any(|r| r.admits(Some(a), protocol, port)),
            Addr::Unseen => {
                self.v4.iter().any(|r| r.admits(None, protocol, port))
                    || self.v6.iter().any(|r| r.admits(None, protocol, port))
            }
        }
    }
}

/// The selector fields of one packet, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flow {
    src: Addr,
    dst: Addr,
    /// The Next Layer Protocol, `None` when an extension header chain hides it.
    protocol: Option<u8>,
    ports: Ports,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// TCP, UDP, SCTP and UDP-Lite: source and destination port.
    Pair { src: u16, dst: u16 },
    /// ICMP and ICMPv6 type (high byte) and code (low byte), or the Mobility Header type
    /// (high byte, low byte 0): RFC 7296 §3.13.1 carries them in the port fields. RFC 4301
    /// §4.4.1.1 has a single such selector, which IKE may place in TSi, TSr or both, so
    /// the value must lie in the port range of the selector on either side.
    Single(u16),
    /// A non-initial fragment, a protocol without ports, or a header too short to hold
    /// them.
    Unavailable,
}

impl Ports {
    fn remote(self) -> Option<u16> {
        match self {
            Self::Pair { src, .. } => Some(src),
            Self::Single(v) => Some(v),
            Self::Unavailable => None,
        }
    }

    fn local(self) -> Option<u16> {
        match self {
            Self::Pair { dst, .. } => Some(dst),
            Self::Single(v) => Some(v),
            Self::Unavailable => None,
        }
    }
}

/// An inbound SA's compiled selectors.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    local: Side,
    remote: Side,
}

/// Why a packet was refused, for the audit trace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused(Flow);

impl Policy {
    pub(crate) fn new(s: &InboundSelectors) -> Result<Self, EspError> {
        Ok(Self {
            local: Side::new(&s.local)?,
            remote: Side::new(&s.remote)?,
        })
    }

    /// Tunnel mode: `packet` is the inner IP packet, whose version the caller has already
    /// checked against ESP's Next Header.
    pub(crate) fn check_tunnel(&self, packet: &[u8]) -> Result<(), Refused> {
        // Fail closed: a packet whose addresses cannot be read matches no selector.
        let flow = tunnel_flow(packet).ok_or(Refused(Flow {
            src: Addr::Unseen,
            dst: Addr::Unseen,
            protocol: None,
            ports: Ports::Unavailable,
        }))?;
        self.check(flow)
    }

    /// Transport mode: `data` is the upper-layer data and `next_header` ESP's Next Header.
    ///
    /// Only the protocol and ports are checked. The addresses are those of the outer
    /// header, which the engine never sees; the caller bound them to the SA when it
    /// chose the path the SA's packets arrive on.
    pub(crate) fn check_transport(&self, next_header: u8, data: &[u8]) -> Result<(), Refused> {
        let (protocol, upper) = skip_extension_headers(next_header, data);
        self.check(Flow {
            src: Addr::Unseen,
            dst: Addr::Unseen,
            protocol,
            ports: ports(protocol, upper),
        })
    }

    #[inline]
    fn check(&self, flow: Flow) -> Result<(), Refused> {
        let p = flow.protocol;
        if self.remote.admits(flow.src, p, flow.ports.remote())
            && self.local.admits(flow.dst, p, flow.ports.local())
        {
            Ok(())
        } else {
            Err(Refused(flow))
        }
    }
}

impl Refused {
    pub(crate) fn src(&self) -> Option<IpAddr> {
        to_ip(self.0.src)
    }

    pub(crate) fn dst(&self) -> Option<IpAddr> {
        to_ip(self.0.dst)
    }

    pub(crate) fn protocol(&self) -> Option<u8> {
        self.0.protocol
    }

    /// Source and destination port; for ICMP and the Mobility Header both carry the
    /// type (and code).
    pub(crate) fn ports(&self) -> Option<(u16, u16)> {
        let p = self.0.ports;
        p.remote().zip(p.local())
    }
}

fn to_ip(a: Addr) -> Option<IpAddr> {
    match a {
        Addr::Unseen => None,
        Addr::V4(a) => Some(IpAddr::V4(Ipv4Addr::from(a))),
        Addr::V6(a) => Some(IpAddr::V6(Ipv6Addr::from(a))),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_be_bytes)
}

fn addr4(b: &[u8], at: usize) -> Option<Addr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Addr::V4(u32::from_be_bytes(a)))
}

fn addr6(b: &[u8], at: usize) -> Option<Addr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Addr::V6(u128::from_be_bytes(a)))
}

/// Reads the selector fields of an inner IPv4 (RFC 791 §3.1) or IPv6 (RFC 8200 §3)
/// packet. The upper-layer header is looked for only inside the length the IP header
/// declares, since anything after it is TFC padding (RFC 4303 §2.7), not the packet.
fn tunnel_flow(packet: &[u8]) -> Option<Flow> {
    let first = *packet.first()?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let total = be16(packet, 2).map_or(0, usize::from);
            let end = total.min(packet.len());
            let protocol = packet.get(9).copied();
            // RFC 4301 §7: a non-initial fragment carries no ports, so it can match only
            // selectors whose ports are ANY or OPAQUE.
            let offset = be16(packet, 6).map_or(0, |f| f & 0x1fff);
            let upper = if offset == 0 && ihl >= IPV4_MIN_HEADER {
                packet.get(ihl..end)
            } else {
                None
            };
            Some(Flow {
                src: addr4(packet, 12)?,
                dst: addr4(packet, 16)?,
                protocol,
                ports: ports(protocol, upper),
            })
        }
        6 => {
            // A Payload Length of 0 announces a jumbogram (RFC 2675), whose length is in
            // a Hop-by-Hop option; the ESP payload bounds it then.
            let payload = be16(packet, 4).map_or(0, usize::from);
            let end = if payload == 0 {
                packet.len()
            } else {
                (IPV6_HEADER + payload).min(packet.len())
            };
            let data = packet.get(IPV6_HEADER..end)?;
            let (protocol, upper) = skip_extension_headers(*packet.get(6)?, data);
            Some(Flow {
                src: addr6(packet, 8)?,
                dst: addr6(packet, 24)?,
                protocol,
                ports: ports(protocol, upper),
            })
        }
        _ => None,
    }
}

/// Follows an IPv6 Next Header chain past the extension headers RFC 4301 §4.4.1.1 skips,
/// to the Next Layer Protocol and the bytes after its header start. Returns `(None, None)`
/// when the chain is truncated or longer than [`MAX_EXTENSION_HEADERS`], and no upper-layer
/// bytes for a non-initial fragment (RFC 4301 §7: its ports are not available).
fn skip_extension_headers(mut next: u8, mut data: &[u8]) -> (Option<u8>, Option<&[u8]>) {
    for _ in 0..MAX_EXTENSION_HEADERS {
        match next {
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => {
                // RFC 8200 §4.3-4.6: Hdr Ext Len counts 8-octet units beyond the first.
                let Some((&nh, &units)) = data.first().zip(data.get(1)) else {
                    return (None, None);
                };
                let Some(rest) = data.get((usize::from(units) + 1) * 8..) else {
                    return (None, None);
                };
                next = nh;
                data = rest;
            }
            FRAGMENT => {
                // RFC 8200 §4.5: 8 bytes, the offset in the high 13 bits of bytes 2-3.
                let (Some(&nh), Some(off)) = (data.first(), be16(data, 2)) else {
                    return (None, None);
                };
                let Some(rest) = data.get(8..) else {
                    return (None, None);
                };
                if off >> 3 != 0 {
                    // A later fragment names the first header of the fragmentable part;
                    // that is the protocol unless it is itself an extension header.
                    let protocol = (!is_skipped(nh)).then_some(nh);
                    return (protocol, None);
                }
                next = nh;
                data = rest;
            }
            protocol => return (Some(protocol), Some(data)),
        }
    }
    (None, None)
}

fn is_skipped(next: u8) -> bool {
    matches!(next, HOP_BY_HOP | ROUTING | FRAGMENT | DESTINATION_OPTIONS)
}

/// The port-like fields RFC 7296 §3.13.1 matches for `protocol`, read from the start of
/// its header.
fn ports(protocol: Option<u8>, upper: Option<&[u8]>) -> Ports {
    let (Some(protocol), Some(u)) = (protocol, upper) else {
        return Ports::Unavailable;
    };
    match protocol {
        TCP | UDP | SCTP | UDP_LITE => match (be16(u, 0), be16(u, 2)) {
            (Some(src), Some(dst)) => Ports::Pair { src, dst },
            _ => Ports::Unavailable,
        },
        // Type in the high byte, code in the low byte: the header's first two octets.
        ICMP | ICMPV6 => be16(u, 0).map_or(Ports::Unavailable, Ports::Single),
        // RFC 6275 §6.1.1: the MH Type is the third octet; RFC 7296 §3.13.1 puts it in
        // the high byte with a low byte of 0 at the start of a range, 255 at its end.
        MOBILITY => u
            .get(2)
            .map_or(Ports::Unavailable, |&t| Ports::Single(u16::from(t) << 8)),
        _ => Ports::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_header_walk_is_bounded_and_finds_the_protocol() {
        // Hop-by-Hop (8 bytes) then Destination Options (16 bytes) then UDP.
        let mut d = vec![DESTINATION_OPTIONS, 0, 0, 0, 0, 0, 0, 0];
        d.extend([UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        d.extend([0x12, 0x34, 0x01, 0xbb]);
        let (p, u) = skip_extension_headers(HOP_BY_HOP, &d);
        assert_eq!(p, Some(UDP));
        assert_eq!(
            ports(p, u),
            Ports::Pair {
                src: 0x1234,
                dst: 443
            }
        );

        // A chain longer than the bound, and a truncated one.
        let long: Vec<u8> = (0..MAX_EXTENSION_HEADERS + 1)
            .flat_map(|_| [HOP_BY_HOP, 0, 0, 0, 0, 0, 0, 0])
            .collect();
        assert_eq!(skip_extension_headers(HOP_BY_HOP, &long), (None, None));
        assert_eq!(skip_extension_headers(ROUTING, &[TCP, 1, 0]), (None, None));

        // AH is a Next Layer Protocol, not skipped.
        assert_eq!(skip_extension_headers(51, &[]).0, Some(51));
    }

    #[test]
    fn later_fragment_has_a_protocol_but_no_ports() {
        // Offset 8 (in 8-octet units), next header TCP.
        let frag = [TCP, 0, 0, 0x40, 0, 0, 0, 1, 0x12, 0x34, 0x01, 0xbb];
        assert_eq!(skip_extension_headers(FRAGMENT, &frag), (Some(TCP), None));
        // The first fragment keeps its ports.
        let first = [TCP, 0, 0, 0x01, 0, 0, 0, 1, 0x12, 0x34, 0x01, 0xbb];
        let (p, u) = skip_extension_headers(FRAGMENT, &first);
        assert_eq!(
            ports(p, u),
            Ports::Pair {
                src: 0x1234,
                dst: 443
            }
        );
        // A later fragment whose fragmentable part starts with an extension header hides
        // the protocol.
        let hidden = [DESTINATION_OPTIONS, 0, 0, 0x40, 0, 0, 0, 1];
        assert_eq!(skip_extension_headers(FRAGMENT, &hidden), (None, None));
    }

    #[test]
    fn unreadable_inner_packet_matches_nothing() {
        let all = vec![TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()];
        let p = Policy::new(&InboundSelectors::new(all.clone(), all)).unwrap();
        for short in [&[][..], &[0x45; 19], &[0x60; 39], &[0x50; 40]] {
            assert!(p.check_tunnel(short).is_err(), "{short:?}");
        }
        assert!(p.check_tunnel(&[0x45; 20]).is_ok());
        assert!(p.check_tunnel(&[0x60; 40]).is_ok());
    }

    #[test]
    fn transport_mode_consults_both_families() {
        let v6_tcp = TrafficSelector {
            ip_protocol: TCP,
            ..TrafficSelector::ipv6_any()
        };
        let p = Policy::new(&InboundSelectors::new(
            vec![TrafficSelector::ipv4_any()],
            vec![v6_tcp],
        ))
        .unwrap();
        assert!(p.check_transport(TCP, &[0, 1, 0, 2]).is_ok());
        assert!(p.check_transport(UDP, &[0, 1, 0, 2]).is_err());
    }

    #[test]
    fn port_ranges() {
        assert!(PortRange::Any.admits(None) && PortRange::Any.admits(Some(7)));
        assert!(PortRange::Opaque.admits(None) && !PortRange::Opaque.admits(Some(7)));
        assert!(PortRange::Range(5, 9).admits(Some(9)) && !PortRange::Range(5, 9).admits(None));
    }
}
