//! One IKE SA: its keys, its Child SAs, and the RFC 7296 §2.1–2.3 machinery of message
//! IDs, the window of one outstanding request, retransmission and cached responses.
//!
//! Each exchange's own logic lives in its module (`ike_init`, `ike_auth`, `child`,
//! `ike_rekey`, `informational`), as `impl IkeSa` blocks; this module only moves
//! messages and decides what a transport changes (RFC 9329 §7: no retransmission over a
//! stream, R-RETX-1; cached responses are resent on any transport, R-RETX-3).

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use iketcp_crypto::Rng;
use iketcp_wire::ike::{
    ExchangeType, Flags, Header, IKEV2_VERSION, Message, Notify, Payload, PayloadType,
};
use tracing::{debug, info};

use crate::child::{ChildRequest, ChildSa};
use crate::config::{EndpointConfig, PeerConfig};
use crate::error::{Drop, ProtocolError};
use crate::events::{DownReason, Event, IkeSaId, Output, Transmit};
use crate::ike_auth::AuthRequest;
use crate::ike_init::InitRequest;
use crate::ike_rekey::IkeRekeyRequest;
use crate::path::{Path, StreamId};
use crate::proposal::Chosen;
use crate::protect::{self, Keys, Opened, Reassembly};
use crate::transitions::{self, Handler, Pending, Received, Role, Verdict};

/// What an exchange handler needs from the endpoint.
pub(crate) struct Cx<'a> {
    pub now: Instant,
    pub config: &'a EndpointConfig,
    pub peers: &'a [PeerConfig],
    /// Indices of `peers` removed by a reconfiguration: SAs still draining find their
    /// configuration there, but nothing new is made with it.
    pub retired: &'a HashSet<usize>,
    pub rng: &'a mut dyn Rng,
    pub out: &'a mut VecDeque<Output>,
    /// Inbound Child SA SPIs in use across the endpoint.
    pub child_spis: &'a mut HashSet<u32>,
    /// Local IKE SPIs in use across the endpoint.
    pub ike_spis: &'a HashSet<u64>,
    pub next_id: &'a mut u64,
    pub next_stream: &'a mut u64,
    /// Per family, outbound SPIs the peer deleted before we had their Child SA.
    pub tombstones: &'a std::collections::HashMap<IkeSaId, VecDeque<u32>>,
    /// Virtual addresses leased from the pools, across the endpoint.
    pub leases: &'a mut crate::vip::Leases,
    /// What the handler asks the endpoint to do once it returns.
    pub fx: Effects,
}

/// Changes that reach beyond one IKE SA, applied by the endpoint after the handler.
#[derive(Default)]
pub(crate) struct Effects {
    /// IKE SAs created while handling this input (an IKE rekey), for the endpoint to adopt.
    pub new_sas: Vec<IkeSa>,
    /// Child SAs and tasks a superseded IKE SA passes to its successor.
    pub handoffs: Vec<Handoff>,
    /// IKE SAs found redundant after a rekey collision, to fold into the survivor.
    pub merges: Vec<Merge>,
    /// Inbound SPIs of Child SAs the peer deleted that live on another IKE SA of this
    /// one's family.
    pub removals: Vec<u32>,
    /// Outbound SPIs of Child SAs the peer deleted that may live on another IKE SA of
    /// this one's family (after a rekey collision).
    pub removals_out: Vec<u32>,
}

/// What an IKE SA replaced by a rekey passes on: Child SAs that completed on it after the
/// rekey, and queued Child SA work (RFC 7296 §2.8: the new IKE SA inherits them).
pub(crate) struct Handoff {
    pub from: u64,
    pub to: u64,
    pub children: Vec<crate::child::ChildSa>,
    pub tasks: Vec<Task>,
}

/// RFC 7296 §2.8.2: the IKE SA `from` turned out redundant; everything it carries moves
/// to `to`, and if we initiated it we delete it.
pub(crate) struct Merge {
    pub from: u64,
    pub to: u64,
}

impl Cx<'_> {
    pub fn random_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        // A failing system RNG leaves zeros, which every caller refuses as an SPI.
        let _ = self.rng.fill(&mut b);
        u32::from_be_bytes(b)
    }

    pub fn random_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let _ = self.rng.fill(&mut b);
        u64::from_be_bytes(b)
    }

    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        let _ = self.rng.fill(&mut b);
        b
    }

    /// A fresh inbound ESP SPI: non-zero, above the reserved 1–255 (RFC 4303 §2.1) and
    /// unused.
    pub fn new_child_spi(&mut self) -> u32 {
        loop {
            let spi = self.random_u32();
            if spi > 255 && self.child_spis.insert(spi) {
                return spi;
            }
        }
    }

    /// A fresh local IKE SPI: non-zero and unused.
    pub fn new_ike_spi(&mut self) -> u64 {
        loop {
            let spi = self.random_u64();
            if spi != 0
                && !self.ike_spis.contains(&spi)
                && !self.fx.new_sas.iter().any(|s| s.local_spi() == spi)
            {
                return spi;
            }
        }
    }

    /// Random jitter below `max`.
    pub fn jitter(&mut self, max: core::time::Duration) -> core::time::Duration {
        let r = self.random_u32();
        max.mul_f64(f64::from(r) / f64::from(u32::MAX))
    }

    /// Whether configuration `i` may be chosen for a new IKE SA.
    pub fn live(&self, i: usize) -> bool {
        !self.retired.contains(&i)
    }

    /// Whether the peer already deleted the Child SA with this outbound SPI.
    pub fn deleted_by_peer(&self, family: IkeSaId, spi_out: u32) -> bool {
        self.tombstones
            .get(&family)
            .is_some_and(|t| t.contains(&spi_out))
    }

    pub fn new_stream_id(&mut self) -> StreamId {
        *self.next_stream += 1;
        StreamId(*self.next_stream)
    }

    pub fn new_sa_id(&mut self) -> IkeSaId {
        *self.next_id += 1;
        IkeSaId(*self.next_id)
    }

    pub fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Initiator: waiting for a TCP connection before IKE_SA_INIT (RFC 9329).
    Connecting,
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, IKE_AUTH awaited.
    HalfOpen,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    Established,
    /// Gone; the endpoint removes it.
    Dead,
}

/// Work the initiator side queues while a request is outstanding (window of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Task {
    CreateChild {
        cfg: usize,
    },
    RekeyChild {
        spi_in: u32,
    },
    RekeyIke,
    DeleteChild {
        spi_in: u32,
    },
    DeleteIke,
    Liveness,
    /// RFC 4555: tell the peer where we are now (on the current path).
    UpdateAddresses,
    /// R-FB-4: while on a stream, ask over UDP whether it works again.
    ProbeUdp,
}

/// The request we wait on an answer for.
pub(crate) enum Active {
    Init(InitRequest),
    Auth(AuthRequest),
    Child(ChildRequest),
    RekeyIke(IkeRekeyRequest),
    DeleteChild { spis_in: Vec<u32> },
    DeleteIke,
    Liveness,
    UpdateAddresses(crate::mobike::UpdateRequest),
}

impl Active {
    pub fn pending(&self) -> Pending {
        match self {
            Active::Init(_) => Pending::Init,
            Active::Auth(_) => Pending::Auth,
            Active::Child(_) => Pending::Child,
            Active::RekeyIke(_) => Pending::RekeyIke,
            Active::DeleteChild { .. } => Pending::DeleteChild,
            Active::DeleteIke => Pending::DeleteIke,
            Active::Liveness => Pending::Liveness,
            Active::UpdateAddresses(_) => Pending::UpdateAddresses,
        }
    }
}

pub(crate) struct Outstanding {
    pub message_id: u32,
    pub active: Active,
    pub packets: Vec<Vec<u8>>,
    /// Where the request goes now (RFC 4555, R-MOB-2: over UDP first, then a stream).
    pub on: Path,
    /// When its UDP attempt gives way to a stream: MOBIKE with TCP as the fallback.
    pub udp_until: Option<Instant>,
    pub retransmits: u32,
    /// Next retransmission; never set over a stream (R-RETX-1).
    pub next_send: Option<Instant>,
    pub deadline: Instant,
    /// An unauthenticated error notify received over UDP, kept in case the exchange
    /// times out (RFC 7296 §2.21.1: it may be forged, so it does not end the exchange).
    pub seen_error: Option<crate::error::Refusal>,
}

pub(crate) struct IkeSa {
    pub id: IkeSaId,
    /// The IKE SA this one descends from by rekeys (its own id if none). Child SAs move
    /// only within a family, so a peer's DELETE reaches nothing outside it, even when
    /// another IKE SA authenticated with the same identity (a group PSK).
    pub family: IkeSaId,
    /// Index of the peer configuration; a responder learns it from IKE_AUTH.
    pub peer: Option<usize>,
    /// Whether we are the original initiator of this IKE SA (the I flag).
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub state: State,
    pub path: Path,
    pub chosen: Option<Chosen>,
    pub keys: Option<Keys>,
    /// Nonces and IKE_SA_INIT messages, kept for the AUTH payloads.
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub peer_fragmentation: bool,
    pub next_mid: u32,
    pub outstanding: Option<Outstanding>,
    pub queue: VecDeque<Task>,
    pub expected_mid: u32,
    pub cached_response: Option<(u32, Vec<Vec<u8>>)>,
    /// SHA-256 of each packet of the last request taken (all its fragments): the
    /// cached response goes only to a byte-identical retransmission, never to a
    /// stranger who guessed the SPIs and the message ID.
    pub request_digests: Vec<[u8; 32]>,
    pub request_digests_mid: u32,
    pub reassembly: Option<Reassembly>,
    pub children: Vec<ChildSa>,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    pub dpd_at: Option<Instant>,
    pub half_open_until: Option<Instant>,
    /// Responder: where the IKE_SA_INIT request came from (its key in the endpoint's
    /// index of answered requests, with SPIi).
    pub init_from: Option<core::net::SocketAddr>,
    /// The Child SA config IKE_AUTH creates (initiator).
    pub first_child: Option<usize>,
    /// Set once the SA has announced itself up (so Down follows only Up).
    pub announced: bool,
    /// When it was established (a rekeyed SA: when its successor took over).
    pub up_since: Option<Instant>,
    /// Replaced by a rekeyed IKE SA; its deletion is the end of a rekey.
    pub superseded: bool,
    /// The local SPI of the IKE SA that replaced this one.
    pub successor: Option<u64>,
    /// The lower nonce of the exchange that made the successor (RFC 7296 §2.8.2).
    pub successor_nonce: Option<Vec<u8>>,
    /// We completed a rekey of this IKE SA as its initiator.
    pub rekeyed_by_us: bool,
    /// The local SPI of the IKE SA this one replaced in a rekey.
    pub predecessor: Option<u64>,
    /// We opened the stream this SA runs on: we reconnect it and close it (RFC 9329 §6,
    /// R-CONN-2, R-CONN-3, R-CONN-9). Kept by successors, whoever started their rekey.
    pub tcp_originator: bool,
    /// The stream we asked for and wait on.
    pub awaiting_stream: Option<StreamId>,
    /// When IKE_SA_INIT over UDP gives way to TCP (R-FB-1).
    pub fallback_at: Option<Instant>,
    /// When to try reconnecting after a failed attempt, and how many failed so far.
    pub reconnect_at: Option<Instant>,
    pub reconnect_failures: u32,
    /// RFC 4555: both sides announced MOBIKE_SUPPORTED.
    pub mobike: bool,
    /// With MOBIKE, we are the initiator, who decides where the SA goes (RFC 4555 §3.1).
    /// Kept by successors, whoever started their rekey.
    pub mobile: bool,
    /// Where the response to the request being handled goes: where it came from.
    pub respond_on: Option<Path>,
    /// R-FB-4: when to ask over UDP whether it works again, and how many such probes
    /// went unanswered in a row.
    pub udp_probe_at: Option<Instant>,
    pub udp_probes_failed: u32,
    /// UDP went unanswered and a connection is being opened to move to (R-MOB-1).
    pub leaving_udp: bool,
    /// On a UDP path, ESP is UDP-encapsulated (RFC 3948): a NAT was detected, or we
    /// faked one. Otherwise it goes as IP protocol 50. Learnt from the last NAT
    /// detection (IKE_SA_INIT, UPDATE_SA_ADDRESSES).
    pub encap: bool,
    /// Virtual addresses the peer assigned us (RFC 7296 §2.19); kept by successors.
    pub own_vips: Vec<core::net::IpAddr>,
    /// Virtual addresses we leased to the peer; kept by successors.
    pub leased: Vec<core::net::IpAddr>,
}

impl IkeSa {
    /// A fresh IKE SA: no keys, no exchanges yet, message IDs from zero.
    pub fn new(
        id: IkeSaId,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        state: State,
        path: Path,
    ) -> Self {
        IkeSa {
            id,
            family: id,
            peer: None,
            initiator,
            spi_i,
            spi_r,
            state,
            path,
            chosen: None,
            keys: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            peer_fragmentation: false,
            next_mid: 0,
            outstanding: None,
            queue: VecDeque::new(),
            expected_mid: 0,
            cached_response: None,
            request_digests: Vec::new(),
            request_digests_mid: 0,
            reassembly: None,
            children: Vec::new(),
            rekey_at: None,
            expire_at: None,
            dpd_at: None,
            half_open_until: None,
            init_from: None,
            first_child: None,
            announced: false,
            up_since: None,
            superseded: false,
            successor: None,
            successor_nonce: None,
            rekeyed_by_us: false,
            predecessor: None,
            tcp_originator: false,
            awaiting_stream: None,
            fallback_at: None,
            reconnect_at: None,
            reconnect_failures: 0,
            mobike: false,
            mobile: false,
            respond_on: None,
            udp_probe_at: None,
            udp_probes_failed: 0,
            leaving_udp: false,
            encap: true,
            own_vips: Vec::new(),
            leased: Vec::new(),
        }
    }

    pub fn local_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    pub fn peer_config<'a>(&self, cx: &Cx<'a>) -> Option<&'a PeerConfig> {
        self.peer.and_then(|i| cx.peers.get(i))
    }

    pub fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        let mut flags = Flags(0);
        if self.initiator {
            flags |= Flags::INITIATOR;
        }
        if response {
            flags |= Flags::RESPONSE;
        }
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: PayloadType::NONE,
            version: IKEV2_VERSION,
            exchange,
            flags,
            message_id,
            length: 0,
        }
    }

    /// The fragment size to use for a message on the current path: RFC 7383 fragments
    /// only over UDP and only when the peer announced support (R-FRAG-1).
    fn fragment_size(&self, cx: &Cx<'_>) -> Option<usize> {
        let ours = self.peer_config(cx).is_none_or(|p| p.fragmentation);
        (ours && self.peer_fragmentation && !self.path.is_stream())
            .then_some(cx.config.fragment_size)
    }

    /// Encrypts and sends a request, and waits for its response.
    pub fn send_request(
        &mut self,
        cx: &mut Cx<'_>,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
        active: Active,
    ) {
        let mid = self.next_mid;
        let header = self.header(exchange, false, mid);
        let frag = self.fragment_size(cx);
        let Some(keys) = self.keys.as_mut() else {
            return;
        };
        let packets = match protect::seal(header, &payloads, &mut keys.send, cx.rng, frag) {
            Ok(p) => p,
            Err(e) => {
                debug!(ike = %self.id, "cannot build {exchange} request: {e}");
                return;
            }
        };
        self.next_mid = self.next_mid.wrapping_add(1);
        self.transmit_request(cx, mid, packets, active);
    }

    /// [`send_request`](Self::send_request) on another path than the SA's (RFC 4555:
    /// an UPDATE_SA_ADDRESSES on the path it moves to).
    pub fn send_request_on(
        &mut self,
        cx: &mut Cx<'_>,
        path: Path,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
        active: Active,
    ) {
        let current = std::mem::replace(&mut self.path, path);
        self.send_request(cx, exchange, payloads, active);
        self.path = current;
    }

    /// Sends the packets of request `mid` on the SA's path and arms its timers.
    pub fn transmit_request(
        &mut self,
        cx: &mut Cx<'_>,
        mid: u32,
        packets: Vec<Vec<u8>>,
        active: Active,
    ) {
        for p in &packets {
            self.transmit(cx, p.clone());
        }
        let (next_send, deadline) = if self.path.is_stream() {
            // R-RETX-1: TCP retransmits for us; we only give up after a while.
            (None, cx.now + cx.config.stream_response_timeout())
        } else {
            (
                Some(cx.now + self.first_retransmit_wait(cx)),
                cx.now + cx.config.retransmit.total(),
            )
        };
        let udp_until = if self.path.is_stream() {
            None
        } else {
            self.udp_gives_way(cx).map(|d| cx.now + d)
        };
        self.outstanding = Some(Outstanding {
            message_id: mid,
            active,
            packets,
            on: self.path,
            udp_until,
            retransmits: 0,
            next_send,
            deadline,
            seen_error: None,
        });
    }

    pub fn transmit(&self, cx: &mut Cx<'_>, message: Vec<u8>) {
        self.transmit_on(cx, self.path, message);
    }

    pub fn transmit_on(&self, cx: &mut Cx<'_>, path: Path, message: Vec<u8>) {
        cx.out
            .push_back(Output::Transmit(Transmit { path, message }));
    }

    /// Encrypts and sends a response to request `mid`, caching it for retransmitted
    /// requests (R-RETX-3).
    pub fn send_response(
        &mut self,
        cx: &mut Cx<'_>,
        exchange: ExchangeType,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let header = self.header(exchange, true, mid);
        let frag = self.fragment_size(cx);
        let Some(keys) = self.keys.as_mut() else {
            return;
        };
        match protect::seal(header, &payloads, &mut keys.send, cx.rng, frag) {
            Ok(packets) => {
                // A response goes where its request came from (RFC 7296 §2.11).
                let path = self.respond_on.unwrap_or(self.path);
                for p in &packets {
                    self.transmit_on(cx, path, p.clone());
                }
                self.cached_response = Some((mid, packets));
            }
            Err(e) => debug!(ike = %self.id, "cannot build {exchange} response: {e}"),
        }
    }

    /// Answers request `mid` with an error notify (RFC 7296 §2.21.2), and nothing else.
    pub fn send_error(
        &mut self,
        cx: &mut Cx<'_>,
        exchange: ExchangeType,
        mid: u32,
        e: &ProtocolError,
    ) {
        self.send_response(cx, exchange, mid, vec![error_notify(e)]);
    }

    /// Starts the next queued task if the window is free.
    pub fn kick(&mut self, cx: &mut Cx<'_>) {
        while self.outstanding.is_none() && self.state == State::Established {
            // A superseded IKE SA only waits for its deletion; Child SA work moves to
            // its successor (see `hand_off`).
            let next = if self.superseded {
                let i = self.queue.iter().position(|t| *t == Task::DeleteIke);
                i.and_then(|i| self.queue.remove(i))
            } else {
                self.queue.pop_front()
            };
            let Some(task) = next else {
                return;
            };
            match task {
                Task::CreateChild { cfg } => self.start_create_child(cx, cfg, None),
                Task::RekeyChild { spi_in } => {
                    if let Some(cfg) = self
                        .children
                        .iter()
                        .find(|c| c.spi_in == spi_in)
                        .map(|c| c.cfg)
                    {
                        self.start_create_child(cx, cfg, Some(spi_in));
                    }
                }
                Task::RekeyIke => self.start_rekey_ike(cx),
                Task::DeleteChild { spi_in } => self.start_delete_child(cx, vec![spi_in]),
                Task::DeleteIke => self.start_delete_ike(cx),
                Task::Liveness => self.start_liveness(cx),
                Task::UpdateAddresses => self.start_update(cx, self.path),
                Task::ProbeUdp => self.start_udp_probe(cx),
            }
        }
    }

    pub fn enqueue(&mut self, cx: &mut Cx<'_>, task: Task) {
        if !self.queue.contains(&task) {
            self.queue.push_back(task);
        }
        self.kick(cx);
    }

    /// A message for this SA arrived (its header already routed it here).
    pub fn handle(&mut self, cx: &mut Cx<'_>, path: Path, raw: &[u8], msg: Message) {
        if msg.header.flags.contains(Flags::RESPONSE) {
            self.handle_response(cx, path, raw, msg);
        } else {
            self.respond_on = Some(path);
            self.handle_request(cx, path, raw, msg);
            self.respond_on = None;
        }
        self.kick(cx);
        self.hand_off(cx, None);
    }

    /// A superseded IKE SA passes its Child SAs and their queued work to its successor;
    /// `in_flight` is a Child SA rekey that this SA can no longer finish.
    pub fn hand_off(&mut self, cx: &mut Cx<'_>, in_flight: Option<Task>) {
        let Some(to) = self.successor else {
            return;
        };
        let children = std::mem::take(&mut self.children);
        let mut tasks: Vec<Task> = in_flight.into_iter().collect();
        tasks.extend(
            self.queue
                .iter()
                .filter(|t| {
                    !matches!(
                        t,
                        Task::DeleteIke
                            | Task::RekeyIke
                            | Task::Liveness
                            | Task::UpdateAddresses
                            | Task::ProbeUdp
                    )
                })
                .cloned(),
        );
        self.queue.retain(|t| matches!(t, Task::DeleteIke));
        if !children.is_empty() || !tasks.is_empty() {
            cx.fx.handoffs.push(Handoff {
                from: self.local_spi(),
                to,
                children,
                tasks,
            });
        }
    }

    fn role(&self) -> Role {
        if self.initiator {
            Role::Initiator
        } else {
            Role::Responder
        }
    }

    fn handle_response(&mut self, cx: &mut Cx<'_>, path: Path, raw: &[u8], msg: Message) {
        let mid = msg.header.message_id;
        let pending = match &self.outstanding {
            Some(o) if o.message_id == mid => o.active.pending(),
            Some(o) => {
                debug!(ike = %self.id, "dropped: {}", Drop::MessageId { got: mid, expected: o.message_id });
                return;
            }
            None => Pending::None,
        };
        let exchange = msg.header.exchange;
        let handler = match transitions::lookup(
            self.role(),
            self.state,
            exchange,
            Received::Response(pending),
        ) {
            Verdict::Run(h) => h,
            Verdict::Drop(d) => {
                debug!(ike = %self.id, mid, "dropped {exchange} response: {d}");
                return;
            }
            // A response is never answered.
            Verdict::Refuse(_) => return,
        };
        if handler == Handler::InitResponse {
            // IKE_SA_INIT travels in the clear; it keys the SA.
            self.process_init_response(cx, path, raw, msg);
            return;
        }
        let Some(payloads) = self.open(cx, raw, &msg) else {
            return;
        };
        if !path.is_stream() {
            // UDP answers: no need to leave it.
            self.leaving_udp = false;
        }
        self.follow_stream(cx, path);
        self.heard_from_peer(cx);
        let Some(out) = self.outstanding.take() else {
            return;
        };
        debug!(ike = %self.id, "received {exchange} response {mid} [ {} ]", summary(&payloads));
        match (handler, out.active) {
            (Handler::AuthResponse, Active::Auth(req)) => {
                self.process_auth_response(cx, req, payloads)
            }
            (Handler::ChildResponse, Active::Child(req)) => {
                self.process_child_response(cx, req, payloads)
            }
            (Handler::RekeyIkeResponse, Active::RekeyIke(req)) => {
                self.process_rekey_ike_response(cx, req, payloads)
            }
            (Handler::DeleteChildResponse, Active::DeleteChild { spis_in }) => {
                self.process_delete_child_response(cx, spis_in, payloads)
            }
            (Handler::DeleteIkeResponse, Active::DeleteIke) => {
                let reason = if self.superseded {
                    DownReason::Rekeyed
                } else {
                    DownReason::Local
                };
                self.die(cx, reason);
            }
            (Handler::LivenessResponse, Active::Liveness) => {}
            (Handler::UpdateAddressesResponse, Active::UpdateAddresses(req)) => {
                self.process_update_response(cx, req, path, payloads)
            }
            (h, active) => {
                // The table derives the handler from the request outstanding.
                debug!(ike = %self.id, "handler {h:?} does not answer {:?}", active.pending());
            }
        }
    }

    fn handle_request(&mut self, cx: &mut Cx<'_>, path: Path, raw: &[u8], msg: Message) {
        let mid = msg.header.message_id;
        let digest = iketcp_crypto::sha256(raw);
        if let Some((cached_mid, packets)) = &self.cached_response
            && *cached_mid == mid
        {
            if !self.request_digests.contains(&digest) {
                debug!(ike = %self.id, mid, "dropped: same message ID as the last request, other bytes");
                return;
            }
            // R-RETX-3: a repeated request gets the cached response, on whatever path it
            // came (over a stream the request may come on a new connection).
            debug!(ike = %self.id, mid, "retransmitted request, resending response");
            let packets = packets.clone();
            for m in packets {
                cx.out
                    .push_back(Output::Transmit(Transmit { path, message: m }));
            }
            return;
        }
        if mid != self.expected_mid {
            debug!(ike = %self.id, "dropped: {}", Drop::MessageId { got: mid, expected: self.expected_mid });
            return;
        }
        let exchange = msg.header.exchange;
        let verdict = transitions::lookup(self.role(), self.state, exchange, Received::Request);
        if let Verdict::Drop(d) = &verdict {
            debug!(ike = %self.id, mid, "dropped {exchange} request: {d}");
            return;
        }
        if self.request_digests_mid != mid
            || self.request_digests.len() >= usize::from(cx.config.max_fragments)
        {
            // A new request (the previous one's retransmissions are stale now: the peer
            // had its answer), or more packets than one request can have.
            self.request_digests.clear();
            self.request_digests_mid = mid;
        }
        self.request_digests.push(digest);
        let Some(payloads) = self.open(cx, raw, &msg) else {
            return;
        };
        // RFC 7296 §2.23: a request that will be acted on, from a new address or port
        // (the move to 4500, or a NAT rebinding), moves where we send; over a stream,
        // the connection it came on does (R-CONN-5). A replayed request never gets here.
        // With MOBIKE an UPDATE_SA_ADDRESSES decides for itself (RFC 4555 §3.5, §3.9).
        let update = self.mobike
            && payloads.iter().any(|p| {
                matches!(p, Payload::Notify(n) if n.notify_type == iketcp_wire::ike::NotifyType::UPDATE_SA_ADDRESSES)
            });
        if matches!(verdict, Verdict::Run(_)) && path != self.path && !update {
            if !path.is_stream() && !self.path.is_stream() {
                info!(ike = %self.id, "peer moved to {path}");
                self.path = path;
                self.announce_move(cx, crate::events::MoveReason::PeerMoved);
                self.update_child_paths(cx);
            } else {
                self.follow_stream(cx, path);
            }
        }
        self.heard_from_peer(cx);
        self.expected_mid = self.expected_mid.wrapping_add(1);
        debug!(ike = %self.id, "received {exchange} request {mid} [ {} ]", summary(&payloads));
        if let Some(t) = payloads.iter().find_map(|p| match p {
            Payload::Unknown {
                ty, critical: true, ..
            } => Some(ty.0),
            _ => None,
        }) {
            // RFC 7296 §2.5: an unknown payload with the critical bit set rejects the
            // whole message.
            let err = ProtocolError::UnsupportedCriticalPayload(t);
            self.send_error(cx, exchange, mid, &err);
            return;
        }
        match verdict {
            Verdict::Run(Handler::AuthRequest) => self.process_auth_request(cx, mid, payloads),
            Verdict::Run(Handler::CreateChildRequest) => {
                self.process_create_child_request(cx, mid, payloads)
            }
            Verdict::Run(Handler::InformationalRequest) => {
                self.process_informational_request(cx, mid, payloads)
            }
            Verdict::Refuse(e) => {
                info!(ike = %self.id, "refused {exchange} request {mid}: {e}");
                self.send_error(cx, exchange, mid, &e);
            }
            Verdict::Run(h) => {
                debug!(ike = %self.id, "handler {h:?} takes no request");
                let e = ProtocolError::InvalidSyntax;
                self.send_error(cx, exchange, mid, &e);
            }
            Verdict::Drop(_) => {}
        }
    }

    /// Decrypts a protected message, reassembling fragments. `None` means dropped or
    /// waiting for more fragments.
    fn open(&mut self, cx: &mut Cx<'_>, raw: &[u8], msg: &Message) -> Option<Vec<Payload>> {
        let keys = self.keys.as_ref()?;
        let mid = msg.header.message_id;
        match protect::open(raw, msg, &keys.recv) {
            Ok(Opened::Whole(p)) => Some(p),
            Ok(Opened::Fragment {
                number,
                total,
                first_payload,
                plaintext,
            }) => {
                // R-FRAG-1: fragments are reassembled whatever the transport.
                let fresh = match &self.reassembly {
                    Some(r) => r.message_id != mid || r.total() != total,
                    None => true,
                };
                if fresh {
                    match Reassembly::new(mid, total, cx.config.max_fragments) {
                        Ok(r) => self.reassembly = Some(r),
                        Err(e) => {
                            debug!(ike = %self.id, "dropped fragment: {e}");
                            return None;
                        }
                    }
                }
                let r = self.reassembly.as_mut()?;
                match r.add(number, first_payload, plaintext) {
                    Ok(Some(p)) => {
                        self.reassembly = None;
                        Some(p)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        self.reassembly = None;
                        self.syntax_error(cx, msg, e);
                        None
                    }
                }
            }
            Err(Drop::SyntaxAuthenticated(e)) => {
                self.syntax_error(cx, msg, Drop::SyntaxAuthenticated(e));
                None
            }
            Err(e) => {
                // RFC 7296 §2.21.2: unauthenticated garbage changes nothing.
                debug!(ike = %self.id, "dropped {}: {e}", msg.header.exchange);
                None
            }
        }
    }

    /// R-CONN-8: a syntax error in an authenticated message gets INVALID_SYNTAX and
    /// tears the IKE SA down; the transport stays.
    fn syntax_error(&mut self, cx: &mut Cx<'_>, msg: &Message, e: Drop) {
        info!(ike = %self.id, "syntax error in authenticated {}: {e}", msg.header.exchange);
        if !msg.header.flags.contains(Flags::RESPONSE) {
            let mid = msg.header.message_id;
            if mid == self.expected_mid {
                self.expected_mid = self.expected_mid.wrapping_add(1);
            }
            self.send_error(cx, msg.header.exchange, mid, &ProtocolError::InvalidSyntax);
        } else {
            // A response cannot be answered: tell the peer in a fresh INFORMATIONAL
            // (RFC 7296 §2.21.3), then go.
            let mid = self.next_mid;
            self.next_mid = self.next_mid.wrapping_add(1);
            let header = self.header(ExchangeType::INFORMATIONAL, false, mid);
            if let Some(keys) = self.keys.as_mut()
                && let Ok(packets) = protect::seal(
                    header,
                    &[error_notify(&ProtocolError::InvalidSyntax)],
                    &mut keys.send,
                    cx.rng,
                    None,
                )
            {
                for p in packets {
                    self.transmit(cx, p);
                }
            }
        }
        self.die(cx, DownReason::Protocol(ProtocolError::InvalidSyntax));
    }

    fn heard_from_peer(&mut self, cx: &mut Cx<'_>) {
        if let Some(d) = self.peer_config(cx).and_then(|p| p.dpd) {
            self.dpd_at = Some(cx.now + d);
        }
    }

    /// Ends this IKE SA and its Child SAs, telling the ESP engine and the operator.
    pub fn die(&mut self, cx: &mut Cx<'_>, reason: DownReason) {
        if self.state == State::Dead {
            return;
        }
        // The inbound SPI of a Child SA still being negotiated is free again.
        match self.outstanding.as_ref().map(|o| &o.active) {
            Some(Active::Child(req)) => {
                cx.child_spis.remove(&req.spi_in);
            }
            Some(Active::Auth(AuthRequest { child: Some(req) })) => {
                cx.child_spis.remove(&req.spi_in);
            }
            _ => {}
        }
        // A rekey of a Child SA still in flight here is started again on the successor.
        let in_flight = match self.outstanding.as_ref().map(|o| &o.active) {
            Some(Active::Child(req)) => req.rekey_of.map(|spi_in| Task::RekeyChild { spi_in }),
            Some(Active::DeleteChild { spis_in }) => {
                spis_in.first().map(|&spi_in| Task::DeleteChild { spi_in })
            }
            _ => None,
        };
        self.hand_off(cx, in_flight);
        for c in self.children.drain(..) {
            cx.child_spis.remove(&c.spi_in);
            cx.out.push_back(Output::RemoveChild {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
            cx.event(Event::ChildDown {
                ike: self.id,
                spi_in: c.spi_in,
                reason: reason.clone(),
            });
        }
        self.close_own_stream(cx);
        info!(ike = %self.id, "IKE SA down: {reason:?}");
        self.state = State::Dead;
        self.outstanding = None;
        self.queue.clear();
        cx.event(Event::IkeDown {
            ike: self.id,
            reason,
        });
    }

    /// The earliest instant this SA needs `handle_timeout`.
    pub fn next_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |i: Option<Instant>| {
            if let Some(i) = i {
                t = Some(t.map_or(i, |t| t.min(i)));
            }
        };
        if let Some(o) = &self.outstanding {
            at(o.next_send);
            at(Some(o.deadline));
        }
        at(self.rekey_at);
        at(self.expire_at);
        at(self.dpd_at);
        at(self.half_open_until);
        at(self.fallback_at);
        at(self.reconnect_at);
        if let Some(o) = &self.outstanding {
            at(o.udp_until);
        }
        at(self.udp_probe_at);
        for c in &self.children {
            at(c.rekey_at);
            at(c.expire_at);
        }
        t
    }

    pub fn handle_timeout(&mut self, cx: &mut Cx<'_>) {
        self.on_timeout(cx);
        self.hand_off(cx, None);
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now;
        if self.half_open_until.is_some_and(|t| t <= now) {
            self.half_open_until = None;
            debug!(ike = %self.id, "half-open IKE SA timed out");
            self.state = State::Dead;
            return;
        }
        if self.expire_at.is_some_and(|t| t <= now) {
            self.expire_at = None;
            self.die(cx, DownReason::Expired);
            return;
        }
        if self.fallback_at.is_some_and(|t| t <= now) {
            self.fallback_at = None;
            if self.fall_back(cx) {
                return;
            }
        }
        if self.reconnect_at.is_some_and(|t| t <= now) {
            self.reconnect_at = None;
            self.reconnect(cx);
        }
        let mut failed = None;
        if let Some(o) = self.outstanding.as_mut() {
            if o.deadline <= now {
                failed = Some(o.seen_error);
            } else if let Some(t) = o.next_send
                && t <= now
            {
                o.retransmits += 1;
                let n = o.retransmits;
                o.next_send =
                    (n <= cx.config.retransmit.tries).then(|| now + cx.config.retransmit.wait(n));
                debug!(ike = %self.id, mid = o.message_id, "retransmit {n}");
                let (packets, on) = (o.packets.clone(), o.on);
                for p in packets {
                    self.transmit_on(cx, on, p);
                }
            }
        }
        if self
            .outstanding
            .as_ref()
            .is_some_and(|o| o.retransmits > 0 && o.udp_until.is_some_and(|t| t <= now))
        {
            self.udp_unanswered(cx);
        }
        if let Some(seen) = failed {
            let reason = seen.map_or(DownReason::Timeout, DownReason::Refused);
            info!(ike = %self.id, "no response in time");
            self.die(cx, reason);
            return;
        }
        if self.state != State::Established {
            return;
        }
        if self.rekey_at.is_some_and(|t| t <= now) {
            self.rekey_at = None;
            self.enqueue(cx, Task::RekeyIke);
        }
        if self.udp_probe_at.is_some_and(|t| t <= now) {
            self.udp_probe_at = None;
            self.enqueue(cx, Task::ProbeUdp);
        }
        if self.dpd_at.is_some_and(|t| t <= now) {
            self.dpd_at = None;
            // R-DPD-1: liveness is an IKE INFORMATIONAL exchange, on every transport.
            self.enqueue(cx, Task::Liveness);
        }
        let mut expired = Vec::new();
        let mut rekey = Vec::new();
        for c in &mut self.children {
            if c.expire_at.is_some_and(|t| t <= now) {
                c.expire_at = None;
                expired.push(c.spi_in);
            } else if c.rekey_at.is_some_and(|t| t <= now) {
                c.rekey_at = None;
                rekey.push(c.spi_in);
            }
        }
        for spi_in in rekey {
            self.enqueue(cx, Task::RekeyChild { spi_in });
        }
        for spi_in in expired {
            self.remove_child(cx, spi_in, DownReason::Expired);
            self.enqueue(cx, Task::DeleteChild { spi_in });
        }
        self.kick(cx);
    }

    pub fn established(&mut self, cx: &mut Cx<'_>) {
        self.state = State::Established;
        self.half_open_until = None;
        self.up_since.get_or_insert(cx.now);
        // The IKE_SA_INIT messages served the AUTH payloads only (RFC 7296 §2.15).
        self.init_request = Vec::new();
        self.init_response = Vec::new();
        if let Some(p) = self.peer_config(cx) {
            let lt = p.ike_lifetime;
            let dpd = p.dpd;
            let name = p.name.clone();
            let jitter = cx.jitter(lt.jitter);
            self.rekey_at = Some(cx.now + lt.rekey.saturating_sub(jitter));
            self.expire_at = Some(cx.now + lt.hard);
            self.dpd_at = dpd.map(|d| cx.now + d);
            self.schedule_udp_probe(cx);
            if !self.announced {
                self.announced = true;
                info!(ike = %self.id, "IKE SA established with {name} on {}", self.path);
                cx.event(Event::IkeUp {
                    ike: self.id,
                    peer: name,
                    path: self.path,
                });
            }
        }
    }
}

pub(crate) fn error_notify(e: &ProtocolError) -> Payload {
    Payload::Notify(Notify::new(e.notify(), e.data()))
}

pub(crate) fn summary(payloads: &[Payload]) -> String {
    payloads
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}
