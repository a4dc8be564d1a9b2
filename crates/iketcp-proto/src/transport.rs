//! RFC 9329 §5–6: which transport an IKE SA uses, when it falls back from UDP to TCP,
//! and what a broken connection means. The I/O layer only executes: it opens the
//! connections asked for with [`Output::OpenStream`] and reports them opened or closed.
//!
//! - R-CFG-1: TCP is configured per peer (`no`, `yes`, `fallback`), never negotiated.
//! - R-FB-1, R-FB-2: with `fallback`, IKE_SA_INIT goes over UDP first and is
//!   retransmitted at least once; after `fallback_delay` without an answer a new IKE SA
//!   setup (new SPI, new nonce, NAT detection on the TCP 4-tuple) starts over TCP.
//! - R-FB-3: with `yes`, UDP is skipped.
//! - R-CONN-1, R-CONN-2, R-CONN-7: the TCP Originator opens one connection per IKE SA
//!   (shared only with its rekeys) and stays the Originator through rekeys.
//! - R-CONN-3, R-RETX-2, R-CONN-10: on FIN or RST the Originator reconnects from a new
//!   port, sends the request still waiting again on the new connection (the wait goes
//!   on), or, with none waiting, an empty INFORMATIONAL, so the Responder learns where to
//!   send (R-CONN-5).
//! - R-SEC-2: no SA is touched by a connection going away.
//! - R-CONN-9: the Originator closes the connection once the IKE SA is gone.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use tracing::info;

use crate::config::TcpMode;
use crate::events::{DownReason, Event, IkeSaId, MoveReason, Output};
use crate::ike_sa::{Cx, IkeSa, State, Task};
use crate::path::{Path, StreamId, Transport};

/// The longest wait between two reconnection attempts.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(30);

impl IkeSa {
    /// A new initiator IKE SA for `peer` over the transport its configuration names:
    /// IKE_SA_INIT over UDP at once (`no`, `fallback`), or a TCP connection first (`yes`).
    pub(crate) fn connect(
        cx: &mut Cx<'_>,
        id: IkeSaId,
        peer: usize,
        first_child: Option<usize>,
    ) -> Result<IkeSa, crate::error::ApiError> {
        let cfg = cx
            .peers
            .get(peer)
            .ok_or(crate::error::ApiError::UnknownPeer(String::new()))?;
        let udp = Path::udp(cfg.local, cfg.remote);
        match cfg.tcp.mode {
            TcpMode::No => IkeSa::initiate(cx, id, peer, udp, first_child),
            TcpMode::Fallback => {
                let delay = cfg.tcp.fallback_delay;
                let mut sa = IkeSa::initiate(cx, id, peer, udp, first_child)?;
                sa.fallback_at = Some(cx.now + delay);
                Ok(sa)
            }
            TcpMode::Yes => {
                let remote = SocketAddr::new(cfg.remote.ip(), cfg.tcp.remote_port);
                let local = cfg.local.ip();
                let mut sa = IkeSa::fresh_initiator(
                    cx,
                    id,
                    peer,
                    Path::udp(SocketAddr::new(local, 0), remote),
                    first_child,
                    State::Connecting,
                )?;
                sa.open_stream(cx, local, remote);
                Ok(sa)
            }
        }
    }

    /// Asks the I/O layer for a connection; we are its TCP Originator.
    pub(crate) fn open_stream(&mut self, cx: &mut Cx<'_>, local: IpAddr, remote: SocketAddr) {
        let id = cx.new_stream_id();
        self.awaiting_stream = Some(id);
        self.tcp_originator = true;
        let peer = self
            .peer_config(cx)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        cx.out.push_back(Output::OpenStream {
            id,
            local,
            remote,
            peer,
        });
    }

    /// The first UDP retransmission of IKE_SA_INIT under `fallback`: early enough that
    /// one is sent before the fallback (R-FB-1).
    pub(crate) fn first_retransmit_wait(&self, cx: &Cx<'_>) -> Duration {
        let normal = cx.config.retransmit.wait(0);
        match self
            .peer_config(cx)
            .map(|p| (&p.tcp.mode, p.tcp.fallback_delay))
        {
            Some((TcpMode::Fallback, d)) if self.state == State::InitSent => normal.min(d / 2),
            _ => match self.udp_gives_way(cx) {
                Some(d) => normal.min(d / 2),
                None => normal,
            },
        }
    }

    /// How long a request of an established IKE SA may go unanswered over UDP before it
    /// goes over a stream instead: MOBIKE (RFC 4555) lets the initiator move, and the
    /// peer is configured with TCP as the fallback (R-FB-1's rule, on a live SA).
    pub(crate) fn udp_gives_way(&self, cx: &Cx<'_>) -> Option<Duration> {
        if self.state != State::Established || !self.moves_to_and_from_tcp(cx) {
            return None;
        }
        self.peer_config(cx).map(|p| p.tcp.fallback_delay)
    }

    /// R-FB-1, R-FB-2: UDP went unanswered; this setup gives way to a new one over TCP
    /// with a new SPI, under the same handle. Returns whether it did.
    pub(crate) fn fall_back(&mut self, cx: &mut Cx<'_>) -> bool {
        let retransmitted = self.outstanding.as_ref().is_some_and(|o| o.retransmits > 0);
        if self.state != State::InitSent || self.path.is_stream() || !retransmitted {
            return false;
        }
        let Some(peer) = self.peer else {
            return false;
        };
        let Some(cfg) = cx.peers.get(peer) else {
            return false;
        };
        let remote = SocketAddr::new(cfg.remote.ip(), cfg.tcp.remote_port);
        let local = cfg.local.ip();
        let Ok(mut next) = IkeSa::fresh_initiator(
            cx,
            self.id,
            peer,
            Path::udp(SocketAddr::new(local, 0), remote),
            self.first_child,
            State::Connecting,
        ) else {
            return false;
        };
        info!(ike = %self.id, "no answer over UDP: falling back to TCP {remote}");
        next.open_stream(cx, local, remote);
        cx.event(Event::FellBackToTcp { ike: self.id });
        cx.fx.new_sas.push(next);
        // This attempt ends without a trace: the setup goes on under the same handle.
        self.outstanding = None;
        self.state = State::Dead;
        true
    }

    /// Our connection opened: IKE_SA_INIT goes out on it, or, after a reconnect, the
    /// request still waiting (R-RETX-2) or an empty INFORMATIONAL (R-CONN-10).
    pub(crate) fn stream_opened(
        &mut self,
        cx: &mut Cx<'_>,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let Some(id) = transport.stream_id() else {
            return;
        };
        if self.awaiting_stream != Some(id) {
            return;
        }
        self.awaiting_stream = None;
        self.reconnect_failures = 0;
        let old = self.path.stream();
        if old.is_none() && self.state == State::Established && !self.leaving_udp {
            // UDP answered while the connection was being opened: stay on UDP.
            info!(ike = %self.id, "UDP answered meanwhile: not moving to {remote}");
            cx.out.push_back(Output::CloseStream(id));
            return;
        }
        self.leaving_udp = false;
        self.path = Path {
            local,
            remote,
            transport,
        };
        if self.state == State::Connecting {
            info!(ike = %self.id, "connected to {remote} from {local}");
            if self.start_init(cx).is_err() {
                // A configuration without a usable key exchange group: nothing to send.
                self.die(cx, DownReason::Local);
            }
            return;
        }
        if let Some(old) = old {
            info!(ike = %self.id, "reconnected to {remote} from {local}");
            cx.out.push_back(Output::CloseStream(old));
            self.announce_move(cx, MoveReason::Reconnected);
            self.update_child_paths(cx);
        } else {
            // RFC 4555 from UDP (R-MOB-1): IKE goes on the connection now; ESP follows
            // once the peer answers the UPDATE_SA_ADDRESSES (R-MOB-3).
            info!(ike = %self.id, "connected to {remote} from {local}: moving from UDP");
            self.announce_move(cx, MoveReason::UdpUnanswered);
        }
        let stream_wait = cx.now + cx.config.stream_response_timeout();
        if let Some(o) = &mut self.outstanding {
            // R-RETX-2, R-MOB-2: the same request again (same message ID), on the new
            // connection; over a stream it is not retransmitted (R-RETX-1).
            o.on = self.path;
            o.next_send = None;
            o.udp_until = None;
            if old.is_none() {
                // Over UDP it waited by the retransmission schedule; over a stream, by
                // the stream's.
                o.deadline = stream_wait;
            }
            for p in o.packets.clone() {
                self.transmit(cx, p);
            }
        }
        if self.state == State::Established {
            // R-CONN-10: tell the Responder where we are now. The request resent above
            // does not: if the peer had taken it before the connection broke, it is a
            // retransmission there, answered from its cache, and moves nothing (R-SEC-1).
            let task = if self.mobike {
                Task::UpdateAddresses
            } else {
                Task::Liveness
            };
            self.enqueue(cx, task);
        }
    }

    /// A connection went away (FIN, RST, error) or never opened. SAs stay (R-SEC-2); the
    /// Originator reconnects (R-CONN-3).
    pub(crate) fn stream_closed(&mut self, cx: &mut Cx<'_>, id: StreamId) {
        if self.awaiting_stream == Some(id) {
            self.awaiting_stream = None;
            if self.state == State::Connecting {
                info!(ike = %self.id, "cannot connect to {}", self.path.remote);
                self.die(cx, DownReason::Unreachable);
                return;
            }
            // A reconnection failed: try again later, waiting longer each time.
            self.reconnect_failures += 1;
            let wait = Duration::from_secs(1 << self.reconnect_failures.min(5));
            self.reconnect_at = Some(cx.now + wait.min(MAX_RECONNECT_WAIT));
            return;
        }
        if self.path.stream() != Some(id) || self.state == State::Dead {
            return;
        }
        if self.tcp_originator {
            info!(ike = %self.id, "connection closed; reconnecting");
            self.reconnect(cx);
        }
    }

    /// Opens a new connection to where the current one went.
    pub(crate) fn reconnect(&mut self, cx: &mut Cx<'_>) {
        if self.awaiting_stream.is_some() || !self.tcp_originator || self.state == State::Dead {
            return;
        }
        // From UDP (RFC 4555, R-MOB-1) the connection goes to the peer's TCP port.
        let remote = if self.path.is_stream() {
            self.path.remote
        } else {
            match self.tcp_remote(cx) {
                Some(r) => r,
                None => return,
            }
        };
        let local = self.path.local.ip();
        self.open_stream(cx, local, remote);
    }

    /// R-CONN-9: the Originator closes its connection when the IKE SA is gone, unless a
    /// rekey's successor carries on over it.
    pub(crate) fn close_own_stream(&mut self, cx: &mut Cx<'_>) {
        if !self.tcp_originator || self.superseded {
            return;
        }
        if let Some(id) = self.path.stream() {
            cx.out.push_back(Output::CloseStream(id));
        }
        if let Some(id) = self.awaiting_stream.take() {
            cx.out.push_back(Output::CloseStream(id));
        }
    }

    /// R-CONN-5: a valid message on another connection of the same kind moves where we
    /// send. Only on streams: moving between UDP and TCP needs MOBIKE.
    pub(crate) fn follow_stream(&mut self, cx: &mut Cx<'_>, path: Path) {
        if path == self.path || !path.is_stream() || !self.path.is_stream() {
            return;
        }
        info!(ike = %self.id, "peer now on {path}");
        self.path = path;
        self.announce_move(cx, MoveReason::PeerMoved);
        self.update_child_paths(cx);
    }
}
