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
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::packets::{self, Delivery, Sink, UdpPort, Writers};
use crate::routes::Routes;

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
        }
    }
}

/// Most bytes gathered into one write on a connection.
const BATCH: usize = 64 * 1024;

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
    Accepted(TcpStream, SocketAddr),
    Connected(StreamId, TcpStream),
    ConnectFailed(StreamId),
    Data(StreamId, Vec<u8>),
    Eof(StreamId),
    /// A packet from the tunnel device that no Child SA carries.
    Unrouted {
        src: IpAddr,
        dst: IpAddr,
    },
    /// The packet tasks crossed an ESP lifetime limit: the node must run.
    Wake,
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
            let port = Arc::new(UdpPort::new(UdpSocket::from_std(
                bound(*addr, Type::DGRAM)?.into(),
            )?)?);
            tasks.push(tokio::spawn(packets::udp_reader(
                port.clone(),
                dp.clone(),
                sink.clone(),
                io_tx.clone(),
            )));
            udp.push(port);
        }
        let writers = Writers::default();
        let mut tcp_addrs = Vec::new();
        for addr in &config.tcp {
            let sock = bound(*addr, Type::STREAM)?;
            sock.listen(1024)?;
            let l = TcpListener::from_std(sock.into())?;
            tcp_addrs.push(l.local_addr()?);
            tasks.push(tokio::spawn(acceptor(l, io_tx.clone())));
        }
        let udp_addrs = udp.iter().map(|p| p.local).collect();
        if let (Some(dev), Some(t)) = (&tun, &config.tun) {
            tasks.push(tokio::spawn(packets::tun_reader(
                dev.clone(),
                usize::from(t.device_mtu()),
                usize::from(t.mtu.min(t.stream_mtu)),
                dp,
                udp.clone(),
                writers.clone(),
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
                )
                .await?,
                u64::MAX,
            )),
            _ => None,
        };
        Ok(Driver {
            routes,
            writers,
            delivery: Delivery::new(sink),
            node,
            config,
            udp,
            io_tx,
            io_rx,
            commands,
            handle: Handle { commands: cmd_tx },
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
        let weak = std::mem::replace(
            &mut self.handle,
            Handle {
                commands: mpsc::unbounded_channel().0,
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
                let Ok(remote) = stream.peer_addr() else {
                    return;
                };
                tune(&stream, &self.config);
                let id = self.node.new_stream_id();
                debug!(stream = id.0, "accepted {remote} on {local}");
                self.attach(id, stream);
                self.node.handle(now, Input::Accepted { id, local, remote });
            }
            Io::Connected(id, stream) => {
                let (Ok(local), Ok(remote)) = (stream.local_addr(), stream.peer_addr()) else {
                    self.node.handle(now, Input::StreamClosed { id });
                    return;
                };
                self.attach(id, stream);
                self.node
                    .handle(now, Input::Connected { id, local, remote });
            }
            Io::ConnectFailed(id) => self.node.handle(now, Input::StreamClosed { id }),
            Io::Unrouted { src, dst } => {
                let _ = self.reports.send(Report::NoChildSa { src, dst });
            }
            // The node drains the data path's events whenever it runs.
            Io::Wake => self.node.handle_timeout(now),
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
    fn attach(&mut self, id: StreamId, stream: TcpStream) {
        let (rd, mut wr) = stream.into_split();
        let tx = self.io_tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                // No buffer is held while the connection is idle: ten thousand quiet
                // connections cost their sockets, not 64 KiB each.
                if rd.readable().await.is_err() {
                    break;
                }
                let mut buf = vec![0u8; 64 * 1024];
                match rd.try_read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Io::Data(id, buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Io::Eof(id));
        });
        let (writer, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(data) = queue.recv().await {
                // Whatever else is already queued goes in the same write: one system
                // call for many ESP records under load, and still one write per record
                // when idle (so a lone IKE message with the prefix is one segment).
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
            }
            let _ = wr.shutdown().await;
        });
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
                Output::Connect { id, local, remote } => {
                    self.connect(id, local, remote);
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

    /// A non-blocking connect with a timeout, from `local`'s address.
    fn connect(&mut self, id: StreamId, local: IpAddr, remote: SocketAddr) {
        let tx = self.io_tx.clone();
        let timeout = self.config.connect_timeout;
        let config = self.config.clone();
        tokio::spawn(async move {
            let attempt = async {
                let sock = match remote {
                    SocketAddr::V4(_) => TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => TcpSocket::new_v6()?,
                };
                if !local.is_unspecified() {
                    sock.bind(SocketAddr::new(local, 0))?;
                }
                sock.connect(remote).await
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(stream)) => {
                    tune(&stream, &config);
                    let _ = tx.send(Io::Connected(id, stream));
                }
                Ok(Err(e)) => {
                    info!(stream = id.0, "connect to {remote}: {e}");
                    let _ = tx.send(Io::ConnectFailed(id));
                }
                Err(_) => {
                    warn!(stream = id.0, "connect to {remote}: timed out");
                    let _ = tx.send(Io::ConnectFailed(id));
                }
            }
        });
    }
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

async fn acceptor(l: TcpListener, tx: mpsc::UnboundedSender<Io>) {
    let Ok(local) = l.local_addr() else {
        return;
    };
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                if tx.send(Io::Accepted(s, local)).is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!("accept on {local}: {e}");
                // Out of descriptors, say: back off rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
