//! RFC 4303 §2 ESP packet format.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Payload Data* (variable)                   |
//! ~                                                               ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |     Padding (0-255 bytes)                     |
//! +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Pad Length   | Next Header   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Integrity Check Value-ICV   (variable)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The view gives SPI and sequence number without copying; everything after them (IV,
//! ciphertext, ICV) is opaque here and belongs to the ESP engine, which knows the cipher.
//! The trailer helpers work on the plaintext once decrypted.

use crate::error::{WireError, WireErrorKind};

/// SPI plus sequence number.
pub const HEADER_LEN: usize = 8;

/// Next Header value of a dummy packet (RFC 4303 §2.6): discarded by the receiver.
pub const NEXT_HEADER_NONE: u8 = 59;
pub const NEXT_HEADER_IPV4: u8 = 4;
pub const NEXT_HEADER_IPV6: u8 = 41;

/// A zero-copy view of an ESP packet; the header is checked by [`EspPacket::new_checked`].
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Checks that the header is present and the SPI is not zero.
    ///
    /// RFC 4303 §2.1: SPI 0 is reserved for local use and never sent; on port 4500 and in a
    /// stream four zero bytes are the non-ESP marker, so a zero SPI is not ESP at all.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::new(
                WireErrorKind::Truncated {
                    needed: HEADER_LEN - b.len(),
                },
                b.len(),
            ));
        }
        if b[..4] == [0; 4] {
            return Err(WireError::new(WireErrorKind::BadValue, 0));
        }
        Ok(Self { buf })
    }

    pub fn spi(&self) -> u32 {
        let b = self.buf.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The low 32 bits of the sequence number (RFC 4303 §2.2).
    pub fn seq(&self) -> u32 {
        let b = self.buf.as_ref();
        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
    }

    /// The SPI and sequence number, as the AEAD associated data (RFC 4106 §5).
    pub fn header(&self) -> &[u8] {
        &self.buf.as_ref()[..HEADER_LEN]
    }

    /// IV, ciphertext and ICV.
    pub fn body(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn into_inner(self) -> T {
        self.buf
    }
}

/// Writes an ESP header; `out` must hold at least [`HEADER_LEN`] bytes.
pub fn emit_header(out: &mut [u8], spi: u32, seq: u32) -> Result<(), WireError> {
    if spi == 0 {
        return Err(WireError::new(WireErrorKind::BadValue, 0));
    }
    if out.len() < HEADER_LEN {
        return Err(WireError::new(
            WireErrorKind::Truncated {
                needed: HEADER_LEN - out.len(),
            },
            out.len(),
        ));
    }
    out[..4].copy_from_slice(&spi.to_be_bytes());
    out[4..8].copy_from_slice(&seq.to_be_bytes());
    Ok(())
}

/// Number of padding bytes so that payload + padding + the two trailer bytes is a
/// multiple of `align` (the cipher block size, and at least 4: RFC 4303 §2.4).
pub fn pad_len(payload_len: usize, align: usize) -> usize {
    let align = align.max(4);
    (align - (payload_len + 2) % align) % align
}

/// Appends the RFC 4303 §2.4 default padding (1, 2, 3, …), Pad Length and Next Header.
pub fn push_trailer(out: &mut Vec<u8>, payload_len: usize, align: usize, next_header: u8) {
    let pad = pad_len(payload_len, align);
    out.extend((1..=pad).map(|i| i as u8));
    out.push(pad as u8);
    out.push(next_header);
}

/// The decrypted trailer: where the payload ends and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub payload_len: usize,
    pub pad_len: u8,
    pub next_header: u8,
}

/// Reads the trailer at the end of a decrypted ESP payload.
///
/// RFC 4303 §2.4: with the default padding the receiver checks the pad bytes are
/// 1, 2, 3, …; a mismatch means a wrong key or a forged packet that got past the ICV, so
/// the packet is refused.
pub fn parse_trailer(plaintext: &[u8]) -> Result<Trailer, WireError> {
    let n = plaintext.len();
    if n < 2 {
        return Err(WireError::new(
            WireErrorKind::Truncated { needed: 2 - n },
            n,
        ));
    }
    let pad = plaintext[n - 2];
    let next_header = plaintext[n - 1];
    let payload_len = n.checked_sub(2 + pad as usize).ok_or(WireError::new(
        WireErrorKind::BadLength {
            length: pad as usize,
        },
        n - 2,
    ))?;
    let padding = &plaintext[payload_len..n - 2];
    if let Some(i) = padding
        .iter()
        .enumerate()
        .position(|(i, &b)| b as usize != i + 1)
    {
        return Err(WireError::new(WireErrorKind::BadValue, payload_len + i));
    }
    Ok(Trailer {
        payload_len,
        pad_len: pad,
        next_header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_reads_header() {
        let pkt = [0, 0, 0x10, 0x01, 0, 0, 0, 7, 0xaa, 0xbb];
        let v = EspPacket::new_checked(&pkt[..]).unwrap();
        assert_eq!(v.spi(), 0x1001);
        assert_eq!(v.seq(), 7);
        assert_eq!(v.body(), &[0xaa, 0xbb]);
    }

    #[test]
    fn zero_spi_and_short_packets_are_not_esp() {
        assert!(EspPacket::new_checked(&[0u8; 12][..]).is_err());
        assert!(EspPacket::new_checked(&[1u8; 7][..]).is_err());
        let mut out = [0u8; 8];
        assert!(emit_header(&mut out, 0, 1).is_err());
    }

    #[test]
    fn trailer_round_trip_for_every_length() {
        for align in [4usize, 16] {
            for len in 0..64 {
                let mut p = vec![0xee; len];
                push_trailer(&mut p, len, align, NEXT_HEADER_IPV4);
                assert_eq!(p.len() % align, 0);
                let t = parse_trailer(&p).unwrap();
                assert_eq!(t.payload_len, len);
                assert_eq!(t.next_header, NEXT_HEADER_IPV4);
            }
        }
    }

    #[test]
    fn bad_padding_is_refused() {
        let mut p = vec![9u8; 5];
        push_trailer(&mut p, 5, 16, 4);
        let i = 6;
        p[i] ^= 0xff;
        assert_eq!(parse_trailer(&p).unwrap_err().kind, WireErrorKind::BadValue);
        assert!(parse_trailer(&[200, 4]).is_err());
    }
}
