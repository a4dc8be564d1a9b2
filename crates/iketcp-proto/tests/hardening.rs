//! What the engine refuses to do for a peer that has not proven itself, for an
//! authenticated peer that breaks the exchange rules, and for a man in the middle that
//! holds the SK keys because it answered IKE_SA_INIT. Each test names the attack it
//! stops.

use iketcp_sim::engine as sim;

use std::time::Duration;

use iketcp_crypto::{DeterministicRng, KeGroup};
use iketcp_proto::config::suites;
use iketcp_proto::{
    ChildSaKeys, DownReason, Endpoint, EndpointConfig, Event, IkeSaId, Output, Path, PeerConfig,
};
use iketcp_wire::codec::Writer;
use iketcp_wire::ike::{
    Delete, Encrypted, ExchangeType, Flags, Header, IKEV2_VERSION, Id, Ke, Message, Nonce,
    NotifyType, Payload, PayloadType, ProtocolId, Sa, TransformId, emit_chain,
};
use sim::{A, B, World, net, pair_configs};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An SK-protected message as `ep`'s IKE SA `ike` would send it: what a man in the middle
/// who holds that SA's keys can make. Returns the path as the receiver sees it.
fn forge(
    ep: &Endpoint,
    ike: IkeSaId,
    exchange: ExchangeType,
    message_id: u32,
    payloads: &[Payload],
) -> (Path, Vec<u8>) {
    forge_as(ep, ike, exchange, message_id, false, payloads)
}

/// [`forge`], as a request or as a response.
fn forge_as(
    ep: &Endpoint,
    ike: IkeSaId,
    exchange: ExchangeType,
    message_id: u32,
    response: bool,
    payloads: &[Payload],
) -> (Path, Vec<u8>) {
    let info = ep
        .ike_sas()
        .into_iter()
        .find(|s| s.id == ike)
        .expect("IKE SA");
    let keys = ep.export_ike_keys(ike).expect("keys");
    let (mut seal, _) = keys
        .keys
        .sk_ciphers(keys.original_initiator)
        .expect("ciphers");
    let mut w = Writer::new();
    let first = emit_chain(payloads, &mut w).expect("chain");
    let plaintext = w.into_vec();
    let body_len = seal.body_len(plaintext.len());
    let header = Header {
        spi_i: keys.spi_i,
        spi_r: keys.spi_r,
        next_payload: PayloadType::SK,
        version: IKEV2_VERSION,
        exchange,
        flags: Flags(
            if keys.original_initiator {
                Flags::INITIATOR.0
            } else {
                0
            } | if response { Flags::RESPONSE.0 } else { 0 },
        ),
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
    .expect("emit");
    let aad = bytes.len() - body_len;
    // Far from the engine's own AEAD counter, so no nonce repeats under these keys.
    for _ in 0..1000 {
        let _ = seal.encrypt(&[], &[], &mut DeterministicRng::from_u64(0));
    }
    let body = seal
        .encrypt(
            &bytes[..aad],
            &plaintext,
            &mut DeterministicRng::from_u64(5),
        )
        .expect("seal");
    bytes.truncate(aad);
    bytes.extend(body);
    let p = info.path;
    (
        Path {
            local: p.remote,
            remote: p.local,
            transport: p.transport,
        },
        bytes,
    )
}

/// A CREATE_CHILD_SA request for a new Child SA that `pair_configs`' a would accept:
/// AES-GCM-128 with ECP-256 PFS, the selectors of "net" seen from b.
fn new_child_request() -> Vec<Payload> {
    let mut rng = DeterministicRng::from_u64(77);
    let ke = KeGroup::from_iana(19)
        .expect("ecp256")
        .start(&mut rng)
        .expect("ke");
    let esp = suites::esp_aes128gcm16(Some(TransformId::KE_ECP_256));
    vec![
        Payload::Sa(Sa {
            proposals: vec![esp.to_wire(1, ProtocolId::ESP, vec![0x0b, 0xad, 0xc0, 0xde])],
        }),
        Payload::Nonce(Nonce {
            data: vec![0x42; 32],
        }),
        Payload::Ke(Ke {
            group: TransformId::KE_ECP_256,
            data: ke.public_value().to_vec(),
        }),
        Payload::TsI(iketcp_proto::ts::to_wire(&[net("10.2.0.0/24")])),
        Payload::TsR(iketcp_proto::ts::to_wire(&[net("10.1.0.0/24")])),
    ]
}

/// A CREATE_CHILD_SA request to rekey the IKE SA, with a nonce of `nonce_len` bytes.
fn ike_rekey_request(nonce_len: usize) -> Vec<Payload> {
    let mut rng = DeterministicRng::from_u64(78);
    let ke = KeGroup::from_iana(19)
        .expect("ecp256")
        .start(&mut rng)
        .expect("ke");
    let ike = suites::ike_aes128gcm16_prfsha256_ecp256();
    vec![
        Payload::Sa(Sa {
            proposals: vec![ike.to_wire(1, ProtocolId::IKE, vec![0x5a; 8])],
        }),
        Payload::Nonce(Nonce {
            data: vec![0x43; nonce_len],
        }),
        Payload::Ke(Ke {
            group: TransformId::KE_ECP_256,
            data: ke.public_value().to_vec(),
        }),
    ]
}

fn deliver(w: &mut World, to: usize, (path, bytes): (Path, Vec<u8>)) {
    let now = w.at();
    w.ep(to).handle_message(now, path, &bytes);
    w.drain();
}

/// No two installed Child SAs share a key: a shared AES-GCM key with sequence numbers
/// counted from 1 twice repeats nonces.
fn assert_no_key_reuse(w: &World, side: usize) {
    let keys: Vec<&ChildSaKeys> = w.sides[side].installed.values().collect();
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a.encr_in, b.encr_in, "two Child SAs with one inbound key");
            assert_ne!(
                a.encr_out, b.encr_out,
                "two Child SAs with one outbound key"
            );
        }
    }
}

fn up(seed: u64) -> World {
    let (a, b) = pair_configs();
    let mut w = World::new(seed, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(secs(10), |w| w.ike_up(A)
        && w.ike_up(B)
        && w.children(A) == 1
        && w.children(B) == 1));
    w
}

/// A World where A has sent IKE_AUTH and it is held back from B: B (or whoever answered
/// IKE_SA_INIT) holds the SK keys, A has not authenticated it yet. Returns B's IKE SA.
fn ike_auth_held(seed: u64) -> (World, IkeSaId) {
    let (a, b) = pair_configs();
    let mut w = World::new(seed, a, b);
    w.hold = Some(Box::new(|f| {
        f.to == B
            && Message::parse(&f.bytes).is_ok_and(|m| m.header.exchange == ExchangeType::IKE_AUTH)
    }));
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(secs(2), |w| !w.held.is_empty()), "{}", w.dump());
    let rogue = w.sides[B].ep.ike_sas()[0].id;
    (w, rogue)
}

/// Attack: whoever answered IKE_SA_INIT (a rogue server, a TCP or TLS relay on the path)
/// holds the SK keys but cannot make the AUTH payload. Before the initiator has verified
/// it, such a responder asks for a Child SA, an IKE rekey and a DELETE. Nothing happens:
/// no Child SA, no successor IKE SA, no answer; the real IKE_AUTH then completes.
#[test]
fn rfc7296_2_15_initiator_obeys_no_request_before_the_responder_authenticates() {
    let (mut w, rogue) = ike_auth_held(31);

    let sent_before = w.sides[A].sent.len();
    for (mid, payloads) in [
        (0, new_child_request()),
        (0, ike_rekey_request(32)),
        (
            0,
            vec![Payload::Delete(Delete::child(
                ProtocolId::ESP,
                &[0x1234_5678],
            ))],
        ),
        (1, new_child_request()),
    ] {
        let exchange = if matches!(payloads[0], Payload::Delete(_)) {
            ExchangeType::INFORMATIONAL
        } else {
            ExchangeType::CREATE_CHILD_SA
        };
        let m = forge(&w.sides[B].ep, rogue, exchange, mid, &payloads);
        deliver(&mut w, A, m);
    }
    assert_eq!(w.children(A), 0, "a Child SA from an unauthenticated peer");
    let sas = w.sides[A].ep.ike_sas();
    assert_eq!(
        sas.len(),
        1,
        "a successor IKE SA from an unauthenticated peer"
    );
    assert!(!sas[0].established);
    assert!(
        !w.events(A).any(|e| matches!(
            e,
            Event::IkeUp { .. } | Event::ChildUp { .. } | Event::IkeRekeyed { .. }
        )),
        "{}",
        w.dump()
    );
    assert_eq!(
        w.sides[A].sent.len(),
        sent_before,
        "answered an unauthenticated request"
    );

    // The genuine responder's IKE_AUTH still works.
    w.hold = None;
    w.release();
    assert!(
        w.run_until(secs(10), |w| w.ike_up(A) && w.children(A) == 1),
        "{}",
        w.dump()
    );
    w.assert_children_agree();
}

/// Attack: a man in the middle with the SK keys keeps the initiator half-way (never lets
/// the real IKE_AUTH response through) after getting it to accept an IKE rekey. Without
/// the table, the successor stood established after the real IKE_AUTH timed out; now the
/// initiator gives up cleanly and holds no IKE SA at all.
#[test]
fn rfc7296_2_15_no_ike_sa_survives_an_ike_auth_that_never_completes() {
    let (mut w, rogue) = ike_auth_held(32);
    let m = forge(
        &w.sides[B].ep,
        rogue,
        ExchangeType::CREATE_CHILD_SA,
        0,
        &ike_rekey_request(32),
    );
    deliver(&mut w, A, m);
    w.run_for(secs(400));
    assert!(
        w.sides[A].ep.ike_sas().is_empty(),
        "{:?}",
        w.sides[A].ep.ike_sas()
    );
    assert!(w.events(A).any(|e| matches!(
        e,
        Event::IkeDown {
            reason: DownReason::Timeout,
            ..
        }
    )));
    assert!(!w.events(A).any(|e| matches!(e, Event::IkeUp { .. })));
}

/// Attack: IKE_AUTH replayed on an established IKE SA, re-encrypted under a new message
/// ID (by the peer itself, or by a man in the middle with the keys). It carries a valid
/// AUTH (the signed octets have not changed), and a Child SA made from it would take
/// IKE_SA_INIT's nonces again: the same ESP keys as the first Child SA, sequence numbers
/// from 1 twice. Both roles refuse it with INVALID_SYNTAX and install nothing.
#[test]
fn rfc7296_1_2_second_ike_auth_on_an_established_sa_is_refused_in_both_roles() {
    // To the responder: the initiator's own IKE_AUTH request again.
    let mut w = up(33);
    let auth_req = w.sides[A]
        .sent
        .iter()
        .map(|(_, _, m)| m.clone())
        .find(|m| Message::parse(m).is_ok_and(|m| m.header.exchange == ExchangeType::IKE_AUTH))
        .expect("IKE_AUTH sent");
    let payloads = w.open_at(B, &auth_req);
    let a_ike = w.sides[A].ep.ike_sas()[0].id;
    let m = forge(&w.sides[A].ep, a_ike, ExchangeType::IKE_AUTH, 2, &payloads);
    deliver(&mut w, B, m);
    assert_eq!(w.children(B), 1, "a second Child SA from a second IKE_AUTH");
    assert_no_key_reuse(&w, B);
    let answer = w.sides[B].sent.last().expect("answered").2.clone();
    let answer = w.open_at(A, &answer);
    assert!(
        answer.iter().any(
            |p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::INVALID_SYNTAX)
        ),
        "{answer:?}"
    );

    // To the initiator: the responder's IKE_AUTH response, turned into a request.
    let mut w = up(34);
    let auth_resp = w.sides[B]
        .sent
        .iter()
        .map(|(_, _, m)| m.clone())
        .find(|m| Message::parse(m).is_ok_and(|m| m.header.exchange == ExchangeType::IKE_AUTH))
        .expect("IKE_AUTH answered");
    let payloads: Vec<Payload> = w
        .open_at(A, &auth_resp)
        .into_iter()
        .map(|p| match p {
            Payload::IdR(id) => Payload::IdI(id),
            p => p,
        })
        .collect();
    let b_ike = w.sides[B].ep.ike_sas()[0].id;
    let m = forge(&w.sides[B].ep, b_ike, ExchangeType::IKE_AUTH, 0, &payloads);
    deliver(&mut w, A, m);
    assert_eq!(w.children(A), 1, "a second Child SA from a second IKE_AUTH");
    assert_no_key_reuse(&w, A);
    assert_eq!(
        w.events(A)
            .filter(|e| matches!(e, Event::ChildUp { .. }))
            .count(),
        1
    );
    // The IKE SA carries on: a Child SA rekey still completes.
    let (ike, spi) = {
        let s = &w.sides[A].ep.ike_sas()[0];
        (s.id, s.children[0].spi_in)
    };
    let now = w.at();
    w.ep(A).rekey_child(now, ike, spi).unwrap();
    assert!(w.run_until(secs(10), |w| w.children(A) == 1
        && !w.sides[A].installed.contains_key(&spi)));
    w.assert_children_agree();
}

/// A small network of endpoints for tests with more than two parties: each endpoint owns
/// one IP address and gets what is sent to it, in order, at once.
struct Net {
    eps: Vec<(std::net::IpAddr, Endpoint)>,
    installed: Vec<Vec<ChildSaKeys>>,
    removed: Vec<Vec<u32>>,
    events: Vec<Vec<Event>>,
    now: std::time::Instant,
}

impl Net {
    fn new(eps: Vec<(&str, Endpoint)>) -> Self {
        let n = eps.len();
        Net {
            eps: eps
                .into_iter()
                .map(|(a, e)| (a.parse().unwrap(), e))
                .collect(),
            installed: vec![Vec::new(); n],
            removed: vec![Vec::new(); n],
            events: vec![Vec::new(); n],
            now: std::time::Instant::now(),
        }
    }

    fn run(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for i in 0..self.eps.len() {
                while let Some(o) = self.eps[i].1.poll_output() {
                    match o {
                        Output::Transmit(t) => {
                            moved = true;
                            let to = self
                                .eps
                                .iter()
                                .position(|(a, _)| *a == t.path.remote.ip())
                                .expect("a host at that address");
                            let path = Path {
                                local: t.path.remote,
                                remote: t.path.local,
                                transport: t.path.transport,
                            };
                            let now = self.now;
                            self.eps[to].1.handle_message(now, path, &t.message);
                        }
                        Output::InstallChild(k) => self.installed[i].push(*k),
                        Output::RemoveChild { spi_in, .. } => self.removed[i].push(spi_in),
                        Output::Event(e) => self.events[i].push(e),
                        _ => {}
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the network never settled");
    }
}

fn endpoint(peers: Vec<PeerConfig>, seed: u64) -> Endpoint {
    Endpoint::new(
        EndpointConfig::default(),
        peers,
        Box::new(DeterministicRng::from_u64(seed)),
    )
}

/// Attack: two clients share one identity (a group PSK). One of them sends a DELETE
/// naming the other's Child SA (its SPI is in every ESP packet on the wire). The
/// gateway deletes only within the IKE SA the DELETE came on, so the other's tunnel
/// stays.
#[test]
fn rfc7296_1_4_1_delete_reaches_only_its_own_ike_sa() {
    let (a, gw) = pair_configs();
    let a2 = PeerConfig {
        local: "10.0.0.3:500".parse().unwrap(),
        ..a.clone()
    };
    let mut n = Net::new(vec![
        ("10.0.0.1", endpoint(vec![a], 1)),
        ("10.0.0.2", endpoint(vec![gw], 2)),
        ("10.0.0.3", endpoint(vec![a2], 3)),
    ]);
    let now = n.now;
    n.eps[0].1.initiate(now, "b", Some("net")).unwrap();
    n.run();
    n.eps[2].1.initiate(now, "b", Some("net")).unwrap();
    n.run();
    let gw_sas = n.eps[1].1.ike_sas();
    assert_eq!(gw_sas.len(), 2);
    assert!(
        gw_sas
            .iter()
            .all(|s| s.established && s.children.len() == 1)
    );
    // The victim's inbound SPI: what the gateway sends to it.
    let victim_spi = n.eps[0].1.ike_sas()[0].children[0].spi_in;
    let attacker = n.eps[2].1.ike_sas()[0].id;
    let (path, bytes) = forge(
        &n.eps[2].1,
        attacker,
        ExchangeType::INFORMATIONAL,
        2,
        &[Payload::Delete(Delete::child(
            ProtocolId::ESP,
            &[victim_spi],
        ))],
    );
    n.eps[1].1.handle_message(now, path, &bytes);
    n.run();
    let gw_sas = n.eps[1].1.ike_sas();
    assert!(gw_sas.iter().all(|s| s.children.len() == 1), "{gw_sas:#?}");
    assert!(
        n.removed[1].is_empty(),
        "the gateway removed {:?}",
        n.removed[1]
    );
    // A DELETE of the sender's own Child SA still works (the forged one used message
    // ID 2 of this IKE SA, so this is 3).
    let own = n.eps[2].1.ike_sas()[0].children[0].spi_in;
    let (path, bytes) = forge(
        &n.eps[2].1,
        attacker,
        ExchangeType::INFORMATIONAL,
        3,
        &[Payload::Delete(Delete::child(ProtocolId::ESP, &[own]))],
    );
    n.eps[1].1.handle_message(now, path, &bytes);
    n.run();
    let gw_sas = n.eps[1].1.ike_sas();
    assert_eq!(
        gw_sas.iter().map(|s| s.children.len()).sum::<usize>(),
        1,
        "{gw_sas:#?}"
    );
}

/// Attack: a peer authenticates as an identity whose configuration allows only AES-GCM,
/// having agreed AES-CBC in IKE_SA_INIT (picked from another configuration's proposals,
/// since IKE_SA_INIT does not say who is asking). The gateway refuses the IKE SA.
#[test]
fn rfc7296_2_15_ike_proposal_rechecked_against_the_selected_configuration() {
    let (mut a, gw_a) = pair_configs();
    // a offers only AES-CBC with MODP-2048.
    a.ike_proposals = vec![suites::ike_aes256_sha256_modp2048()];
    // The gateway: a's identity may use AES-GCM only; another identity may use AES-CBC.
    let gw_a = PeerConfig {
        ike_proposals: vec![suites::ike_aes128gcm16_prfsha256_ecp256()],
        ..gw_a
    };
    let gw_c = PeerConfig {
        name: "c".into(),
        remote_id: Id {
            id_type: iketcp_wire::ike::IdType::RFC822_ADDR,
            data: b"c@sim.test".to_vec(),
        },
        ike_proposals: vec![suites::ike_aes256_sha256_modp2048()],
        ..gw_a.clone()
    };
    let mut n = Net::new(vec![
        ("10.0.0.1", endpoint(vec![a], 4)),
        ("10.0.0.2", endpoint(vec![gw_a, gw_c], 5)),
    ]);
    let now = n.now;
    n.eps[0].1.initiate(now, "b", Some("net")).unwrap();
    n.run();
    assert!(n.eps[1].1.ike_sas().iter().all(|s| !s.established));
    assert!(n.installed.iter().all(Vec::is_empty));
    assert!(
        n.events[0].iter().any(|e| matches!(
            e,
            Event::IkeDown {
                reason: DownReason::Refused(_),
                ..
            }
        )),
        "{:?}",
        n.events[0]
    );
}

/// RFC 7296 §2.10: nonces are at least 16 bytes, in an IKE rekey too. A short one is
/// answered with INVALID_SYNTAX and makes no IKE SA.
#[test]
fn rfc7296_2_10_short_nonce_in_ike_rekey_is_refused() {
    let mut w = up(35);
    let a_ike = w.sides[A].ep.ike_sas()[0].id;
    let m = forge(
        &w.sides[A].ep,
        a_ike,
        ExchangeType::CREATE_CHILD_SA,
        2,
        &ike_rekey_request(8),
    );
    deliver(&mut w, B, m);
    assert_eq!(
        w.sides[B].ep.ike_sas().len(),
        1,
        "an IKE SA from a short nonce"
    );
    let answer = w.sides[B].sent.last().expect("answered").2.clone();
    let answer = w.open_at(A, &answer);
    assert!(
        answer.iter().any(
            |p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::INVALID_SYNTAX)
        ),
        "{answer:?}"
    );
}

/// Requests out of place, from the authenticated peer: a response to a request we never
/// sent, and a response of another exchange than the outstanding request's. Neither is
/// acted on.
#[test]
fn rfc7296_2_3_responses_that_answer_nothing_are_dropped() {
    let mut w = up(36);
    let b_ike = w.sides[B].ep.ike_sas()[0].id;
    // Hold a's next request so that it stays outstanding.
    w.hold = Some(Box::new(|f| f.to == B));
    let (ike, spi) = {
        let s = &w.sides[A].ep.ike_sas()[0];
        (s.id, s.children[0].spi_in)
    };
    let now = w.at();
    w.ep(A).delete_child(now, ike, spi).unwrap();
    w.drain();
    // An INFORMATIONAL was asked (mid 2): a CREATE_CHILD_SA "response" to it, with a
    // Child SA in it, and a response to mid 3, which was never asked.
    let mut resp = new_child_request();
    resp.retain(|p| !matches!(p, Payload::Ke(_)));
    for (exchange, mid) in [
        (ExchangeType::CREATE_CHILD_SA, 2),
        (ExchangeType::INFORMATIONAL, 3),
    ] {
        let m = forge_as(&w.sides[B].ep, b_ike, exchange, mid, true, &resp);
        deliver(&mut w, A, m);
    }
    assert_eq!(w.children(A), 1);
    assert!(w.sides[A].installed.contains_key(&spi), "{}", w.dump());
    // The real answer still completes the DELETE.
    w.hold = None;
    w.release();
    assert!(w.run_until(secs(10), |w| w.children(A) == 0 && w.children(B) == 0));
}

/// Attack: a stranger who knows the SPIs and the last message ID sends other bytes under
/// it, to have the cached response sent where it likes (reflection). Only a
/// byte-identical retransmission gets the cached response (R-RETX-3).
#[test]
fn r_retx_3_cached_response_only_for_a_byte_identical_retransmission() {
    let mut w = up(37);
    let auth_req = w.sides[A]
        .sent
        .iter()
        .map(|(_, _, m)| m.clone())
        .find(|m| Message::parse(m).is_ok_and(|m| m.header.exchange == ExchangeType::IKE_AUTH))
        .expect("IKE_AUTH sent");
    let victim = Path::udp(
        "10.0.0.2:4500".parse().unwrap(),
        "192.0.2.77:4500".parse().unwrap(),
    );
    let sent = w.sides[B].sent.len();
    let mut other = auth_req.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let now = w.at();
    w.ep(B).handle_message(now, victim, &other);
    w.drain();
    assert_eq!(w.sides[B].sent.len(), sent, "answered other bytes");
    w.ep(B).handle_message(now, victim, &auth_req);
    w.drain();
    assert_eq!(
        w.sides[B].sent.len(),
        sent + 1,
        "a retransmission goes unanswered"
    );
    // The IKE SA did not move to the stranger's address.
    assert_ne!(w.sides[B].ep.ike_sas()[0].path.remote, victim.remote);
}
