//! Where a message came from or goes to, and over what (RFC 9329: rules differ by
//! transport, so the transport travels with every message, as in str0m).

use core::fmt;
use core::net::SocketAddr;

/// Identifies one byte stream (TCP or TLS connection) to the I/O layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram: ports 500 and 4500 (RFC 7296 §2.23, RFC 3948).
    Udp,
    /// An RFC 9329 stream over plain TCP.
    Tcp(StreamId),
    /// An RFC 9329 stream inside TLS (RFC 9329 Appendix A).
    Tls(StreamId),
}

impl Transport {
    /// An RFC 9329 stream, inside TLS when `tls`.
    pub fn stream(id: StreamId, tls: bool) -> Transport {
        if tls {
            Transport::Tls(id)
        } else {
            Transport::Tcp(id)
        }
    }

    /// The stream it is, if it is one.
    pub fn stream_id(&self) -> Option<StreamId> {
        match *self {
            Transport::Udp => None,
            Transport::Tcp(s) | Transport::Tls(s) => Some(s),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub transport: Transport,
}

/// RFC 7296 §2.23: the port that carries NAT-traversed IKE and UDP-encapsulated ESP.
pub const NATT_PORT: u16 = 4500;
pub const IKE_PORT: u16 = 500;

impl Path {
    pub fn udp(local: SocketAddr, remote: SocketAddr) -> Self {
        Self {
            local,
            remote,
            transport: Transport::Udp,
        }
    }

    /// A reliable, ordered byte stream: no retransmission, no fragments (RFC 9329 §7).
    pub fn is_stream(&self) -> bool {
        !matches!(self.transport, Transport::Udp)
    }

    pub fn stream(&self) -> Option<StreamId> {
        self.transport.stream_id()
    }

    /// Whether an IKE datagram on this path carries the non-ESP marker: on every datagram
    /// where neither port is 500 (RFC 3948 §2.2, as deployed), and always on a stream.
    pub fn needs_non_esp_marker(&self) -> bool {
        self.is_stream() || (self.local.port() != IKE_PORT && self.remote.port() != IKE_PORT)
    }

    /// The same endpoints with the ports moved to 4500 where they were 500: RFC 7296
    /// §2.23, after a NAT is detected IKE continues on port 4500.
    pub fn to_natt(&self) -> Path {
        let mv = |mut a: SocketAddr| {
            if a.port() == IKE_PORT {
                a.set_port(NATT_PORT);
            }
            a
        };
        Path {
            local: mv(self.local),
            remote: mv(self.remote),
            transport: self.transport,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.transport {
            Transport::Udp => "udp".to_string(),
            Transport::Tcp(s) => format!("tcp#{}", s.0),
            Transport::Tls(s) => format!("tls#{}", s.0),
        };
        write!(f, "{} -> {} ({t})", self.local, self.remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_and_port_move() {
        let p = Path::udp(
            "10.0.0.1:500".parse().unwrap(),
            "10.0.0.2:500".parse().unwrap(),
        );
        assert!(!p.needs_non_esp_marker());
        let n = p.to_natt();
        assert_eq!(n.local.port(), 4500);
        assert_eq!(n.remote.port(), 4500);
        assert!(n.needs_non_esp_marker());
        // A non-standard IKE port: only ours moves, theirs stays, and both carry markers.
        let q = Path::udp(
            "10.0.0.1:500".parse().unwrap(),
            "10.0.0.2:1500".parse().unwrap(),
        );
        assert_eq!(q.to_natt().remote.port(), 1500);
        let s = Path {
            transport: Transport::Tcp(StreamId(1)),
            ..p
        };
        assert!(s.needs_non_esp_marker() && s.is_stream());
    }
}
