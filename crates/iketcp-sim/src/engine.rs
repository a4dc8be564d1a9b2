//! A deterministic world for two IKE engines alone (no ESP, no sockets): a virtual clock
//! and a simulated link that drops, duplicates, delays and reorders datagrams, or
//! carries a stream that keeps order and can break, through the real RFC 9329 codec.
//! The engine's own tests (`crates/iketcp-proto/tests`) run on it; whole nodes run on
//! [`crate::World`]. Everything is seeded, so a failing seed replays exactly.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use iketcp_crypto::{DeterministicRng, SecretBytes};
use iketcp_proto::proposal::ProposalSpec;
use iketcp_proto::{
    AuthConfig, ChildConfig, ChildSaKeys, Endpoint, EndpointConfig, Event, Lifetime, Mode, Output,
    Path, PeerConfig, StreamId, Transport,
};
use iketcp_wire::ike::{Id, IdType, Message};

pub use crate::LinkRng;

pub const A: usize = 0;
pub const B: usize = 1;

#[derive(Debug, Clone, Copy, Default)]
pub struct Netem {
    pub latency: Duration,
    pub jitter: Duration,
    pub loss: f64,
    pub dup: f64,
}

pub type Rewrite = Box<dyn FnMut(&mut Flight)>;
pub type Hold = Box<dyn FnMut(&Flight) -> bool>;

/// A message in flight: a whole IKE message, or, on a stream, a piece of the byte
/// stream as RFC 9329 framing produced it.
#[derive(Debug, Clone)]
pub struct Flight {
    pub to: usize,
    pub path: Path,
    pub bytes: Vec<u8>,
    pub stream_bytes: bool,
}

/// One direction of a simulated stream: the sender's framer and the receiver's
/// deframer, so every stream test also runs the real RFC 9329 codec.
pub struct StreamCodec {
    framer: iketcp_wire::encap::stream::Framer,
    deframer: iketcp_wire::encap::stream::Deframer,
}

pub struct Side {
    pub ep: Endpoint,
    pub events: Vec<(Duration, Event)>,
    pub installed: HashMap<u32, ChildSaKeys>,
    pub sent: Vec<(Duration, Path, Vec<u8>)>,
    pub closed_streams: Vec<StreamId>,
    /// Child SAs moved to another path: inbound SPI, path, replay window.
    pub repathed: Vec<(u32, Path, u32)>,
}

pub struct World {
    pub base: Instant,
    pub now: Duration,
    pub sides: [Side; 2],
    pub netem: Netem,
    pub rng: LinkRng,
    /// Delivery time → messages, in send order within one instant.
    pub queue: BTreeMap<(Duration, u64), Flight>,
    seq: u64,
    /// Applied to every message before it enters the link.
    pub rewrite: Option<Rewrite>,
    /// Messages matching this are held back instead of delivered.
    pub hold: Option<Hold>,
    pub held: Vec<Flight>,
    /// A broken stream delivers nothing (until the test repairs it).
    pub stream_broken: bool,
    /// Per (stream, receiving side).
    pub codecs: HashMap<(u64, usize), StreamCodec>,
    pub trace: Vec<String>,
}

pub fn id(s: &str) -> Id {
    Id {
        id_type: if s.contains('@') {
            IdType::RFC822_ADDR
        } else {
            IdType::FQDN
        },
        data: s.as_bytes().to_vec(),
    }
}

pub fn net(s: &str) -> iketcp_wire::ike::TrafficSelector {
    let (a, p) = s.split_once('/').unwrap();
    iketcp_proto::ts::subnet(a.parse().unwrap(), p.parse().unwrap())
}

pub fn child(name: &str, local: &str, remote: &str, esp: Vec<ProposalSpec>) -> ChildConfig {
    ChildConfig {
        name: name.into(),
        local_ts: vec![net(local)],
        remote_ts: vec![net(remote)],
        esp_proposals: esp,
        mode: Mode::Tunnel,
        lifetime: Lifetime::CHILD_DEFAULT,
        replay_window: 64,
    }
}

/// Peer configs for a and b, mirror images, PSK, strongSwan's first proposal.
pub fn pair_configs() -> (PeerConfig, PeerConfig) {
    use iketcp_proto::config::suites::*;
    let psk = AuthConfig::Psk(SecretBytes::from_slice(b"iketcp-sim-0123456789abcdef"));
    let ike = vec![
        ike_aes128gcm16_prfsha256_ecp256(),
        ike_aes256_sha256_modp2048(),
    ];
    let esp = vec![esp_aes128gcm16(Some(
        iketcp_wire::ike::TransformId::KE_ECP_256,
    ))];
    let a = PeerConfig {
        name: "b".into(),
        remote: "10.0.0.2:500".parse().unwrap(),
        local: "10.0.0.1:500".parse().unwrap(),
        local_id: id("a@sim.test"),
        remote_id: id("b@sim.test"),
        auth: psk.clone(),
        ike_proposals: ike.clone(),
        children: vec![child("net", "10.1.0.0/24", "10.2.0.0/24", esp.clone())],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp: Default::default(),
        vips: Vec::new(),
        pools: Vec::new(),
    };
    let b = PeerConfig {
        name: "a".into(),
        remote: "10.0.0.1:500".parse().unwrap(),
        local: "10.0.0.2:500".parse().unwrap(),
        local_id: id("b@sim.test"),
        remote_id: id("a@sim.test"),
        auth: psk,
        ike_proposals: ike,
        children: vec![child("net", "10.2.0.0/24", "10.1.0.0/24", esp)],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp: Default::default(),
        vips: Vec::new(),
        pools: Vec::new(),
    };
    (a, b)
}

impl World {
    pub fn new(seed: u64, a: PeerConfig, b: PeerConfig) -> Self {
        Self::with_config(seed, EndpointConfig::default(), a, b)
    }

    pub fn with_config(seed: u64, cfg: EndpointConfig, a: PeerConfig, b: PeerConfig) -> Self {
        let side = |peer: PeerConfig, s: u64| Side {
            ep: Endpoint::new(
                cfg.clone(),
                vec![peer],
                Box::new(DeterministicRng::from_u64(s)),
            ),
            events: Vec::new(),
            installed: HashMap::new(),
            sent: Vec::new(),
            closed_streams: Vec::new(),
            repathed: Vec::new(),
        };
        let mut w = World {
            base: Instant::now(),
            now: Duration::ZERO,
            sides: [side(a, seed * 2 + 1), side(b, seed * 2 + 2)],
            netem: Netem {
                latency: Duration::from_millis(10),
                ..Netem::default()
            },
            rng: LinkRng::new(seed),
            queue: BTreeMap::new(),
            seq: 0,
            rewrite: None,
            hold: None,
            held: Vec::new(),
            stream_broken: false,
            codecs: HashMap::new(),
            trace: Vec::new(),
        };
        w.trace.push(format!("seed {seed}"));
        w
    }

    pub fn at(&self) -> Instant {
        self.base + self.now
    }

    pub fn ep(&mut self, side: usize) -> &mut Endpoint {
        &mut self.sides[side].ep
    }

    /// Moves every side's outputs into the link and the side's records.
    pub fn drain(&mut self) {
        for s in 0..2 {
            while let Some(o) = self.sides[s].ep.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        self.sides[s]
                            .sent
                            .push((self.now, t.path, t.message.clone()));
                        self.trace.push(format!(
                            "{:>9.3} {} {}",
                            self.now.as_secs_f64(),
                            ["a→b", "b→a"][s],
                            Message::parse(&t.message)
                                .map(|m| m.to_string())
                                .unwrap_or_else(|e| e.to_string())
                        ));
                        self.send(1 - s, t.path, t.message);
                    }
                    Output::InstallChild(k) => {
                        self.sides[s].installed.insert(k.spi_in, *k);
                    }
                    Output::RemoveChild { spi_in, .. } => {
                        self.sides[s].installed.remove(&spi_in);
                    }
                    Output::CloseStream(id) => self.sides[s].closed_streams.push(id),
                    Output::ChildPath {
                        spi_in,
                        path,
                        replay_window,
                        ..
                    } => self.sides[s].repathed.push((spi_in, path, replay_window)),
                    Output::Event(e) => {
                        self.trace.push(format!(
                            "{:>9.3} {} {:?}",
                            self.now.as_secs_f64(),
                            ["a", "b"][s],
                            e
                        ));
                        self.sides[s].events.push((self.now, e));
                    }
                    _ => {}
                }
            }
        }
    }

    fn send(&mut self, to: usize, sent_on: Path, bytes: Vec<u8>) {
        // The receiver sees the path mirrored.
        let path = Path {
            local: sent_on.remote,
            remote: sent_on.local,
            transport: sent_on.transport,
        };
        let mut f = Flight {
            to,
            path,
            bytes,
            stream_bytes: false,
        };
        if let Some(r) = self.rewrite.as_mut() {
            r(&mut f);
        }
        if let Some(h) = self.hold.as_mut()
            && h(&f)
        {
            self.held.push(f);
            return;
        }
        self.enqueue(f);
    }

    pub fn enqueue(&mut self, f: Flight) {
        if let (Some(id), false) = (f.path.stream(), f.stream_bytes) {
            if self.stream_broken {
                return;
            }
            // Frame it as RFC 9329 says and cut the bytes anywhere: the receiver's
            // deframer must put the message back together.
            use iketcp_wire::encap::stream::{Deframer, Framer, Limits, Outgoing, Role};
            // The receiver sees the path mirrored: its local port 4500 makes it the
            // TCP Responder, and the sender the Originator.
            let receiver_is_responder = f.path.local.port() == 4500;
            let (tx, rx) = if receiver_is_responder {
                (Role::Originator, Role::Responder)
            } else {
                (Role::Responder, Role::Originator)
            };
            let codec = self
                .codecs
                .entry((id.0, f.to))
                .or_insert_with(|| StreamCodec {
                    framer: Framer::new(tx, Limits::default()),
                    deframer: Deframer::new(rx, Limits::default()),
                });
            let mut bytes = Vec::new();
            codec
                .framer
                .encode(Outgoing::Ike(&f.bytes), &mut bytes)
                .expect("an IKE message fits a stream frame");
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + self.rng.below(rest.len() as u64) as usize;
                let (chunk, r) = rest.split_at(n);
                rest = r;
                self.seq += 1;
                self.queue.insert(
                    (self.now + self.netem.latency, self.seq),
                    Flight {
                        to: f.to,
                        path: f.path,
                        bytes: chunk.to_vec(),
                        stream_bytes: true,
                    },
                );
            }
            return;
        }
        let stream = f.stream_bytes;
        let copies = if stream {
            1
        } else if self.rng.chance(self.netem.loss) {
            self.trace.push(format!(
                "{:>9.3} (lost on the way to {})",
                self.now.as_secs_f64(),
                ["a", "b"][f.to]
            ));
            0
        } else if self.rng.chance(self.netem.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if stream || self.netem.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(self.rng.below(self.netem.jitter.as_micros() as u64))
            };
            self.seq += 1;
            self.queue.insert(
                (self.now + self.netem.latency + jitter, self.seq),
                f.clone(),
            );
        }
    }

    /// Releases held messages into the link.
    pub fn release(&mut self) {
        for f in std::mem::take(&mut self.held) {
            self.enqueue(f);
        }
    }

    /// One step: the earliest of the two engines' deadlines and the next delivery.
    /// Returns false when nothing is left to do before `limit`.
    pub fn step(&mut self, limit: Duration) -> bool {
        self.drain();
        let deliver = self.queue.keys().next().map(|k| k.0);
        let t = [0, 1]
            .iter()
            .filter_map(|&s| {
                self.sides[s]
                    .ep
                    .poll_timeout()
                    .map(|t| t.duration_since(self.base))
            })
            .chain(deliver)
            .min();
        let Some(t) = t else { return false };
        if t > limit {
            return false;
        }
        self.now = self.now.max(t);
        let now = self.at();
        if deliver == Some(t) {
            let (_, f) = self.queue.pop_first().unwrap();
            match f.path.stream() {
                Some(id) if f.stream_bytes => {
                    let codec = self.codecs.get_mut(&(id.0, f.to)).expect("stream codec");
                    assert_eq!(codec.deframer.feed(&f.bytes), f.bytes.len());
                    while let Some(frame) = codec.deframer.next_frame().expect("a valid stream") {
                        if let iketcp_wire::encap::stream::Frame::Ike(m) = frame {
                            self.sides[f.to].ep.handle_message(now, f.path, &m);
                        }
                    }
                }
                _ => self.sides[f.to].ep.handle_message(now, f.path, &f.bytes),
            }
        } else {
            for s in 0..2 {
                self.sides[s].ep.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `done` holds, at most `limit` of virtual time and a bounded number of
    /// steps.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let limit = self.now + limit;
        for _ in 0..200_000 {
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

    /// Runs until nothing happens before `for_` has passed.
    pub fn run_for(&mut self, for_: Duration) {
        let limit = self.now + for_;
        for _ in 0..200_000 {
            if !self.step(limit) {
                break;
            }
        }
        self.now = self.now.max(limit);
    }

    pub fn ike_up(&self, side: usize) -> bool {
        self.sides[side].ep.ike_sas().iter().any(|s| s.established)
    }

    pub fn children(&self, side: usize) -> usize {
        self.sides[side].installed.len()
    }

    pub fn events(&self, side: usize) -> impl Iterator<Item = &Event> {
        self.sides[side].events.iter().map(|(_, e)| e)
    }

    pub fn dump(&self) -> String {
        self.trace.join("\n")
    }

    /// Both sides hold the same Child SAs with matching keys, each direction.
    pub fn assert_children_agree(&self) {
        let (a, b) = (&self.sides[A].installed, &self.sides[B].installed);
        assert_eq!(a.len(), b.len(), "child count differs\n{}", self.dump());
        for (spi_in, ka) in a {
            let kb = b
                .values()
                .find(|k| k.spi_out == *spi_in)
                .unwrap_or_else(|| panic!("b has no SA sending to {spi_in:08x}\n{}", self.dump()));
            assert_eq!(kb.spi_in, ka.spi_out);
            assert_eq!(ka.encr_in, kb.encr_out, "keys differ");
            assert_eq!(ka.encr_out, kb.encr_in, "keys differ");
            assert_eq!(ka.integ_in, kb.integ_out);
            assert_eq!(ka.encr, kb.encr);
            assert_eq!(ka.local_ts, kb.remote_ts);
            assert_eq!(ka.remote_ts, kb.local_ts);
            assert_ne!(ka.encr_in, ka.encr_out, "directions must differ");
        }
    }

    /// Count of IKE requests a side sent more than once (retransmissions).
    pub fn retransmissions(&self, side: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut n = 0;
        for (_, _, m) in &self.sides[side].sent {
            if !seen.insert(m.clone()) {
                n += 1;
            }
        }
        n
    }
}

/// A stream path between a and b, from a's point of view.
pub fn stream_path(id: u64) -> Path {
    Path {
        local: "10.0.0.1:40000".parse().unwrap(),
        remote: "10.0.0.2:4500".parse().unwrap(),
        transport: Transport::Tcp(StreamId(id)),
    }
}

impl World {
    /// An SK-protected message as `side`'s IKE SA would send it, with a raw plaintext
    /// payload chain chosen by the test (to build what a correct engine never sends).
    /// Returns the path as the other side receives it.
    pub fn craft(
        &self,
        side: usize,
        exchange: iketcp_wire::ike::ExchangeType,
        message_id: u32,
        first: iketcp_wire::ike::PayloadType,
        plaintext: &[u8],
    ) -> (Path, Vec<u8>) {
        use iketcp_wire::ike::{Encrypted, Flags, Header, IKEV2_VERSION, Payload, PayloadType};
        let sa = &self.sides[side].ep.ike_sas()[0];
        let keys = self.sides[side].ep.export_ike_keys(sa.id).expect("keys");
        let k = &keys.keys;
        let (e, a) = if keys.original_initiator {
            (&k.sk_ei, &k.sk_ai)
        } else {
            (&k.sk_er, &k.sk_ar)
        };
        let mut seal = iketcp_crypto::SkCipher::new(k.encr, k.integ, e, a).expect("cipher");
        let header = Header {
            spi_i: keys.spi_i,
            spi_r: keys.spi_r,
            next_payload: PayloadType::SK,
            version: IKEV2_VERSION,
            exchange,
            flags: if keys.original_initiator {
                Flags::INITIATOR
            } else {
                Flags(0)
            },
            message_id,
            length: 0,
        };
        let body_len = seal.body_len(plaintext.len());
        let mut bytes = Message {
            header,
            payloads: vec![Payload::Encrypted(Encrypted {
                first_payload: first,
                body: vec![0; body_len],
            })],
        }
        .emit()
        .expect("emit");
        let aad = bytes.len() - body_len;
        // A counter far from the engine's own keeps AEAD nonces distinct.
        for _ in 0..1000 {
            let _ = seal.encrypt(&[], &[], &mut DeterministicRng::from_u64(0));
        }
        let body = seal
            .encrypt(&bytes[..aad], plaintext, &mut DeterministicRng::from_u64(9))
            .expect("seal");
        bytes.truncate(aad);
        bytes.extend(body);
        let p = sa.path;
        (
            Path {
                local: p.remote,
                remote: p.local,
                transport: p.transport,
            },
            bytes,
        )
    }

    /// Decrypts a message that the other side sent to `side`.
    pub fn open_at(&self, side: usize, bytes: &[u8]) -> Vec<iketcp_wire::ike::Payload> {
        let sa = &self.sides[side].ep.ike_sas()[0];
        let keys = self.sides[side].ep.export_ike_keys(sa.id).expect("keys");
        let k = &keys.keys;
        let (e, a) = if keys.original_initiator {
            (&k.sk_er, &k.sk_ar)
        } else {
            (&k.sk_ei, &k.sk_ai)
        };
        let open = iketcp_crypto::SkCipher::new(k.encr, k.integ, e, a).expect("cipher");
        let msg = Message::parse(bytes).expect("parse");
        let sk = msg.encrypted().expect("SK");
        let plain = open
            .decrypt(&bytes[..bytes.len() - sk.body.len()], &sk.body)
            .expect("decrypt");
        iketcp_wire::ike::parse_chain(sk.first_payload, &plain).expect("chain")
    }
}
