//! Counters for RFC 4303 §3.4 auditable events: every dropped inbound packet is counted
//! under its reason, per SA and for the whole engine.
//!
//! `auth_failed` on a known SPI is what the transport layer watches to close a corrupted
//! stream (R-CONN-8); an unknown SPI alone is not a reason to.

use crate::error::EspError;

/// Counters of one SA. Outbound SAs only use `packets` and `bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaStats {
    /// Packets sent, or received and authenticated (dummy packets included).
    pub packets: u64,
    /// Payload bytes of those packets.
    pub bytes: u64,
    /// Dummy packets (Next Header 59, RFC 4303 §2.6) received and discarded.
    pub dummy: u64,
    /// ICV verifications attempted; a packet refused by the replay check costs none.
    pub icv_checks: u64,
    /// ICV verification failures.
    pub auth_failed: u64,
    pub replayed: u64,
    pub truncated: u64,
    pub bad_padding: u64,
    pub bad_inner: u64,
    /// Authentic packets outside the SA's traffic selectors (RFC 4301 §5.2).
    pub selector_mismatch: u64,
    /// Packets refused because the SA reached a hard lifetime.
    pub expired: u64,
}

/// Counters of the whole engine: drops summed over all SAs, including SAs since removed,
/// and the drops that have no SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Packets too short for an ESP header, or with SPI 0.
    pub not_esp: u64,
    pub unknown_spi: u64,
    pub truncated: u64,
    pub replayed: u64,
    pub auth_failed: u64,
    pub bad_padding: u64,
    pub bad_inner: u64,
    /// Authentic packets outside their SA's traffic selectors (RFC 4301 §5.2).
    pub selector_mismatch: u64,
    pub expired: u64,
    pub dummy: u64,
}

impl SaStats {
    pub(crate) fn count_drop(&mut self, e: &EspError) {
        match e {
            EspError::Truncated { .. } => self.truncated += 1,
            EspError::Replayed { .. } => self.replayed += 1,
            EspError::AuthenticationFailed { .. } => self.auth_failed += 1,
            EspError::BadPadding { .. } => self.bad_padding += 1,
            EspError::BadInnerPacket { .. } => self.bad_inner += 1,
            EspError::SelectorMismatch { .. } => self.selector_mismatch += 1,
            EspError::LifetimeExpired { .. } => self.expired += 1,
            _ => {}
        }
    }
}

impl Stats {
    pub(crate) fn count_drop(&mut self, e: &EspError) {
        match e {
            EspError::NotEsp => self.not_esp += 1,
            EspError::UnknownSpi { .. } => self.unknown_spi += 1,
            EspError::Truncated { .. } => self.truncated += 1,
            EspError::Replayed { .. } => self.replayed += 1,
            EspError::AuthenticationFailed { .. } => self.auth_failed += 1,
            EspError::BadPadding { .. } => self.bad_padding += 1,
            EspError::BadInnerPacket { .. } => self.bad_inner += 1,
            EspError::SelectorMismatch { .. } => self.selector_mismatch += 1,
            EspError::LifetimeExpired { .. } => self.expired += 1,
            _ => {}
        }
    }
}
