//! RFC 4301 §4.4.2 Security Association Database, and the entry points of RFC 4303 §3.3
//! (outbound) and §3.4 (inbound) processing.
//!
//! The engine owns the SAs of one data path. It does no I/O and reads no clock: the caller
//! hands it packets and buffers, drains [`Engine::poll_event`] after each call that may
//! cross a lifetime limit, and passes the events on to IKE.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use iketcp_wire::esp::EspPacket;

use crate::error::EspError;
use crate::lifetime::{Crossed, EspEvent, Limit};
use crate::random::{RandomSource, SystemRandomSource};
use crate::sa::{
    Decapsulated, Direction, Encapsulated, InboundSa, OutboundCrossed, OutboundSa, SaParams,
};
use crate::stats::{SaStats, Stats};

/// The ESP engine: outbound and inbound SAs keyed by SPI.
pub struct Engine {
    outbound: HashMap<u32, OutboundSa>,
    inbound: HashMap<u32, InboundSa>,
    events: VecDeque<EspEvent>,
    stats: Stats,
    rng: Box<dyn RandomSource>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("outbound_sas", &self.outbound.len())
            .field("inbound_sas", &self.inbound.len())
            .field("pending_events", &self.events.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine drawing CBC IVs from the operating system's CSPRNG.
    pub fn new() -> Self {
        Self::with_rng(Box::new(SystemRandomSource::new()))
    }

    /// An engine drawing CBC IVs from `rng`.
    pub fn with_rng(rng: Box<dyn RandomSource>) -> Self {
        Self {
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            rng,
        }
    }

    /// Installs an SA for sending. Its SPI is the one the peer chose (RFC 7296 §2.17).
    pub fn install_outbound(&mut self, params: &SaParams) -> Result<(), EspError> {
        if self.outbound.contains_key(&params.spi) {
            return Err(EspError::DuplicateSpi { spi: params.spi });
        }
        let sa = OutboundSa::new(params)?;
        self.outbound.insert(params.spi, sa);
        tracing::debug!(spi = format_args!("{:#010x}", params.spi), algorithm = ?params.algorithm, mode = ?params.mode, esn = params.esn, "outbound ESP SA installed");
        Ok(())
    }

    /// Installs an SA for receiving, under the SPI this side chose.
    pub fn install_inbound(&mut self, params: &SaParams) -> Result<(), EspError> {
        if self.inbound.contains_key(&params.spi) {
            return Err(EspError::DuplicateSpi { spi: params.spi });
        }
        let sa = InboundSa::new(params)?;
        self.inbound.insert(params.spi, sa);
        tracing::debug!(spi = format_args!("{:#010x}", params.spi), algorithm = ?params.algorithm, mode = ?params.mode, esn = params.esn, window = params.replay_window, selectors = params.selectors.is_some(), "inbound ESP SA installed");
        Ok(())
    }

    /// Removes an SA; returns whether it existed. Its keys are dropped with it.
    pub fn remove(&mut self, direction: Direction, spi: u32) -> bool {
        let removed = match direction {
            Direction::Outbound => self.outbound.remove(&spi).is_some(),
            Direction::Inbound => self.inbound.remove(&spi).is_some(),
        };
        if removed {
            tracing::debug!(
                spi = format_args!("{spi:#010x}"),
                ?direction,
                "ESP SA removed"
            );
        }
        removed
    }

    /// Changes the anti-replay window of inbound SA `spi`, keeping every number already
    /// seen refused (R-ESP-1: the window follows the transport). Returns whether it exists.
    pub fn set_replay_window(&mut self, spi: u32, window: u32) -> bool {
        match self.inbound.get_mut(&spi) {
            Some(sa) => {
                sa.set_replay_window(window);
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, direction: Direction, spi: u32) -> bool {
        match direction {
            Direction::Outbound => self.outbound.contains_key(&spi),
            Direction::Inbound => self.inbound.contains_key(&spi),
        }
    }

    /// Length of the ESP packet that [`encapsulate`](Self::encapsulate) would write for an
    /// input of `ip_packet_len` bytes: exact in tunnel mode, an upper bound in transport
    /// mode (the IP header stays out).
    pub fn encapsulated_len(&self, spi: u32, ip_packet_len: usize) -> Option<usize> {
        self.outbound
            .get(&spi)
            .map(|sa| sa.algorithm().esp_len(ip_packet_len))
    }

    /// Encrypts `ip_packet` under the outbound SA `spi` into `out` (RFC 4303 §3.3).
    ///
    /// Tunnel mode carries the whole packet; transport mode carries what follows its IP
    /// header and reports that header's length in [`Encapsulated::ip_header_len`]. `out`
    /// must hold [`encapsulated_len`](Self::encapsulated_len) bytes, or the call fails with
    /// [`EspError::BufferTooSmall`] and nothing is consumed, not even a sequence number.
    /// Fails with [`EspError::SequenceExhausted`] once the last sequence number has been
    /// used and with [`EspError::LifetimeExpired`] after a hard limit: the SA must then be
    /// replaced.
    pub fn encapsulate(
        &mut self,
        spi: u32,
        ip_packet: &[u8],
        out: &mut [u8],
    ) -> Result<Encapsulated, EspError> {
        let sa = self
            .outbound
            .get_mut(&spi)
            .ok_or(EspError::UnknownOutboundSpi { spi })?;
        let (done, crossed) = sa.encapsulate(ip_packet, out, &mut *self.rng)?;
        if crossed.lifetime != Crossed::default() || crossed.seq_soft || crossed.seq_hard {
            self.push_outbound_events(spi, crossed);
        }
        Ok(done)
    }

    /// Verifies and decrypts one ESP packet into `out` (RFC 4303 §3.4).
    ///
    /// `out` needs at most `esp_packet.len()` bytes. The order is the RFC's: SPI lookup,
    /// replay check, ICV, window update, trailer, then the SA's traffic selectors when it
    /// has them ([`SaParams::with_selectors`], RFC 4301 §5.2). Every refused packet is
    /// counted in [`stats`](Self::stats) and, when its SPI is known, in
    /// [`sa_stats`](Self::sa_stats); none is ever delivered.
    pub fn decapsulate(
        &mut self,
        esp_packet: &[u8],
        out: &mut [u8],
    ) -> Result<Decapsulated, EspError> {
        let Ok(packet) = EspPacket::new_checked(esp_packet) else {
            return Err(self.drop_packet(EspError::NotEsp));
        };
        let spi = packet.spi();
        let Some(sa) = self.inbound.get_mut(&spi) else {
            return Err(self.drop_packet(EspError::UnknownSpi { spi }));
        };
        match sa.decapsulate(&packet, out) {
            Ok((d, crossed)) => {
                if let Decapsulated::Dummy { .. } = d {
                    self.stats.dummy += 1;
                }
                if crossed != Crossed::default() {
                    self.push_lifetime_events(spi, Direction::Inbound, crossed);
                }
                Ok(d)
            }
            Err(e) => Err(self.drop_packet(e)),
        }
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event for IKE, oldest first.
    pub fn poll_event(&mut self) -> Option<EspEvent> {
        self.events.pop_front()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counters of one SA, `None` if it is not installed.
    pub fn sa_stats(&self, direction: Direction, spi: u32) -> Option<SaStats> {
        let (stats, usage) = match direction {
            Direction::Outbound => {
                let sa = self.outbound.get(&spi)?;
                (SaStats::default(), &sa.usage)
            }
            Direction::Inbound => {
                let sa = self.inbound.get(&spi)?;
                (sa.stats, &sa.usage)
            }
        };
        Some(SaStats {
            packets: usage.packets,
            bytes: usage.bytes,
            ..stats
        })
    }

    fn drop_packet(&mut self, e: EspError) -> EspError {
        self.stats.count_drop(&e);
        tracing::trace!(error = %e, "ESP packet dropped");
        e
    }

    fn push_outbound_events(&mut self, spi: u32, c: OutboundCrossed) {
        self.push_lifetime_events(spi, Direction::Outbound, c.lifetime);
        let direction = Direction::Outbound;
        if c.seq_soft {
            self.push(EspEvent::SoftLifetime {
                spi,
                direction,
                limit: Limit::SequenceNumbers,
            });
        }
        if c.seq_hard {
            tracing::warn!(
                spi = format_args!("{spi:#010x}"),
                "ESP sequence numbers exhausted"
            );
            self.push(EspEvent::HardLifetime {
                spi,
                direction,
                limit: Limit::SequenceNumbers,
            });
        }
    }

    fn push_lifetime_events(&mut self, spi: u32, direction: Direction, c: Crossed) {
        if let Some(limit) = c.soft {
            self.push(EspEvent::SoftLifetime {
                spi,
                direction,
                limit,
            });
        }
        if let Some(limit) = c.hard {
            self.push(EspEvent::HardLifetime {
                spi,
                direction,
                limit,
            });
        }
    }

    fn push(&mut self, ev: EspEvent) {
        tracing::debug!(event = ?ev, "ESP lifetime event");
        self.events.push_back(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;

    #[test]
    fn engine_can_move_to_another_thread() {
        fn is_send<T: Send>() {}
        is_send::<Engine>();
    }

    #[test]
    fn debug_shows_no_keys() {
        let mut e = Engine::new();
        let p = SaParams::new(7, Algorithm::AesGcm16_128, vec![0x5a; 20]);
        e.install_outbound(&p).unwrap();
        let s = format!("{e:?} {p:?}");
        assert!(!s.contains("5a") && !s.contains("90"), "{s}");
    }
}
