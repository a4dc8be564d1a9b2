//! Runs an [`iketcp_node::Node`] over real sockets: UDP (ports 500 and 4500, or any
//! configured), TCP listeners on any configured ports (the same port as UDP included),
//! and the TCP connections the node asks for. One task owns the node; socket tasks only
//! move bytes to and from it through channels, so the node sees one input at a time.
//!
//! - Connections are opened without blocking and given up after `connect_timeout`
//!   (reported to the node as closed), never left hanging.
//! - Every TCP socket gets TCP_NODELAY, a bounded send buffer (R-ESP-4: TCP-in-TCP
//!   bufferbloat) and one DSCP for the whole connection (R-ESP-3).
//! - The node's deadline is slept on and reset only when it changes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iketcp_node::{Input, Node, Output};
use iketcp_proto::{Endpoint, Event, StreamId};
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::packets::{self, Delivery, Sink, UdpPort, Writers};
use crate::raw::RawEsp;
use crate::routes::Routes;
use crate::wrap::{self, ListenMode, Opened, StreamSettings, StreamTable};

/// Where the driver listens and how it treats connections.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// UDP sockets to bind (IKE on 500, NAT-T and ESP on 4500, or other ports). Empty:
    /// no UDP at all (R-CFG-1: UDP listening can be turned off).
    pub udp: Vec<SocketAddr>,
    /// TCP ports to accept RFC 9329 streams on (R-CFG-1), 4500, 443 or 500 among them.
    pub tcp: Vec<SocketAddr>,
    /// A connection attempt is given up after this.
    pub connect_timeout: Duration,
    /// SO_SNDBUF of every TCP socket (R-ESP-4); `None` leaves the system's default.
    pub tcp_send_buffer: Option<u32>,
    /// The DSCP of every TCP connection (R-ESP-3), 0 to 63.
    pub dscp: Option<u8>,
    /// A tunnel device for the Child SAs' inner packets; without one they are reported
    /// as [`Report::Packet`] and taken with [`Handle::send_packet`].
    pub tun: Option<crate::tun::TunConfig>,
    /// TCP ports that take the stream inside TLS (R-TLS-1). An address also in `tcp`
    /// takes both, told apart by the first byte.
    pub tls: Vec<SocketAddr>,
    /// The certificate the TLS ports present.
    pub tls_server: Option<crate::tls::ServerSettings>,
    /// A TLS handshake on a listening port must end within this.
    pub handshake_timeout: Duration,
    /// How connections to each peer (by configuration name) are wrapped: TLS, a web
    /// proxy (R-CFG-2). A peer not named here gets plain TCP.
    pub streams: HashMap<String, StreamSettings>,
    /// Watch the host's addresses (rtnetlink) and tell the node, for MOBIKE.
    pub watch_addresses: bool,
    /// Mark the daemon's own sockets (`SO_MARK`, [`routes::FWMARK`]) so that a tunnel
    /// that holds the peer's address (a full tunnel) can be routed by policy.
    pub fwmark: bool,
    /// Send and receive ESP as IP protocol 50 (raw sockets, `CAP_NET_RAW`), for Child
    /// SAs that found no NAT. Must match the engine's `EndpointConfig::raw_esp`.
    pub raw_esp: bool,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            udp: Vec::new(),
            tcp: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            tcp_send_buffer: Some(256 * 1024),
            dscp: None,
            tun: None,
            tls: Vec::new(),
            tls_server: None,
            handshake_timeout: Duration::from_secs(10),
            streams: HashMap::new(),
            watch_addresses: false,
            fwmark: false,
            raw_esp: false,
        }
    }
}

/// Most bytes gathered into one write on a connection: 256 KiB took ESP over TCP from
/// 5.6 to 7.1 Gbit/s against 64 KiB (fewer wake-ups and system calls per byte).
const BATCH: usize = 256 * 1024;

/// What the driver reports to whoever runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Report {
    Event(Event),
    /// An IP packet that came out of a Child SA.
    Packet(Vec<u8>),
    /// A connection the node closed, and why.
    Closed {
        id: StreamId,
        reason: String,
    },
    /// A Child SA's keys, with key export on (see `NodeConfig::export_keys`).
    ChildKeys(Box<iketcp_proto::ChildSaKeys>),
    /// A connection for peer configuration `peer` could not be opened, and why (the
    /// proxy's refusal, a TLS failure, a timeout).
    ConnectFailed {
        peer: String,
        reason: String,
    },
    /// A packet from the tunnel device that no Child SA carries (see
    /// `iketcp_node::Output::NoChildSa`).
    NoChildSa {
        src: IpAddr,
        dst: IpAddr,
    },
}

type Command = Box<dyn FnOnce(&mut Node, Instant) + Send>;

/// Talks to a running driver.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    streams: StreamTable,
}

impl Handle {
    /// Runs `f` on the IKE engine inside the driver and returns its result.
    pub async fn command<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Endpoint, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let cmd: Command = Box::new(move |node, now| {
            let r = node.command(now, f);
            let _ = tx.send(r);
        });
        self.commands.send(cmd).ok()?;
        rx.await.ok()
    }

    /// Reads from the node inside the driver.
    pub async fn inspect<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let cmd: Command = Box::new(move |node, _| {
            let _ = tx.send(f(node));
        });
        self.commands.send(cmd).ok()?;
        rx.await.ok()
    }

    /// Replaces how connections to each peer are wrapped (after a reload); open
    /// connections keep what they have.
    pub fn set_streams(&self, streams: HashMap<String, StreamSettings>) {
        *self
            .streams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = streams;
    }

    /// Protects an IP packet with the Child SA its addresses select.
    pub fn send_packet(&self, packet: Vec<u8>) {
        let _ = self.commands.send(Box::new(move |node, now| {
            node.handle(now, Input::Packet(&packet));
        }));
    }
}

pub(crate) enum Io {
    Datagram {
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    Accepted(Opened, SocketAddr),
    Connected(StreamId, Opened),
    ConnectFailed {
        id: StreamId,
        peer: String,
        reason: String,
    },
    Data(StreamId, Vec<u8>),
    Eof(StreamId),
    /// A packet from the tunnel device that no Child SA carries.
    Unrouted {
        src: IpAddr,
        dst: IpAddr,
    },
    /// The packet tasks crossed an ESP lifetime limit: the node must run.
    Wake,
    /// The host's addresses now.
    Addresses(Vec<IpAddr>),
}

struct Conn {
    writer: mpsc::UnboundedSender<Vec<u8>>,
    reader: JoinHandle<()>,
}

/// The driver: the node, its sockets, and the tasks that feed it.
pub struct Driver {
    node: Node,
    config: DriverConfig,
    udp: Vec<Arc<UdpPort>>,
    raw: Option<Arc<RawEsp>>,
    writers: Writers,
    delivery: Delivery,
    /// The routes into the tunnel device, and the data path generation they follow.
    routes: Option<(Routes, u64)>,
    io_tx: mpsc::UnboundedSender<Io>,
    io_rx: mpsc::UnboundedReceiver<Io>,
    commands: mpsc::UnboundedReceiver<Command>,
    handle: Handle,
    reports: mpsc::UnboundedSender<Report>,
    conns: HashMap<StreamId, Conn>,
    tasks: Vec<JoinHandle<()>>,
    /// The bound TCP listeners' addresses (port 0 resolved).
    pub tcp_addrs: Vec<SocketAddr>,
    pub udp_addrs: Vec<SocketAddr>,
}

impl Driver {
    /// Binds every socket. Reports go to `reports`.
    pub async fn bind(
        config: DriverConfig,
        node: Node,
        reports: mpsc::UnboundedSender<Report>,
    ) -> io::Result<Driver> {
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        let (cmd_tx, commands) = mpsc::unbounded_channel();
        let mut udp = Vec::new();
        let mut tasks = Vec::new();
        let dp = node.data_path().clone();
        let tun = match &config.tun {
            Some(t) => Some(Arc::new(crate::tun::open(t)?)),
            None => None,
        };
        let sink = match &tun {
            Some(dev) => Sink::Tun(dev.clone()),
            None => Sink::Reports(reports.clone()),
        };
        for addr in &config.udp {
            let sock = bound(*addr, Type::DGRAM)?;
            mark(&sock, &config);
            let port = Arc::new(UdpPort::new(UdpSocket::from_std(sock.into())?)?);
            tasks.push(tokio::spawn(packets::udp_reader(
                port.clone(),
                dp.clone(),
                sink.clone(),
                io_tx.clone(),
            )));
            udp.push(port);
        }
        let raw = if config.raw_esp {
            let fwmark = config.fwmark.then_some(crate::routes::FWMARK);
            let r = Arc::new(RawEsp::open(fwmark).map_err(|e| {
                io::Error::new(e.kind(), format!("raw ESP socket (protocol 50): {e}"))
            })?);
            tasks.extend(r.readers(&dp, &sink, &io_tx));
            Some(r)
        } else {
            None
        };
        if config.watch_addresses {
            let tx = io_tx.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::addresses::watch(tx).await {
                    warn!("cannot watch the host's addresses (MOBIKE will not follow them): {e}");
                }
            }));
        }
        let writers = Writers::default();
        let mut tcp_addrs = Vec::new();
        let mut listening: Vec<SocketAddr> = Vec::new();
        let shared = Arc::new(config.clone());
        for addr in config.tcp.iter().chain(&config.tls) {
            if listening.contains(addr) {
                continue;
            }
            listening.push(*addr);
            let mode = match (config.tcp.contains(addr), config.tls.contains(addr)) {
                (true, true) => ListenMode::Either,
                (false, true) => ListenMode::Tls,
                _ => ListenMode::Plain,
            };
            let sock = bound(*addr, Type::STREAM)?;
            // Accepted connections take the listener's mark.
            mark(&sock, &config);
            sock.listen(1024)?;
            let l = TcpListener::from_std(sock.into())?;
            tcp_addrs.push(l.local_addr()?);
            tasks.push(tokio::spawn(acceptor(
                l,
                mode,
                shared.clone(),
                io_tx.clone(),
            )));
        }
        let udp_addrs = udp.iter().map(|p| p.local).collect();
        if let (Some(dev), Some(t)) = (&tun, &config.tun) {
            tasks.push(tokio::spawn(packets::tun_reader(
                dev.clone(),
                usize::from(t.device_mtu()),
                usize::from(t.mtu.min(t.stream_mtu)),
                dp,
                packets::Carriers {
                    udp: udp.clone(),
                    raw: raw.clone(),
                    writers: writers.clone(),
                },
                io_tx.clone(),
            )));
        }
        let routes = match (&tun, &config.tun) {
            (Some(dev), Some(t)) => Some((
                Routes::new(
                    &t.name,
                    dev.if_index()?,
                    t.routes.clone(),
                    t.mtu,
                    t.stream_mtu,
                    config.fwmark,
                )
                .await?,
                u64::MAX,
            )),
            _ => None,
        };
        let streams = Arc::new(std::sync::RwLock::new(config.streams.clone()));
        Ok(Driver {
            routes,
            writers,
            delivery: Delivery::new(sink),
            node,
            config,
            udp,
            raw,
            io_tx,
            io_rx,
            commands,
            handle: Handle {
                commands: cmd_tx,
                streams,
            },
            reports,
            conns: HashMap::new(),
            tasks,
            tcp_addrs,
            udp_addrs,
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs until every [`Handle`] is dropped.
    pub async fn run(mut self) {
        // The driver's own handle must not keep it alive.
        let streams = self.handle.streams.clone();
        let weak = std::mem::replace(
            &mut self.handle,
            Handle {
                commands: mpsc::unbounded_channel().0,
                streams,
            },
        );
        drop(weak);
        let mut deadline = self.node.poll_timeout();
        let sleep = tokio::time::sleep_until(far(deadline));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                io = self.io_rx.recv() => {
                    let Some(io) = io else { break };
                    self.io(io);
                }
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    cmd(&mut self.node, Instant::now());
                }
                () = &mut sleep => {
                    self.node.handle_timeout(Instant::now());
                }
            }
            self.flush().await;
            if let Some((routes, seen)) = &mut self.routes {
                let now = self.node.data_path().generation();
                if now != *seen {
                    *seen = now;
                    routes.sync(&self.node.data_path().routes()).await;
                }
            }
            let next = self.node.poll_timeout();
            if next != deadline || sleep.is_elapsed() {
                deadline = next;
                sleep.as_mut().reset(far(deadline));
            }
        }
        for t in &self.tasks {
            t.abort();
        }
        for c in self.conns.values() {
            c.reader.abort();
        }
    }

    fn io(&mut self, io: Io) {
        let now = Instant::now();
        match io {
            Io::Datagram {
                local,
                remote,
                data,
            } => self.node.handle(
                now,
                Input::Datagram {
                    local,
                    remote,
                    data: &data,
                },
            ),
            Io::Accepted(stream, local) => {
                let Ok((_, remote)) = stream.addrs() else {
                    return;
                };
                let tls = stream.is_tls();
                let id = self.node.new_stream_id();
                debug!(stream = id.0, tls, "accepted {remote} on {local}");
                self.attach(id, stream);
                self.node.handle(
                    now,
                    Input::Accepted {
                        id,
                        local,
                        remote,
                        tls,
                    },
                );
            }
            Io::Connected(id, stream) => {
                let Ok((local, remote)) = stream.addrs() else {
                    self.node.handle(now, Input::StreamClosed { id });
                    return;
                };
                let tls = stream.is_tls();
                self.attach(id, stream);
                self.node.handle(
                    now,
                    Input::Connected {
                        id,
                        local,
                        remote,
                        tls,
                    },
                );
            }
            Io::ConnectFailed { id, peer, reason } => {
                let _ = self.reports.send(Report::ConnectFailed { peer, reason });
                self.node.handle(now, Input::StreamClosed { id });
            }
            Io::Unrouted { src, dst } => {
                let _ = self.reports.send(Report::NoChildSa { src, dst });
            }
            // The node drains the data path's events whenever it runs.
            Io::Wake => self.node.handle_timeout(now),
            Io::Addresses(a) => self.node.handle(now, Input::Addresses(&a)),
            Io::Data(id, data) => {
                if self.conns.contains_key(&id) {
                    self.node.handle(now, Input::StreamData { id, data: &data });
                }
            }
            Io::Eof(id) => {
                self.unwrite(id);
                if self.conns.remove(&id).is_some() {
                    self.node.handle(now, Input::StreamClosed { id });
                }
            }
        }
    }

    /// Starts the reader and writer tasks of a connection.
    fn attach(&mut self, id: StreamId, stream: Opened) {
        let tx = self.io_tx.clone();
        let (writer, queue) = mpsc::unbounded_channel::<Vec<u8>>();
        let reader = match stream {
            Opened::Tcp(stream) => {
                let (rd, wr) = stream.into_split();
                tokio::spawn(write_batches(wr, queue));
                tokio::spawn(async move {
                    loop {
                        // No buffer is held while the connection is idle: ten thousand
                        // quiet connections cost their sockets, not 64 KiB each.
                        if rd.readable().await.is_err() {
                            break;
                        }
                        // Read into spare capacity: nothing is zeroed first.
                        let mut buf = Vec::with_capacity(64 * 1024);
                        match rd.try_read_buf(&mut buf) {
                            Ok(0) => break,
                            Ok(_) => {
                                if tx.send(Io::Data(id, buf)).is_err() {
                                    return;
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(_) => break,
                        }
                    }
                    let _ = tx.send(Io::Eof(id));
                })
            }
            Opened::Wrapped { stream, .. } => {
                let (mut rd, wr) = tokio::io::split(stream);
                tokio::spawn(write_batches(wr, queue));
                tokio::spawn(async move {
                    loop {
                        // The plaintext lands in the buffer that goes to the node: no
                        // second copy, nothing zeroed first.
                        let mut buf = Vec::with_capacity(64 * 1024);
                        match rd.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {
                                if tx.send(Io::Data(id, buf)).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = tx.send(Io::Eof(id));
                })
            }
        };
        self.conns.insert(id, Conn { writer, reader });
    }

    async fn flush(&mut self) {
        while let Some(o) = self.node.poll_output() {
            match o {
                Output::Datagram {
                    local,
                    remote,
                    data,
                } => match packets::port(&self.udp, local) {
                    Some(p) => p.send(remote, &data, None).await,
                    None => debug!("no UDP socket for {local}"),
                },
                Output::RawEsp { remote, data, .. } => match &self.raw {
                    Some(r) => r.send(remote, &data).await,
                    None => debug!("ESP to {remote} not sent: no raw ESP socket"),
                },
                Output::Connect {
                    id,
                    local,
                    remote,
                    peer,
                } => {
                    self.connect(id, local, remote, peer);
                }
                Output::StreamWrite { id, data } => {
                    if let Some(c) = self.conns.get(&id) {
                        let _ = c.writer.send(data);
                        // From now on the packet tasks may write ESP to it too: whatever
                        // must come first (the prefix) is queued.
                        let mut w = self
                            .writers
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        w.entry(id).or_insert_with(|| c.writer.clone());
                    }
                }
                Output::Close { id, reason } => {
                    self.unwrite(id);
                    if let Some(c) = self.conns.remove(&id) {
                        // The writer flushes what is queued, then sends FIN.
                        c.reader.abort();
                    }
                    let _ = self.reports.send(Report::Closed {
                        id,
                        reason: reason.to_string(),
                    });
                }
                Output::Packet(p) => self.delivery.push(&p),
                Output::Event(e) => {
                    // The engine logs each event in its own words; this is the record.
                    debug!("{e:?}");
                    if let Some((routes, _)) = &mut self.routes {
                        match &e {
                            Event::VirtualIps { ike, addresses } => {
                                routes.assign(*ike, addresses.clone()).await;
                            }
                            Event::IkeRekeyed { old, new } => routes.rekeyed(*old, *new),
                            Event::IkeDown { ike, .. } => routes.release(*ike).await,
                            _ => {}
                        }
                    }
                    let _ = self.reports.send(Report::Event(e));
                }
                Output::ChildKeys(k) => {
                    let _ = self.reports.send(Report::ChildKeys(k));
                }
                Output::NoChildSa { src, dst } => {
                    let _ = self.reports.send(Report::NoChildSa { src, dst });
                }
                other => debug!("output not handled: {other:?}"),
            }
        }
        self.delivery.flush().await;
    }

    fn unwrite(&mut self, id: StreamId) {
        self.writers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }

    /// A non-blocking connect with a timeout, from `local`'s address, wrapped as the
    /// peer's configuration says.
    fn connect(&mut self, id: StreamId, local: IpAddr, remote: SocketAddr, peer: String) {
        let tx = self.io_tx.clone();
        let config = self.config.clone();
        let settings = self
            .handle
            .streams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&peer)
            .cloned()
            .unwrap_or_default();
        tokio::spawn(async move {
            let timeout = config.connect_timeout;
            let fwmark = config.fwmark.then_some(crate::routes::FWMARK);
            match wrap::open(local, remote, &settings, timeout, fwmark, |s| {
                tune(s, &config)
            })
            .await
            {
                Ok(stream) => {
                    let _ = tx.send(Io::Connected(id, stream));
                }
                Err(e) => {
                    warn!(stream = id.0, "{peer}: {e}");
                    let _ = tx.send(Io::ConnectFailed {
                        id,
                        peer,
                        reason: e.to_string(),
                    });
                }
            }
        });
    }
}

/// Writes what the node and the packet tasks queue for one connection, gathering
/// whatever else is already queued into the same write: one system call (and one TLS
/// record or a few) for many ESP messages under load, and still one write per message
/// when idle (so a lone IKE message with the prefix is one segment). Sends FIN when the
/// queue closes.
async fn write_batches<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(data) = queue.recv().await {
        batch.clear();
        batch.extend_from_slice(&data);
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if wr.write_all(&batch).await.is_err() {
            break;
        }
        // Over TLS a flush waits until the socket took every sealed record: only when
        // nothing else is queued, so that sealing the next batch overlaps the sending.
        if queue.is_empty() && wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// What every connection gets, accepted or opened: TCP_NODELAY (IKE and ESP records
/// are sent whole, and waiting to coalesce them only adds latency), a bounded send buffer
/// (R-ESP-4: TCP inside TCP builds queues the inner flows cannot see) and one DSCP for
/// the whole connection (R-ESP-3: the outer TCP cannot carry per-packet marks without
/// reordering).
pub fn tune(stream: &TcpStream, config: &DriverConfig) {
    let _ = stream.set_nodelay(true);
    let s = socket2::SockRef::from(stream);
    if let Some(n) = config.tcp_send_buffer {
        let _ = s.set_send_buffer_size(n as usize);
    }
    if let Some(d) = config.dscp {
        let tos = u32::from(d) << 2;
        let r = match stream.local_addr() {
            Ok(SocketAddr::V6(_)) => s.set_tclass_v6(tos),
            _ => s.set_tos_v4(tos),
        };
        if let Err(e) = r {
            debug!("DSCP not set: {e}");
        }
    }
}

/// Marks a socket of the daemon's own, when full tunnels are routed by policy.
fn mark(sock: &Socket, config: &DriverConfig) {
    if config.fwmark
        && let Err(e) = sock.set_mark(crate::routes::FWMARK)
    {
        warn!("cannot mark the daemon's sockets (a full tunnel would loop): {e}");
    }
}

/// A non-blocking socket bound to `addr`. An IPv6 one takes IPv6 only, so that
/// `0.0.0.0` and `::` can both be listened on, as a dual-stack gateway does.
fn bound(addr: SocketAddr, ty: Type) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, None)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if ty == Type::STREAM {
        s.set_reuse_address(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

fn far(deadline: Option<Instant>) -> tokio::time::Instant {
    match deadline {
        Some(d) => tokio::time::Instant::from_std(d),
        None => tokio::time::Instant::now() + Duration::from_secs(3600),
    }
}

/// Accepts on one listening port. On a TLS port each handshake runs in its own task,
/// bounded in time, and at most [`MAX_HANDSHAKES`] at once: a stranger who opens
/// connections and says nothing holds a task until the timeout, not the port.
async fn acceptor(
    l: TcpListener,
    mode: ListenMode,
    config: Arc<DriverConfig>,
    tx: mpsc::UnboundedSender<Io>,
) {
    let Ok(local) = l.local_addr() else {
        return;
    };
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        match l.accept().await {
            Ok((s, from)) => {
                tune(&s, &config);
                if mode == ListenMode::Plain {
                    if tx.send(Io::Accepted(Opened::Tcp(s), local)).is_err() {
                        return;
                    }
                    continue;
                }
                let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                    info!("refused {from} on {local}: {MAX_HANDSHAKES} TLS handshakes running");
                    continue;
                };
                let (tx, config) = (tx.clone(), config.clone());
                tokio::spawn(async move {
                    let server = config.tls_server.as_ref();
                    let opened =
                        wrap::accept(s, local, mode, server, config.handshake_timeout).await;
                    drop(permit);
                    if let Some(o) = opened {
                        let _ = tx.send(Io::Accepted(o, local));
                    }
                });
            }
            Err(e) => {
                warn!("accept on {local}: {e}");
                // Out of descriptors, say: back off rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// TLS handshakes in progress at once on one listening port.
pub const MAX_HANDSHAKES: usize = 1024;
