//! A deterministic network for whole iketcp nodes (IKE and ESP in the loop): a virtual
//! clock, hosts with UDP and TCP ports, links with latency and loss, and middleboxes
//! that block UDP, reset or close connections, rebind a NAT, and replay what they saw.
//! TCP is modelled as the I/O layer sees it: connections that open, carry bytes in
//! order (cut anywhere) and end; so every run also exercises the RFC 9329 codec.
//!
//! Everything is seeded: a failing seed replays exactly, and [`World::dump`] prints the
//! trace.

pub mod engine;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use iketcp_crypto::{DeterministicRng, SecretBytes};
use iketcp_node::{CloseReason, Input, Node, NodeConfig, Output};
use iketcp_proto::config::suites;
use iketcp_proto::{
    AuthConfig, ChildConfig, Endpoint, EndpointConfig, Event, Lifetime, Mode, PeerConfig, StreamId,
    TcpConfig, TcpMode,
};
use iketcp_wire::ike::{Id, IdType, Message, TrafficSelector};

/// A small xorshift generator for link decisions (the nodes have their own RNGs).
#[derive(Debug, Clone)]
pub struct LinkRng(u64);

impl LinkRng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// One machine: a node, the ports it listens on, and what it saw.
pub struct Host {
    pub name: String,
    pub addr: IpAddr,
    pub node: Node,
    pub udp_ports: Vec<u16>,
    pub tcp_ports: Vec<u16>,
    pub events: Vec<(Duration, Event)>,
    /// Inner packets that came out of a Child SA.
    pub delivered: Vec<Vec<u8>>,
    /// Connections this host closed, and why.
    pub closed: Vec<(StreamId, CloseReason)>,
    /// Datagrams and stream messages this host sent: (time, on a stream, bytes).
    pub sent: Vec<(Duration, Option<StreamId>, Vec<u8>)>,
    /// Connections this host asked for.
    pub connects: Vec<(Duration, StreamId, SocketAddr)>,
    /// ESP packets this host sent as IP protocol 50 (no UDP).
    pub raw_esp: usize,
}

enum Delivery {
    Datagram {
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    Accepted {
        local: SocketAddr,
        remote: SocketAddr,
        from: (usize, StreamId),
    },
    Connected {
        id: StreamId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    Data {
        id: StreamId,
        data: Vec<u8>,
    },
    Closed {
        id: StreamId,
    },
    RawEsp(Vec<u8>),
}

/// One end of a connection: which host, and its stream id there.
type End = (usize, StreamId);

pub struct World {
    pub base: Instant,
    pub now: Duration,
    pub hosts: Vec<Host>,
    pub rng: LinkRng,
    pub latency: Duration,
    /// Probability that a datagram is lost.
    pub udp_loss: f64,
    /// Middlebox: every UDP datagram is dropped, silently.
    pub udp_blocked: bool,
    /// Middlebox: what this host writes on its connections is kept in `captured`
    /// instead of being delivered.
    pub capture: Option<usize>,
    pub captured: Vec<(StreamId, Vec<u8>)>,
    /// Middlebox: a NAT that maps a host's UDP address to another one; datagrams to the
    /// old mapping are lost.
    nat: HashMap<SocketAddr, SocketAddr>,
    queue: BTreeMap<(Duration, u64), (usize, Delivery)>,
    seq: u64,
    /// Open connections, both directions.
    links: HashMap<End, End>,
    /// Connections whose other end has not accepted yet.
    pending: HashMap<End, End>,
    next_port: u16,
    pub trace: Vec<String>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            base: Instant::now(),
            now: Duration::ZERO,
            hosts: Vec::new(),
            rng: LinkRng::new(seed),
            latency: Duration::from_millis(5),
            udp_loss: 0.0,
            udp_blocked: false,
            capture: None,
            captured: Vec::new(),
            nat: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            links: HashMap::new(),
            pending: HashMap::new(),
            next_port: 40_000,
            trace: vec![format!("seed {seed}")],
        }
    }

    pub fn at(&self) -> Instant {
        self.base + self.now
    }

    /// Adds a host running `node` at `addr`, listening on these UDP and TCP ports.
    pub fn host(
        &mut self,
        name: &str,
        addr: &str,
        node: Node,
        udp_ports: &[u16],
        tcp_ports: &[u16],
    ) -> usize {
        self.hosts.push(Host {
            name: name.into(),
            addr: addr.parse().expect("address"),
            node,
            udp_ports: udp_ports.to_vec(),
            tcp_ports: tcp_ports.to_vec(),
            events: Vec::new(),
            delivered: Vec::new(),
            closed: Vec::new(),
            sent: Vec::new(),
            connects: Vec::new(),
            raw_esp: 0,
        });
        self.hosts.len() - 1
    }

    fn schedule(&mut self, to: usize, after: Duration, d: Delivery) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), (to, d));
    }

    fn log(&mut self, line: String) {
        self.trace
            .push(format!("{:>9.3} {line}", self.now.as_secs_f64()));
    }

    fn host_at(&self, addr: SocketAddr, tcp: bool) -> Option<usize> {
        self.hosts.iter().position(|h| {
            h.addr == addr.ip()
                && if tcp {
                    h.tcp_ports.contains(&addr.port())
                } else {
                    h.udp_ports.contains(&addr.port())
                }
        })
    }

    /// Moves every host's outputs onto the links.
    pub fn drain(&mut self) {
        for h in 0..self.hosts.len() {
            while let Some(o) = self.hosts[h].node.poll_output() {
                self.output(h, o);
            }
        }
    }

    fn output(&mut self, h: usize, o: Output) {
        let name = self.hosts[h].name.clone();
        match o {
            Output::Datagram {
                local,
                remote,
                data,
            } => {
                self.log(format!(
                    "{name} udp {local} -> {remote} {}",
                    describe(&data)
                ));
                self.hosts[h].sent.push((self.now, None, data.clone()));
                // Through the NAT: the source is rewritten on the way out, the
                // destination on the way back; the old mapping leads nowhere.
                if self.nat.contains_key(&remote) {
                    self.log("  (old NAT mapping: lost)".into());
                    return;
                }
                let local = self.nat.get(&local).copied().unwrap_or(local);
                let remote = self
                    .nat
                    .iter()
                    .find(|(_, m)| **m == remote)
                    .map_or(remote, |(orig, _)| *orig);
                let to = self.host_at(remote, false);
                if self.udp_blocked || to.is_none() || self.rng.chance(self.udp_loss) {
                    self.log("  (dropped)".into());
                    return;
                }
                let latency = self.latency;
                self.schedule(
                    to.unwrap_or(0),
                    latency,
                    Delivery::Datagram {
                        local: remote,
                        remote: local,
                        data,
                    },
                );
            }
            Output::Connect {
                id, local, remote, ..
            } => {
                self.log(format!("{name} connect #{} -> {remote}", id.0));
                self.hosts[h].connects.push((self.now, id, remote));
                let Some(to) = self.host_at(remote, true) else {
                    // Nobody listens: the connection is refused.
                    let latency = self.latency * 2;
                    self.schedule(h, latency, Delivery::Closed { id });
                    return;
                };
                self.next_port += 1;
                let ours = SocketAddr::new(local, self.next_port);
                let latency = self.latency;
                self.schedule(
                    to,
                    latency,
                    Delivery::Accepted {
                        local: remote,
                        remote: ours,
                        from: (h, id),
                    },
                );
                self.schedule(
                    h,
                    latency * 2,
                    Delivery::Connected {
                        id,
                        local: ours,
                        remote,
                    },
                );
            }
            Output::StreamWrite { id, data } => {
                self.hosts[h].sent.push((self.now, Some(id), data.clone()));
                if self.capture == Some(h) {
                    self.captured.push((id, data));
                    return;
                }
                let peer = self
                    .links
                    .get(&(h, id))
                    .or_else(|| self.pending.get(&(h, id)));
                let Some(&(to, tid)) = peer else {
                    self.log(format!("{name} write #{} on a dead connection", id.0));
                    return;
                };
                self.log(format!("{name} tcp#{} {} bytes", id.0, data.len()));
                // In order, cut anywhere: the receiver's deframer puts it back together.
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let n = 1 + self.rng.below(rest.len() as u64) as usize;
                    let (chunk, r) = rest.split_at(n);
                    rest = r;
                    let latency = self.latency;
                    self.schedule(
                        to,
                        latency,
                        Delivery::Data {
                            id: tid,
                            data: chunk.to_vec(),
                        },
                    );
                }
            }
            Output::Close { id, reason } => {
                self.log(format!("{name} closes #{}: {reason}", id.0));
                self.hosts[h].closed.push((id, reason));
                if let Some((to, tid)) = self.links.remove(&(h, id)) {
                    self.links.remove(&(to, tid));
                    let latency = self.latency;
                    self.schedule(to, latency, Delivery::Closed { id: tid });
                }
            }
            Output::Packet(p) => self.hosts[h].delivered.push(p),
            Output::Event(e) => {
                self.log(format!("{name} {e:?}"));
                self.hosts[h].events.push((self.now, e));
            }
            Output::RawEsp {
                local,
                remote,
                data,
            } => {
                self.log(format!(
                    "{name} esp {local} -> {remote} {} bytes",
                    data.len()
                ));
                self.hosts[h].raw_esp += 1;
                // A NAT translates UDP ports; ESP has none and does not get through.
                let natted = self.nat.keys().any(|a| a.ip() == local);
                let to = self.hosts.iter().position(|x| x.addr == remote);
                match to {
                    Some(to) if !natted && !self.rng.chance(self.udp_loss) => {
                        let latency = self.latency;
                        self.schedule(to, latency, Delivery::RawEsp(data));
                    }
                    _ => self.log("  (dropped)".into()),
                }
            }
            other => self.log(format!("{name} {other:?}")),
        }
    }

    fn deliver(&mut self, h: usize, d: Delivery) {
        let now = self.at();
        match d {
            Delivery::Datagram {
                local,
                remote,
                data,
            } => {
                if self.udp_blocked {
                    return;
                }
                self.hosts[h].node.handle(
                    now,
                    Input::Datagram {
                        local,
                        remote,
                        data: &data,
                    },
                );
            }
            Delivery::Accepted {
                local,
                remote,
                from,
            } => {
                let id = self.hosts[h].node.new_stream_id();
                self.links.insert((h, id), from);
                self.pending.insert(from, (h, id));
                self.hosts[h].node.handle(
                    now,
                    Input::Accepted {
                        id,
                        local,
                        remote,
                        tls: false,
                    },
                );
            }
            Delivery::Connected { id, local, remote } => {
                if let Some(peer) = self.pending.remove(&(h, id)) {
                    self.links.insert((h, id), peer);
                    self.hosts[h].node.handle(
                        now,
                        Input::Connected {
                            id,
                            local,
                            remote,
                            tls: false,
                        },
                    );
                } else {
                    // The other end went away before we heard of the connection.
                    self.hosts[h].node.handle(now, Input::StreamClosed { id });
                }
            }
            // Bytes in flight arrive before the close that follows them, as over TCP; a
            // node ignores bytes for a connection it no longer has.
            Delivery::Data { id, data } => {
                self.hosts[h]
                    .node
                    .handle(now, Input::StreamData { id, data: &data });
            }
            // As the I/O layer does: the data path decrypts, the node is not involved.
            Delivery::RawEsp(data) => {
                let mut buf = vec![0u8; data.len() + iketcp_node::transport_mode::HEADER_SPARE];
                let dp = self.hosts[h].node.data_path().clone();
                match dp.unprotect(&data, &mut buf, iketcp_esp::ecn::Ecn::NotEct) {
                    Ok(0) => {}
                    Ok(n) => self.hosts[h].delivered.push(buf[..n].to_vec()),
                    Err(e) => self.log(format!("  raw ESP dropped: {e}")),
                }
            }
            Delivery::Closed { id } => {
                self.links.remove(&(h, id));
                self.pending.remove(&(h, id));
                self.hosts[h].node.handle(now, Input::StreamClosed { id });
            }
        }
    }

    /// One step: the earliest host deadline or delivery. False when nothing is left to do
    /// before `limit`.
    pub fn step(&mut self, limit: Duration) -> bool {
        self.drain();
        let deliver = self.queue.keys().next().map(|k| k.0);
        let timer = self
            .hosts
            .iter()
            .filter_map(|h| h.node.poll_timeout().map(|t| t.duration_since(self.base)))
            .min();
        let Some(t) = [deliver, timer].into_iter().flatten().min() else {
            return false;
        };
        if t > limit {
            return false;
        }
        self.now = self.now.max(t);
        let now = self.at();
        if deliver == Some(t) {
            let (_, (h, d)) = self.queue.pop_first().expect("a delivery");
            self.deliver(h, d);
        } else {
            for h in 0..self.hosts.len() {
                if self.hosts[h].node.poll_timeout().is_some_and(|d| d <= now) {
                    self.hosts[h].node.handle_timeout(now);
                }
            }
        }
        self.drain();
        true
    }

    /// Runs until `done` holds, at most `limit` of virtual time, in bounded steps.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let limit = self.now + limit;
        for _ in 0..500_000 {
            self.drain();
            if done(self) {
                return true;
            }
            if !self.step(limit) {
                break;
            }
        }
        self.drain();
        done(self)
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        for _ in 0..500_000 {
            if !self.step(limit) {
                break;
            }
        }
        self.now = self.now.max(limit);
    }

    /// Runs a command on a host's IKE engine.
    pub fn command<R>(&mut self, h: usize, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        let now = self.at();
        let r = self.hosts[h].node.command(now, f);
        self.drain();
        r
    }

    /// Sends an inner packet into a host's Child SAs.
    pub fn send_packet(&mut self, h: usize, packet: &[u8]) {
        let now = self.at();
        self.hosts[h].node.handle(now, Input::Packet(packet));
        self.drain();
    }

    /// Middlebox: from now on the NAT maps `original` (a host's UDP address) to `mapped`.
    pub fn rebind(&mut self, original: &str, mapped: &str) {
        let o: SocketAddr = original.parse().expect("address");
        let m: SocketAddr = mapped.parse().expect("address");
        self.log(format!("NAT rebinds {o} to {m}"));
        self.nat.insert(o, m);
    }

    /// Host `h` loses its address and gets `addr` instead; its node hears of it.
    pub fn readdress(&mut self, h: usize, addr: &str) {
        let a: IpAddr = addr.parse().expect("address");
        self.log(format!("{} now at {a}", self.hosts[h].name));
        self.hosts[h].addr = a;
        let now = self.at();
        self.hosts[h].node.handle(now, Input::Addresses(&[a]));
        self.drain();
    }

    /// Middlebox: resets the connection `id` of host `h`, both ends hear of it.
    pub fn reset(&mut self, h: usize, id: StreamId) {
        self.log(format!("middlebox resets {}#{}", self.hosts[h].name, id.0));
        if let Some((to, tid)) = self.links.remove(&(h, id)) {
            self.links.remove(&(to, tid));
            self.schedule(to, Duration::ZERO, Delivery::Closed { id: tid });
        }
        self.schedule(h, Duration::ZERO, Delivery::Closed { id });
    }

    /// A stranger at `from` opens a connection to `to` and sends `bytes` on it, as they
    /// are (a prefix and captured frames, say). Returns the connection's id at `to`.
    pub fn stranger_connects(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> StreamId {
        let h = self.host_at(to, true).expect("a host listening there");
        let now = self.at();
        let id = self.hosts[h].node.new_stream_id();
        self.hosts[h].node.handle(
            now,
            Input::Accepted {
                id,
                local: to,
                remote: from,
                tls: false,
            },
        );
        self.hosts[h]
            .node
            .handle(now, Input::StreamData { id, data: bytes });
        self.drain();
        id
    }

    /// A stranger at `from` opens a connection to `to` and replays on it everything
    /// host `h` wrote on its connections so far, prefix included.
    pub fn stranger_replays(&mut self, h: usize, from: SocketAddr, to: SocketAddr) -> StreamId {
        let captured: Vec<u8> = self.hosts[h]
            .sent
            .iter()
            .filter(|(_, s, _)| s.is_some())
            .flat_map(|(_, _, d)| d.clone())
            .collect();
        self.stranger_connects(from, to, &captured)
    }

    pub fn ike_up(&self, h: usize) -> bool {
        self.hosts[h]
            .node
            .endpoint()
            .ike_sas()
            .iter()
            .any(|s| s.established)
    }

    pub fn children(&self, h: usize) -> usize {
        self.hosts[h].node.routes().count()
    }

    pub fn events(&self, h: usize) -> impl Iterator<Item = &Event> {
        self.hosts[h].events.iter().map(|(_, e)| e)
    }

    /// Open connections of host `h` (its side's ids).
    pub fn connections(&self, h: usize) -> Vec<StreamId> {
        let mut v: Vec<StreamId> = self
            .links
            .keys()
            .filter(|(x, _)| *x == h)
            .map(|(_, id)| *id)
            .collect();
        v.sort();
        v
    }

    pub fn dump(&self) -> String {
        self.trace.join("\n")
    }

    /// Inner packets both ways through the Child SA between hosts `a` (10.1.0.0/24) and
    /// `b` (10.2.0.0/24), marked with `tag`: whether each side got the other's.
    pub fn traffic(&mut self, a: usize, b: usize, tag: u8) -> bool {
        let (na, nb) = (self.hosts[a].delivered.len(), self.hosts[b].delivered.len());
        self.send_packet(a, &ipv4_udp("10.1.0.5", "10.2.0.7", &[tag; 100]));
        self.send_packet(b, &ipv4_udp("10.2.0.7", "10.1.0.5", &[tag; 200]));
        self.run_for(Duration::from_millis(500));
        let got_b = self.hosts[b].delivered[nb..]
            .iter()
            .any(|p| p.len() == 128 && p[28] == tag);
        let got_a = self.hosts[a].delivered[na..]
            .iter()
            .any(|p| p.len() == 228 && p[28] == tag);
        got_a && got_b
    }

    /// The IKE messages host `h` sent on streams, parsed (frames cut out of the bytes).
    pub fn stream_ike(&self, h: usize) -> Vec<(StreamId, Message)> {
        let mut out = Vec::new();
        for (_, s, bytes) in &self.hosts[h].sent {
            let Some(s) = s else { continue };
            let mut b = &bytes[..];
            if b.starts_with(b"IKETCP") {
                b = &b[6..];
            }
            while b.len() >= 2 {
                let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
                if n < 2 || n > b.len() {
                    break;
                }
                if let [0, 0, 0, 0, ike @ ..] = &b[2..n]
                    && let Ok(m) = Message::parse(ike)
                {
                    out.push((*s, m));
                }
                b = &b[n..];
            }
        }
        out
    }

    /// The IKE messages host `h` sent over UDP, with when.
    pub fn udp_ike(&self, h: usize) -> Vec<(Duration, Message)> {
        self.hosts[h]
            .sent
            .iter()
            .filter(|(_, s, _)| s.is_none())
            .filter_map(|(t, _, d)| {
                let ike = match &d[..] {
                    [0, 0, 0, 0, rest @ ..] => rest,
                    d => d,
                };
                Message::parse(ike).ok().map(|m| (*t, m))
            })
            .collect()
    }
}

/// A one-line summary of a datagram for the trace.
fn describe(data: &[u8]) -> String {
    let ike = match data {
        [0, 0, 0, 0, rest @ ..] => Some(rest),
        d if d.len() >= 28 && d[17] == 0x20 => Some(d),
        _ => None,
    };
    match ike.map(Message::parse) {
        Some(Ok(m)) => m.to_string(),
        _ if data == [0xff] => "keepalive".into(),
        _ => format!("ESP {} bytes", data.len()),
    }
}

pub fn id(s: &str) -> Id {
    Id {
        id_type: IdType::RFC822_ADDR,
        data: s.as_bytes().to_vec(),
    }
}

pub fn net(s: &str) -> TrafficSelector {
    let (a, p) = s.split_once('/').expect("a/prefix");
    iketcp_proto::ts::subnet(a.parse().expect("address"), p.parse().expect("prefix"))
}

/// A peer configuration: PSK, X25519 with AES-GCM, one Child SA "net" between the
/// `nets` (ours, theirs), the addresses and identities (ours, theirs), TCP per `tcp`.
pub fn peer_config(
    name: &str,
    (local, remote): (&str, &str),
    (me, them): (&str, &str),
    (local_net, remote_net): (&str, &str),
    tcp: TcpMode,
) -> PeerConfig {
    PeerConfig {
        name: name.into(),
        local: local.parse().expect("local"),
        remote: remote.parse().expect("remote"),
        local_id: id(me),
        remote_id: id(them),
        auth: AuthConfig::Psk(SecretBytes::from_slice(b"iketcp-sim-node-psk-0123456789")),
        ike_proposals: vec![suites::ike_aes256gcm16_prfsha384_x25519()],
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![net(local_net)],
            remote_ts: vec![net(remote_net)],
            esp_proposals: vec![suites::esp_aes128gcm16(None)],
            mode: Mode::Tunnel,
            lifetime: Lifetime::CHILD_DEFAULT,
            replay_window: 64,
        }],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp: TcpConfig {
            mode: tcp,
            ..TcpConfig::default()
        },
        vips: Vec::new(),
        pools: Vec::new(),
    }
}

/// A node with one peer configuration and a seeded RNG.
pub fn node(cfg: EndpointConfig, peers: Vec<PeerConfig>, seed: u64) -> Node {
    Node::new(
        NodeConfig::default(),
        Endpoint::new(cfg, peers, Box::new(DeterministicRng::from_u64(seed))),
        iketcp_esp::Engine::new(),
    )
}

/// The usual pair: a road warrior "a" at 10.0.0.1 (inner 10.1.0.0/24) and a gateway "b"
/// at 10.0.0.2 (inner 10.2.0.0/24); UDP 500 and 4500 and TCP 4500 on b; `tcp` for a.
pub fn pair(seed: u64, tcp: TcpMode) -> (World, usize, usize) {
    pair_with(seed, tcp, |_| {})
}

/// [`pair`], with a's configuration changed by `tune` first.
pub fn pair_with(
    seed: u64,
    tcp: TcpMode,
    tune: impl FnOnce(&mut PeerConfig),
) -> (World, usize, usize) {
    let ep = EndpointConfig::default();
    pair_of(seed, tcp, [ep.clone(), ep], tune)
}

/// [`pair_with`], with the two hosts' engines configured as `endpoints` says.
pub fn pair_of(
    seed: u64,
    tcp: TcpMode,
    endpoints: [EndpointConfig; 2],
    tune: impl FnOnce(&mut PeerConfig),
) -> (World, usize, usize) {
    let [ep_a, ep_b] = endpoints;
    let mut a_cfg = peer_config(
        "b",
        ("10.0.0.1:500", "10.0.0.2:500"),
        ("a@sim.test", "b@sim.test"),
        ("10.1.0.0/24", "10.2.0.0/24"),
        tcp,
    );
    tune(&mut a_cfg);
    let b_cfg = peer_config(
        "a",
        ("10.0.0.2:500", "10.0.0.1:500"),
        ("b@sim.test", "a@sim.test"),
        ("10.2.0.0/24", "10.1.0.0/24"),
        TcpMode::No,
    );
    let mut w = World::new(seed);
    let a = w.host(
        "a",
        "10.0.0.1",
        node(ep_a, vec![a_cfg], seed * 2 + 1),
        &[500, 4500],
        &[],
    );
    let b = w.host(
        "b",
        "10.0.0.2",
        node(ep_b, vec![b_cfg], seed * 2 + 2),
        &[500, 4500],
        &[4500],
    );
    (w, a, b)
}

/// An IPv4 packet (UDP, no checksum) from `src` to `dst` carrying `payload`.
pub fn ipv4_udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let src: std::net::Ipv4Addr = src.parse().expect("src");
    let dst: std::net::Ipv4Addr = dst.parse().expect("dst");
    let len = 20 + 8 + payload.len();
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&5000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5001u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}
