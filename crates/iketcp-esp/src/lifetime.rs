//! RFC 4301 §4.4.2.1 SA lifetimes counted in bytes and packets.
//!
//! The soft limit asks IKE for a rekey once; the hard limit ends the SA's use. Time-based
//! lifetimes need a clock and belong to the IKE core, which removes the SA when they run
//! out. Bytes are payload bytes (the inner packet in tunnel mode, the upper-layer data in
//! transport mode), counted the same way on both sides.

use crate::sa::Direction;

/// Byte and packet limits of an SA; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    pub soft_bytes: Option<u64>,
    pub hard_bytes: Option<u64>,
    pub soft_packets: Option<u64>,
    pub hard_packets: Option<u64>,
}

impl Lifetime {
    pub const UNLIMITED: Self = Self {
        soft_bytes: None,
        hard_bytes: None,
        soft_packets: None,
        hard_packets: None,
    };
}

/// Which limit an [`EspEvent`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    Bytes,
    Packets,
    /// The outbound sequence number space (RFC 4303 §3.3.3: it never cycles).
    SequenceNumbers,
}

/// Something IKE must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EspEvent {
    /// A soft limit was crossed: start a rekey. Reported once per SA and direction.
    SoftLifetime {
        spi: u32,
        direction: Direction,
        limit: Limit,
    },
    /// A hard limit was reached: the SA refuses further packets; replace and remove it.
    HardLifetime {
        spi: u32,
        direction: Direction,
        limit: Limit,
    },
}

/// The running counters of one SA against its [`Lifetime`].
#[derive(Debug)]
pub(crate) struct Usage {
    pub bytes: u64,
    pub packets: u64,
    soft_bytes: u64,
    hard_bytes: u64,
    soft_packets: u64,
    hard_packets: u64,
    soft_reported: bool,
    hard_reported: bool,
}

/// What crossing a limit produced; at most one soft and one hard per SA.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crossed {
    pub soft: Option<Limit>,
    pub hard: Option<Limit>,
}

impl Usage {
    pub(crate) fn new(l: &Lifetime) -> Self {
        Self {
            bytes: 0,
            packets: 0,
            soft_bytes: l.soft_bytes.unwrap_or(u64::MAX),
            hard_bytes: l.hard_bytes.unwrap_or(u64::MAX),
            soft_packets: l.soft_packets.unwrap_or(u64::MAX),
            hard_packets: l.hard_packets.unwrap_or(u64::MAX),
            soft_reported: false,
            hard_reported: false,
        }
    }

    /// A hard limit has been reached: no more packets in this direction.
    pub(crate) fn expired(&self) -> bool {
        self.bytes >= self.hard_bytes || self.packets >= self.hard_packets
    }

    /// Counts one packet of `bytes` payload bytes and reports limits crossed by it.
    pub(crate) fn record(&mut self, bytes: usize) -> Crossed {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
        let mut c = Crossed::default();
        if !self.soft_reported {
            c.soft = if self.bytes >= self.soft_bytes {
                Some(Limit::Bytes)
            } else if self.packets >= self.soft_packets {
                Some(Limit::Packets)
            } else {
                None
            };
            self.soft_reported = c.soft.is_some();
        }
        if !self.hard_reported {
            c.hard = if self.bytes >= self.hard_bytes {
                Some(Limit::Bytes)
            } else if self.packets >= self.hard_packets {
                Some(Limit::Packets)
            } else {
                None
            };
            self.hard_reported = c.hard.is_some();
        }
        c
    }

    /// Marks the soft or hard report as made for a limit counted elsewhere (the sequence
    /// number space); returns whether it had not been made yet.
    pub(crate) fn take_soft(&mut self) -> bool {
        !std::mem::replace(&mut self.soft_reported, true)
    }

    pub(crate) fn take_hard(&mut self) -> bool {
        !std::mem::replace(&mut self.hard_reported, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_then_hard_each_once() {
        let mut u = Usage::new(&Lifetime {
            soft_packets: Some(2),
            hard_packets: Some(3),
            ..Lifetime::UNLIMITED
        });
        assert_eq!(u.record(10), Crossed::default());
        assert_eq!(u.record(10).soft, Some(Limit::Packets));
        assert!(!u.expired());
        let c = u.record(10);
        assert_eq!(
            c,
            Crossed {
                soft: None,
                hard: Some(Limit::Packets)
            }
        );
        assert!(u.expired());
    }

    #[test]
    fn bytes_can_cross_both_at_once() {
        let mut u = Usage::new(&Lifetime {
            soft_bytes: Some(100),
            hard_bytes: Some(150),
            ..Lifetime::UNLIMITED
        });
        let c = u.record(1000);
        assert_eq!(c.soft, Some(Limit::Bytes));
        assert_eq!(c.hard, Some(Limit::Bytes));
        assert!(u.expired());
    }
}
