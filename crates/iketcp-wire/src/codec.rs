//! Checked reading and length-patching writing over byte slices.
//!
//! Every read is bounds-checked and reports the absolute offset of a failure, so a parser
//! built on [`Reader`] cannot panic on hostile input.

use crate::error::{WireError, WireErrorKind};

/// A cursor over a byte slice; `base` is the absolute offset of `buf[0]` for error reports.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// The absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn err(&self, kind: WireErrorKind) -> WireError {
        WireError::new(kind, self.offset())
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(self.err(WireErrorKind::Truncated {
                needed: n - self.remaining(),
            }));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A sub-reader over the next `n` bytes, keeping absolute offsets.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, WireError> {
        let base = self.offset();
        let buf = self.take(n)?;
        Ok(Reader { buf, pos: 0, base })
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Fails with `TrailingData` unless the reader is exhausted.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(WireErrorKind::TrailingData))
        }
    }
}

/// Appends big-endian fields to a `Vec<u8>`; nested length fields are patched after the
/// body is written, so structures are emitted in one pass.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// Reserves a 16-bit length at the current position; see [`Writer::patch_u16_len`].
    pub fn placeholder_u16(&mut self) -> usize {
        let at = self.buf.len();
        self.u16(0);
        at
    }

    /// Writes into the placeholder at `at` the number of bytes from `from` to the end.
    ///
    /// Fails if that length does not fit 16 bits: structures are refused, never truncated.
    pub fn patch_u16_len(&mut self, at: usize, from: usize) -> Result<(), WireError> {
        let len = self.buf.len() - from;
        let v = u16::try_from(len).map_err(|_| {
            WireError::new(
                WireErrorKind::TooLong {
                    len,
                    max: u16::MAX as usize,
                },
                from,
            )
        })?;
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
        Ok(())
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_absolute_offsets() {
        let data = [1u8, 2, 3, 4, 5];
        let mut r = Reader::new(&data);
        r.u8().unwrap();
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.u16().unwrap(), 0x0203);
        let e = s.u8().unwrap_err();
        assert_eq!(e.offset, 3);
        assert_eq!(e.kind, WireErrorKind::Truncated { needed: 1 });
        assert!(r.sub(3).is_err());
        assert_eq!(r.finish().unwrap_err().kind, WireErrorKind::TrailingData);
    }

    #[test]
    fn writer_refuses_oversized_length() {
        let mut w = Writer::new();
        let at = w.placeholder_u16();
        w.bytes(&vec![0u8; 70_000]);
        assert!(matches!(
            w.patch_u16_len(at, at).unwrap_err().kind,
            WireErrorKind::TooLong { len: 70_002, .. }
        ));
    }
}
