//! RFC 9329 §3–6: the node's table of byte streams, one framer and one deframer each,
//! with the deadlines and counts that bound what a stranger can hold (R-SEC-3).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use core::net::{IpAddr, SocketAddr};

use iketcp_proto::StreamId;
use iketcp_wire::encap::stream::{Deframer, Framer, Limits, Role};

/// Which end of a connection we are (RFC 9329 §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRole {
    /// We opened it: we send the prefix, and reconnect it when it breaks.
    Originator,
    /// We accepted it: the prefix must come first, within the prefix timeout.
    Responder,
}

pub(crate) struct Stream {
    pub role: StreamRole,
    /// The stream runs inside TLS (RFC 9329 Appendix A).
    pub tls: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub framer: Framer,
    pub deframer: Deframer,
    /// Unparsable or refused messages so far (R-CONN-8).
    pub corrupt: u32,
    /// When the last whole message arrived.
    pub last_rx: Instant,
    /// Responder: when the prefix must have arrived (R-FRAME-1, R-SEC-3).
    pub prefix_deadline: Option<Instant>,
    /// The deadline queued for this stream.
    pub deadline: Option<Instant>,
}

/// The streams, their deadlines in order, and how many each source holds.
#[derive(Default)]
pub(crate) struct Streams {
    pub map: HashMap<StreamId, Stream>,
    deadlines: BTreeSet<(Instant, StreamId)>,
    accepted_by_source: HashMap<IpAddr, usize>,
    pub accepted: usize,
}

impl Streams {
    pub fn open(
        &mut self,
        id: StreamId,
        role: StreamRole,
        tls: bool,
        (local, remote): (SocketAddr, SocketAddr),
        limits: Limits,
        now: Instant,
    ) {
        let wire = match role {
            StreamRole::Originator => Role::Originator,
            StreamRole::Responder => Role::Responder,
        };
        if role == StreamRole::Responder {
            self.accepted += 1;
            *self.accepted_by_source.entry(remote.ip()).or_default() += 1;
        }
        self.map.insert(
            id,
            Stream {
                role,
                tls,
                local,
                remote,
                framer: Framer::new(wire, limits),
                deframer: Deframer::new(wire, limits),
                corrupt: 0,
                last_rx: now,
                prefix_deadline: None,
                deadline: None,
            },
        );
    }

    /// Accepted streams from `ip` now.
    pub fn accepted_from(&self, ip: IpAddr) -> usize {
        self.accepted_by_source.get(&ip).copied().unwrap_or(0)
    }

    pub fn remove(&mut self, id: StreamId) -> Option<Stream> {
        let s = self.map.remove(&id)?;
        if let Some(d) = s.deadline {
            self.deadlines.remove(&(d, id));
        }
        if s.role == StreamRole::Responder {
            self.accepted -= 1;
            let ip = s.remote.ip();
            if let Some(n) = self.accepted_by_source.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.accepted_by_source.remove(&ip);
                }
            }
        }
        Some(s)
    }

    /// Queues `at` as the stream's next deadline, replacing any earlier one.
    pub fn schedule(&mut self, id: StreamId, at: Option<Instant>) {
        let Some(s) = self.map.get_mut(&id) else {
            return;
        };
        if let Some(d) = s.deadline.take() {
            self.deadlines.remove(&(d, id));
        }
        if let Some(at) = at {
            s.deadline = Some(at);
            self.deadlines.insert((at, id));
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Streams whose deadline is due, taken off the queue.
    pub fn due(&mut self, now: Instant) -> Vec<StreamId> {
        let mut out = Vec::new();
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.remove(&(t, id));
            if let Some(s) = self.map.get_mut(&id) {
                s.deadline = None;
            }
            out.push(id);
        }
        out
    }
}
