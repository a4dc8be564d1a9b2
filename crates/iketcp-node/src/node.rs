//! The node: one input, one output, IKE and ESP joined over UDP and streams.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use core::net::{IpAddr, SocketAddr};

use iketcp_esp::{EspError, EspEvent};
use iketcp_proto::{Endpoint, Event, Path, StreamId, Transport};
use iketcp_wire::encap::stream::{Frame, Limits, Outgoing, StreamError};
use iketcp_wire::encap::udp::{self, Datagram};
use thiserror::Error;
use tracing::{debug, info, warn};

use crate::child::{ChildRoute, sa_params};
use crate::datapath::{DataPath, Protected};
use crate::streams::{StreamRole, Streams};

/// What the node is told.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A UDP datagram that arrived on `local` from `remote`.
    Datagram {
        local: SocketAddr,
        remote: SocketAddr,
        data: &'a [u8],
    },
    /// A connection asked for with [`Output::Connect`] is open; `tls` when the bytes
    /// run inside TLS (RFC 9329 Appendix A).
    Connected {
        id: StreamId,
        local: SocketAddr,
        remote: SocketAddr,
        tls: bool,
    },
    /// A connection arrived on a listening port; `id` comes from
    /// [`Node::new_stream_id`].
    Accepted {
        id: StreamId,
        local: SocketAddr,
        remote: SocketAddr,
        tls: bool,
    },
    /// Bytes read from a connection, in any split.
    StreamData { id: StreamId, data: &'a [u8] },
    /// A connection ended (FIN, RST, error), or one asked for could not be opened.
    StreamClosed { id: StreamId },
    /// An IP packet to protect with the Child SA whose selectors it matches.
    Packet(&'a [u8]),
    /// The host's addresses changed; these are the ones it has now (RFC 4555: the
    /// initiator moves its IKE SAs by MOBIKE).
    Addresses(&'a [core::net::IpAddr]),
}

/// Why the node closes a connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CloseReason {
    #[error("framing: {0}")]
    Framing(StreamError),
    #[error("no stream prefix in time")]
    PrefixTimeout,
    #[error("idle and used by no IKE SA")]
    Idle,
    #[error("{0} unparsable messages")]
    Corrupt(u32),
    #[error("ESP authentication failed on a known SPI")]
    EspAuthentication,
    #[error("too many connections (from this source: {0})")]
    Limit(usize),
    #[error("closed by IKE")]
    Ike,
}

/// What the node asks of the I/O layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send a UDP datagram from `local` to `remote`.
    Datagram {
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    /// Send an ESP packet as an IP packet of protocol 50 from `local` to `remote`
    /// (RFC 4303, no UDP: no NAT between the two).
    RawEsp {
        local: IpAddr,
        remote: IpAddr,
        data: Vec<u8>,
    },
    /// Open a TCP connection to `remote` from `local`'s address (any port), with a
    /// timeout, wrapped as peer configuration `peer` asks (TLS, an HTTP proxy, R-CFG-2);
    /// report [`Input::Connected`] or [`Input::StreamClosed`].
    Connect {
        id: StreamId,
        local: IpAddr,
        remote: SocketAddr,
        peer: String,
    },
    /// Write these bytes to a connection, in order.
    StreamWrite {
        id: StreamId,
        data: Vec<u8>,
    },
    /// Close a connection.
    Close {
        id: StreamId,
        reason: CloseReason,
    },
    /// An IP packet that arrived through a Child SA.
    Packet(Vec<u8>),
    Event(Event),
    /// The keys of a Child SA just installed, only with [`NodeConfig::export_keys`]: for
    /// decrypting captures (Wireshark's `esp_sa`), and nothing else.
    ChildKeys(Box<iketcp_proto::ChildSaKeys>),
    /// A packet no Child SA carries was dropped: a connection started on demand may be
    /// wanted (RFC 4301 §5.1: an outbound packet with no SA triggers its negotiation).
    NoChildSa {
        src: IpAddr,
        dst: IpAddr,
    },
}

/// Bounds on what connections may hold (R-SEC-3) and the stream codec's limits.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Message size bounds on streams (R-FRAME-5).
    pub limits: Limits,
    /// An accepted connection must send the whole prefix within this (R-FRAME-1).
    pub prefix_timeout: Duration,
    /// An accepted connection that no IKE SA uses is closed after this long without a
    /// message (R-CONN-6, R-CONN-9).
    pub idle_timeout: Duration,
    /// Most accepted connections at once, and from one address.
    pub max_streams: usize,
    pub max_streams_per_source: usize,
    /// Unparsable or refused messages after which a connection is closed (R-CONN-8).
    pub max_corrupt: u32,
    /// Hand out every Child SA's keys as [`Output::ChildKeys`]. Secrets leave the node:
    /// only when the operator asked for key export.
    pub export_keys: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            prefix_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_streams: 10_000,
            max_streams_per_source: 64,
            max_corrupt: 8,
            export_keys: false,
        }
    }
}

/// IKE, ESP and streams, sans I/O.
pub struct Node {
    config: NodeConfig,
    ep: Endpoint,
    dp: DataPath,
    streams: Streams,
    out: VecDeque<Output>,
    now: Option<Instant>,
    buf: Vec<u8>,
    /// With key export on: the keys of every installed Child SA, by inbound SPI.
    exported: HashMap<u32, Box<iketcp_proto::ChildSaKeys>>,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("endpoint", &self.ep)
            .field("streams", &self.streams.map.len())
            .field("data_path", &self.dp)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with `ep` for IKE; `esp` encrypts (its random source makes CBC IVs).
    pub fn new(config: NodeConfig, ep: Endpoint, esp: iketcp_esp::Engine) -> Self {
        Self {
            dp: DataPath::new(esp, config.limits),
            config,
            ep,
            streams: Streams::default(),
            out: VecDeque::new(),
            now: None,
            buf: Vec::new(),
            exported: HashMap::new(),
        }
    }

    /// Runs a command on the IKE engine (initiate, rekey, terminate, …); drain
    /// [`Node::poll_output`] afterwards.
    pub fn command<R>(&mut self, now: Instant, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        self.now = Some(now);
        let r = f(&mut self.ep, now);
        self.pump(now);
        r
    }

    /// The IKE engine, read-only (status, statistics).
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The ESP data path: SAs, routes and counters, to be shared with packet tasks.
    pub fn data_path(&self) -> &DataPath {
        &self.dp
    }

    /// The Child SAs' routes now.
    pub fn routes(&self) -> impl Iterator<Item = ChildRoute> {
        self.dp.routes().into_iter()
    }

    /// With [`NodeConfig::export_keys`]: the keys of every Child SA now installed.
    pub fn child_keys(&self) -> impl Iterator<Item = &iketcp_proto::ChildSaKeys> {
        self.exported.values().map(|k| &**k)
    }

    /// Open connections and which end of each we are.
    pub fn streams(&self) -> impl Iterator<Item = (StreamId, StreamRole, SocketAddr)> + '_ {
        self.streams
            .map
            .iter()
            .map(|(id, s)| (*id, s.role, s.remote))
    }

    /// A fresh identifier for a connection the I/O layer accepted.
    pub fn new_stream_id(&mut self) -> StreamId {
        self.ep.new_stream_id()
    }

    pub fn handle(&mut self, now: Instant, input: Input<'_>) {
        self.now = Some(now);
        match input {
            Input::Datagram {
                local,
                remote,
                data,
            } => self.datagram(now, local, remote, data),
            Input::Connected {
                id,
                local,
                remote,
                tls,
            } => {
                self.streams.open(
                    id,
                    StreamRole::Originator,
                    tls,
                    (local, remote),
                    self.config.limits,
                    now,
                );
                self.ep
                    .stream_opened(now, Transport::stream(id, tls), local, remote);
            }
            Input::Accepted {
                id,
                local,
                remote,
                tls,
            } => self.accepted(now, id, (local, remote), tls),
            Input::StreamData { id, data } => self.stream_data(now, id, data),
            Input::StreamClosed { id } => {
                if let Some(s) = self.streams.remove(id) {
                    let closed = s.deframer.close();
                    if closed.partial_bytes > 0 {
                        // R-FRAME-7: a message cut by the end of its connection is lost.
                        debug!(
                            stream = id.0,
                            "discarded {} bytes of an unfinished message", closed.partial_bytes
                        );
                    }
                }
                self.ep.stream_closed(now, id);
            }
            Input::Packet(p) => self.protect(p),
            Input::Addresses(a) => self.ep.addresses_changed(now, a),
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.ep.handle_timeout(now);
        for id in self.streams.due(now) {
            let Some(s) = self.streams.map.get(&id) else {
                continue;
            };
            if s.deframer.awaiting_prefix() && s.prefix_deadline.is_some_and(|t| t <= now) {
                self.close(now, id, CloseReason::PrefixTimeout);
                continue;
            }
            let idle_at = s.last_rx + self.config.idle_timeout;
            if s.role == StreamRole::Responder && idle_at <= now {
                if self.ep.stream_in_use(id) {
                    self.streams
                        .schedule(id, Some(now + self.config.idle_timeout));
                } else {
                    self.close(now, id, CloseReason::Idle);
                }
                continue;
            }
            if s.role == StreamRole::Responder {
                self.streams.schedule(id, Some(idle_at));
            }
        }
        self.pump(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty()
            && let Some(now) = self.now
        {
            self.pump(now);
        }
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.ep.poll_timeout(), self.streams.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let path = Path::udp(local, remote);
        if !path.needs_non_esp_marker() {
            // Port 500: IKE only, no marker (RFC 7296 §2.23).
            self.ep.handle_message(now, path, data);
            return;
        }
        match udp::classify(data) {
            Ok(Datagram::Ike(m)) => self.ep.handle_message(now, path, m),
            Ok(Datagram::Esp(p)) => {
                let _ = self.unprotect(p);
            }
            // R-FRAME-6 for UDP: a NAT keepalive is no error.
            Ok(Datagram::Keepalive) => {}
            Err(e) => debug!("dropped datagram from {remote}: {e}"),
        }
    }

    fn accepted(
        &mut self,
        now: Instant,
        id: StreamId,
        (local, remote): (SocketAddr, SocketAddr),
        tls: bool,
    ) {
        let from_source = self.streams.accepted_from(remote.ip());
        if self.streams.accepted >= self.config.max_streams
            || from_source >= self.config.max_streams_per_source
        {
            info!(stream = id.0, "refused connection from {remote}: limit");
            self.out.push_back(Output::Close {
                id,
                reason: CloseReason::Limit(from_source),
            });
            return;
        }
        self.streams.open(
            id,
            StreamRole::Responder,
            tls,
            (local, remote),
            self.config.limits,
            now,
        );
        let deadline = now + self.config.prefix_timeout;
        if let Some(s) = self.streams.map.get_mut(&id) {
            s.prefix_deadline = Some(deadline);
        }
        self.streams.schedule(id, Some(deadline));
    }

    fn stream_data(&mut self, now: Instant, id: StreamId, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(s) = self.streams.map.get_mut(&id) else {
                return;
            };
            let n = s.deframer.feed(data);
            data = &data[n..];
            loop {
                let Some(s) = self.streams.map.get_mut(&id) else {
                    return;
                };
                let had_prefix = !s.deframer.awaiting_prefix();
                let frame = s.deframer.next_frame();
                let (local, remote) = (s.local, s.remote);
                let transport = Transport::stream(id, s.tls);
                if !had_prefix && !s.deframer.awaiting_prefix() && s.role == StreamRole::Responder {
                    // The prefix is in: from now on the idle deadline applies.
                    s.prefix_deadline = None;
                    let idle = now + self.config.idle_timeout;
                    self.streams.schedule(id, Some(idle));
                }
                match frame {
                    Ok(Some(f)) => {
                        if let Some(s) = self.streams.map.get_mut(&id) {
                            s.last_rx = now;
                        }
                        let path = Path {
                            local,
                            remote,
                            transport,
                        };
                        match f {
                            Frame::Ike(m) => self.ep.handle_message(now, path, &m),
                            Frame::Esp(p) => {
                                if let Err(EspError::AuthenticationFailed { spi }) =
                                    self.unprotect(&p)
                                {
                                    // R-CONN-8: forged or corrupted ESP on a known SPI.
                                    warn!(stream = id.0, "ESP authentication failed on {spi:08x}");
                                    self.close(now, id, CloseReason::EspAuthentication);
                                    return;
                                }
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => {
                        info!(stream = id.0, "closing connection from {remote}: {e}");
                        self.close(now, id, CloseReason::Framing(e));
                        return;
                    }
                    Err(e) => {
                        let Some(s) = self.streams.map.get_mut(&id) else {
                            return;
                        };
                        s.corrupt += 1;
                        debug!(stream = id.0, "skipped a message: {e}");
                        if s.corrupt >= self.config.max_corrupt {
                            let n = s.corrupt;
                            self.close(now, id, CloseReason::Corrupt(n));
                            return;
                        }
                    }
                }
            }
            if n == 0 {
                // Full although drained: only inside a message being skipped.
                break;
            }
        }
    }

    /// Closes a connection from our side; IKE hears of it as of any close.
    fn close(&mut self, now: Instant, id: StreamId, reason: CloseReason) {
        if self.streams.remove(id).is_some() {
            self.out.push_back(Output::Close { id, reason });
            self.ep.stream_closed(now, id);
        }
    }

    /// Inbound ESP (RFC 4303 §3.4), from a datagram or a stream.
    fn unprotect(&mut self, packet: &[u8]) -> Result<(), EspError> {
        self.buf
            .resize(packet.len() + crate::transport_mode::HEADER_SPARE, 0);
        // A stream has no outer IP header per packet: Not-ECT, the inner kept as is.
        match self
            .dp
            .unprotect(packet, &mut self.buf, iketcp_esp::ecn::Ecn::NotEct)
        {
            Ok(0) => Ok(()),
            Ok(len) => {
                self.out.push_back(Output::Packet(self.buf[..len].to_vec()));
                Ok(())
            }
            Err(e) => {
                debug!("ESP dropped: {e}");
                Err(e)
            }
        }
    }

    /// Outbound ESP (RFC 4303 §3.3) on the path of the Child SA the packet belongs to.
    fn protect(&mut self, packet: &[u8]) {
        let mut esp = Vec::new();
        match self.dp.protect(packet, &mut esp) {
            Protected::Esp { path, raw: true } => self.out.push_back(Output::RawEsp {
                local: path.local.ip(),
                remote: path.remote.ip(),
                data: esp,
            }),
            Protected::Esp { path, raw: false } => match path.stream() {
                None => self.out.push_back(Output::Datagram {
                    local: path.local,
                    remote: path.remote,
                    data: esp,
                }),
                // The Originator's prefix goes before anything, ESP included (R-FRAME-1).
                Some(id)
                    if self
                        .streams
                        .map
                        .get(&id)
                        .is_some_and(|s| !s.framer.prefix_pending()) =>
                {
                    self.out.push_back(Output::StreamWrite { id, data: esp })
                }
                Some(id) => debug!(stream = id.0, "not sent: the connection is gone"),
            },
            Protected::NoChildSa { src, dst } => {
                debug!("no Child SA for {src} -> {dst}");
                self.out.push_back(Output::NoChildSa { src, dst });
            }
            Protected::Dropped => debug!("dropped an outbound packet"),
        }
    }

    fn write(&mut self, id: StreamId, msg: Outgoing<'_>) {
        let Some(s) = self.streams.map.get_mut(&id) else {
            debug!(stream = id.0, "not sent: the connection is gone");
            return;
        };
        let mut data = Vec::new();
        match s.framer.encode(msg, &mut data) {
            Ok(()) => self.out.push_back(Output::StreamWrite { id, data }),
            Err(e) => warn!(stream = id.0, "not sent: {e}"),
        }
    }

    /// Moves everything the engines produced into the output queue.
    fn pump(&mut self, now: Instant) {
        loop {
            for ev in self.dp.take_events() {
                let (spi, hard) = match ev {
                    EspEvent::SoftLifetime { spi, .. } => (spi, false),
                    EspEvent::HardLifetime { spi, .. } => (spi, true),
                    _ => continue,
                };
                if let Err(e) = self.ep.child_lifetime(now, spi, hard) {
                    debug!("lifetime event for {spi:08x}: {e}");
                }
            }
            let Some(o) = self.ep.poll_output() else {
                return;
            };
            self.engine_output(o);
        }
    }

    fn engine_output(&mut self, o: iketcp_proto::Output) {
        use iketcp_proto::Output as E;
        match o {
            E::Transmit(t) => match t.path.stream() {
                Some(id) => self.write(id, Outgoing::Ike(&t.message)),
                None => {
                    let data = if t.path.needs_non_esp_marker() {
                        let mut v = Vec::with_capacity(t.message.len() + 4);
                        udp::emit_ike(&t.message, &mut v);
                        v
                    } else {
                        t.message
                    };
                    self.out.push_back(Output::Datagram {
                        local: t.path.local,
                        remote: t.path.remote,
                        data,
                    });
                }
            },
            E::InstallChild(k) => {
                let installed = sa_params(&k).ok_or("unsupported ESP transforms").and_then(
                    |(inbound, outbound)| {
                        self.dp
                            .install(&inbound, &outbound, |n| ChildRoute::new(&k, n))
                            .map_err(|_| "refused by the ESP engine")
                    },
                );
                match installed {
                    Ok(()) => {
                        if self.config.export_keys {
                            self.exported.insert(k.spi_in, k.clone());
                            self.out.push_back(Output::ChildKeys(k));
                        }
                    }
                    Err(e) => warn!("Child SA {:08x} not installed: {e}", k.spi_in),
                }
            }
            E::RemoveChild { spi_in, spi_out } => {
                self.exported.remove(&spi_in);
                self.dp.remove(spi_in, spi_out);
            }
            E::OpenStream {
                id,
                local,
                remote,
                peer,
            } => self.out.push_back(Output::Connect {
                id,
                local,
                remote,
                peer,
            }),
            E::CloseStream(id) => {
                if self.streams.remove(id).is_some() {
                    self.out.push_back(Output::Close {
                        id,
                        reason: CloseReason::Ike,
                    });
                }
            }
            E::ChildPath {
                spi_in,
                spi_out,
                path,
                raw,
                replay_window,
            } => self
                .dp
                .set_path((spi_in, spi_out), path, raw, replay_window),
            E::Event(e) => self.out.push_back(Output::Event(e)),
            other => debug!("engine output not handled: {other:?}"),
        }
    }
}
