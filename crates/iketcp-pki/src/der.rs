//! The little DER this crate reads and writes itself (X.690 §8, §10): AlgorithmIdentifiers
//! in AUTH payloads, ECDSA signature values and distinguished names built from
//! configuration strings.
//!
//! Certificates go through x509-parser and webpki; this reader only sees the short
//! structures of RFC 7427 §3, so it accepts single-byte tags and definite lengths up to
//! four octets, and rejects everything else instead of guessing.

/// ASN.1 universal tags used here.
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTF8_STRING: u8 = 0x0c;
pub(crate) const PRINTABLE_STRING: u8 = 0x13;
pub(crate) const IA5_STRING: u8 = 0x16;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// A cursor over DER bytes; every read is bounds-checked and returns `None` on
/// malformed input.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// What has not been read yet.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The tag of the next element, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one element and returns its tag and contents.
    pub(crate) fn read_any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, after_tag) = self.rest.split_first()?;
        // High tag numbers (0x1f) never occur in the structures read here.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut after_len) = after_tag.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // 0x80 is BER's indefinite length, which DER forbids.
            if count == 0 || count > 4 || after_len.len() < count {
                return None;
            }
            let (len_bytes, rest) = after_len.split_at(count);
            after_len = rest;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // DER uses the shortest form: no leading zero octet, no long form below 128.
            if len_bytes[0] == 0 || len < 0x80 {
                return None;
            }
            len
        };
        if after_len.len() < len {
            return None;
        }
        let (contents, rest) = after_len.split_at(len);
        self.rest = rest;
        Some((tag, contents))
    }

    /// Reads one element that must carry `tag`.
    pub(crate) fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.read_any()? {
            (t, contents) if t == tag => Some(contents),
            _ => None,
        }
    }

    /// Reads an element with `tag` if it comes next.
    pub(crate) fn read_optional(&mut self, tag: u8) -> Option<Option<&'a [u8]>> {
        if self.peek_tag() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Some(None)
        }
    }
}

/// Reads exactly one element with `tag` spanning all of `bytes`.
pub(crate) fn read_single(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    let mut reader = Reader::new(bytes);
    let contents = reader.read(tag)?;
    reader.is_empty().then_some(contents)
}

/// The contents of a non-negative INTEGER with its sign octet removed, or `None` if the
/// encoding is negative, empty or not minimal.
pub(crate) fn unsigned_integer(contents: &[u8]) -> Option<&[u8]> {
    match contents {
        [] => None,
        [first, ..] if first & 0x80 != 0 => None,
        [0, second, ..] if second & 0x80 == 0 => None,
        [0, rest @ ..] if !rest.is_empty() => Some(rest),
        _ => Some(contents),
    }
}

/// A non-negative INTEGER that fits in `u32`.
pub(crate) fn integer_u32(contents: &[u8]) -> Option<u32> {
    let magnitude = unsigned_integer(contents)?;
    if magnitude.len() > 4 {
        return None;
    }
    Some(
        magnitude
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)),
    )
}

/// Appends the DER length octets of `len`.
fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Lossless: checked just above.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        // At most size_of::<usize>() octets, far below 127.
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// One element: tag, length, contents.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    push_length(&mut out, contents.len());
    out.extend_from_slice(contents);
    out
}

/// A non-negative INTEGER.
pub(crate) fn integer(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut contents = Vec::with_capacity(5);
    // A set top bit would read as negative, so it gets a zero sign octet.
    if bytes[skip] & 0x80 != 0 {
        contents.push(0);
    }
    contents.extend_from_slice(&bytes[skip..]);
    tlv(INTEGER, &contents)
}

/// The contents octets of an OBJECT IDENTIFIER given as arcs (X.690 §8.19), or `None`
/// for arcs that do not form a valid OID.
pub(crate) fn oid_contents(arcs: &[u64]) -> Option<Vec<u8>> {
    let (&first, rest) = arcs.split_first()?;
    let (&second, rest) = rest.split_first()?;
    if first > 2 || (first < 2 && second > 39) {
        return None;
    }
    let mut out = Vec::new();
    let head = first.checked_mul(40)?.checked_add(second)?;
    for arc in core::iter::once(head).chain(rest.iter().copied()) {
        let mut groups = [0u8; 10];
        let mut n = 0;
        let mut value = arc;
        loop {
            // The low seven bits: the truncation is the point.
            groups[n] = (value & 0x7f) as u8;
            n += 1;
            value >>= 7;
            if value == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
        }
    }
    Some(out)
}

/// Converts an ECDSA signature from DER `Ecdsa-Sig-Value` (RFC 3279 §2.2.3) to the fixed
/// `r | s` form of RFC 4754 §7, each half left-padded to `half` octets.
pub(crate) fn ecdsa_der_to_fixed(der: &[u8], half: usize) -> Option<Vec<u8>> {
    let mut seq = Reader::new(read_single(der, SEQUENCE)?);
    let r = unsigned_integer(seq.read(INTEGER)?)?;
    let s = unsigned_integer(seq.read(INTEGER)?)?;
    if !seq.is_empty() || r.len() > half || s.len() > half {
        return None;
    }
    let mut out = vec![0u8; 2 * half];
    out[half - r.len()..half].copy_from_slice(r);
    out[2 * half - s.len()..].copy_from_slice(s);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let contents = vec![0xabu8; len];
            let encoded = tlv(0x04, &contents);
            let mut reader = Reader::new(&encoded);
            assert_eq!(reader.read(0x04), Some(&contents[..]));
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn non_minimal_and_indefinite_lengths_are_refused() {
        assert_eq!(Reader::new(&[0x04, 0x80, 0x00, 0x00]).read_any(), None);
        assert_eq!(Reader::new(&[0x04, 0x81, 0x01, 0xaa]).read_any(), None);
        assert_eq!(Reader::new(&[0x04, 0x82, 0x00, 0x81]).read_any(), None);
        assert_eq!(Reader::new(&[0x04, 0x05, 0x00]).read_any(), None);
        assert_eq!(Reader::new(&[0x1f, 0x01, 0x00]).read_any(), None);
    }

    #[test]
    fn integers() {
        assert_eq!(integer(0), [0x02, 0x01, 0x00]);
        assert_eq!(integer(0x20), [0x02, 0x01, 0x20]);
        assert_eq!(integer(0x80), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(0x0102), [0x02, 0x02, 0x01, 0x02]);
        assert_eq!(integer_u32(&[0x00, 0x80]), Some(0x80));
        assert_eq!(integer_u32(&[0x80]), None);
        assert_eq!(integer_u32(&[0x00, 0x01]), None);
        assert_eq!(integer_u32(&[0x01, 0, 0, 0, 0]), None);
    }

    #[test]
    fn oids() {
        // id-at-commonName, ecdsa-with-SHA256
        assert_eq!(oid_contents(&[2, 5, 4, 3]).unwrap(), [0x55, 0x04, 0x03]);
        assert_eq!(
            oid_contents(&[1, 2, 840, 10045, 4, 3, 2]).unwrap(),
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        assert_eq!(oid_contents(&[1]), None);
        assert_eq!(oid_contents(&[3, 1]), None);
        assert_eq!(oid_contents(&[1, 40]), None);
    }

    #[test]
    fn ecdsa_conversion_pads_and_strips() {
        // r = 0x80 (needs a sign octet), s = 0x01
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01];
        assert_eq!(
            ecdsa_der_to_fixed(&der, 2).unwrap(),
            [0x00, 0x80, 0x00, 0x01]
        );
        assert_eq!(ecdsa_der_to_fixed(&der, 0), None);
        assert_eq!(ecdsa_der_to_fixed(&der[..8], 2), None);
    }
}
