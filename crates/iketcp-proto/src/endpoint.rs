//! The engine's whole boundary: IKE messages with their path, commands and time go in;
//! messages to send, Child SA keys and events come out (RFC 7296 §2.6 routing by SPI,
//! half-open accounting and cookies live here too).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Instant;

use core::net::{IpAddr, SocketAddr};

use iketcp_crypto::{IkeKeys, Rng};
use iketcp_wire::ike::{ExchangeType, Flags, HeaderView, Message};
use tracing::{debug, info};

use crate::config::{EndpointConfig, PeerConfig};
use crate::cookie::Cookies;
use crate::error::ApiError;
use crate::events::{IkeSaId, Output};
use crate::ike_init::{self, Responder};
use crate::ike_sa::{Cx, Effects, IkeSa, State, Task};
use crate::path::{Path, StreamId, Transport};

/// A read-only view of one IKE SA, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaInfo {
    pub id: IkeSaId,
    pub peer: Option<String>,
    pub established: bool,
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub path: Path,
    pub children: Vec<ChildSaInfo>,
    /// When it came up, and when it rekeys and expires (on the caller's clock: the
    /// `now` it hands the engine).
    pub up_since: Option<Instant>,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    /// RFC 4555: both sides announced MOBIKE.
    pub mobike: bool,
    /// R-FB-4: when the initiator next asks over UDP whether it works again.
    pub next_udp_probe: Option<Instant>,
    /// On a UDP path, ESP is UDP-encapsulated (a NAT was seen or faked); otherwise it
    /// goes as IP protocol 50.
    pub udp_encap: bool,
    /// Virtual addresses the peer assigned us (RFC 7296 §2.19).
    pub virtual_ips: Vec<core::net::IpAddr>,
    /// Virtual addresses we leased to the peer from our pools.
    pub leased: Vec<core::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaInfo {
    pub name: String,
    pub spi_in: u32,
    pub spi_out: u32,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
}

/// Exported IKE SA keys; see [`Endpoint::export_ike_keys`].
#[derive(Debug, Clone)]
pub struct IkeKeyExport {
    pub spi_i: u64,
    pub spi_r: u64,
    /// Whether the exporting side is the original initiator.
    pub original_initiator: bool,
    pub keys: IkeKeys,
}

impl IkeKeyExport {
    /// The line of Wireshark's `ikev2_decryption_table` for this IKE SA.
    pub fn wireshark_row(&self) -> Result<String, iketcp_crypto::CryptoError> {
        iketcp_crypto::wireshark::ikev2_decryption_row(
            &self.spi_i.to_be_bytes(),
            &self.spi_r.to_be_bytes(),
            &self.keys,
        )
    }
}

/// The sans-IO IKEv2 engine.
///
/// Contract: after every `handle_*` call or command, drain [`Endpoint::poll_output`]
/// until it returns `None`, then sleep until [`Endpoint::poll_timeout`] and call
/// [`Endpoint::handle_timeout`]. `now` never goes backwards; an early timeout is a
/// no-op. The engine reads no clock, opens no socket and takes randomness only from the
/// [`Rng`] it was given.
pub struct Endpoint {
    shared: Shared,
    sas: HashMap<u64, IkeSa>,
    by_id: HashMap<IkeSaId, u64>,
    /// Responder: (peer address, SPIi) of IKE_SA_INIT requests answered, to spot
    /// retransmissions.
    init_index: HashMap<(SocketAddr, u64), u64>,
    cookies: Cookies,
    /// Half-open IKE SAs (local SPI → the address IKE_SA_INIT came from), counted so
    /// that admitting one more costs the same at 10 or at 100,000.
    half_open: HashMap<u64, IpAddr>,
    half_open_by_source: HashMap<IpAddr, usize>,
    stats: EndpointStats,
    index: Index,
}

/// What the endpoint knows of each IKE SA without asking it: its next deadline and the
/// streams it uses, kept current after every handler so that finding due SAs, the next
/// deadline or the SAs of a stream costs the same with 10 SAs as with 100,000.
#[derive(Default)]
struct Index {
    entries: HashMap<u64, Indexed>,
    deadlines: BTreeSet<(Instant, u64)>,
    streams: HashMap<StreamId, HashSet<u64>>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Indexed {
    deadline: Option<Instant>,
    stream: Option<StreamId>,
    awaiting: Option<StreamId>,
}

impl Index {
    /// Records `now` (`None`: the SA is gone) for the SA `spi`.
    fn set(&mut self, spi: u64, now: Option<Indexed>) {
        let old = self.entries.get(&spi).copied();
        if old == now {
            return;
        }
        if let Some(o) = old {
            if let Some(d) = o.deadline {
                self.deadlines.remove(&(d, spi));
            }
            for id in [o.stream, o.awaiting].into_iter().flatten() {
                if let Some(set) = self.streams.get_mut(&id) {
                    set.remove(&spi);
                    if set.is_empty() {
                        self.streams.remove(&id);
                    }
                }
            }
        }
        match now {
            Some(n) => {
                if let Some(d) = n.deadline {
                    self.deadlines.insert((d, spi));
                }
                for id in [n.stream, n.awaiting].into_iter().flatten() {
                    self.streams.entry(id).or_default().insert(spi);
                }
                self.entries.insert(spi, n);
            }
            None => {
                self.entries.remove(&spi);
            }
        }
    }
}

/// What [`Endpoint::reconfigure`] did, by connection name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Counters of what the endpoint refused, for operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Half-open IKE SAs now.
    pub half_open: usize,
    /// Inbound Child SA SPIs now reserved (installed or being negotiated).
    pub child_spis: usize,
    /// IKE_SA_INIT requests dropped: `half_open_limit` reached.
    pub init_dropped_limit: u64,
    /// IKE_SA_INIT requests dropped: `half_open_per_source` reached for their address.
    pub init_dropped_source: u64,
    /// IKE_SA_INIT requests dropped: longer than `max_init_request`.
    pub init_dropped_size: u64,
}

/// What every IKE SA's handlers see, apart from the SAs themselves.
struct Shared {
    config: EndpointConfig,
    peers: Vec<PeerConfig>,
    rng: Box<dyn Rng>,
    local_spis: HashSet<u64>,
    child_spis: HashSet<u32>,
    out: VecDeque<Output>,
    /// Configurations a reconfiguration removed (see `Cx::retired`).
    retired: HashSet<usize>,
    next_id: u64,
    next_stream: u64,
    /// Per family, outbound SPIs the peer deleted before we had the Child SA.
    tombstones: HashMap<IkeSaId, VecDeque<u32>>,
    leases: crate::vip::Leases,
}

impl Shared {
    fn cx(&mut self, now: Instant) -> Cx<'_> {
        Cx {
            now,
            config: &self.config,
            peers: &self.peers,
            retired: &self.retired,
            rng: self.rng.as_mut(),
            out: &mut self.out,
            child_spis: &mut self.child_spis,
            ike_spis: &self.local_spis,
            next_id: &mut self.next_id,
            next_stream: &mut self.next_stream,
            tombstones: &self.tombstones,
            leases: &mut self.leases,
            fx: Effects::default(),
        }
    }

    /// Remembers a few SPIs per family; a bound, not a record: the race it closes lasts
    /// one round trip.
    fn tombstone(&mut self, family: IkeSaId, spi_out: u32) {
        if self.tombstones.len() >= 4096 {
            self.tombstones.clear();
        }
        let t = self.tombstones.entry(family).or_default();
        if t.len() >= 16 {
            t.pop_front();
        }
        t.push_back(spi_out);
    }

    fn new_id(&mut self) -> IkeSaId {
        self.next_id += 1;
        IkeSaId(self.next_id)
    }
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("peers", &self.shared.peers.len())
            .field("ike_sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub fn new(config: EndpointConfig, peers: Vec<PeerConfig>, mut rng: Box<dyn Rng>) -> Self {
        let cookies = Cookies::new(rng.as_mut(), config.cookie_secret_lifetime);
        Self {
            shared: Shared {
                config,
                peers,
                rng,
                local_spis: HashSet::new(),
                child_spis: HashSet::new(),
                out: VecDeque::new(),
                retired: HashSet::new(),
                next_id: 0,
                next_stream: 0,
                tombstones: HashMap::new(),
                leases: crate::vip::Leases::default(),
            },
            sas: HashMap::new(),
            by_id: HashMap::new(),
            init_index: HashMap::new(),
            cookies,
            half_open: HashMap::new(),
            half_open_by_source: HashMap::new(),
            stats: EndpointStats::default(),
            index: Index::default(),
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.shared.config
    }

    pub fn peers(&self) -> &[PeerConfig] {
        &self.shared.peers
    }

    /// Runs `f` on one IKE SA with a context, then adopts new SAs and reaps dead ones.
    fn run<R>(
        &mut self,
        now: Instant,
        local_spi: u64,
        f: impl FnOnce(&mut IkeSa, &mut Cx<'_>) -> R,
    ) -> Option<R> {
        let mut f = Some(f);
        let mut r = None;
        self.run_dyn(now, local_spi, &mut |sa, cx| {
            if let Some(f) = f.take() {
                r = Some(f(sa, cx));
            }
        });
        r
    }

    fn run_dyn(
        &mut self,
        now: Instant,
        local_spi: u64,
        f: &mut dyn FnMut(&mut IkeSa, &mut Cx<'_>),
    ) {
        let Some(sa) = self.sas.get_mut(&local_spi) else {
            return;
        };
        let family = sa.family;
        let was_half_open = sa.state == State::HalfOpen;
        let mut cx = self.shared.cx(now);
        f(sa, &mut cx);
        let left_half_open = was_half_open && sa.state != State::HalfOpen;
        let fx = cx.fx;
        if left_half_open {
            self.half_open_done(local_spi);
        }
        self.apply(now, local_spi, family, fx);
        self.reindex(local_spi);
    }

    /// Brings the index entry of `spi` up to date with the SA.
    fn reindex(&mut self, spi: u64) {
        let now = self.sas.get(&spi).map(|sa| Indexed {
            deadline: sa.next_timeout(),
            stream: sa.path.stream(),
            awaiting: sa.awaiting_stream,
        });
        self.index.set(spi, now);
    }

    /// Carries out what a handler of the IKE SA `local_spi` asked for beyond itself.
    fn apply(&mut self, now: Instant, local_spi: u64, family: IkeSaId, fx: Effects) {
        let Effects {
            new_sas,
            handoffs,
            merges,
            mut removals,
            removals_out,
        } = fx;
        let started: Vec<u64> = new_sas
            .iter()
            .filter(|sa| !sa.queue.is_empty())
            .map(IkeSa::local_spi)
            .collect();
        self.adopt(new_sas);
        self.reap(local_spi);
        for spi in started {
            // Work a new IKE SA inherited (or its own deletion after a collision).
            self.run_dyn(now, spi, &mut |sa, cx| sa.kick(cx));
        }
        for spi_out in removals_out {
            // Only within the family: the peer's SPIs name nothing of another IKE SA,
            // even one authenticated with the same identity.
            let found = self.sas.values().find_map(|sa| {
                (sa.family == family)
                    .then(|| sa.children.iter().find(|c| c.spi_out == spi_out))
                    .flatten()
                    .map(|c| c.spi_in)
            });
            match found {
                Some(spi_in) => removals.push(spi_in),
                // Deleted before we made it: a rekey answer still on its way may yet
                // install it; it must not stand (RFC 7296 §2.8.1).
                None => self.shared.tombstone(family, spi_out),
            }
        }
        for spi_in in removals {
            let holder = self
                .sas
                .iter()
                .find(|(_, sa)| {
                    sa.family == family && sa.children.iter().any(|c| c.spi_in == spi_in)
                })
                .map(|(k, _)| *k);
            if let Some(holder) = holder {
                self.run_dyn(now, holder, &mut |sa, cx| {
                    sa.remove_child(cx, spi_in, crate::events::DownReason::Local)
                });
            }
        }
        for m in merges {
            if let Some(loser) = self.sas.get_mut(&m.from) {
                loser.superseded = true;
                loser.successor = Some(m.to);
                // Deleted from both sides; see `IkeSa::successor`.
                loser.queue.push_back(Task::DeleteIke);
                self.run_dyn(now, m.from, &mut |sa, cx| {
                    sa.hand_off(cx, None);
                    sa.kick(cx);
                });
            }
        }
        for h in handoffs {
            if let Some(sa) = self.sas.get_mut(&h.to) {
                if sa.successor == Some(h.from) {
                    // Its successor is gone: it carries its Child SAs again.
                    sa.successor = None;
                    sa.successor_nonce = None;
                    sa.superseded = false;
                }
                sa.children.extend(h.children);
                sa.queue.extend(h.tasks);
                self.run_dyn(now, h.to, &mut |sa, cx| sa.kick(cx));
            } else {
                // The successor is gone too: its Child SAs went with it.
                for c in h.children {
                    self.shared.child_spis.remove(&c.spi_in);
                    self.shared.out.push_back(Output::RemoveChild {
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                    });
                }
            }
        }
    }

    fn adopt(&mut self, new_sas: Vec<IkeSa>) {
        for sa in new_sas {
            let spi = sa.local_spi();
            self.by_id.insert(sa.id, spi);
            self.shared.local_spis.insert(spi);
            self.sas.insert(spi, sa);
            self.reindex(spi);
        }
    }

    fn reap(&mut self, local_spi: u64) {
        if self
            .sas
            .get(&local_spi)
            .is_some_and(|sa| sa.state == State::Dead)
            && let Some(sa) = self.sas.remove(&local_spi)
        {
            if self.by_id.get(&sa.id) == Some(&local_spi) {
                // A fallback hands the handle to its successor.
                self.by_id.remove(&sa.id);
            }
            self.shared.local_spis.remove(&local_spi);
            if let Some(from) = sa.init_from {
                self.init_index.remove(&(from, sa.spi_i));
            }
            self.half_open_done(local_spi);
            self.index.set(local_spi, None);
            for c in &sa.children {
                self.shared.child_spis.remove(&c.spi_in);
            }
            // A lease lasts as long as the family that took it.
            if self.shared.leases.holds(sa.family)
                && !self.sas.values().any(|s| s.family == sa.family)
            {
                let freed = self.shared.leases.release(sa.family);
                info!(family = %sa.family, "virtual IP released: {freed:?}");
            }
        }
    }

    /// One IKE message (the non-ESP marker or stream framing already removed), with the
    /// path it came on.
    pub fn handle_message(&mut self, now: Instant, path: Path, message: &[u8]) {
        let Ok(view) = HeaderView::new_checked(message) else {
            if let Ok(v) = HeaderView::new_any_version(message)
                && v.version() >> 4 > 2
                && !v.is_response()
                && v.exchange() == ExchangeType::IKE_SA_INIT
            {
                // RFC 7296 §2.5: tell the sender the highest major version we speak.
                self.invalid_major_version(path, v.spi_i(), v.message_id());
            }
            debug!("dropped message from {}: not an IKEv2 header", path.remote);
            return;
        };
        let msg = match Message::parse(message) {
            Ok(m) => m,
            Err(e) => {
                // RFC 7296 §2.21.1: unauthenticated garbage is dropped, nothing else.
                debug!("dropped malformed message from {}: {e}", path.remote);
                return;
            }
        };
        let flags = view.flags();
        let response = flags.contains(Flags::RESPONSE);
        let from_initiator = flags.contains(Flags::INITIATOR);
        if view.exchange() == ExchangeType::IKE_SA_INIT && !response {
            self.handle_init_request(now, path, message, msg);
            return;
        }
        // The sender's role tells which SPI is ours.
        let local = if from_initiator {
            view.spi_r()
        } else {
            view.spi_i()
        };
        let (spi_i, spi_r) = (view.spi_i(), view.spi_r());
        let handled = self.run(now, local, |sa, cx| {
            let ours = sa.initiator != from_initiator
                && sa.spi_i == spi_i
                && (sa.spi_r == spi_r || (sa.spi_r == 0 && sa.state == State::InitSent));
            if ours {
                sa.handle(cx, path, message, msg);
            }
            ours
        });
        if handled != Some(true) {
            debug!(
                "dropped message from {}: no IKE SA {spi_i:016x}_i {spi_r:016x}_r",
                path.remote
            );
        }
    }

    fn invalid_major_version(&mut self, path: Path, spi_i: u64, message_id: u32) {
        let reply = Message {
            header: iketcp_wire::ike::Header {
                spi_i,
                spi_r: 0,
                next_payload: iketcp_wire::ike::PayloadType::NONE,
                version: iketcp_wire::ike::IKEV2_VERSION,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::RESPONSE,
                message_id,
                length: 0,
            },
            payloads: vec![iketcp_wire::ike::Payload::Notify(
                iketcp_wire::ike::Notify::new(
                    iketcp_wire::ike::NotifyType::INVALID_MAJOR_VERSION,
                    vec![],
                ),
            )],
        };
        if let Ok(message) = reply.emit() {
            self.shared
                .out
                .push_back(Output::Transmit(crate::events::Transmit { path, message }));
        }
    }

    fn handle_init_request(&mut self, now: Instant, path: Path, raw: &[u8], msg: Message) {
        let spi_i = msg.header.spi_i;
        if msg.header.spi_r != 0 || msg.header.message_id != 0 || spi_i == 0 {
            return;
        }
        if let Some(&local) = self.init_index.get(&(path.remote, spi_i)) {
            // A retransmitted IKE_SA_INIT request: the half-open SA resends its response.
            self.run(now, local, |sa, cx| sa.handle(cx, path, raw, msg));
            return;
        }
        if raw.len() > self.shared.config.max_init_request {
            self.stats.init_dropped_size += 1;
            debug!(
                "dropped IKE_SA_INIT of {} bytes from {}",
                raw.len(),
                path.remote
            );
            return;
        }
        let source = path.remote.ip();
        let cfg = &self.shared.config;
        if self.half_open.len() >= cfg.half_open_limit {
            self.stats.init_dropped_limit += 1;
            debug!("dropped IKE_SA_INIT from {}: half-open limit", path.remote);
            return;
        }
        if self.half_open_by_source.get(&source).copied().unwrap_or(0) >= cfg.half_open_per_source {
            self.stats.init_dropped_source += 1;
            debug!(
                "dropped IKE_SA_INIT from {}: half-open limit for it",
                path.remote
            );
            return;
        }
        let cookie_needed = self.half_open.len() >= cfg.cookie_threshold;
        self.cookies.tick(now, self.shared.rng.as_mut());
        let id = self.shared.new_id();
        let half_open_until = now + self.shared.config.half_open_timeout;
        let mut cx = self.shared.cx(now);
        let r = Responder {
            id,
            cookies: cookie_needed.then_some(&self.cookies),
            half_open_until,
        };
        let sa = ike_init::respond(&mut cx, r, path, raw, msg);
        let mut fx = cx.fx;
        if let Some(sa) = sa {
            let spi = sa.local_spi();
            self.init_index.insert((path.remote, spi_i), spi);
            self.half_open.insert(spi, source);
            *self.half_open_by_source.entry(source).or_default() += 1;
            fx.new_sas.push(sa);
        }
        self.adopt(fx.new_sas);
    }

    /// The IKE SA `local_spi` is half-open no more (established, or gone).
    fn half_open_done(&mut self, local_spi: u64) {
        if let Some(source) = self.half_open.remove(&local_spi)
            && let Some(n) = self.half_open_by_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.half_open_by_source.remove(&source);
            }
        }
    }

    /// What the endpoint counted.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            half_open: self.half_open.len(),
            child_spis: self.shared.child_spis.len(),
            ..self.stats.clone()
        }
    }

    fn peer_index(&self, name: &str) -> Result<usize, ApiError> {
        self.shared
            .peers
            .iter()
            .enumerate()
            .position(|(i, p)| p.name == name && !self.shared.retired.contains(&i))
            .ok_or_else(|| ApiError::UnknownPeer(name.to_string()))
    }

    /// Takes a new set of peer configurations, matched to the running ones by name: a
    /// configuration in `changed` or gone from `peers` has its IKE SAs deleted (they
    /// were made under the old one); the others keep theirs; new ones are added. Indices
    /// stay stable, so SAs still draining find their configuration.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        peers: Vec<PeerConfig>,
        changed: &[String],
    ) -> Reconfigured {
        let mut report = Reconfigured::default();
        let mut incoming: Vec<Option<PeerConfig>> = peers.into_iter().map(Some).collect();
        let mut ended = Vec::new();
        for i in 0..self.shared.peers.len() {
            if self.shared.retired.contains(&i) {
                continue;
            }
            let name = self.shared.peers[i].name.clone();
            let found = incoming
                .iter_mut()
                .find(|p| p.as_ref().is_some_and(|p| p.name == name))
                .and_then(Option::take);
            match found {
                Some(p) => {
                    if changed.contains(&name) {
                        ended.push(i);
                        report.changed.push(name);
                    } else {
                        report.unchanged.push(name);
                    }
                    self.shared.peers[i] = p;
                }
                None => {
                    self.shared.retired.insert(i);
                    ended.push(i);
                    report.removed.push(name);
                }
            }
        }
        for p in incoming.into_iter().flatten() {
            report.added.push(p.name.clone());
            self.shared.peers.push(p);
        }
        let doomed: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.peer.is_some_and(|p| ended.contains(&p)))
            .map(|(k, _)| *k)
            .collect();
        for spi in doomed {
            self.run(now, spi, |sa, cx| {
                if sa.state == State::Established {
                    sa.enqueue(cx, Task::DeleteIke);
                } else {
                    sa.die(cx, crate::events::DownReason::Local);
                }
            });
        }
        report
    }

    fn child_index(&self, peer: usize, child: &str) -> Result<usize, ApiError> {
        self.shared.peers[peer]
            .children
            .iter()
            .position(|c| c.name == child)
            .ok_or_else(|| ApiError::UnknownChild(child.to_string()))
    }

    /// Starts an IKE SA with a configured peer, from its configured addresses, over the
    /// transport its configuration names (R-CFG-1), creating `child` with IKE_AUTH.
    pub fn initiate(
        &mut self,
        now: Instant,
        peer: &str,
        child: Option<&str>,
    ) -> Result<IkeSaId, ApiError> {
        let p = self.peer_index(peer)?;
        let c = child.map(|c| self.child_index(p, c)).transpose()?;
        let id = self.shared.new_id();
        let mut cx = self.shared.cx(now);
        let sa = IkeSa::connect(&mut cx, id, p, c)?;
        let mut fx = cx.fx;
        fx.new_sas.push(sa);
        self.adopt(fx.new_sas);
        Ok(id)
    }

    /// A connection the engine asked for with [`Output::OpenStream`] is open, between
    /// `local` and `remote` (the TCP 4-tuple the NAT detection hashes use, R-NAT-1), as
    /// plain TCP or inside TLS (`transport` names the stream).
    pub fn stream_opened(
        &mut self,
        now: Instant,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let Some(id) = transport.stream_id() else {
            return;
        };
        for spi in self.on_stream(id, |sa| sa.awaiting_stream == Some(id)) {
            self.run(now, spi, |sa, cx| {
                sa.stream_opened(cx, transport, local, remote)
            });
        }
    }

    /// A connection closed (FIN, RST, error), or one the engine asked for could not be
    /// opened. No SA goes with it (R-SEC-2); the TCP Originator reconnects (R-CONN-3).
    pub fn stream_closed(&mut self, now: Instant, id: StreamId) {
        let hit = |sa: &IkeSa| sa.awaiting_stream == Some(id) || sa.path.stream() == Some(id);
        for spi in self.on_stream(id, hit) {
            self.run(now, spi, |sa, cx| sa.stream_closed(cx, id));
        }
    }

    /// A fresh stream identifier, for a connection the I/O layer accepted.
    pub fn new_stream_id(&mut self) -> StreamId {
        self.shared.next_stream += 1;
        StreamId(self.shared.next_stream)
    }

    /// Whether any IKE SA sends on, or waits for, stream `id`.
    pub fn stream_in_use(&self, id: StreamId) -> bool {
        self.index.streams.contains_key(&id)
    }

    /// The local SPIs of the SAs on stream `id` that `hit` selects.
    fn on_stream(&self, id: StreamId, hit: impl Fn(&IkeSa) -> bool) -> Vec<u64> {
        self.index
            .streams
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|spi| self.sas.get(spi).is_some_and(&hit))
            .copied()
            .collect()
    }

    /// Starts an IKE SA on a given path (e.g. a stream the I/O layer opened).
    pub fn initiate_on(
        &mut self,
        now: Instant,
        peer: &str,
        child: Option<&str>,
        path: Path,
    ) -> Result<IkeSaId, ApiError> {
        let p = self.peer_index(peer)?;
        let c = child.map(|c| self.child_index(p, c)).transpose()?;
        let id = self.shared.new_id();
        let mut cx = self.shared.cx(now);
        let sa = IkeSa::initiate(&mut cx, id, p, path, c)?;
        let mut fx = cx.fx;
        fx.new_sas.push(sa);
        self.adopt(fx.new_sas);
        Ok(id)
    }

    fn task(&mut self, now: Instant, ike: IkeSaId, task: Task) -> Result<(), ApiError> {
        let spi = *self.by_id.get(&ike).ok_or(ApiError::UnknownSa(ike))?;
        self.run(now, spi, |sa, cx| {
            if sa.state != State::Established {
                return Err(ApiError::NotEstablished);
            }
            sa.enqueue(cx, task);
            Ok(())
        })
        .unwrap_or(Err(ApiError::UnknownSa(ike)))
    }

    /// A new Child SA on an established IKE SA (CREATE_CHILD_SA).
    pub fn create_child(
        &mut self,
        now: Instant,
        ike: IkeSaId,
        child: &str,
    ) -> Result<(), ApiError> {
        let spi = *self.by_id.get(&ike).ok_or(ApiError::UnknownSa(ike))?;
        let peer = self
            .sas
            .get(&spi)
            .and_then(|s| s.peer)
            .ok_or(ApiError::NotEstablished)?;
        let cfg = self.child_index(peer, child)?;
        self.task(now, ike, Task::CreateChild { cfg })
    }

    fn child_check(&self, ike: IkeSaId, spi_in: u32) -> Result<(), ApiError> {
        let spi = self.by_id.get(&ike).ok_or(ApiError::UnknownSa(ike))?;
        let ok = self
            .sas
            .get(spi)
            .is_some_and(|s| s.children.iter().any(|c| c.spi_in == spi_in));
        ok.then_some(()).ok_or(ApiError::UnknownChildSa(spi_in))
    }

    pub fn rekey_child(&mut self, now: Instant, ike: IkeSaId, spi_in: u32) -> Result<(), ApiError> {
        self.child_check(ike, spi_in)?;
        self.task(now, ike, Task::RekeyChild { spi_in })
    }

    pub fn delete_child(
        &mut self,
        now: Instant,
        ike: IkeSaId,
        spi_in: u32,
    ) -> Result<(), ApiError> {
        self.child_check(ike, spi_in)?;
        self.task(now, ike, Task::DeleteChild { spi_in })
    }

    pub fn rekey_ike(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        self.task(now, ike, Task::RekeyIke)
    }

    /// Deletes the IKE SA and its Child SAs (INFORMATIONAL with DELETE).
    pub fn terminate(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        self.task(now, ike, Task::DeleteIke)
    }

    /// An immediate liveness check (RFC 7296 §2.4).
    pub fn liveness(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        self.task(now, ike, Task::Liveness)
    }

    /// The ESP engine counted a Child SA past its byte or packet limit (RFC 4301 §4.4.2.1
    /// lifetimes; time limits are the engine's own): soft asks for a rekey, hard deletes
    /// it. `spi` is either direction's SPI.
    pub fn child_lifetime(&mut self, now: Instant, spi: u32, hard: bool) -> Result<(), ApiError> {
        let holder = self
            .sas
            .iter()
            .find_map(|(k, sa)| {
                sa.children
                    .iter()
                    .find(|c| c.spi_in == spi || c.spi_out == spi)
                    .map(|c| (*k, c.spi_in, c.rekey.replaced))
            })
            .ok_or(ApiError::UnknownChildSa(spi))?;
        let (ike, spi_in, rekeyed) = holder;
        self.run(now, ike, |sa, cx| {
            if hard {
                sa.remove_child(cx, spi_in, crate::events::DownReason::Expired);
                sa.enqueue(cx, Task::DeleteChild { spi_in });
            } else if !rekeyed {
                sa.enqueue(cx, Task::RekeyChild { spi_in });
            }
        });
        Ok(())
    }

    /// The host's addresses are now `addrs` (from rtnetlink): an IKE SA whose local
    /// address went away, or that listens on any address, is moved by MOBIKE (RFC 4555)
    /// where we are the initiator.
    pub fn addresses_changed(&mut self, now: Instant, addrs: &[core::net::IpAddr]) {
        let spis: Vec<u64> = self.sas.keys().copied().collect();
        for spi in spis {
            self.run(now, spi, |sa, cx| sa.local_addresses_changed(cx, addrs));
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .index
            .deadlines
            .range(..=(now, u64::MAX))
            .map(|(_, spi)| *spi)
            .collect();
        for spi in due {
            self.run(now, spi, |sa, cx| sa.handle_timeout(cx));
            // A half-open SA that timed out is marked dead without an event.
            self.reap(spi);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.shared.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.index.deadlines.first().map(|(t, _)| *t)
    }

    /// The keys of an IKE SA, for decrypting captures (Wireshark's
    /// `ikev2_decryption_table`). This hands out secrets: call it only when the operator
    /// asked for key export.
    pub fn export_ike_keys(&self, ike: IkeSaId) -> Option<IkeKeyExport> {
        let sa = self.sas.get(self.by_id.get(&ike)?)?;
        Some(IkeKeyExport {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            original_initiator: sa.initiator,
            keys: sa.keys.as_ref()?.ike.clone(),
        })
    }

    pub fn ike_sas(&self) -> Vec<IkeSaInfo> {
        let mut v: Vec<IkeSaInfo> = self
            .sas
            .values()
            .map(|sa| IkeSaInfo {
                id: sa.id,
                peer: sa
                    .peer
                    .and_then(|p| self.shared.peers.get(p))
                    .map(|p| p.name.clone()),
                established: sa.state == State::Established,
                initiator: sa.initiator,
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                path: sa.path,
                children: sa
                    .children
                    .iter()
                    .map(|c| ChildSaInfo {
                        name: c.name.clone(),
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                        rekey_at: c.rekey_at,
                        expire_at: c.expire_at,
                    })
                    .collect(),
                up_since: sa.up_since,
                rekey_at: sa.rekey_at,
                expire_at: sa.expire_at,
                mobike: sa.mobike,
                next_udp_probe: sa.udp_probe_at,
                udp_encap: sa.encap,
                virtual_ips: sa.own_vips.clone(),
                leased: sa.leased.clone(),
            })
            .collect();
        v.sort_by_key(|i| i.id);
        v
    }
}
