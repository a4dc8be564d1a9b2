//! ESP as IP protocol 50 (RFC 4303 with no UDP around it), for Child SAs whose IKE SA
//! found no NAT: one raw socket per address family, unbound, so every ESP packet that
//! reaches the host comes here and the SPI picks the SA, as it does over UDP.
//!
//! Opening one needs `CAP_NET_RAW`; [`available`] says whether this process may, so that
//! NAT detection is faked (and ESP encapsulated) when it may not.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use iketcp_esp::ecn::Ecn;
use iketcp_node::DataPath;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::debug;

use crate::driver::Io;
use crate::packets::{Delivery, Sink};

/// IANA's protocol number of ESP.
pub const IPPROTO_ESP: i32 = 50;

/// Packets read before the decrypted ones go to the device as one batch.
const READ_BATCH: usize = 64;

/// The raw sockets, IPv4 and IPv6 (either may be missing where the host lacks it).
pub(crate) struct RawEsp {
    v4: Option<Arc<UdpSocket>>,
    v6: Option<Arc<UdpSocket>>,
}

fn socket(domain: Domain, fwmark: Option<u32>) -> io::Result<UdpSocket> {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_ESP)))?;
    if let Some(m) = fwmark {
        s.set_mark(m)?;
    }
    s.set_nonblocking(true)?;
    crate::packets::receive_buffer(&s, "raw ESP socket");
    // Datagram semantics are all a raw socket needs from the runtime: one packet per
    // read, an address per packet (its port is 0).
    UdpSocket::from_std(std::net::UdpSocket::from(s))
}

/// Whether this process may send and receive raw ESP (`CAP_NET_RAW`).
pub fn available() -> bool {
    Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_ESP))).is_ok()
}

impl RawEsp {
    /// Opens both sockets; an address family the host does not have is left out, any
    /// other failure (no permission) is an error.
    pub fn open(fwmark: Option<u32>) -> io::Result<RawEsp> {
        let v4 = Some(Arc::new(socket(Domain::IPV4, fwmark)?));
        let v6 = match socket(Domain::IPV6, fwmark) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
            Err(e) => {
                debug!("no raw ESP over IPv6: {e}");
                None
            }
        };
        Ok(RawEsp { v4, v6 })
    }

    /// Sends one ESP packet to `remote`; the kernel writes the IP header.
    pub async fn send(&self, remote: IpAddr, esp: &[u8]) {
        let sock = match remote {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => &self.v6,
        };
        let Some(sock) = sock else {
            debug!("no raw ESP socket for {remote}");
            return;
        };
        if let Err(e) = sock.send_to(esp, SocketAddr::new(remote, 0)).await {
            debug!("raw ESP to {remote}: {e}");
        }
    }

    /// Sends what `batch` holds, as few system calls as the kernel allows (sendmmsg),
    /// and empties it.
    pub async fn send_batch(&self, batch: &mut RawBatch) {
        for v4 in [true, false] {
            let sock = if v4 { &self.v4 } else { &self.v6 };
            let mine: Vec<&(IpAddr, usize, usize)> = batch
                .packets
                .iter()
                .filter(|(a, ..)| a.is_ipv4() == v4)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let Some(sock) = sock else {
                debug!("{} ESP packets not sent: no raw socket", mine.len());
                continue;
            };
            let mut done = 0;
            while done < mine.len() {
                let rest = &mine[done..];
                let r = match sock.writable().await {
                    Ok(()) => sock.try_io(tokio::io::Interest::WRITABLE, || {
                        send_many(sock, &batch.bytes, rest)
                    }),
                    Err(e) => Err(e),
                };
                match r {
                    Ok(n) => done += n.max(1),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        // One refused packet (no route, say) costs that packet only.
                        debug!("raw ESP to {}: {e}", rest[0].0);
                        done += 1;
                    }
                }
            }
        }
        batch.clear();
    }

    /// The reader tasks, one per socket.
    pub fn readers(
        &self,
        dp: &DataPath,
        sink: &Sink,
        io: &mpsc::UnboundedSender<Io>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        [(&self.v4, true), (&self.v6, false)]
            .into_iter()
            .filter_map(|(s, v4)| {
                let s = s.clone()?;
                Some(tokio::spawn(reader(
                    s,
                    v4,
                    dp.clone(),
                    sink.clone(),
                    io.clone(),
                )))
            })
            .collect()
    }
}

/// ESP packets gathered for one sendmmsg: their bytes end to end, and each one's
/// destination and place.
#[derive(Default)]
pub(crate) struct RawBatch {
    bytes: Vec<u8>,
    packets: Vec<(IpAddr, usize, usize)>,
}

impl RawBatch {
    pub fn push(&mut self, to: IpAddr, esp: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(esp);
        self.packets.push((to, start, self.bytes.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.packets.clear();
    }
}

/// One sendmmsg of up to [`SEND_BATCH`] packets; how many the kernel took.
fn send_many(
    sock: &UdpSocket,
    bytes: &[u8],
    packets: &[&(IpAddr, usize, usize)],
) -> io::Result<usize> {
    use rustix::net::addr::SocketAddrArg;
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    let packets = &packets[..packets.len().min(SEND_BATCH)];
    let addrs: Vec<SocketAddrAny> = packets
        .iter()
        .map(|(a, ..)| SocketAddr::new(*a, 0).as_any())
        .collect();
    let iovs: Vec<[io::IoSlice<'_>; 1]> = packets
        .iter()
        .map(|(_, s, e)| [io::IoSlice::new(&bytes[*s..*e])])
        .collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = packets
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&iovs)
        .zip(controls.iter_mut())
        .map(|((a, iov), c)| MMsgHdr::new_with_addr(a, iov, c))
        .collect();
    Ok(rustix::net::sendmmsg(sock, &mut msgs, SendFlags::empty())?)
}

/// Most packets one sendmmsg carries.
const SEND_BATCH: usize = 64;

/// The ESP packet inside what a raw socket read, and the ECN field of its outer header
/// (RFC 6040, R-ESP-2). IPv4 raw sockets give the IP header with the packet (the kernel
/// has reassembled fragments); IPv6 ones give the payload alone, whose outer ECN is not
/// seen here.
pub(crate) fn esp_of(read: &[u8], v4: bool) -> Option<(&[u8], Ecn)> {
    if !v4 {
        return Some((read, Ecn::NotEct));
    }
    let first = *read.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || read.len() < ihl {
        return None;
    }
    let ecn = match read[1] & 0b11 {
        0b01 => Ecn::Ect1,
        0b10 => Ecn::Ect0,
        0b11 => Ecn::Ce,
        _ => Ecn::NotEct,
    };
    Some((&read[ihl..], ecn))
}

async fn reader(
    sock: Arc<UdpSocket>,
    v4: bool,
    dp: DataPath,
    sink: Sink,
    io: mpsc::UnboundedSender<Io>,
) {
    let mut buf = vec![0u8; 65_535];
    let mut delivery = Delivery::new(sink);
    let family = if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        for _ in 0..READ_BATCH {
            let (n, from) = match sock.try_recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("raw ESP ({family}): {e}");
                    break;
                }
            };
            let Some((esp, outer)) = esp_of(&buf[..n], v4) else {
                debug!("raw ESP from {}: not an IPv4 packet", from.ip());
                continue;
            };
            if let Err(e) = delivery.unprotect(&dp, esp, outer) {
                debug!("raw ESP from {} dropped: {e}", from.ip());
            }
        }
        delivery.flush().await;
        if dp.events_pending() && io.send(Io::Wake).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_and_ecn_are_taken_off() {
        let mut p = vec![0x45, 0b10, 0, 28, 0, 0, 0, 0, 64, 50, 0, 0];
        p.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend([1, 2, 3, 4, 0, 0, 0, 1]);
        let (esp, ecn) = esp_of(&p, true).unwrap();
        assert_eq!(esp, &[1, 2, 3, 4, 0, 0, 0, 1]);
        assert_eq!(ecn, Ecn::Ect0);
        // Options: IHL 6.
        let mut o = p.clone();
        o[0] = 0x46;
        o.splice(20..20, [1, 1, 1, 0]);
        assert_eq!(esp_of(&o, true).unwrap().0, &[1, 2, 3, 4, 0, 0, 0, 1]);
        assert!(esp_of(&p[..10], true).is_none());
        assert!(esp_of(&[0x65; 24], true).is_none());
        assert!(esp_of(&[], true).is_none());
        assert_eq!(esp_of(&[9, 9], false).unwrap().0, &[9, 9]);
    }
}
