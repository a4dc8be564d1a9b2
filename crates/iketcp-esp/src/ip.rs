//! RFC 4303 §3.1 header placement: the few IPv4 (RFC 791 §3.1) and IPv6 (RFC 8200 §3)
//! header fields that decide what ESP carries.
//!
//! Tunnel mode carries the whole packet and names it by version (Next Header 4 or 41).
//! Transport mode carries what follows the IP header and takes over its protocol number;
//! for IPv6 that is everything after the fixed 40-byte header, so extension headers travel
//! encrypted inside ESP.

use iketcp_wire::esp::{NEXT_HEADER_IPV4, NEXT_HEADER_IPV6};

use crate::error::EspError;

const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;

/// Tunnel mode: the Next Header value announcing `packet` (RFC 4303 §2.6).
pub(crate) fn tunnel_next_header(packet: &[u8]) -> Result<u8, EspError> {
    match (packet.first().map(|b| b >> 4), packet.len()) {
        (Some(4), n) if n >= IPV4_MIN_HEADER => Ok(NEXT_HEADER_IPV4),
        (Some(6), n) if n >= IPV6_HEADER => Ok(NEXT_HEADER_IPV6),
        _ => Err(EspError::InvalidIpPacket),
    }
}

/// Tunnel mode, receiving: whether the inner packet is the version Next Header announced.
pub(crate) fn inner_matches(next_header: u8, packet: &[u8]) -> bool {
    let version = packet.first().map(|b| b >> 4);
    match next_header {
        NEXT_HEADER_IPV4 => version == Some(4) && packet.len() >= IPV4_MIN_HEADER,
        NEXT_HEADER_IPV6 => version == Some(6) && packet.len() >= IPV6_HEADER,
        _ => false,
    }
}

/// Transport mode: the length of the IP header that stays outside ESP, and the protocol
/// number that becomes ESP's Next Header.
///
/// RFC 4303 §3.1.1: transport mode protects whole datagrams, so IPv4 fragments are
/// refused.
pub(crate) fn transport_split(packet: &[u8]) -> Result<(usize, u8), EspError> {
    let first = *packet.first().ok_or(EspError::InvalidIpPacket)?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < IPV4_MIN_HEADER || packet.len() < ihl {
                return Err(EspError::InvalidIpPacket);
            }
            let flags_frag = packet
                .get(6..8)
                .and_then(|b| b.try_into().ok())
                .map(u16::from_be_bytes)
                .ok_or(EspError::InvalidIpPacket)?;
            // More Fragments set, or a non-zero fragment offset.
            if flags_frag & 0x3fff != 0 {
                return Err(EspError::InvalidIpPacket);
            }
            let protocol = *packet.get(9).ok_or(EspError::InvalidIpPacket)?;
            Ok((ihl, protocol))
        }
        6 if packet.len() >= IPV6_HEADER => {
            let next = *packet.get(6).ok_or(EspError::InvalidIpPacket)?;
            Ok((IPV6_HEADER, next))
        }
        _ => Err(EspError::InvalidIpPacket),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_options_and_fragments() {
        let mut p = [0u8; 28];
        p[0] = 0x46; // IHL 6: one option word
        p[9] = 17;
        assert_eq!(transport_split(&p), Ok((24, 17)));
        p[6] = 0x20; // More Fragments
        assert_eq!(transport_split(&p), Err(EspError::InvalidIpPacket));
        p[6] = 0x40; // Don't Fragment is fine
        assert_eq!(transport_split(&p), Ok((24, 17)));
        p[0] = 0x44; // IHL below the minimum
        assert!(transport_split(&p).is_err());
        assert!(transport_split(&[]).is_err());
        assert!(tunnel_next_header(&[0x45; 19]).is_err());
        assert!(tunnel_next_header(&[0x60; 39]).is_err());
    }
}
