//! Errors of the ESP engine.
//!
//! Two families share one enum. Inbound drops (`NotEsp` … `SelectorMismatch`) describe a
//! packet from the network that was discarded and counted; RFC 4303 §3.4 says such a
//! packet is dropped and audited, never answered, so the caller only logs or counts them.
//! The rest are refusals of a local request (configuration, buffer sizes, an SA that may
//! no longer be used), which the caller must act on.

use thiserror::Error;

use crate::algorithm::Algorithm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EspError {
    // --- inbound drops ---
    /// Shorter than an ESP header, or SPI 0 (RFC 4303 §2.1).
    #[error("not an ESP packet")]
    NotEsp,
    /// No inbound SA has this SPI.
    #[error("no inbound SA with SPI {spi:#010x}")]
    UnknownSpi { spi: u32 },
    /// Too short for the SA's IV and ICV, or a ciphertext that is not whole cipher blocks.
    #[error("truncated or misaligned ESP packet on SPI {spi:#010x}")]
    Truncated { spi: u32 },
    /// Already received, or to the left of the anti-replay window (RFC 4303 §3.4.3).
    #[error("replayed or too old sequence number {seq} on SPI {spi:#010x}")]
    Replayed { spi: u32, seq: u64 },
    /// The ICV did not verify (RFC 4303 §3.4.4): forged, corrupted or wrong key.
    #[error("ICV verification failed on SPI {spi:#010x}")]
    AuthenticationFailed { spi: u32 },
    /// The decrypted padding is not 1, 2, 3, … or longer than the payload (RFC 4303 §2.4).
    #[error("bad padding on SPI {spi:#010x}")]
    BadPadding { spi: u32 },
    /// Tunnel mode: the inner packet is not the IP version the Next Header announces.
    #[error("inner packet does not match next header {next_header} on SPI {spi:#010x}")]
    BadInnerPacket { spi: u32, next_header: u8 },
    /// Authentic, but outside the SA's traffic selectors (RFC 4301 §5.2): in tunnel mode
    /// an inner source, destination, protocol or port the Child SA was not negotiated
    /// for; in transport mode a protocol or port. The packet still moved the replay
    /// window, since its ICV verified.
    #[error(
        "packet with sequence number {seq} is outside the traffic selectors of SPI {spi:#010x}"
    )]
    SelectorMismatch { spi: u32, seq: u64 },

    // --- local refusals ---
    /// The SA reached a hard byte or packet lifetime and may no longer be used.
    #[error("SA {spi:#010x} reached its hard lifetime")]
    LifetimeExpired { spi: u32 },
    /// Every sequence number of the SA has been used (RFC 4303 §3.3.3): the SA must be
    /// replaced, since a sequence number never cycles.
    #[error("sequence numbers of SA {spi:#010x} are exhausted")]
    SequenceExhausted { spi: u32 },
    /// No outbound SA has this SPI.
    #[error("no outbound SA with SPI {spi:#010x}")]
    UnknownOutboundSpi { spi: u32 },
    /// The caller's output buffer cannot hold the result.
    #[error("output buffer holds {available} bytes, {needed} needed")]
    BufferTooSmall { needed: usize, available: usize },
    /// The packet to encapsulate is not a whole IPv4 or IPv6 packet.
    #[error("not an IPv4 or IPv6 packet")]
    InvalidIpPacket,
    /// SPI 0 is reserved (RFC 4303 §2.1) and cannot name an SA.
    #[error("SPI 0 is reserved")]
    ZeroSpi,
    /// An SA with this SPI is already installed in that direction.
    #[error("an SA with SPI {spi:#010x} is already installed")]
    DuplicateSpi { spi: u32 },
    #[error("{algorithm:?} needs {expected} bytes of key material, got {got}")]
    KeyLength {
        algorithm: Algorithm,
        expected: usize,
        got: usize,
    },
    /// A traffic selector whose start and end addresses are of different families.
    #[error("traffic selector mixes IPv4 and IPv6 addresses")]
    InvalidSelector,
    #[error("replay window {window} is larger than the supported {max}")]
    ReplayWindowTooLarge { window: u32, max: u32 },
    /// The first sequence number must be at least 1 and inside the SA's number space.
    #[error("initial sequence number {seq} is outside the SA's number space")]
    InvalidInitialSeq { seq: u64 },
    /// The algorithm has no representation in the requested format.
    #[error("{algorithm:?} is not supported here")]
    Unsupported { algorithm: Algorithm },
    /// The random source failed (CBC IVs).
    #[error("random source failed")]
    Random,
    /// The cryptographic library refused an operation on valid inputs.
    #[error("cipher operation failed")]
    Crypto,
}

impl EspError {
    /// Whether this is a discarded inbound packet (as opposed to a refused local request).
    pub fn is_inbound_drop(&self) -> bool {
        matches!(
            self,
            Self::NotEsp
                | Self::UnknownSpi { .. }
                | Self::Truncated { .. }
                | Self::Replayed { .. }
                | Self::AuthenticationFailed { .. }
                | Self::BadPadding { .. }
                | Self::BadInnerPacket { .. }
                | Self::SelectorMismatch { .. }
        )
    }
}
