//! Errors of the wire layer: what was wrong, and at which byte offset.

use thiserror::Error;

/// A malformed or refused wire structure.
///
/// Small and `Copy` so parsers can return it on hot paths; `offset` is relative to the
/// start of the buffer handed to the outermost parser, so a log line points at the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{kind} at offset {offset}")]
pub struct WireError {
    pub kind: WireErrorKind,
    pub offset: usize,
}

impl WireError {
    pub(crate) const fn new(kind: WireErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireErrorKind {
    #[error("truncated: needed {needed} more bytes")]
    Truncated { needed: usize },
    #[error("length field {length} is invalid for its container")]
    BadLength { length: usize },
    #[error("trailing data after the last structure")]
    TrailingData,
    #[error("unsupported IKE version {0:#04x}")]
    BadVersion(u8),
    #[error("field has a reserved or invalid value")]
    BadValue,
    #[error("too many nested or repeated items")]
    TooMany,
    #[error("message of {len} bytes does not fit (limit {max})")]
    TooLong { len: usize, max: usize },
}
