//! RFC 7296 §2.23 NAT detection: NAT_DETECTION_SOURCE_IP and _DESTINATION_IP carry
//! SHA-1(SPIi | SPIr | IP | port) of the addresses each side sees.
//!
//! R-NAT-1: over a stream the hashes use the stream's own addresses and TCP ports, and a
//! NAT detected there changes no encapsulation (the caller decides that).

use core::net::{IpAddr, SocketAddr};

use iketcp_wire::ike::{Notify, NotifyType, Payload};

pub(crate) fn hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let ip: Vec<u8> = match addr.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    iketcp_crypto::sha1(&[
        &spi_i.to_be_bytes()[..],
        &spi_r.to_be_bytes(),
        &ip,
        &addr.port().to_be_bytes(),
    ])
    .to_vec()
}

/// The two notifies for a message sent from `local` to `remote`. With `fake_source`, the
/// source hash is deliberately wrong so the peer sees us behind a NAT and both sides use
/// UDP encapsulation (what a userspace ESP data plane needs; strongSwan's `encap=yes`).
pub(crate) fn notifies(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    fake_source: bool,
) -> [Payload; 2] {
    let mut src = hash(spi_i, spi_r, local);
    if fake_source {
        for b in &mut src {
            *b = !*b;
        }
    }
    [
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, src)),
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            hash(spi_i, spi_r, remote),
        )),
    ]
}

/// What the peer's notifies say, for a message that came from `remote` to `local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Detected {
    /// Both notifies were present.
    pub supported: bool,
    /// The peer's address differs from what it sent from.
    pub remote_behind_nat: bool,
    /// Our address differs from what the peer sent to.
    pub local_behind_nat: bool,
}

impl Detected {
    pub fn any(&self) -> bool {
        self.remote_behind_nat || self.local_behind_nat
    }
}

pub(crate) fn detect(
    payloads: &[Payload],
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> Detected {
    let mut sources = Vec::new();
    let mut dest = None;
    for p in payloads {
        if let Payload::Notify(n) = p {
            if n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP {
                sources.push(n.data.as_slice());
            } else if n.notify_type == NotifyType::NAT_DETECTION_DESTINATION_IP {
                dest = Some(n.data.as_slice());
            }
        }
    }
    let Some(dest) = dest else {
        return Detected::default();
    };
    if sources.is_empty() {
        return Detected::default();
    }
    let theirs = hash(spi_i, spi_r, remote);
    let ours = hash(spi_i, spi_r, local);
    Detected {
        supported: true,
        // RFC 7296 §2.23: any matching source hash means no NAT on that side.
        remote_behind_nat: !sources.contains(&theirs.as_slice()),
        local_behind_nat: dest != ours.as_slice(),
    }
}
