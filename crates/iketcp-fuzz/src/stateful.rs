//! The stateful IKE target. The fuzzer is the peer of one real engine, the victim, and
//! holds the SK keys of their IKE SA, as anyone who answered IKE_SA_INIT does; it does
//! not hold the pre-shared key. Two real engines bring the SA to the point of its life
//! that the first input byte picks, the harness takes the keys from
//! [`Endpoint::export_ike_keys`], and from then on the fuzzer's records become messages
//! sealed with them:
//!
//! - A: the initiator after sending IKE_AUTH, the responder's answer held back;
//! - B: the responder after answering IKE_SA_INIT, the initiator's IKE_AUTH held back;
//! - C: the established responder; D: the established initiator.
//!
//! RFC 7296 §2.15: SK keys prove nothing, only the AUTH payload does. So in A and B,
//! until the held message is delivered, nothing the fuzzer sends may install a Child SA,
//! announce or establish an IKE SA (a successor from a rekey included) or, from the
//! initiator, draw any answer. In every scenario no two Child SAs share an ESP key (RFC
//! 7296 §2.17: KEYMAT from the same nonces is the same keys, and two AES-GCM SAs under
//! one key, each counting from sequence number 1, repeat nonces), an inbound SPI is
//! installed once at a time, and every message the victim sends parses.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use iketcp_crypto::{
    ActiveKe, DeterministicRng, Encr, IkeKeys, Integ, KeGroup, Prf, Rng, SecretBytes, SkCipher,
};
use iketcp_proto::config::suites;
use iketcp_proto::proposal::{self, ProposalSpec};
use iketcp_proto::{ChildSaInfo, Endpoint, Event, Output, Path, Transmit};
use iketcp_wire::codec::Writer;
use iketcp_wire::ike::{
    Auth, AuthMethod, Delete, Encrypted, ExchangeType, Flags, Header, IKEV2_VERSION, Id, IdType,
    Ke, Message, Nonce, Notify, NotifyType, Payload, PayloadType, Proposal, ProtocolId, Sa,
    TrafficSelector, Transform, TransformId, TransformType, Ts, emit_chain, parse_chain,
};

const A_NET: (&str, u8) = ("10.1.0.0", 24);
const B_NET: (&str, u8) = ("10.2.0.0", 24);

fn id(s: &str) -> Id {
    Id {
        id_type: IdType::RFC822_ADDR,
        data: s.as_bytes().to_vec(),
    }
}

fn net((addr, prefix): (&str, u8)) -> TrafficSelector {
    iketcp_proto::ts::subnet(addr.parse().expect("addr"), prefix)
}

/// Splits input into records: 2-byte length, then that many bytes.
fn records(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let [h, l, rest @ ..] = data else { return None };
        let n = (usize::from(*h) << 8 | usize::from(*l)).min(rest.len());
        let (m, r) = rest.split_at(n);
        data = r;
        Some(m)
    })
}

fn outputs(ep: &mut Endpoint) -> Vec<Output> {
    std::iter::from_fn(|| ep.poll_output()).collect()
}

/// The path as the receiver of a transmission sees it.
fn back(p: Path) -> Path {
    Path {
        local: p.remote,
        remote: p.local,
        transport: p.transport,
    }
}

fn deliver(to: &mut Endpoint, now: Instant, out: &[Output]) {
    for o in out {
        if let Output::Transmit(t) = o {
            to.handle_message(now, back(t.path), &t.message);
        }
    }
}

/// The IKE_AUTH request or response among `out`.
fn ike_auth(out: &[Output], response: bool) -> Option<Transmit> {
    out.iter().find_map(|o| match o {
        Output::Transmit(t) => Message::parse(&t.message)
            .ok()
            .filter(|m| m.header.exchange == ExchangeType::IKE_AUTH && m.is_response() == response)
            .map(|_| t.clone()),
        _ => None,
    })
}

/// The inner payloads of a protected message.
fn open(cipher: &SkCipher, bytes: &[u8]) -> Option<Vec<Payload>> {
    let msg = Message::parse(bytes).ok()?;
    let sk = msg.encrypted()?;
    let aad = &bytes[..bytes.len().checked_sub(sk.body.len())?];
    let plain = cipher.decrypt(aad, &sk.body).ok()?;
    parse_chain(sk.first_payload, &plain).ok()
}

/// The algorithms of an IKE proposal with one transform per type.
fn ike_algorithms(p: &Proposal) -> Option<(Prf, Encr, Option<Integ>)> {
    let of = |ty| p.transforms.iter().find(|t| t.ty == ty);
    let e = of(TransformType::ENCR)?;
    let encr = Encr::from_iana(e.id.0, e.key_length())?;
    let prf = Prf::from_iana(of(TransformType::PRF)?.id.0)?;
    let integ = match of(TransformType::INTEG) {
        Some(t) if t.id.0 != 0 => Some(Integ::from_iana(t.id.0)?),
        _ => None,
    };
    Some((prf, encr, integ))
}

/// What a responder answers to `p`: the first transform of each type.
fn one_per_type(p: &Proposal, spi: Vec<u8>) -> Proposal {
    let mut transforms: Vec<_> = Vec::new();
    for t in &p.transforms {
        if !transforms.iter().any(|u: &Transform| u.ty == t.ty) {
            transforms.push(t.clone());
        }
    }
    Proposal {
        number: p.number,
        protocol_id: p.protocol_id,
        spi,
        transforms,
    }
}

fn find<'a, T>(payloads: &'a [Payload], f: impl Fn(&'a Payload) -> Option<&'a T>) -> Option<&'a T> {
    payloads.iter().find_map(f)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    InitiatorAuthSent,
    ResponderHalfOpen,
    EstablishedResponder,
    EstablishedInitiator,
}

/// One IKE SA between the fuzzer and the victim, as the fuzzer holds it.
struct PeerSa {
    spi_i: u64,
    spi_r: u64,
    /// The fuzzer is this SA's original initiator: its messages carry the I flag.
    fuzzer_initiator: bool,
    keys: IkeKeys,
    /// Protects what the fuzzer sends.
    seal: SkCipher,
    /// Opens what the victim sends.
    open: SkCipher,
    /// The message ID the victim expects of the fuzzer's next request, as far as its
    /// answers tell.
    next_mid: u32,
}

impl PeerSa {
    fn new(
        spi_i: u64,
        spi_r: u64,
        fuzzer_initiator: bool,
        keys: IkeKeys,
        next_mid: u32,
    ) -> Option<Self> {
        let (seal, open) = keys.sk_ciphers(fuzzer_initiator).ok()?;
        Some(PeerSa {
            spi_i,
            spi_r,
            fuzzer_initiator,
            keys,
            seal,
            open,
            next_mid,
        })
    }

    /// The IKE SA that a rekey of this one makes (RFC 7296 §2.18); `ni` and `spi_i` are
    /// those of whoever started the rekey.
    #[allow(clippy::too_many_arguments)]
    fn successor(
        &self,
        proposal: &Proposal,
        shared: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        fuzzer_initiator: bool,
    ) -> Option<PeerSa> {
        let (prf, encr, integ) = ike_algorithms(proposal)?;
        let keys = IkeKeys::derive_rekey(
            self.keys.prf,
            &self.keys.sk_d,
            prf,
            encr,
            integ,
            shared.expose(),
            ni,
            nr,
            &spi_i.to_be_bytes(),
            &spi_r.to_be_bytes(),
        )
        .ok()?;
        PeerSa::new(spi_i, spi_r, fuzzer_initiator, keys, 0)
    }
}

/// A request the victim sent, for the fuzzer to answer.
#[derive(Clone)]
struct VictimRequest {
    sa: usize,
    mid: u32,
    exchange: ExchangeType,
    payloads: Vec<Payload>,
}

/// An IKE rekey the fuzzer started: what it needs to follow the victim to the new SA.
struct OurRekey {
    sa: usize,
    mid: u32,
    nonce: Vec<u8>,
    ke: Box<dyn ActiveKe>,
    spi: u64,
}

/// A message the fuzzer is about to send, before flags and message ID are applied.
struct Draft {
    exchange: ExchangeType,
    response: bool,
    sa: usize,
    /// The message ID the draft calls for, if it answers something.
    mid: Option<u32>,
    body: Body,
}

enum Body {
    Payloads(Vec<Payload>),
    Raw(PayloadType, Vec<u8>),
}

/// Template arguments; past the end, every byte is zero.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> u8 {
        match self.0 {
            [b, rest @ ..] => {
                self.0 = rest;
                *b
            }
            [] => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

struct Run {
    scenario: Scenario,
    victim: Endpoint,
    victim_is_a: bool,
    /// Where messages reach the victim, as it sees it.
    path: Path,
    now: Instant,
    /// The IKE SAs with the victim, oldest first; records go to the newest.
    sas: Vec<PeerSa>,
    /// A and B: the real message held back.
    held: Option<Vec<u8>>,
    /// The peer authenticated to the victim: from the start in C and D, else once the
    /// held message has established the SA.
    trusted: bool,
    /// The held message is being delivered: what it makes is legitimate.
    delivering: bool,
    /// The inner payloads of the peer's real IKE_AUTH message (the initiator's request
    /// when the victim is b, the responder's answer when it is a).
    real_auth: Vec<Payload>,
    /// The last request the victim sent on each IKE SA that sent one, the latest last.
    requests: Vec<VictimRequest>,
    rekey: Option<OurRekey>,
    rng: DeterministicRng,
    /// Inbound SPIs installed and not removed.
    installed: HashSet<u32>,
    /// Every ESP encryption key installed during the run.
    esp_keys: HashSet<Vec<u8>>,
    /// Child SAs installed by the current record.
    installs: usize,
}

impl Run {
    fn start(scenario: Scenario) -> Option<Run> {
        use Scenario::*;
        let victim_is_a = matches!(scenario, InitiatorAuthSent | EstablishedInitiator);
        let (mut a, mut b) = crate::engine::endpoints();
        let now = Instant::now();
        a.initiate(now, "peer", Some("net")).ok()?;
        // The victim's own output goes through the checks too, from the first message.
        let mut early = Vec::new();
        let out = outputs(&mut a);
        deliver(&mut b, now, &out);
        if victim_is_a {
            early.extend(out);
        }
        let out = outputs(&mut b);
        deliver(&mut a, now, &out);
        if !victim_is_a {
            early.extend(out);
        }
        let out = outputs(&mut a);
        let auth_req = ike_auth(&out, false)?;
        if victim_is_a {
            early.extend(out);
        }
        let info = a.ike_sas().into_iter().next()?;
        let export = a.export_ike_keys(info.id)?;
        let (i_cipher, _) = export.keys.sk_ciphers(true).ok()?;
        let (r_cipher, _) = export.keys.sk_ciphers(false).ok()?;

        let (victim, path, held, real_auth, trusted, next_mid) = if scenario == ResponderHalfOpen {
            let real = open(&i_cipher, &auth_req.message)?;
            (
                b,
                back(auth_req.path),
                Some(auth_req.message),
                real,
                false,
                1,
            )
        } else {
            b.handle_message(now, back(auth_req.path), &auth_req.message);
            let out = outputs(&mut b);
            let auth_resp = ike_auth(&out, true)?;
            match scenario {
                InitiatorAuthSent => {
                    let real = open(&r_cipher, &auth_resp.message)?;
                    (
                        a,
                        back(auth_resp.path),
                        Some(auth_resp.message),
                        real,
                        false,
                        0,
                    )
                }
                EstablishedResponder => {
                    early.extend(out);
                    let real = open(&i_cipher, &auth_req.message)?;
                    (b, back(auth_req.path), None, real, true, 2)
                }
                _ => {
                    a.handle_message(now, back(auth_resp.path), &auth_resp.message);
                    early.extend(outputs(&mut a));
                    let real = open(&r_cipher, &auth_resp.message)?;
                    (a, back(auth_resp.path), None, real, true, 0)
                }
            }
        };
        let sa = PeerSa::new(
            export.spi_i,
            export.spi_r,
            !victim_is_a,
            export.keys,
            next_mid,
        )?;
        let mut run = Run {
            scenario,
            victim,
            victim_is_a,
            path,
            now,
            sas: vec![sa],
            held,
            trusted,
            delivering: false,
            real_auth,
            requests: Vec::new(),
            rekey: None,
            rng: DeterministicRng::from_u64(3),
            installed: HashSet::new(),
            esp_keys: HashSet::new(),
            installs: 0,
        };
        run.check(early);
        Some(run)
    }

    /// Checks what the victim put out: Child SAs and announcements first, then the state
    /// of its IKE SAs, then its messages, so that the most serious breach is the one
    /// reported.
    fn check(&mut self, out: Vec<Output>) {
        let allowed = self.trusted || self.delivering;
        for o in &out {
            match o {
                Output::InstallChild(k) => {
                    assert!(
                        allowed,
                        "{:?}: a Child SA was installed before the peer authenticated",
                        self.scenario
                    );
                    self.installs += 1;
                    assert!(
                        self.installed.insert(k.spi_in),
                        "{:?}: inbound SPI {:08x} installed while already installed",
                        self.scenario,
                        k.spi_in
                    );
                    for key in [&k.encr_in, &k.encr_out] {
                        assert!(
                            self.esp_keys.insert(key.expose().to_vec()),
                            "{:?}: Child SA {:08x} has the ESP keys of an earlier one",
                            self.scenario,
                            k.spi_in
                        );
                    }
                }
                Output::RemoveChild { spi_in, .. } => {
                    self.installed.remove(spi_in);
                }
                Output::Event(Event::IkeUp { .. }) => assert!(
                    allowed,
                    "{:?}: an IKE SA was announced up before the peer authenticated",
                    self.scenario
                ),
                _ => {}
            }
        }
        let sas = self.victim.ike_sas();
        if self.delivering {
            // The held message makes the SA and its first Child SA, nothing more: what
            // the fuzzer sent before it must not count once the peer is authenticated.
            assert!(
                self.installs <= 1 && sas.iter().all(|s| s.children.len() <= 1),
                "{:?}: Child SAs from before authentication stand after it",
                self.scenario
            );
        } else if !self.trusted {
            assert!(
                sas.iter().all(|s| !s.established && s.children.is_empty()),
                "{:?}: an IKE SA is established before the peer authenticated",
                self.scenario
            );
        }
        for o in out {
            if let Output::Transmit(t) = o {
                self.sent(&t.message);
            }
        }
        if self.delivering {
            self.delivering = false;
            self.trusted = sas.iter().any(|s| s.established);
        }
    }

    /// A message from the victim: it must parse; the harness learns from it the message
    /// IDs, the requests to answer and the end of its own rekeys.
    fn sent(&mut self, bytes: &[u8]) {
        let Ok(msg) = Message::parse(bytes) else {
            panic!(
                "{:?}: the victim sent a message that does not parse",
                self.scenario
            );
        };
        let h = msg.header;
        let response = h.flags.contains(Flags::RESPONSE);
        let unproven =
            self.scenario == Scenario::InitiatorAuthSent && !self.trusted && !self.delivering;
        if unproven && response {
            panic!(
                "{:?}: the initiator answered a request ({}) before the responder authenticated",
                self.scenario, h.exchange
            );
        }
        let Some(idx) = self
            .sas
            .iter()
            .position(|s| s.spi_i == h.spi_i && s.spi_r == h.spi_r)
        else {
            return;
        };
        let Some(payloads) = open(&self.sas[idx].open, bytes) else {
            return;
        };
        if response {
            let sa = &mut self.sas[idx];
            if h.message_id >= sa.next_mid {
                sa.next_mid = h.message_id.wrapping_add(1);
            }
            if let Some(r) = self.rekey.take_if(|r| r.sa == idx && r.mid == h.message_id)
                && let Some(new) = self.follow_rekey(r, &payloads)
            {
                self.sas.push(new);
            }
        } else {
            self.requests.retain(|r| r.sa != idx);
            self.requests.push(VictimRequest {
                sa: idx,
                mid: h.message_id,
                exchange: h.exchange,
                payloads,
            });
        }
    }

    /// The victim answered the fuzzer's IKE rekey: the new SA, if it made one.
    fn follow_rekey(&self, r: OurRekey, payloads: &[Payload]) -> Option<PeerSa> {
        let sa = find(payloads, |p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })?;
        let [chosen] = &sa.proposals[..] else {
            return None;
        };
        let spi_r = u64::from_be_bytes(chosen.spi.as_slice().try_into().ok()?);
        let nr = find(payloads, |p| match p {
            Payload::Nonce(n) => Some(n),
            _ => None,
        })?;
        let ke = find(payloads, |p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })?;
        let shared = r.ke.complete(&ke.data).ok()?;
        self.sas[r.sa].successor(chosen, &shared, &r.nonce, &nr.data, r.spi, spi_r, true)
    }

    /// The victim's Child SAs under IKE SA `idx`.
    fn children(&self, idx: usize) -> Vec<ChildSaInfo> {
        let sa = &self.sas[idx];
        self.victim
            .ike_sas()
            .into_iter()
            .find(|s| s.spi_i == sa.spi_i && s.spi_r == sa.spi_r)
            .map(|s| s.children)
            .unwrap_or_default()
    }

    fn random(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        // A DRBG does not fail; zeros would do as well.
        let _ = self.rng.fill(&mut v);
        v
    }

    /// `n` bytes of the record, or fresh ones where the record has only zeros.
    fn fresh(&mut self, c: &mut Cursor<'_>, n: usize) -> Vec<u8> {
        let v = c.bytes(n);
        if v.iter().all(|&b| b == 0) {
            self.random(n)
        } else {
            v
        }
    }

    /// A nonce: RFC 7296 §2.10 asks for 16 to 256 bytes; the top bit of the length byte
    /// asks for a short one.
    fn nonce(&mut self, c: &mut Cursor<'_>) -> Vec<u8> {
        let l = c.byte();
        let n = if l & 0x80 != 0 {
            usize::from(l & 0x0f)
        } else {
            16 + usize::from(l % 49)
        };
        self.fresh(c, n)
    }

    fn ke(&mut self, group: KeGroup) -> Option<(Payload, Box<dyn ActiveKe>)> {
        let ke = group.start(&mut self.rng).ok()?;
        let p = Payload::Ke(Ke {
            group: TransformId(group.iana()),
            data: ke.public_value().to_vec(),
        });
        Some((p, ke))
    }

    /// Selectors as the fuzzer proposes them, its own side first (TSi); `swap` puts the
    /// victim's side first.
    fn ts(&self, v: u8, swap: bool) -> (Ts, Ts) {
        let (mine, theirs) = if self.victim_is_a {
            (net(B_NET), net(A_NET))
        } else {
            (net(A_NET), net(B_NET))
        };
        let host = |mut t: TrafficSelector| {
            if let core::net::IpAddr::V4(a) = t.start_addr {
                let [w, x, y, _] = a.octets();
                t.start_addr = core::net::Ipv4Addr::new(w, x, y, 5).into();
                t.end_addr = t.start_addr;
            }
            t
        };
        let (i, r) = match v % 3 {
            0 => (mine, theirs),
            1 => (TrafficSelector::ipv4_any(), TrafficSelector::ipv4_any()),
            _ => (host(mine), host(theirs)),
        };
        let (i, r) = if swap { (r, i) } else { (i, r) };
        (
            iketcp_proto::ts::to_wire(&[i]),
            iketcp_proto::ts::to_wire(&[r]),
        )
    }

    /// An ESP SA payload: the victim's own proposal, one with PFS it was not configured
    /// for, the default suites, or the one of the real IKE_AUTH (its SPI too).
    fn esp_sa(&self, v: u8, spi: &[u8], in_ike_auth: bool) -> Sa {
        let specs: Vec<ProposalSpec> = match v % 4 {
            0 => vec![suites::esp_aes128gcm16(None)],
            1 => vec![suites::esp_aes128gcm16(Some(TransformId::KE_ECP_256))],
            2 => suites::default_esp(),
            _ => {
                if let Some(sa) = find(&self.real_auth, |p| match p {
                    Payload::Sa(s) => Some(s),
                    _ => None,
                }) {
                    return sa.clone();
                }
                vec![suites::esp_aes128gcm16(None)]
            }
        };
        Sa {
            proposals: proposal::offer(&specs, ProtocolId::ESP, spi, in_ike_auth),
        }
    }

    /// CREATE_CHILD_SA for a new Child SA, or with `rekey` for the rekey of the Child SA
    /// the fuzzer receives on under that SPI (RFC 7296 §1.3.1, §1.3.3).
    fn new_child(&mut self, c: &mut Cursor<'_>, flags: u8, rekey: Option<u32>) -> Vec<Payload> {
        let v = c.byte();
        let spi = self.fresh(c, 4);
        let mut p = Vec::new();
        if let Some(old) = rekey {
            p.push(Payload::Notify(Notify {
                protocol_id: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: vec![],
            }));
        }
        if v & 0x10 != 0 {
            p.push(Payload::Notify(Notify::new(
                NotifyType::USE_TRANSPORT_MODE,
                vec![],
            )));
        }
        p.push(Payload::Sa(self.esp_sa(v, &spi, false)));
        p.push(Payload::Nonce(Nonce {
            data: self.nonce(c),
        }));
        if v & 0x20 != 0
            && let Some((ke, _)) = self.ke(KeGroup::Ecp256)
        {
            p.push(ke);
        }
        let (tsi, tsr) = self.ts(v >> 6, flags & 0x40 != 0);
        p.push(Payload::TsI(tsi));
        p.push(Payload::TsR(tsr));
        p
    }

    /// CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 §1.3.2): the configured proposal,
    /// both, or one the victim does not accept; a key share of its group, of another,
    /// or garbage.
    fn rekey_ike(&mut self, c: &mut Cursor<'_>) -> (Vec<Payload>, Option<OurRekey>) {
        let v = c.byte();
        let spi_bytes = self.fresh(c, 8);
        let spi = u64::from_be_bytes(spi_bytes.as_slice().try_into().unwrap_or_default());
        let specs = match v % 3 {
            0 => vec![suites::ike_aes128gcm16_prfsha256_ecp256()],
            1 => vec![
                suites::ike_aes128gcm16_prfsha256_ecp256(),
                suites::ike_aes256_sha256_modp2048(),
            ],
            _ => vec![suites::ike_aes256gcm16_prfsha384_x25519()],
        };
        let nonce = self.nonce(c);
        let mut p = vec![
            Payload::Sa(Sa {
                proposals: proposal::offer(&specs, ProtocolId::IKE, &spi_bytes, false),
            }),
            Payload::Nonce(Nonce {
                data: nonce.clone(),
            }),
        ];
        let group = match (v >> 2) % 3 {
            0 => Some(KeGroup::Ecp256),
            1 => Some(KeGroup::Curve25519),
            _ => None,
        };
        let mut ours = None;
        match group.and_then(|g| self.ke(g)) {
            Some((ke, active)) => {
                p.push(ke);
                // Where and under which message ID it goes is filled in once known.
                ours = Some(OurRekey {
                    sa: 0,
                    mid: 0,
                    nonce,
                    ke: active,
                    spi,
                });
            }
            None => p.push(Payload::Ke(Ke {
                group: TransformId::KE_ECP_256,
                data: c.bytes(64),
            })),
        }
        (p, ours)
    }

    /// IKE_AUTH: the fuzzer's identity as IDi or IDr, perhaps the victim's as IDr, an AUTH
    /// payload (the real one only once the peer has authenticated: the fuzzer does not
    /// know the pre-shared key), an ESP SA and selectors.
    fn ike_auth(&mut self, c: &mut Cursor<'_>, flags: u8) -> Vec<Payload> {
        let v = c.byte();
        let (mine, theirs) = if self.victim_is_a {
            (id("b@fuzz"), id("a@fuzz"))
        } else {
            (id("a@fuzz"), id("b@fuzz"))
        };
        let mut p = vec![if v & 1 == 0 {
            Payload::IdI(mine)
        } else {
            Payload::IdR(mine)
        }];
        if v & 2 != 0 {
            p.push(Payload::IdR(theirs));
        }
        let real = find(&self.real_auth, |p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let auth = match real {
            Some(a) if self.trusted && v & 4 == 0 => a.clone(),
            _ => Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: c.bytes(32),
            },
        };
        p.push(Payload::Auth(auth));
        let spi = self.fresh(c, 4);
        match (v >> 3) % 4 {
            0 => p.push(Payload::Sa(self.esp_sa(3, &spi, true))),
            1 => p.push(Payload::Sa(self.esp_sa(0, &spi, true))),
            2 => {}
            _ => p.push(Payload::Sa(self.esp_sa(2, &spi, true))),
        }
        let (tsi, tsr) = self.ts(v >> 5, flags & 0x40 != 0);
        p.push(Payload::TsI(tsi));
        p.push(Payload::TsR(tsr));
        p
    }

    /// The peer's real IKE_AUTH payloads as a request: as sent when the victim is the
    /// responder; the responder's answer turned into a request (IDr as IDi, selectors
    /// from its side) when the victim is the initiator.
    fn replay(&self) -> Vec<Payload> {
        if !self.victim_is_a {
            return self.real_auth.clone();
        }
        let mut p: Vec<Payload> = self
            .real_auth
            .iter()
            .map(|p| match p {
                Payload::IdR(i) => Payload::IdI(i.clone()),
                Payload::TsI(t) => Payload::TsR(t.clone()),
                Payload::TsR(t) => Payload::TsI(t.clone()),
                p => p.clone(),
            })
            .collect();
        // TSi before TSr, as RFC 7296 §1.2 orders them.
        p.sort_by_key(|p| matches!(p, Payload::TsR(_)));
        p
    }

    /// INFORMATIONAL with a DELETE: of the IKE SA, of the victim's Child SAs (by the
    /// SPIs the fuzzer receives on), or of SPIs from the record.
    fn delete(&mut self, c: &mut Cursor<'_>, sa: usize) -> Vec<Payload> {
        let v = c.byte();
        let d = match v % 3 {
            0 => Delete::ike(),
            1 => {
                let spis: Vec<u32> = self.children(sa).iter().map(|c| c.spi_out).collect();
                let n = spis.len();
                let pick = usize::from(v >> 2);
                let spis = if pick == 0 || n == 0 {
                    spis
                } else {
                    vec![spis[pick % n]]
                };
                Delete::child(ProtocolId::ESP, &spis)
            }
            _ => {
                let spi = self.fresh(c, 4);
                let proto = if v & 0x80 != 0 {
                    ProtocolId::AH
                } else {
                    ProtocolId::ESP
                };
                Delete::child(
                    proto,
                    &[u32::from_be_bytes(spi.try_into().unwrap_or_default())],
                )
            }
        };
        vec![Payload::Delete(d)]
    }

    /// The answer to the victim's last request on IKE SA `sa`, or else to its last
    /// request: what its CREATE_CHILD_SA asks for (an IKE SA rekey is then followed),
    /// DELETE for DELETE, empty for the rest. Bits of the first argument drop payloads
    /// from it.
    fn answer(&mut self, c: &mut Cursor<'_>, flags: u8, sa: usize) -> Option<Draft> {
        let req = self
            .requests
            .iter()
            .rev()
            .find(|r| r.sa == sa)
            .or(self.requests.last())?
            .clone();
        let drop = c.byte();
        let mut p = Vec::new();
        let mut successor = None;
        let of_req = |f: &dyn Fn(&Payload) -> bool| req.payloads.iter().find(|p| f(p)).cloned();
        match req.exchange {
            ExchangeType::CREATE_CHILD_SA => {
                let sa = find(&req.payloads, |p| match p {
                    Payload::Sa(s) => Some(s),
                    _ => None,
                })?;
                let ni = find(&req.payloads, |p| match p {
                    Payload::Nonce(n) => Some(n),
                    _ => None,
                })?;
                let their_ke = find(&req.payloads, |p| match p {
                    Payload::Ke(k) => Some(k),
                    _ => None,
                });
                let ike = sa
                    .proposals
                    .iter()
                    .find(|p| p.protocol_id == ProtocolId::IKE);
                let spi = self.fresh(c, if ike.is_some() { 8 } else { 4 });
                let prop = ike.or(sa.proposals.first())?;
                let chosen = one_per_type(prop, spi.clone());
                let nr = self.nonce(c);
                if let Some(n) = of_req(
                    &|p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::USE_TRANSPORT_MODE),
                ) {
                    p.push(n);
                }
                p.push(Payload::Sa(Sa {
                    proposals: vec![chosen.clone()],
                }));
                p.push(Payload::Nonce(Nonce { data: nr.clone() }));
                let group = chosen
                    .transforms
                    .iter()
                    .find(|t| t.ty == TransformType::KE)
                    .and_then(|t| KeGroup::from_iana(t.id.0));
                if let Some((ke, active)) = group.and_then(|g| self.ke(g)) {
                    p.push(ke);
                    if ike.is_some()
                        && let Some(theirs) = their_ke
                        && let Ok(shared) = active.complete(&theirs.data)
                        && let Ok(spi_i) = <[u8; 8]>::try_from(prop.spi.as_slice())
                    {
                        let spi_i = u64::from_be_bytes(spi_i);
                        let spi_r =
                            u64::from_be_bytes(spi.as_slice().try_into().unwrap_or_default());
                        successor = self.sas[req.sa]
                            .successor(&chosen, &shared, &ni.data, &nr, spi_i, spi_r, false);
                    }
                }
                if ike.is_none() {
                    p.extend(of_req(&|p| matches!(p, Payload::TsI(_))));
                    p.extend(of_req(&|p| matches!(p, Payload::TsR(_))));
                }
            }
            ExchangeType::INFORMATIONAL => {
                let children = self.children(req.sa);
                for d in req.payloads.iter().filter_map(|p| match p {
                    Payload::Delete(d) if d.protocol_id != ProtocolId::IKE => Some(d),
                    _ => None,
                }) {
                    let ours: Vec<u32> = d
                        .spis_u32()
                        .filter_map(|s| children.iter().find(|c| c.spi_in == s).map(|c| c.spi_out))
                        .collect();
                    p.push(Payload::Delete(Delete::child(d.protocol_id, &ours)));
                }
            }
            _ => {}
        }
        // Only the answer as built can make the victim create the new IKE SA.
        if drop == 0 && flags & 0x07 == 0 {
            self.sas.extend(successor);
        }
        let p = p
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i >= 8 || drop & (1 << i) == 0)
            .map(|(_, p)| p)
            .collect();
        Some(Draft {
            exchange: req.exchange,
            response: true,
            sa: req.sa,
            mid: Some(req.mid),
            body: Body::Payloads(p),
        })
    }

    /// A record as a message to the victim.
    fn build(&mut self, op: u8, flags: u8, mid: u8, args: &[u8]) -> Option<Vec<u8>> {
        let newest = self.sas.len() - 1;
        let sa = if flags & 0x08 != 0 {
            newest.saturating_sub(1)
        } else {
            newest
        };
        let mut c = Cursor(args);
        let request = |exchange, payloads| Draft {
            exchange,
            response: false,
            sa,
            mid: None,
            body: Body::Payloads(payloads),
        };
        let mut rekey = None;
        let draft = match op % 10 {
            0 => {
                let [x, first, chain @ ..] = args else {
                    return None;
                };
                let exchange = match x % 4 {
                    0 => ExchangeType::IKE_AUTH,
                    1 => ExchangeType::CREATE_CHILD_SA,
                    2 => ExchangeType::INFORMATIONAL,
                    _ => ExchangeType(*x),
                };
                Draft {
                    body: Body::Raw(PayloadType(*first), chain.to_vec()),
                    ..request(exchange, Vec::new())
                }
            }
            1 => request(
                ExchangeType::CREATE_CHILD_SA,
                self.new_child(&mut c, flags, None),
            ),
            2 => {
                let children = self.children(sa);
                let pick = usize::from(c.byte());
                let old = match children.get(pick % children.len().max(1)) {
                    Some(ch) => ch.spi_out,
                    None => {
                        u32::from_be_bytes(self.fresh(&mut c, 4).try_into().unwrap_or_default())
                    }
                };
                request(
                    ExchangeType::CREATE_CHILD_SA,
                    self.new_child(&mut c, flags, Some(old)),
                )
            }
            3 => {
                let (p, ours) = self.rekey_ike(&mut c);
                rekey = ours;
                request(ExchangeType::CREATE_CHILD_SA, p)
            }
            4 => request(ExchangeType::IKE_AUTH, self.ike_auth(&mut c, flags)),
            5 => request(ExchangeType::INFORMATIONAL, self.delete(&mut c, sa)),
            6 => {
                let v = c.byte();
                let p = if v & 1 == 0 {
                    Vec::new()
                } else {
                    let ty = u16::from_be_bytes([c.byte(), c.byte()]);
                    let data = c.bytes(usize::from(v >> 4));
                    vec![Payload::Notify(Notify::new(NotifyType(ty), data))]
                };
                request(ExchangeType::INFORMATIONAL, p)
            }
            7 => {
                // Only a peer that has authenticated may send its real AUTH again: before,
                // that would be the delivery itself.
                if !self.trusted {
                    return None;
                }
                request(ExchangeType::IKE_AUTH, self.replay())
            }
            _ => self.answer(&mut c, flags, sa)?,
        };
        let peer = &self.sas[draft.sa];
        let mut exchange = draft.exchange;
        if flags & 0x04 != 0 {
            exchange = [
                ExchangeType::IKE_AUTH,
                ExchangeType::CREATE_CHILD_SA,
                ExchangeType::INFORMATIONAL,
                ExchangeType::IKE_SA_INIT,
            ][usize::from(flags >> 4 & 3)];
        }
        let response = draft.response != (flags & 0x01 != 0);
        let initiator = peer.fuzzer_initiator != (flags & 0x02 != 0);
        let mut f = 0;
        if response {
            f |= Flags::RESPONSE.0;
        }
        if initiator {
            f |= Flags::INITIATOR.0;
        }
        let message_id = if mid & 0x80 == 0 {
            u32::from(mid & 0x0f)
        } else if response {
            draft
                .mid
                .or(self.requests.last().map(|r| r.mid))
                .unwrap_or(0)
        } else {
            peer.next_mid
        };
        let (first, chain) = match draft.body {
            Body::Raw(first, chain) => (first, chain),
            Body::Payloads(p) => {
                let mut w = Writer::new();
                let first = emit_chain(&p, &mut w).ok()?;
                (first, w.buf)
            }
        };
        if let Some(r) = rekey {
            self.rekey = Some(OurRekey {
                sa: draft.sa,
                mid: message_id,
                ..r
            });
        }
        let peer = &mut self.sas[draft.sa];
        let body_len = peer.seal.body_len(chain.len());
        let header = Header {
            spi_i: peer.spi_i,
            spi_r: peer.spi_r,
            next_payload: PayloadType::SK,
            version: IKEV2_VERSION,
            exchange,
            flags: Flags(f),
            message_id,
            length: 0,
        };
        let mut bytes = Message {
            header,
            payloads: vec![Payload::Encrypted(Encrypted {
                first_payload: first,
                body: vec![0; body_len],
            })],
        }
        .emit()
        .ok()?;
        let aad = bytes.len() - body_len;
        let body = peer
            .seal
            .encrypt(&bytes[..aad], &chain, &mut self.rng)
            .ok()?;
        bytes.truncate(aad);
        bytes.extend(body);
        Some(bytes)
    }

    /// One record: a message to the victim, or the held message, or time passing; then
    /// the victim's timers, and the checks.
    fn step(&mut self, r: &[u8]) {
        let [op, flags, mid, args @ ..] = r else {
            return;
        };
        self.installs = 0;
        self.now += Duration::from_secs(1);
        match op % 10 {
            7 if self.held.is_some() => {
                if let Some(held) = self.held.take() {
                    self.delivering = true;
                    self.victim.handle_message(self.now, self.path, &held);
                }
            }
            9 => {
                let exp = args.first().map_or(0, |b| b % 16);
                self.now += Duration::from_secs(1 << exp);
            }
            _ => {
                if let Some(m) = self.build(*op, *flags, *mid, args) {
                    self.victim.handle_message(self.now, self.path, &m);
                }
            }
        }
        let mut out = outputs(&mut self.victim);
        self.victim.handle_timeout(self.now);
        out.extend(outputs(&mut self.victim));
        self.check(out);
    }
}

/// Records, with time passing, from a peer that holds the SK keys, to an initiator or a
/// responder before or after authentication (the first byte picks which, see the module
/// documentation). Each record is `op, flags, mid, args...`:
///
/// - op % 10: 0 raw (args: exchange, first payload type, payload chain); 1 a new Child
///   SA; 2 a Child SA rekey; 3 an IKE SA rekey (followed to the new SA if the victim
///   agrees); 4 IKE_AUTH; 5 DELETE; 6 another INFORMATIONAL; 7 the held message, or once
///   authenticated the peer's real IKE_AUTH again; 8 the answer to the victim's last
///   request; 9 time passes, 2^args[0] seconds. Arguments past the end read as zero.
/// - flags: bit 0 flips the Response flag, bit 1 the Initiator flag; bit 2 replaces the
///   exchange by bits 4-5 (IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL, IKE_SA_INIT); bit 3
///   sends on the IKE SA before the newest; bit 6 swaps TSi and TSr.
/// - mid: with bit 7, the message ID the victim expects (a request) or the one of its
///   last request (a response); else the low four bits.
pub fn ike_stateful(data: &[u8]) {
    let [scenario, rest @ ..] = data else {
        return;
    };
    let scenario = match scenario % 4 {
        0 => Scenario::InitiatorAuthSent,
        1 => Scenario::ResponderHalfOpen,
        2 => Scenario::EstablishedResponder,
        _ => Scenario::EstablishedInitiator,
    };
    // The setup does not depend on the input: if it fails, no input reaches anything.
    let mut run = Run::start(scenario)
        .unwrap_or_else(|| panic!("{scenario:?}: the engines did not reach the scenario's state"));
    for r in records(rest).take(48) {
        run.step(r);
    }
}
