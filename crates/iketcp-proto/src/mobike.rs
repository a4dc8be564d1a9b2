//! RFC 4555 MOBIKE, across transports (RFC 9329 §8, the TCP guidelines §8.1): the
//! initiator moves an IKE SA and its Child SAs to where it can reach the peer now, over
//! UDP or over a TCP or TLS stream, and back to UDP once UDP works again.
//!
//! - MOBIKE_SUPPORTED in IKE_AUTH, both ways (`ike_auth`); only the original initiator
//!   moves an SA (§3.1).
//! - R-MOB-1: when a request goes unanswered over UDP for `fallback_delay`, the
//!   initiator opens a connection, sends the same request on it, then
//!   UPDATE_SA_ADDRESSES; when its local address goes away, it moves to another one.
//! - R-MOB-2: UPDATE_SA_ADDRESSES goes over UDP first, then the same request, with the
//!   same message ID, over the stream; no new exchange.
//! - R-MOB-3: ESP follows the answer: over UDP (encapsulated) when UDP answered, over the
//!   stream when only the stream did.
//! - R-MOB-4: over a stream the responder ignores NO_NATS_ALLOWED and makes no return
//!   routability check; over UDP it honours NO_NATS_ALLOWED (§3.9).
//! - R-FB-4: while on a stream the initiator probes UDP every `udp_probe_interval`
//!   (doubling while unanswered) with an UPDATE_SA_ADDRESSES over UDP, and once UDP
//!   answers moves back and closes the connection.
//! - R-SEC-1: the responder moves only on an UPDATE_SA_ADDRESSES that decrypted,
//!   verified and carried a new message ID; a replay is answered from the cache at most
//!   and moves nothing.
//!
//! COOKIE2 (§3.5) ties each answer to its request.

use core::net::{IpAddr, SocketAddr};

use iketcp_wire::ike::{ExchangeType, Notify, NotifyType, Payload};
use tracing::{debug, info};

use crate::config::TcpMode;
use crate::events::{Event, MoveReason, Output};
use crate::ike_init::fake_nat;
use crate::ike_sa::{Active, Cx, IkeSa, State, Task};
use crate::natd;
use crate::path::Path;

/// The longest wait between two UDP probes, in multiples of `udp_probe_interval`.
const MAX_PROBE_BACKOFF: u32 = 8;

/// An UPDATE_SA_ADDRESSES in flight.
pub(crate) struct UpdateRequest {
    cookie2: Vec<u8>,
    /// The path it was sent on first (UDP for a probe or after an address change).
    first_on: Path,
    /// A probe of UDP while on a stream (R-FB-4).
    probe: bool,
}

fn notify(payloads: &[Payload], ty: NotifyType) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == ty => Some(n),
        _ => None,
    })
}

/// The notification data of NO_NATS_ALLOWED for a message from `src` to `dst` (RFC 4555
/// §3.9): both addresses, then both ports.
fn no_nats_data(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut d = Vec::with_capacity(36);
    for a in [src.ip(), dst.ip()] {
        match a {
            IpAddr::V4(v) => d.extend_from_slice(&v.octets()),
            IpAddr::V6(v) => d.extend_from_slice(&v.octets()),
        }
    }
    d.extend_from_slice(&src.port().to_be_bytes());
    d.extend_from_slice(&dst.port().to_be_bytes());
    d
}

impl IkeSa {
    /// Tells the operator where the SA sends now, and why.
    pub(crate) fn announce_move(&self, cx: &mut Cx<'_>, reason: MoveReason) {
        cx.event(Event::PathChanged {
            ike: self.id,
            path: self.path,
            reason,
        });
    }

    /// The MOBIKE_SUPPORTED notify, if this peer's configuration announces it.
    pub(crate) fn mobike_notify(&self, cx: &Cx<'_>) -> Option<Payload> {
        self.peer_config(cx)
            .is_some_and(|p| p.mobike)
            .then(|| Payload::Notify(Notify::new(NotifyType::MOBIKE_SUPPORTED, vec![])))
    }

    /// IKE_AUTH: whether the peer announced MOBIKE too.
    pub(crate) fn peer_announced_mobike(payloads: &[Payload]) -> bool {
        notify(payloads, NotifyType::MOBIKE_SUPPORTED).is_some()
    }

    /// Whether this side moves the SA between UDP and a stream: the initiator, with TCP
    /// as the fallback.
    pub(crate) fn moves_to_and_from_tcp(&self, cx: &Cx<'_>) -> bool {
        self.mobike
            && self.mobile
            && !self.superseded
            && self
                .peer_config(cx)
                .is_some_and(|p| p.tcp.mode == TcpMode::Fallback)
    }

    /// Arms the next UDP probe while on a stream (R-FB-4), waiting longer after each
    /// unanswered one.
    pub(crate) fn schedule_udp_probe(&mut self, cx: &Cx<'_>) {
        if !self.path.is_stream() || !self.moves_to_and_from_tcp(cx) {
            self.udp_probe_at = None;
            return;
        }
        let Some(interval) = self.peer_config(cx).map(|p| p.tcp.udp_probe_interval) else {
            return;
        };
        let backoff = (1u32 << self.udp_probes_failed.min(3)).min(MAX_PROBE_BACKOFF);
        self.udp_probe_at = Some(cx.now + interval * backoff);
    }

    /// Where IKE and ESP go over UDP: the NAT-T port on both sides, from our address.
    fn udp_path(&self, cx: &Cx<'_>) -> Option<Path> {
        let cfg = self.peer_config(cx)?;
        let ip = if cfg.local.ip().is_unspecified() {
            self.path.local.ip()
        } else {
            cfg.local.ip()
        };
        Some(Path::udp(SocketAddr::new(ip, cfg.local.port()), cfg.remote).to_natt())
    }

    /// Sends UPDATE_SA_ADDRESSES on `path` (RFC 4555 §3.5).
    pub(crate) fn start_update(&mut self, cx: &mut Cx<'_>, path: Path) {
        self.send_update(cx, path, false);
    }

    /// R-FB-4: asks over UDP whether it works again.
    pub(crate) fn start_udp_probe(&mut self, cx: &mut Cx<'_>) {
        if !self.path.is_stream() || !self.moves_to_and_from_tcp(cx) {
            return;
        }
        let Some(udp) = self.udp_path(cx) else {
            return;
        };
        debug!(ike = %self.id, "asking over UDP whether it works again: {udp}");
        self.send_update(cx, udp, true);
    }

    fn send_update(&mut self, cx: &mut Cx<'_>, path: Path, probe: bool) {
        if !self.mobike || self.state != State::Established {
            return;
        }
        let cookie2 = cx.random_bytes(16);
        let mut payloads = vec![Payload::Notify(Notify::new(
            NotifyType::UPDATE_SA_ADDRESSES,
            vec![],
        ))];
        // Over UDP the source hash is faked as in IKE_SA_INIT when ESP must be
        // encapsulated. Over a stream NAT detection changes nothing (R-NAT-1).
        payloads.extend(natd::notifies(
            self.spi_i,
            self.spi_r,
            path.local,
            path.remote,
            fake_nat(cx, &path),
        ));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::COOKIE2,
            cookie2.clone(),
        )));
        self.send_request_on(
            cx,
            path,
            ExchangeType::INFORMATIONAL,
            payloads,
            Active::UpdateAddresses(UpdateRequest {
                cookie2,
                first_on: path,
                probe,
            }),
        );
    }

    /// The request outstanding went unanswered over UDP for `fallback_delay`.
    pub(crate) fn udp_unanswered(&mut self, cx: &mut Cx<'_>) {
        let stream_wait = cx.now + cx.config.stream_response_timeout();
        let path = self.path;
        let Some(o) = self.outstanding.as_mut() else {
            return;
        };
        o.udp_until = None;
        if path.is_stream() {
            // R-MOB-2: a probe UDP did not answer: the same request, same message ID,
            // over the connection we are on.
            debug!(ike = %self.id, mid = o.message_id, "no answer over UDP: the same request over {path}");
            o.on = path;
            o.next_send = None;
            o.deadline = stream_wait;
            for p in o.packets.clone() {
                self.transmit_on(cx, path, p);
            }
            return;
        }
        // R-MOB-1: the UDP path died. The request goes on a connection once it is open
        // (`stream_opened`); until then UDP retransmissions go on.
        if self.awaiting_stream.is_none()
            && let Some(remote) = self.tcp_remote(cx)
        {
            info!(ike = %self.id, "no answer over UDP: moving to TCP {remote}");
            self.leaving_udp = true;
            let local = self.path.local.ip();
            self.open_stream(cx, local, remote);
        }
    }

    /// The peer's TCP address, from its configuration.
    pub(crate) fn tcp_remote(&self, cx: &Cx<'_>) -> Option<SocketAddr> {
        let cfg = self.peer_config(cx)?;
        Some(SocketAddr::new(cfg.remote.ip(), cfg.tcp.remote_port))
    }

    /// The initiator's end of UPDATE_SA_ADDRESSES: the SA goes where the answer came
    /// from (R-MOB-3).
    pub(crate) fn process_update_response(
        &mut self,
        cx: &mut Cx<'_>,
        req: UpdateRequest,
        path: Path,
        payloads: Vec<Payload>,
    ) {
        if notify(&payloads, NotifyType::COOKIE2).is_none_or(|n| n.data != req.cookie2) {
            // RFC 4555 §3.5: an answer must echo our COOKIE2.
            info!(ike = %self.id, "UPDATE_SA_ADDRESSES answered without our COOKIE2: not moved");
            self.schedule_udp_probe(cx);
            return;
        }
        if let Some(n) = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
            _ => None,
        }) {
            info!(ike = %self.id, "peer refused UPDATE_SA_ADDRESSES: {n}");
            self.schedule_udp_probe(cx);
            return;
        }
        self.learn_nat(cx, &path, &payloads);
        let old = self.path;
        if path != old {
            let reason = if let (Some(s), None) = (old.stream(), path.stream()) {
                // R-FB-4: back on UDP; the connection is not needed any more.
                cx.out.push_back(Output::CloseStream(s));
                info!(ike = %self.id, "UDP works again: back on {path}");
                MoveReason::UdpWorksAgain
            } else {
                info!(ike = %self.id, "moved to {path}");
                MoveReason::Updated
            };
            self.path = path;
            self.announce_move(cx, reason);
        }
        self.update_child_paths(cx);
        if path.is_stream() {
            if req.probe {
                self.udp_probes_failed = self.udp_probes_failed.saturating_add(1);
            } else if !req.first_on.is_stream() {
                // The UDP copy may have reached the peer and moved it to UDP, with its
                // answer lost: say once more, only on the stream, where we are.
                self.enqueue(cx, Task::UpdateAddresses);
            }
            self.schedule_udp_probe(cx);
        } else {
            self.udp_probes_failed = 0;
            self.udp_probe_at = None;
        }
    }

    /// The responder's end of UPDATE_SA_ADDRESSES, inside an INFORMATIONAL request that
    /// decrypted, verified and had a new message ID (R-SEC-1). Returns the payloads the
    /// response adds.
    pub(crate) fn take_update(&mut self, cx: &mut Cx<'_>, payloads: &[Payload]) -> Vec<Payload> {
        if notify(payloads, NotifyType::UPDATE_SA_ADDRESSES).is_none() {
            return Vec::new();
        }
        if !self.mobike {
            debug!(ike = %self.id, "UPDATE_SA_ADDRESSES without MOBIKE: ignored");
            return Vec::new();
        }
        let path = self.respond_on.unwrap_or(self.path);
        let mut resp = Vec::new();
        if let Some(n) = notify(payloads, NotifyType::NO_NATS_ALLOWED) {
            if path.is_stream() {
                // R-MOB-4: the stream's addresses say nothing about ESP's.
                debug!(ike = %self.id, "NO_NATS_ALLOWED over a stream: ignored");
            } else if n.data != no_nats_data(path.remote, path.local) {
                info!(ike = %self.id, "UPDATE_SA_ADDRESSES through a NAT with NO_NATS_ALLOWED: not moved");
                return vec![Payload::Notify(Notify::new(
                    NotifyType::UNEXPECTED_NAT_DETECTED,
                    vec![],
                ))];
            }
        }
        self.learn_nat(cx, &path, payloads);
        if path != self.path {
            // R-MOB-4: no return routability check; the message itself proved the peer.
            info!(ike = %self.id, "peer moved to {path} (UPDATE_SA_ADDRESSES)");
            self.path = path;
            self.announce_move(cx, MoveReason::PeerUpdated);
        }
        self.update_child_paths(cx);
        resp.extend(natd::notifies(
            self.spi_i,
            self.spi_r,
            path.local,
            path.remote,
            fake_nat(cx, &path),
        ));
        if let Some(c) = notify(payloads, NotifyType::COOKIE2) {
            resp.push(Payload::Notify(c.clone()));
        }
        resp
    }

    /// Our addresses changed to `addrs`. If the SA's local address is gone, the
    /// initiator moves it: over UDP by UPDATE_SA_ADDRESSES from a remaining address
    /// (the system picks the source where we listen on any address), over a stream by
    /// a new connection, which carries the update.
    pub(crate) fn local_addresses_changed(&mut self, cx: &mut Cx<'_>, addrs: &[IpAddr]) {
        if self.state != State::Established || !self.mobike || !self.mobile || self.superseded {
            return;
        }
        let ours = self.path.local.ip();
        if !ours.is_unspecified() && addrs.contains(&ours) {
            return;
        }
        let usable = |a: &&IpAddr| {
            a.is_ipv4() == self.path.remote.is_ipv4() && !a.is_loopback() && !a.is_unspecified()
        };
        let new_ip = if ours.is_unspecified() {
            ours
        } else {
            match addrs.iter().find(usable) {
                Some(a) => *a,
                None => {
                    info!(ike = %self.id, "address {ours} gone, and no other: waiting");
                    return;
                }
            }
        };
        info!(ike = %self.id, "local addresses changed: moving from {}", self.path.local);
        if self.path.is_stream() {
            self.path.local = SocketAddr::new(new_ip, self.path.local.port());
            if self.awaiting_stream.is_none() {
                self.tcp_originator = true;
                self.reconnect(cx);
            }
            if self.moves_to_and_from_tcp(cx) {
                // UDP may work from the new address: ask soon.
                self.udp_probes_failed = 0;
                self.udp_probe_at = Some(cx.now);
            }
        } else {
            let mut path = self.path;
            path.local = SocketAddr::new(new_ip, path.local.port());
            self.path = path;
            self.enqueue(cx, Task::UpdateAddresses);
        }
    }
}
