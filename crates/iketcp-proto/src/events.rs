//! What the engine hands out: messages to send, Child SA keys for the ESP engine, and
//! events for the operator.

use core::fmt;

use iketcp_crypto::SecretBytes;
use iketcp_wire::ike::{TrafficSelector, TransformId};

use crate::config::Mode;
use crate::path::{Path, StreamId};

/// A handle on one IKE SA, stable across its life (a rekey makes a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

impl fmt::Display for IkeSaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ike#{}", self.0)
    }
}

/// One IKE message to send. `message` is the bare IKE message; the I/O layer adds the
/// non-ESP marker where [`Path::needs_non_esp_marker`] says so, or the stream framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub path: Path,
    pub message: Vec<u8>,
}

/// Everything the ESP engine needs for one Child SA, both directions.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    pub ike: IkeSaId,
    pub name: String,
    /// The SPI we chose: inbound ESP carries it.
    pub spi_in: u32,
    /// The SPI the peer chose: outbound ESP carries it.
    pub spi_out: u32,
    pub encr: TransformId,
    pub encr_key_bits: Option<u16>,
    pub integ: Option<TransformId>,
    pub esn: bool,
    pub mode: Mode,
    /// Encryption key (with salt for an AEAD) and integrity key, inbound.
    pub encr_in: SecretBytes,
    pub integ_in: SecretBytes,
    pub encr_out: SecretBytes,
    pub integ_out: SecretBytes,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Where ESP goes: UDP-encapsulated to this path's remote, or over its stream.
    pub path: Path,
    /// ESP goes as IP protocol 50 between the path's addresses, not in UDP (no NAT was
    /// detected, and the data plane carries raw ESP).
    pub raw: bool,
    /// R-ESP-1: 1 when ESP runs over a stream.
    pub replay_window: u32,
}

impl fmt::Debug for ChildSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSaKeys")
            .field("ike", &self.ike)
            .field("name", &self.name)
            .field("spi_in", &format_args!("{:08x}", self.spi_in))
            .field("spi_out", &format_args!("{:08x}", self.spi_out))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("esn", &self.esn)
            .field("path", &self.path)
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

/// Why an SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// We deleted it (operator, or replaced by a rekey).
    Local,
    /// The peer sent a DELETE.
    PeerDeleted,
    /// No response to a request in time (R-RETX-1 over a stream; retransmissions
    /// exhausted over UDP).
    Timeout,
    /// The peer refused, or answered what we cannot accept (R-ERR-1).
    Refused(crate::error::Refusal),
    /// The peer's message broke a rule; the error we answered with.
    Protocol(crate::error::ProtocolError),
    /// The authentication of the peer failed.
    AuthFailed,
    /// The hard lifetime passed before a rekey completed.
    Expired,
    /// Replaced by a rekeyed SA.
    Rekeyed,
    /// The peer could not be reached: the TCP connection was refused or timed out.
    Unreachable,
}

/// Why an IKE SA moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MoveReason {
    /// A valid request of the peer came from elsewhere: a NAT rebinding (RFC 7296
    /// §2.23) or another connection (R-CONN-5).
    PeerMoved,
    /// The peer's UPDATE_SA_ADDRESSES (RFC 4555).
    PeerUpdated,
    /// The connection broke and we opened another (R-CONN-3).
    Reconnected,
    /// UDP went unanswered: IKE goes on a new connection (R-MOB-1).
    UdpUnanswered,
    /// Our UPDATE_SA_ADDRESSES was answered there (R-MOB-3).
    Updated,
    /// A probe over UDP was answered: back on UDP (R-FB-4).
    UdpWorksAgain,
}

impl fmt::Display for MoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoveReason::PeerMoved => "the peer spoke from there",
            MoveReason::PeerUpdated => "the peer's UPDATE_SA_ADDRESSES",
            MoveReason::Reconnected => "reconnected",
            MoveReason::UdpUnanswered => "no answer over UDP",
            MoveReason::Updated => "UPDATE_SA_ADDRESSES answered",
            MoveReason::UdpWorksAgain => "UDP works again",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    IkeUp {
        ike: IkeSaId,
        peer: String,
        path: Path,
    },
    IkeDown {
        ike: IkeSaId,
        reason: DownReason,
    },
    IkeRekeyed {
        old: IkeSaId,
        new: IkeSaId,
    },
    ChildUp {
        ike: IkeSaId,
        name: String,
        spi_in: u32,
        spi_out: u32,
    },
    ChildDown {
        ike: IkeSaId,
        spi_in: u32,
        reason: DownReason,
    },
    ChildRekeyed {
        ike: IkeSaId,
        old_spi_in: u32,
        new_spi_in: u32,
    },
    /// IKE_SA_INIT over UDP went unanswered: a new IKE SA setup starts over TCP (RFC 9329
    /// §5.1, R-FB-1, R-FB-2). `ike` stays the handle of the setup.
    FellBackToTcp {
        ike: IkeSaId,
    },
    /// The IKE SA now sends on `path`, for `reason`.
    PathChanged {
        ike: IkeSaId,
        path: Path,
        reason: MoveReason,
    },
    /// The peer assigned us these virtual addresses (RFC 7296 §2.19): the host should
    /// hold them while the IKE SA (or a rekeyed successor) lives. Comes before the first
    /// Child SA is installed.
    VirtualIps {
        ike: IkeSaId,
        addresses: Vec<core::net::IpAddr>,
    },
    /// A Child SA the peer or we asked for could not be made; the IKE SA stays.
    ChildFailed {
        ike: IkeSaId,
        name: String,
        reason: DownReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    Transmit(Transmit),
    /// Install both directions of a Child SA in the ESP engine.
    InstallChild(Box<ChildSaKeys>),
    /// Remove both directions of a Child SA.
    RemoveChild {
        spi_in: u32,
        spi_out: u32,
    },
    /// Open a TCP connection to `remote` (from `local`'s address, any port) and report it
    /// with [`Endpoint::stream_opened`](crate::Endpoint::stream_opened), or its failure
    /// with [`Endpoint::stream_closed`](crate::Endpoint::stream_closed). We are its TCP
    /// Originator and send the stream prefix (RFC 9329 §4).
    OpenStream {
        id: StreamId,
        local: core::net::IpAddr,
        remote: core::net::SocketAddr,
        /// The peer configuration it is for: the I/O layer wraps the connection as that
        /// peer is configured (TLS, an HTTP proxy, R-CFG-2).
        peer: String,
    },
    /// Close a stream (e.g. after asking for a cookie over it, R-COOKIE-1).
    CloseStream(StreamId),
    /// The Child SA's ESP now goes on `path` (its IKE SA moved), with this inbound
    /// anti-replay window (R-ESP-1: 1 over a stream).
    ChildPath {
        spi_in: u32,
        spi_out: u32,
        path: Path,
        /// As [`ChildSaKeys::raw`].
        raw: bool,
        replay_window: u32,
    },
    Event(Event),
}
