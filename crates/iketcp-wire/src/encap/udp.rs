//! RFC 3948 §2 UDP encapsulation: one datagram on port 4500 is a NAT keepalive, an IKE
//! message behind the non-ESP marker, or an ESP packet.

use crate::NON_ESP_MARKER;
use crate::error::{WireError, WireErrorKind};

/// RFC 3948 §2.3: the one-octet NAT-keepalive payload.
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

/// What a datagram received on port 4500 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An IKE message, the marker stripped.
    Ike(&'a [u8]),
    /// An ESP packet from its SPI on.
    Esp(&'a [u8]),
    /// A NAT keepalive: to be dropped, never an error.
    Keepalive,
}

/// Classifies a datagram received on a port that carries the non-ESP marker.
pub fn classify(datagram: &[u8]) -> Result<Datagram<'_>, WireError> {
    match datagram {
        [0xff] => Ok(Datagram::Keepalive),
        [0, 0, 0, 0, ike @ ..] => Ok(Datagram::Ike(ike)),
        // RFC 3948 §2.1: an ESP packet has at least SPI and sequence number.
        d if d.len() >= crate::esp::HEADER_LEN => Ok(Datagram::Esp(d)),
        d => Err(WireError::new(
            WireErrorKind::Truncated {
                needed: crate::esp::HEADER_LEN - d.len(),
            },
            d.len(),
        )),
    }
}

/// Writes an IKE message with the non-ESP marker in front, as sent from and to port 4500.
pub fn emit_ike(ike: &[u8], out: &mut Vec<u8>) {
    out.reserve(NON_ESP_MARKER.len() + ike.len());
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(ike);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_three_kinds() {
        assert_eq!(classify(&[0xff]).unwrap(), Datagram::Keepalive);
        assert_eq!(
            classify(&[0, 0, 0, 0, 1, 2]).unwrap(),
            Datagram::Ike(&[1, 2])
        );
        let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9];
        assert_eq!(classify(&esp).unwrap(), Datagram::Esp(&esp));
        assert!(classify(&[1, 2, 3]).is_err());
        assert!(classify(&[]).is_err());
        let mut out = Vec::new();
        emit_ike(&[7, 7], &mut out);
        assert_eq!(out, [0, 0, 0, 0, 7, 7]);
    }
}
