//! Transport mode on a tunnel device (RFC 4303 §3.1.1): ESP carries the upper-layer
//! segment without the IP header, so the header is written again on the way in, with
//! the addresses the host uses for the peer and for itself.
//!
//! R-NAT-2 (RFC 3948 §3.1.2): behind a NAT the sender computed its TCP or UDP checksum
//! over addresses that are not these (its private one, or ours as it knew it). ESP has
//! already proven the segment intact, so the checksum is computed again over the
//! pseudo-header of the addresses written, which is one of the two ways the RFC allows;
//! a UDP datagram over IPv4 that carried no checksum (zero) keeps none.

use core::net::IpAddr;

/// Room a decapsulation buffer needs beyond the ESP packet: an IPv6 header.
pub const HEADER_SPARE: usize = 40;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;

/// The upper-layer segment in `out[..len]` of protocol `protocol`, from `src` to `dst`,
/// made an IP packet in place: it moves up by the header's length, the header is
/// written in front, and a TCP, UDP or ICMPv6 checksum is computed again. Returns the
/// packet's length, 0 if `out` is too short, the segment longer than an IP packet, or
/// the addresses of two families.
pub fn restore(out: &mut [u8], len: usize, protocol: u8, src: IpAddr, dst: IpAddr) -> usize {
    let header = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => 20,
        (IpAddr::V6(_), IpAddr::V6(_)) => 40,
        _ => return 0,
    };
    let total = header + len;
    if out.len() < total || total > usize::from(u16::MAX) + header - 20 {
        return 0;
    }
    out.copy_within(..len, header);
    let (head, segment) = out[..total].split_at_mut(header);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            head.copy_from_slice(&[0; 20]);
            head[0] = 0x45;
            head[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            head[6] = 0x40; // DF
            head[8] = 64;
            head[9] = protocol;
            head[12..16].copy_from_slice(&s.octets());
            head[16..20].copy_from_slice(&d.octets());
            let c = checksum(0, head);
            head[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            head.copy_from_slice(&[0; 40]);
            head[0] = 0x60;
            head[4..6].copy_from_slice(&(len as u16).to_be_bytes());
            head[6] = protocol;
            head[7] = 64;
            head[8..24].copy_from_slice(&s.octets());
            head[24..40].copy_from_slice(&d.octets());
        }
        _ => return 0,
    }
    fix_checksum(segment, protocol, src, dst);
    total
}

/// Computes the segment's checksum again over the pseudo-header of `src` and `dst`.
fn fix_checksum(segment: &mut [u8], protocol: u8, src: IpAddr, dst: IpAddr) {
    let at = match protocol {
        TCP => 16,
        UDP => 6,
        ICMPV6 if src.is_ipv6() => 2,
        _ => return,
    };
    if segment.len() < at + 2 {
        return;
    }
    if protocol == UDP && src.is_ipv4() && segment[at..at + 2] == [0, 0] {
        // RFC 768: no checksum was sent; none is made up.
        return;
    }
    segment[at..at + 2].copy_from_slice(&[0, 0]);
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, protocol]);
            pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(segment.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, protocol]);
        }
        _ => return,
    }
    let mut c = checksum(sum(0, &pseudo), segment);
    if protocol == UDP && c == 0 {
        // RFC 768: a computed zero is sent as all ones.
        c = 0xffff;
    }
    segment[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The ones' complement sum of `bytes` (big-endian 16-bit words) added to `acc`.
fn sum(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// The Internet checksum of `bytes`, starting from the partial sum `acc`.
fn checksum(acc: u32, bytes: &[u8]) -> u16 {
    !(sum(acc, bytes) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a packet's own checksum verifies (a sum of all ones).
    fn verifies(packet: &[u8]) -> bool {
        let v4 = packet[0] >> 4 == 4;
        let (hl, proto, src, dst): (usize, u8, Vec<u8>, Vec<u8>) = if v4 {
            (
                20,
                packet[9],
                packet[12..16].to_vec(),
                packet[16..20].to_vec(),
            )
        } else {
            (
                40,
                packet[6],
                packet[8..24].to_vec(),
                packet[24..40].to_vec(),
            )
        };
        let seg = &packet[hl..];
        let mut pseudo = [src, dst].concat();
        if v4 {
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
            if sum(0, &packet[..20]) != 0xffff {
                return false;
            }
        } else {
            pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, proto]);
        }
        sum(sum(0, &pseudo), seg) == 0xffff
    }

    #[test]
    fn r_nat_2_checksums_follow_the_addresses_written() {
        // A TCP segment whose checksum the sender computed over its private address.
        let mut seg = vec![0u8; 20 + 11];
        seg[0..2].copy_from_slice(&1234u16.to_be_bytes());
        seg[2..4].copy_from_slice(&80u16.to_be_bytes());
        seg[12] = 0x50;
        seg[20..].copy_from_slice(b"hello world");
        seg[16..18].copy_from_slice(&[0xde, 0xad]);
        for (src, dst) in [
            ("203.0.113.7", "198.51.100.1"),
            ("2001:db8::7", "2001:db8::1"),
        ] {
            for proto in [TCP, UDP] {
                let mut s = seg.clone();
                if proto == UDP {
                    let l = s.len() as u16;
                    s[4..6].copy_from_slice(&l.to_be_bytes());
                    s[6..8].copy_from_slice(&[0xbe, 0xef]);
                }
                let len = s.len();
                let mut out = s;
                out.resize(len + HEADER_SPARE, 0);
                let n = restore(
                    &mut out,
                    len,
                    proto,
                    src.parse().unwrap(),
                    dst.parse().unwrap(),
                );
                assert!(n > len, "{src} {proto}");
                assert!(verifies(&out[..n]), "{src} {proto}: {:02x?}", &out[..n]);
                assert_eq!(&out[n - 11..n], b"hello world");
            }
        }
    }

    #[test]
    fn a_udp_datagram_without_checksum_keeps_none() {
        let mut out = vec![0u8; 8 + 4 + HEADER_SPARE];
        out[4..6].copy_from_slice(&12u16.to_be_bytes());
        out[8..12].copy_from_slice(b"abcd");
        let n = restore(
            &mut out,
            12,
            UDP,
            "10.0.0.2".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
        );
        assert_eq!(n, 32);
        assert_eq!(&out[20 + 6..20 + 8], &[0, 0]);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut out = vec![0u8; 30];
        assert_eq!(
            restore(
                &mut out,
                20,
                TCP,
                "10.0.0.2".parse().unwrap(),
                "::1".parse().unwrap()
            ),
            0
        );
        assert_eq!(
            restore(
                &mut out,
                20,
                TCP,
                "10.0.0.2".parse().unwrap(),
                "10.0.0.1".parse().unwrap()
            ),
            0
        );
    }
}
