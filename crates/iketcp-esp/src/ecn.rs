//! ECN across the tunnel, RFC 6040 (R-ESP-2).
//!
//! Encapsulation uses compatibility mode (§4.1): the outer header is Not-ECT whatever
//! the inner one says, so no legacy decapsulator can lose a mark; the inner header, and
//! so an inner CE, travels untouched inside ESP. Decapsulation follows the table of
//! §4.2: an outer CE is copied into an ECN-capable inner header and drops a packet whose
//! inner header is Not-ECT (its sender would never learn of the congestion otherwise).

use thiserror::Error;

/// The two ECN bits of an IP header (RFC 3168 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecn {
    NotEct,
    Ect1,
    Ect0,
    Ce,
}

impl Ecn {
    pub fn from_bits(b: u8) -> Ecn {
        match b & 3 {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0,
            Ecn::Ect1 => 1,
            Ecn::Ect0 => 2,
            Ecn::Ce => 3,
        }
    }
}

/// Why a decapsulated packet must not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EcnError {
    #[error("outer CE on a packet whose inner header is not ECN-capable (RFC 6040 §4.2)")]
    CeOnNotEct,
    #[error("inner packet too short for its IP header")]
    Truncated,
}

/// The ECN field of an IPv4 or IPv6 packet.
pub fn ecn_of(packet: &[u8]) -> Option<Ecn> {
    match packet.first()? >> 4 {
        4 => Some(Ecn::from_bits(*packet.get(1)?)),
        6 => Some(Ecn::from_bits(packet.get(1)? >> 4)),
        _ => None,
    }
}

/// Applies RFC 6040 §4.2 to `inner` for an outer header marked `outer`. Only an outer
/// CE changes anything: the inner ECT(0)/ECT(1)/CE becomes CE (the IPv4 checksum is
/// updated, RFC 1624), an inner Not-ECT is an error (drop the packet).
pub fn decapsulate(outer: Ecn, inner: &mut [u8]) -> Result<(), EcnError> {
    if outer != Ecn::Ce {
        // Outer Not-ECT (compatibility mode, or a stream), ECT(0) or ECT(1): the inner
        // header is kept as it is, a CE in it included.
        return Ok(());
    }
    let current = ecn_of(inner).ok_or(EcnError::Truncated)?;
    match current {
        Ecn::NotEct => Err(EcnError::CeOnNotEct),
        Ecn::Ce => Ok(()),
        Ecn::Ect0 | Ecn::Ect1 => {
            set_ce(inner)?;
            Ok(())
        }
    }
}

fn set_ce(p: &mut [u8]) -> Result<(), EcnError> {
    match p[0] >> 4 {
        4 => {
            if p.len() < 20 {
                return Err(EcnError::Truncated);
            }
            let old = u16::from_be_bytes([p[0], p[1]]);
            p[1] |= 3;
            let new = u16::from_be_bytes([p[0], p[1]]);
            // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
            let hc = u16::from_be_bytes([p[10], p[11]]);
            let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let hc = !(sum as u16);
            p[10..12].copy_from_slice(&hc.to_be_bytes());
            Ok(())
        }
        _ => {
            if p.len() < 40 {
                return Err(EcnError::Truncated);
            }
            // The ECN bits are the low two of the traffic class: bits 2-3 of byte 1's
            // high nibble; IPv6 has no header checksum.
            p[1] |= 3 << 4;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(tos: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, tos, 0, 28, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 5, 10, 2, 0, 7,
        ];
        p.extend_from_slice(&[0; 8]);
        let c = checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn checksum(h: &[u8]) -> u16 {
        let mut s: u32 = h
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn r_esp_2_rfc6040_decapsulation_table() {
        // Rows: inner; columns: outer Not-ECT, ECT(0), ECT(1), CE.
        let table = [
            (
                Ecn::NotEct,
                [
                    Some(Ecn::NotEct),
                    Some(Ecn::NotEct),
                    Some(Ecn::NotEct),
                    None,
                ],
            ),
            (
                Ecn::Ect0,
                [
                    Some(Ecn::Ect0),
                    Some(Ecn::Ect0),
                    Some(Ecn::Ect0),
                    Some(Ecn::Ce),
                ],
            ),
            (
                Ecn::Ect1,
                [
                    Some(Ecn::Ect1),
                    Some(Ecn::Ect1),
                    Some(Ecn::Ect1),
                    Some(Ecn::Ce),
                ],
            ),
            (
                Ecn::Ce,
                [Some(Ecn::Ce), Some(Ecn::Ce), Some(Ecn::Ce), Some(Ecn::Ce)],
            ),
        ];
        for (inner, row) in table {
            for (outer, want) in [Ecn::NotEct, Ecn::Ect0, Ecn::Ect1, Ecn::Ce]
                .into_iter()
                .zip(row)
            {
                let mut p = ipv4(0xb8 | inner.bits());
                let r = decapsulate(outer, &mut p);
                match want {
                    None => assert_eq!(r, Err(EcnError::CeOnNotEct), "{inner:?} in {outer:?}"),
                    Some(w) => {
                        assert_eq!(r, Ok(()));
                        assert_eq!(ecn_of(&p), Some(w), "{inner:?} in {outer:?}");
                        // The DSCP is untouched and the header checksum still holds.
                        assert_eq!(p[1] & 0xfc, 0xb8);
                        assert_eq!(checksum(&p[..20]), 0, "{inner:?} in {outer:?}");
                    }
                }
            }
        }
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        v6[1] = 0x20; // ECT(0)
        assert_eq!(decapsulate(Ecn::Ce, &mut v6), Ok(()));
        assert_eq!(ecn_of(&v6), Some(Ecn::Ce));
        assert_eq!(
            decapsulate(Ecn::Ce, &mut [0x45, 2]),
            Err(EcnError::Truncated)
        );
    }
}
