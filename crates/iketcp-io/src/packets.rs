//! The packet tasks: ESP between the tunnel device and the sockets without going through
//! the node's task. IKE keeps one task and one input at a time; packets run on every
//! core, encrypting in the device's reader and decrypting in each UDP socket's reader, on
//! the node's [`DataPath`].
//!
//! Cost is paid per batch, not per packet: the device hands over a whole TCP send
//! (GSO through its virtio header) that leaves as one UDP GSO send of equal segments or
//! one write on a connection; a UDP read returns up to 64 KiB of coalesced datagrams
//! (GRO) whose inner packets go back into the device coalesced again. Buffers live as
//! long as their task: nothing is allocated per packet.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::BytesMut;
use iketcp_esp::ecn::Ecn;
use iketcp_node::{DataPath, Protected};
use iketcp_proto::{Path, StreamId};
use iketcp_wire::encap::udp::{self, Datagram};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use tun_rs::{AsyncDevice, GROTable, VIRTIO_NET_HDR_LEN};

use crate::driver::{Io, Report};
use crate::raw::{RawBatch, RawEsp};

/// Room in front of every packet written to the device, for its virtio header.
const HEADROOM: usize = VIRTIO_NET_HDR_LEN;

/// Datagrams (each up to a GRO batch) taken per receive call.
const RECV_BATCH: usize = 4;

/// Most bytes one UDP read or one GSO send carries.
const MAX_UDP_BATCH: usize = 65_535;

/// A UDP socket with the state that sends and receives batches on it.
pub(crate) struct UdpPort {
    pub local: SocketAddr,
    pub sock: Arc<UdpSocket>,
    state: UdpSocketState,
}

impl UdpPort {
    pub fn new(sock: UdpSocket) -> io::Result<UdpPort> {
        let local = sock.local_addr()?;
        let state = UdpSocketState::new((&sock).into())?;
        // The batch layer turns path MTU discovery to "probe" (DF on, no local
        // fragmentation); IKE messages larger than the path without RFC 7383 still
        // need the kernel to fragment, as a plain UDP socket does.
        allow_fragmentation(&sock, local);
        receive_buffer(&sock, local);
        Ok(UdpPort {
            local,
            sock: Arc::new(sock),
            state,
        })
    }

    /// Sends `contents` to `to`: one datagram, or `contents.len() / segment` datagrams
    /// of `segment` bytes (the last one shorter) in one system call where the kernel
    /// does UDP GSO.
    pub async fn send(&self, to: SocketAddr, contents: &[u8], segment: Option<usize>) {
        let t = Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size: segment.filter(|s| *s < contents.len()),
            src_ip: None,
        };
        loop {
            if let Err(e) = self.sock.writable().await {
                debug!("UDP {}: {e}", self.local);
                return;
            }
            match self.sock.try_io(Interest::WRITABLE, || {
                self.state.send((&*self.sock).into(), &t)
            }) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    debug!("UDP {} to {to}: {e}", self.local);
                    return;
                }
            }
        }
    }

    fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }
}

/// What a UDP or raw ESP socket may queue: a burst of ESP at line rate arrives faster
/// than one task decrypts it, and every datagram the kernel drops for want of room is
/// a loss the inner TCP flows pay for with a retransmission (the system's default,
/// about 200 KiB, dropped several per cent of a single flow's GRO batches here).
const RECEIVE_BUFFER: usize = 4 << 20;

/// Sets the receive buffer to [`RECEIVE_BUFFER`]: beyond `net.core.rmem_max` where the
/// process may (`CAP_NET_ADMIN`), else as far as the limit allows.
pub(crate) fn receive_buffer(sock: &impl std::os::fd::AsFd, what: impl std::fmt::Display) {
    use rustix::net::sockopt;
    if sockopt::set_socket_recv_buffer_size_force(sock, RECEIVE_BUFFER).is_err()
        && let Err(e) = sockopt::set_socket_recv_buffer_size(sock, RECEIVE_BUFFER)
    {
        debug!("{what}: receive buffer left as is: {e}");
    }
}

fn allow_fragmentation(sock: &UdpSocket, local: SocketAddr) {
    use rustix::net::sockopt;
    // IPv6 keeps "don't fragment" (the batch layer sets IPV6_DONTFRAG, which has no
    // safe setter): over IPv6 a large IKE message needs RFC 7383 fragments anyway, as
    // routers never fragment.
    let r = match local {
        SocketAddr::V4(_) => {
            sockopt::set_ip_mtu_discover(sock, sockopt::Ipv4PathMtuDiscovery::WANT)
        }
        SocketAddr::V6(_) => {
            sockopt::set_ipv6_mtu_discover(sock, sockopt::Ipv6PathMtuDiscovery::WANT)
        }
    };
    if let Err(e) = r {
        debug!("UDP {local}: path MTU discovery left as is: {e}");
    }
}

/// The connections ESP may be written to directly, by stream: only once the node has
/// written to it (so the Originator's prefix is already queued in front).
pub(crate) type Writers = Arc<RwLock<HashMap<StreamId, mpsc::UnboundedSender<Vec<u8>>>>>;

/// Where inner packets go: the tunnel device, or the driver's reports when there is none.
#[derive(Clone)]
pub(crate) enum Sink {
    Tun(Arc<AsyncDevice>),
    Reports(mpsc::UnboundedSender<Report>),
}

/// Inner packets on their way to the device, written as one batch.
pub(crate) struct Delivery {
    sink: Sink,
    table: GROTable,
    bufs: Vec<BytesMut>,
    used: usize,
}

impl Delivery {
    pub fn new(sink: Sink) -> Self {
        Self {
            sink,
            table: GROTable::default(),
            bufs: Vec::new(),
            used: 0,
        }
    }

    /// A buffer of `len` bytes after the headroom, to decrypt into.
    fn next(&mut self, len: usize) -> &mut BytesMut {
        if self.used == self.bufs.len() {
            self.bufs.push(BytesMut::new());
        }
        let b = &mut self.bufs[self.used];
        b.clear();
        b.resize(HEADROOM + len, 0);
        b
    }

    /// Decrypts one ESP packet into the batch; errors are counted by the data path.
    pub fn unprotect(
        &mut self,
        dp: &DataPath,
        esp: &[u8],
        outer: Ecn,
    ) -> Result<(), iketcp_esp::EspError> {
        let b = self.next(esp.len() + iketcp_node::transport_mode::HEADER_SPARE);
        let n = dp.unprotect(esp, &mut b[HEADROOM..], outer)?;
        if n > 0 {
            b.truncate(HEADROOM + n);
            self.used += 1;
        }
        Ok(())
    }

    /// One inner packet from elsewhere (the node, for ESP that came over a stream):
    /// copied once behind the headroom, nothing zeroed first.
    pub fn push(&mut self, packet: &[u8]) {
        if self.used == self.bufs.len() {
            self.bufs.push(BytesMut::new());
        }
        let b = &mut self.bufs[self.used];
        b.clear();
        b.extend_from_slice(&[0; HEADROOM]);
        b.extend_from_slice(packet);
        self.used += 1;
    }

    pub async fn flush(&mut self) {
        if self.used == 0 {
            return;
        }
        let n = std::mem::take(&mut self.used);
        match &self.sink {
            Sink::Tun(dev) => {
                if let Err(e) = dev
                    .send_multiple(&mut self.table, &mut self.bufs[..n], HEADROOM)
                    .await
                {
                    debug!("tunnel device: {e}");
                }
            }
            Sink::Reports(r) => {
                for b in &self.bufs[..n] {
                    let _ = r.send(Report::Packet(b[HEADROOM..].to_vec()));
                }
            }
        }
        // Keep a bounded set of buffers: a burst must not pin its peak for ever.
        self.bufs.truncate(256);
    }
}

/// Reads one UDP socket: ESP is decrypted here and delivered in batches; IKE, NAT
/// keepalives and anything else go to the node.
pub(crate) async fn udp_reader(
    port: Arc<UdpPort>,
    dp: DataPath,
    sink: Sink,
    io: mpsc::UnboundedSender<Io>,
) {
    let local = port.local;
    // Several GRO batches per system call (recvmmsg) when they queue up.
    let mut bufs = vec![vec![0u8; MAX_UDP_BATCH]; RECV_BATCH];
    let mut delivery = Delivery::new(sink);
    loop {
        if port.sock.readable().await.is_err() {
            return;
        }
        let mut meta = [RecvMeta::default(); RECV_BATCH];
        let r = port.sock.try_io(Interest::READABLE, || {
            let mut slices: Vec<io::IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| io::IoSliceMut::new(b)).collect();
            port.state
                .recv((&*port.sock).into(), &mut slices, &mut meta)
        });
        let n = match r {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            // ICMP errors of earlier sends surface here; the socket goes on.
            Err(e) => {
                debug!("UDP {local}: {e}");
                continue;
            }
        };
        for (m, buf) in meta.iter().zip(&bufs).take(n) {
            // RFC 6040 at decapsulation (R-ESP-2): the outer header's ECN field.
            let outer = match m.ecn {
                None => Ecn::NotEct,
                Some(quinn_udp::EcnCodepoint::Ect0) => Ecn::Ect0,
                Some(quinn_udp::EcnCodepoint::Ect1) => Ecn::Ect1,
                Some(quinn_udp::EcnCodepoint::Ce) => Ecn::Ce,
            };
            let stride = if m.stride == 0 { m.len } else { m.stride };
            for d in buf[..m.len].chunks(stride.max(1)) {
                let esp = Path::udp(local, m.addr).needs_non_esp_marker()
                    && matches!(udp::classify(d), Ok(Datagram::Esp(_)));
                if esp {
                    if let Err(e) = delivery.unprotect(&dp, d, outer) {
                        debug!("ESP from {} dropped: {e}", m.addr);
                    }
                } else {
                    let io_msg = Io::Datagram {
                        local,
                        remote: m.addr,
                        data: d.to_vec(),
                    };
                    if io.send(io_msg).is_err() {
                        return;
                    }
                }
            }
        }
        delivery.flush().await;
        if dp.events_pending() && io.send(Io::Wake).is_err() {
            return;
        }
    }
}

/// ESP leaving for one UDP destination, gathered into GSO sends of equal segments.
struct UdpBatch {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
    segment: usize,
    count: usize,
    /// The last segment was shorter than `segment`: nothing may follow it.
    closed: bool,
}

/// Where outbound ESP leaves: the UDP sockets, the raw ones, the connections.
pub(crate) struct Carriers {
    pub udp: Vec<Arc<UdpPort>>,
    pub raw: Option<Arc<RawEsp>>,
    pub writers: Writers,
}

/// Reads the tunnel device: every packet is encrypted here and sent on its Child SA's
/// path, UDP in GSO batches, streams in one write per batch, raw ESP in one sendmmsg.
pub(crate) async fn tun_reader(
    dev: Arc<AsyncDevice>,
    mtu: usize,
    min_mtu: usize,
    dp: DataPath,
    out: Carriers,
    io: mpsc::UnboundedSender<Io>,
) {
    let Carriers { udp, raw, writers } = out;
    let mut original = vec![0u8; HEADROOM + 65_535];
    // A GSO read is cut into segments of at most a route's MTU (a 64 KiB TCP send at
    // the smallest makes about 50), and a packet is at most the device's MTU; calloc'd
    // buffers cost memory only once a burst touches them.
    let count = (65_535 / min_mtu.max(576) + 2).min(tun_rs::IDEAL_BATCH_SIZE);
    let mut bufs: Vec<Vec<u8>> = (0..count).map(|_| vec![0u8; mtu.max(576) + 64]).collect();
    let mut sizes = vec![0usize; count];
    let mut esp = Vec::with_capacity(MAX_UDP_BATCH);
    let mut batch: Option<UdpBatch> = None;
    let mut raw_batch = RawBatch::default();
    let mut streams: HashMap<StreamId, Vec<u8>> = HashMap::new();
    loop {
        let n = match dev
            .recv_multiple(&mut original, &mut bufs, &mut sizes, 0)
            .await
        {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            // One unreadable packet (a malformed virtio header, more segments than
            // buffers) costs that packet only.
            Err(e) if matches!(e.kind(), io::ErrorKind::Other | io::ErrorKind::InvalidData) => {
                debug!("tunnel device: packet dropped: {e}");
                continue;
            }
            Err(e) => {
                warn!("tunnel device: {e}: no more packets are read from it");
                return;
            }
        };
        for (b, &len) in bufs.iter().zip(&sizes).take(n) {
            esp.clear();
            match dp.protect(&b[..len], &mut esp) {
                Protected::Esp { path, raw: true } => raw_batch.push(path.remote.ip(), &esp),
                Protected::Esp { path, raw: false } => match path.stream() {
                    Some(id) => streams.entry(id).or_default().extend_from_slice(&esp),
                    None => {
                        udp_gather(&udp, &mut batch, path.local, path.remote, &esp).await;
                    }
                },
                Protected::NoChildSa { src, dst } => {
                    if io.send(Io::Unrouted { src, dst }).is_err() {
                        return;
                    }
                }
                Protected::Dropped => {}
            }
        }
        if let Some(b) = batch.take() {
            udp_send(&udp, b).await;
        }
        if !raw_batch.is_empty() {
            match &raw {
                Some(r) => r.send_batch(&mut raw_batch).await,
                None => {
                    debug!("ESP not sent: no raw ESP socket");
                    raw_batch.clear();
                }
            }
        }
        if !streams.is_empty() {
            let w = writers
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (id, bytes) in streams.drain() {
                match w.get(&id) {
                    Some(tx) => {
                        let _ = tx.send(bytes);
                    }
                    None => debug!(stream = id.0, "ESP not sent: the connection is not ready"),
                }
            }
        }
        if dp.events_pending() && io.send(Io::Wake).is_err() {
            return;
        }
    }
}

/// Adds one ESP packet to the pending GSO batch, sending the batch first when the
/// packet cannot join it.
async fn udp_gather(
    udp: &[Arc<UdpPort>],
    batch: &mut Option<UdpBatch>,
    from: SocketAddr,
    to: SocketAddr,
    esp: &[u8],
) {
    let joins = batch.as_ref().is_some_and(|b| {
        b.from == from
            && b.to == to
            && !b.closed
            && esp.len() <= b.segment
            && b.bytes.len() + esp.len() <= MAX_UDP_BATCH
            && port(udp, from).is_some_and(|p| b.count < p.max_segments())
    });
    if !joins && let Some(b) = batch.take() {
        udp_send(udp, b).await;
    }
    match batch {
        Some(b) => {
            b.bytes.extend_from_slice(esp);
            b.count += 1;
            b.closed = esp.len() < b.segment;
        }
        None => {
            let mut bytes = Vec::with_capacity(MAX_UDP_BATCH);
            bytes.extend_from_slice(esp);
            *batch = Some(UdpBatch {
                from,
                to,
                bytes,
                segment: esp.len(),
                count: 1,
                closed: false,
            });
        }
    }
}

async fn udp_send(udp: &[Arc<UdpPort>], b: UdpBatch) {
    match port(udp, b.from) {
        Some(p) => p.send(b.to, &b.bytes, Some(b.segment)).await,
        None => debug!("no UDP socket for {}", b.from),
    }
}

/// The socket bound to `local`, or else one on its port (bound to any address).
pub(crate) fn port(udp: &[Arc<UdpPort>], local: SocketAddr) -> Option<&Arc<UdpPort>> {
    udp.iter()
        .find(|p| p.local == local)
        .or_else(|| udp.iter().find(|p| p.local.port() == local.port()))
}
