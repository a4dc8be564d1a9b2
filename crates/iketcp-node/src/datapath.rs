//! The ESP data path (RFC 4303 §3.3 and §3.4 with the SA lookup of RFC 4301 §5.1), shared
//! between the node and whoever moves packets.
//!
//! IKE installs and removes Child SAs through the node; packets do not need the node.
//! The I/O layer protects what the tunnel device gives it and unprotects what the
//! sockets give it from its own tasks, in parallel with IKE and with each other:
//! outbound SAs and inbound SAs sit behind separate locks, so encryption and decryption
//! run on different cores. Still sans I/O: no socket, no clock, no task in here.
//!
//! Lifetime events the packets cause (bytes, sequence numbers) wait here until the node
//! next runs; [`DataPath::events_pending`] tells the I/O layer to wake it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use core::net::IpAddr;

use iketcp_esp::ecn::{self, Ecn};
use iketcp_esp::{Decapsulated, Direction, EspError, EspEvent, SaParams, SaStats, Stats};
use iketcp_proto::Path;
use iketcp_wire::encap::stream::{Framer, Limits, Outgoing, Role};

use crate::child::{ChildRoute, ip_selectors};

/// What became of a packet handed to [`DataPath::protect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protected {
    /// ESP bytes were appended to the buffer: a datagram payload for a UDP path (an IP
    /// payload of protocol 50 when `raw`), a whole RFC 9329 frame (Length included) for
    /// a stream.
    Esp { path: Path, raw: bool },
    /// No Child SA's selectors match: dropped (RFC 4301 §5.1); IKE may want to start one.
    NoChildSa { src: IpAddr, dst: IpAddr },
    /// Not an IP packet, or the SA refused it (expired, sequence numbers used up).
    Dropped,
}

struct Outbound {
    esp: iketcp_esp::Engine,
    /// Outbound SPI → route.
    routes: HashMap<u32, ChildRoute>,
    installs: u64,
    limits: Limits,
}

/// The Child SAs' ESP state and routes. Cheap to clone: every clone is the same data path.
#[derive(Clone)]
pub struct DataPath {
    shared: Arc<Shared>,
}

struct Shared {
    outbound: Mutex<Outbound>,
    inbound: Mutex<iketcp_esp::Engine>,
    events: AtomicBool,
    /// Bumped by every change of the routes (install, removal, new path).
    generation: AtomicU64,
    ecn_drops: AtomicU64,
}

impl core::fmt::Debug for DataPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataPath")
            .field("child_sas", &self.out().routes.len())
            .finish_non_exhaustive()
    }
}

/// A poisoned lock means a panic while a packet was processed; the SA tables are still
/// whole (every update is one map operation), so carry on with them.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DataPath {
    /// A data path encrypting with `outbound` (its random source makes CBC IVs) and
    /// framing stream messages within `limits`.
    pub fn new(outbound: iketcp_esp::Engine, limits: Limits) -> Self {
        Self {
            shared: Arc::new(Shared {
                outbound: Mutex::new(Outbound {
                    esp: outbound,
                    routes: HashMap::new(),
                    installs: 0,
                    limits,
                }),
                inbound: Mutex::new(iketcp_esp::Engine::new()),
                events: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                ecn_drops: AtomicU64::new(0),
            }),
        }
    }

    fn out(&self) -> MutexGuard<'_, Outbound> {
        lock(&self.shared.outbound)
    }

    fn inb(&self) -> MutexGuard<'_, iketcp_esp::Engine> {
        lock(&self.shared.inbound)
    }

    /// Outbound ESP: picks the newest Child SA whose selectors match the packet (after a
    /// rekey the old one only drains, RFC 7296 §2.8), encrypts, and appends the result
    /// to `out`, framed when the Child SA's path is a stream.
    pub fn protect(&self, packet: &[u8], out: &mut Vec<u8>) -> Protected {
        let Some((src, dst, proto)) = ip_selectors(packet) else {
            return Protected::Dropped;
        };
        let mut o = self.out();
        let Some(route) = o
            .routes
            .values()
            .filter(|r| r.carries(src, dst, proto))
            .max_by_key(|r| r.installed)
        else {
            return Protected::NoChildSa { src, dst };
        };
        let (spi, path, raw) = (route.spi_out, route.path, route.raw);
        let Some(esp_len) = o.esp.encapsulated_len(spi, packet.len()) else {
            return Protected::Dropped;
        };
        let start = out.len();
        // A stream frame's Length goes in front; it is known once the packet is.
        let head = if path.stream().is_some() { 2 } else { 0 };
        let body = start + head;
        out.resize(body + esp_len, 0);
        let len = match o.esp.encapsulate(spi, packet, &mut out[body..]) {
            Ok(e) => e.len,
            Err(e) => {
                out.truncate(start);
                tracing::debug!("ESP not sent: {e}");
                return Protected::Dropped;
            }
        };
        if o.esp.has_events() {
            self.shared.events.store(true, Ordering::Release);
        }
        out.truncate(body + len);
        if head > 0 {
            // A Child SA's stream carried IKE, and the Originator's prefix with it,
            // before any ESP: the Responder's framer adds no prefix.
            let mut framer = Framer::new(Role::Responder, o.limits);
            match framer.header(Outgoing::Esp(&out[body..])) {
                Ok(h) if h.as_slice().len() == head => {
                    out[start..body].copy_from_slice(h.as_slice());
                }
                r => {
                    out.truncate(start);
                    if let Err(e) = r {
                        tracing::debug!("ESP not sent: {e}");
                    }
                    return Protected::Dropped;
                }
            }
        }
        Protected::Esp { path, raw }
    }

    /// Inbound ESP: verifies and decrypts `packet` into `out` (which needs
    /// `packet.len()` bytes, and [`HEADER_SPARE`](crate::transport_mode::HEADER_SPARE)
    /// more for a transport-mode SA's IP header) and returns the length of the inner IP packet to deliver,
    /// 0 when there is none (a dummy packet). Every refusal is counted.
    ///
    /// `outer` is the ECN field of the outer IP header where the transport shows it
    /// (UDP); a stream has no per-packet outer header: `Ecn::NotEct`. RFC 6040 §4.2
    /// applies (R-ESP-2): a packet it refuses is counted in
    /// [`ecn_drops`](Self::ecn_drops) and not delivered.
    pub fn unprotect(&self, packet: &[u8], out: &mut [u8], outer: Ecn) -> Result<usize, EspError> {
        let mut e = self.inb();
        let r = e.decapsulate(packet, out);
        if e.has_events() {
            self.shared.events.store(true, Ordering::Release);
        }
        drop(e);
        match r {
            Ok(Decapsulated::Tunnel { len, .. }) => {
                match ecn::decapsulate(outer, &mut out[..len]) {
                    Ok(()) => Ok(len),
                    Err(err) => {
                        self.shared.ecn_drops.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("inner packet dropped: {err}");
                        Ok(0)
                    }
                }
            }
            Ok(Decapsulated::Transport { spi, len, protocol }) => {
                // The IP header goes back in front (R-NAT-2: with the checksum fixed).
                let hosts = self
                    .out()
                    .routes
                    .values()
                    .find(|r| r.spi_in == spi)
                    .map(ChildRoute::hosts);
                Ok(hosts.map_or(0, |(peer, ours)| {
                    crate::transport_mode::restore(out, len, protocol, peer, ours)
                }))
            }
            // Dummy packets deliver nothing.
            Ok(_) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Authentic packets dropped by RFC 6040's decapsulation rules.
    pub fn ecn_drops(&self) -> u64 {
        self.shared.ecn_drops.load(Ordering::Relaxed)
    }

    /// Whether packets crossed a lifetime limit since the node last looked: the node
    /// must run (any input or timeout) to pass the events to IKE.
    pub fn events_pending(&self) -> bool {
        self.shared.events.load(Ordering::Acquire)
    }

    pub(crate) fn take_events(&self) -> Vec<EspEvent> {
        if !self.shared.events.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let mut v = Vec::new();
        {
            let mut o = self.out();
            while let Some(ev) = o.esp.poll_event() {
                v.push(ev);
            }
        }
        let mut i = self.inb();
        while let Some(ev) = i.poll_event() {
            v.push(ev);
        }
        v
    }

    pub(crate) fn install(
        &self,
        inbound: &SaParams,
        outbound: &SaParams,
        route: impl FnOnce(u64) -> ChildRoute,
    ) -> Result<(), EspError> {
        self.inb().install_inbound(inbound)?;
        let mut o = self.out();
        if let Err(e) = o.esp.install_outbound(outbound) {
            drop(o);
            self.inb().remove(Direction::Inbound, inbound.spi);
            return Err(e);
        }
        o.installs += 1;
        let r = route(o.installs);
        o.routes.insert(r.spi_out, r);
        self.changed();
        Ok(())
    }

    pub(crate) fn remove(&self, spi_in: u32, spi_out: u32) {
        self.inb().remove(Direction::Inbound, spi_in);
        let mut o = self.out();
        o.esp.remove(Direction::Outbound, spi_out);
        if o.routes.remove(&spi_out).is_some() {
            self.changed();
        }
    }

    pub(crate) fn set_path(
        &self,
        (spi_in, spi_out): (u32, u32),
        path: Path,
        raw: bool,
        replay_window: u32,
    ) {
        self.inb().set_replay_window(spi_in, replay_window);
        if let Some(r) = self.out().routes.get_mut(&spi_out) {
            r.path = path;
            r.raw = raw;
            self.changed();
        }
    }

    fn changed(&self) {
        self.shared.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever the Child SAs' routes do: the I/O layer re-reads
    /// [`routes`](Self::routes) (for the host's routing table) only then.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// The Child SAs' routes now, by outbound SPI.
    pub fn routes(&self) -> Vec<ChildRoute> {
        self.out().routes.values().cloned().collect()
    }

    /// Counters of one SA, `None` if it is not installed.
    pub fn sa_stats(&self, direction: Direction, spi: u32) -> Option<SaStats> {
        match direction {
            Direction::Inbound => self.inb().sa_stats(direction, spi),
            Direction::Outbound => self.out().esp.sa_stats(direction, spi),
        }
    }

    /// Drops of inbound ESP since start, by reason, over every SA (removed ones too).
    pub fn stats(&self) -> Stats {
        *self.inb().stats()
    }
}
