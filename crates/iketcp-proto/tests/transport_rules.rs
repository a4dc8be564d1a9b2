//! The rules that differ by transport (RFC 9329 §6–8, the TCP guidelines §5–7), each
//! proven through the public API of the engine on a virtual clock.

use iketcp_sim::engine as sim;

use std::time::Duration;

use iketcp_proto::{DownReason, EndpointConfig, Event, Output, Path, StreamId, Transport};
use iketcp_wire::ike::{ExchangeType, Flags, Message, NotifyType, Payload, PayloadType};
use sim::{A, B, World, pair_configs, stream_path};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn setup_on(w: &mut World, path: Path) {
    let now = w.at();
    w.ep(A).initiate_on(now, "b", Some("net"), path).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
}

fn down_reason(w: &World, side: usize) -> Option<DownReason> {
    w.events(side).find_map(|e| match e {
        Event::IkeDown { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

fn down_at(w: &World, side: usize) -> Option<Duration> {
    w.sides[side]
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, Event::IkeDown { .. }).then_some(*t))
}

// R-RETX-1: over a stream the exchange initiator never retransmits; with no response in
// time it deletes the IKE SA. Over UDP the same silence causes retransmissions.
#[test]
fn r_retx_1_no_retransmission_over_a_stream_and_timeout_deletes() {
    let cfg = EndpointConfig {
        stream_response_timeout: Some(secs(20)),
        ..EndpointConfig::default()
    };
    let (a, b) = pair_configs();
    let mut w = World::with_config(1, cfg.clone(), a.clone(), b.clone());
    setup_on(&mut w, stream_path(1));
    let ike = w.sides[A].ep.ike_sas()[0].id;
    w.hold = Some(Box::new(|_| true)); // the peer stops answering; TCP stays up
    let now = w.at();
    w.ep(A).liveness(now, ike).unwrap();
    let start = w.now;
    assert!(
        w.run_until(secs(300), |w| down_reason(w, A).is_some()),
        "{}",
        w.dump()
    );
    assert_eq!(down_reason(&w, A), Some(DownReason::Timeout));
    assert_eq!(
        w.retransmissions(A),
        0,
        "retransmitted over a stream:\n{}",
        w.dump()
    );
    let waited = down_at(&w, A).unwrap() - start;
    assert!(
        waited >= secs(20) && waited < secs(21),
        "gave up after {waited:?}"
    );

    // The same silence over UDP: retransmissions with backoff.
    let mut w = World::with_config(2, cfg, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(secs(10), |w| w.children(A) == 1));
    let ike = w.sides[A].ep.ike_sas()[0].id;
    w.hold = Some(Box::new(|_| true));
    let now = w.at();
    w.ep(A).liveness(now, ike).unwrap();
    assert!(w.run_until(secs(600), |w| down_reason(w, A).is_some()));
    assert_eq!(w.retransmissions(A), 5);
}

// R-RETX-1: even a lossy-looking setup over a stream sends each request once.
#[test]
fn r_retx_1_stream_setup_sends_each_request_once() {
    let (a, b) = pair_configs();
    let mut w = World::new(3, a, b);
    w.netem.latency = secs(3); // slower than the UDP retransmission timer
    setup_on_slow(&mut w);
    assert_eq!(w.retransmissions(A), 0, "{}", w.dump());
    assert_eq!(w.retransmissions(B), 0);
}

fn setup_on_slow(w: &mut World) {
    let now = w.at();
    w.ep(A)
        .initiate_on(now, "b", Some("net"), stream_path(9))
        .unwrap();
    assert!(
        w.run_until(secs(60), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
}

// R-RETX-3: a repeated request gets the cached response, byte for byte, and is not
// processed again.
#[test]
fn r_retx_3_repeated_request_gets_cached_response() {
    for path in [None, Some(stream_path(4))] {
        let (a, b) = pair_configs();
        let mut w = World::new(4, a, b);
        // Deliver every a→b IKE_AUTH request twice.
        w.rewrite = None;
        w.hold = Some(Box::new(|f| {
            f.to == B
                && Message::parse(&f.bytes)
                    .is_ok_and(|m| m.header.exchange == ExchangeType::IKE_AUTH)
        }));
        let now = w.at();
        match path {
            Some(p) => w.ep(A).initiate_on(now, "b", Some("net"), p).unwrap(),
            None => w.ep(A).initiate(now, "b", Some("net")).unwrap(),
        };
        assert!(w.run_until(secs(1), |w| !w.held.is_empty()));
        w.hold = None;
        let req = w.held[0].clone();
        w.release();
        w.enqueue(req);
        assert!(
            w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
            "{}",
            w.dump()
        );
        w.run_for(secs(1));
        let responses: Vec<&Vec<u8>> = w.sides[B]
            .sent
            .iter()
            .map(|(_, _, m)| m)
            .filter(|m| {
                Message::parse(m).is_ok_and(|m| m.header.exchange == ExchangeType::IKE_AUTH)
            })
            .collect();
        assert_eq!(responses.len(), 2, "{}", w.dump());
        assert_eq!(
            responses[0], responses[1],
            "the cached response is resent unchanged"
        );
        assert_eq!(w.children(B), 1, "the repeated request created nothing");
        w.assert_children_agree();
    }
}

fn has_fragments(w: &World, side: usize) -> bool {
    w.sides[side]
        .sent
        .iter()
        .any(|(_, _, m)| Message::parse(m).is_ok_and(|m| m.header.next_payload == PayloadType::SKF))
}

// R-FRAG-1: no IKE fragments over a stream; fragments received are reassembled; the
// support is still announced over a stream.
#[test]
fn r_frag_1_fragments_over_udp_only_and_reassembled_anywhere() {
    let cfg = EndpointConfig {
        fragment_size: 200,
        ..EndpointConfig::default()
    };
    let (a, b) = pair_configs();
    // Over UDP, a small fragment size splits IKE_AUTH into fragments, and it works.
    let mut w = World::with_config(5, cfg.clone(), a.clone(), b.clone());
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    assert!(has_fragments(&w, A), "{}", w.dump());
    w.assert_children_agree();

    // Over a stream, the same configuration sends no fragment, yet announces support.
    let mut w = World::with_config(6, cfg.clone(), a.clone(), b.clone());
    setup_on(&mut w, stream_path(6));
    assert!(
        !has_fragments(&w, A) && !has_fragments(&w, B),
        "{}",
        w.dump()
    );
    assert!(
        w.dump()
            .contains("IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) ]")
    );

    // Fragments that arrive over a stream (a sends them thinking UDP) are reassembled.
    let mut w = World::with_config(7, cfg, a, b);
    w.rewrite = Some(Box::new(|f| {
        if f.to == B {
            f.path.transport = Transport::Tcp(StreamId(7));
        }
    }));
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    assert!(has_fragments(&w, A));
    assert!(
        !has_fragments(&w, B),
        "b answered over its stream without fragments"
    );
}

// R-ERR-1: over a stream the initiator acts at once on an error notify in the
// IKE_SA_INIT response; over UDP it keeps waiting, since anyone can forge one.
#[test]
fn r_err_1_error_notify_in_ike_sa_init() {
    use iketcp_proto::config::suites::*;
    let (a, mut b) = pair_configs();
    b.ike_proposals = vec![ike_aes256gcm16_prfsha384_x25519()];
    let mut w = World::new(8, a.clone(), b.clone());
    let now = w.at();
    w.ep(A)
        .initiate_on(now, "b", Some("net"), stream_path(8))
        .unwrap();
    w.run_for(secs(5));
    assert_eq!(
        down_reason(&w, A),
        Some(DownReason::Refused(iketcp_proto::Refusal::Notify(
            iketcp_wire::ike::NotifyType::NO_PROPOSAL_CHOSEN
        ))),
        "{}",
        w.dump()
    );
    assert!(down_at(&w, A).unwrap() < Duration::from_millis(100));

    let mut w = World::new(9, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    w.run_for(secs(10));
    assert_eq!(
        down_reason(&w, A),
        None,
        "gave up on an unauthenticated UDP error"
    );
    assert!(w.retransmissions(A) > 0);
    w.run_for(secs(600));
    assert_eq!(
        down_reason(&w, A),
        Some(DownReason::Refused(iketcp_proto::Refusal::Notify(
            iketcp_wire::ike::NotifyType::NO_PROPOSAL_CHOSEN
        )))
    );
    assert!(down_at(&w, A).unwrap() >= EndpointConfig::default().retransmit.total());
}

fn cookie_of(m: &[u8]) -> Option<Vec<u8>> {
    Message::parse(m)
        .ok()?
        .notify(NotifyType::COOKIE)
        .map(|n| n.data.clone())
}

// R-COOKIE-1: a cookie only with reason (load), the connection closed when asked over a
// stream, and the cookie independent of the port.
#[test]
fn r_cookie_1_cookies_only_under_load_port_independent() {
    let (a, b) = pair_configs();
    // No load: no cookie, on either transport.
    let mut w = World::new(10, a.clone(), b.clone());
    setup_on(&mut w, stream_path(10));
    assert!(
        w.sides[B]
            .sent
            .iter()
            .all(|(_, _, m)| cookie_of(m).is_none())
    );
    assert!(w.sides[B].closed_streams.is_empty());

    // Under load (threshold 0): asked for, then the retry with the cookie succeeds.
    let loaded = EndpointConfig {
        cookie_threshold: 0,
        ..EndpointConfig::default()
    };
    let mut w = World::with_config(11, loaded.clone(), a.clone(), b.clone());
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    assert!(w.dump().contains("N(COOKIE) SA KE No"), "{}", w.dump());

    // Over a stream, asking for a cookie closes that connection.
    let mut w = World::with_config(12, loaded.clone(), a.clone(), b.clone());
    let now = w.at();
    w.ep(A)
        .initiate_on(now, "b", Some("net"), stream_path(12))
        .unwrap();
    w.run_for(secs(1));
    assert_eq!(w.sides[B].closed_streams, vec![StreamId(12)]);
    assert!(
        w.sides[B]
            .sent
            .iter()
            .any(|(_, _, m)| cookie_of(m).is_some())
    );

    // The same request from two source ports gets the same cookie.
    let mut w = World::with_config(13, loaded, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", None).unwrap();
    let Some(Output::Transmit(t)) = w.ep(A).poll_output() else {
        panic!()
    };
    let mut cookies = Vec::new();
    for port in [500u16, 40_001] {
        let mut p = Path {
            local: t.path.remote,
            remote: t.path.local,
            transport: t.path.transport,
        };
        p.remote.set_port(port);
        let now = w.at();
        w.ep(B).handle_message(now, p, &t.message);
        while let Some(o) = w.ep(B).poll_output() {
            if let Output::Transmit(r) = o {
                cookies.push(cookie_of(&r.message).expect("cookie asked"));
            }
        }
    }
    assert_eq!(cookies.len(), 2);
    assert_eq!(cookies[0], cookies[1]);
}

// R-NAT-1: IKE_SA_INIT over a stream carries NAT_DETECTION_* computed with the TCP
// ports; a NAT seen there changes no encapsulation.
#[test]
fn r_nat_1_nat_detection_over_a_stream() {
    let (a, b) = pair_configs();
    let mut w = World::new(14, a, b);
    let path = stream_path(14);
    setup_on(&mut w, path);
    let first = Message::parse(&w.sides[A].sent[0].2).unwrap();
    let spi_i = first.header.spi_i;
    let hash = |addr: core::net::SocketAddr| {
        let core::net::IpAddr::V4(ip) = addr.ip() else {
            panic!()
        };
        iketcp_crypto::sha1(&[
            &spi_i.to_be_bytes()[..],
            &[0; 8],
            &ip.octets(),
            &addr.port().to_be_bytes(),
        ])
        .to_vec()
    };
    assert_eq!(
        first
            .notify(NotifyType::NAT_DETECTION_SOURCE_IP)
            .unwrap()
            .data,
        hash(path.local)
    );
    assert_eq!(
        first
            .notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
            .unwrap()
            .data,
        hash(path.remote)
    );
    // b sits "behind a NAT" in this simulation (it sees a's port 40000 on port 4500)...
    // ...yet nothing moved: IKE and ESP stay on the stream, no port 4500 switch.
    let sa = &w.sides[A].ep.ike_sas()[0];
    assert_eq!(sa.path, path);
    for k in w.sides[A].installed.values() {
        assert_eq!(k.path, path);
    }
}

// R-ESP-1: the anti-replay window is 1 for Child SAs over a stream.
#[test]
fn r_esp_1_replay_window_one_over_a_stream() {
    let (a, b) = pair_configs();
    let mut w = World::new(15, a.clone(), b.clone());
    setup_on(&mut w, stream_path(15));
    for s in [A, B] {
        assert!(w.sides[s].installed.values().all(|k| k.replay_window == 1));
    }
    let mut w = World::new(16, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1));
    assert!(w.sides[B].installed.values().all(|k| k.replay_window == 64));
}

// R-CONN-8: a syntax error in an authenticated message gets INVALID_SYNTAX and tears
// the IKE SA down, not the connection.
#[test]
fn r_conn_8_syntax_error_in_authenticated_request() {
    let (a, b) = pair_configs();
    let mut w = World::new(17, a, b);
    setup_on(&mut w, stream_path(17));
    // An INFORMATIONAL request whose encrypted Notify claims more bytes than it has.
    let (to_b, bytes) = w.craft(
        A,
        ExchangeType::INFORMATIONAL,
        2,
        PayloadType::NOTIFY,
        &[0u8, 0, 0, 40, 0, 0, 0, 16],
    );
    let now = w.at();
    w.ep(B).handle_message(now, to_b, &bytes);
    w.drain();
    // b answered INVALID_SYNTAX inside its SK payload...
    let reply = w.sides[B].sent.last().unwrap().2.clone();
    let msg = Message::parse(&reply).unwrap();
    assert!(msg.header.flags.contains(Flags::RESPONSE));
    assert_eq!(msg.header.message_id, 2);
    let payloads = w.open_at(A, &reply);
    assert!(
        matches!(&payloads[..], [Payload::Notify(n)] if n.notify_type == NotifyType::INVALID_SYNTAX)
    );
    // ...and deleted the IKE SA and its Child SA, but closed no connection.
    assert_eq!(
        down_reason(&w, B),
        Some(DownReason::Protocol(
            iketcp_proto::ProtocolError::InvalidSyntax
        ))
    );
    assert!(w.sides[B].ep.ike_sas().is_empty());
    assert_eq!(w.children(B), 0);
    assert!(w.sides[B].closed_streams.is_empty());
}

// RFC 7296 §2.21.2: unauthenticated garbage on an established SA changes nothing.
#[test]
fn forged_messages_change_no_state() {
    let (a, b) = pair_configs();
    let mut w = World::new(18, a, b);
    setup_on(&mut w, stream_path(18));
    let before = w.sides[B].ep.ike_sas();
    let genuine = w.sides[A].sent.last().unwrap().2.clone();
    let to_b = Path {
        local: stream_path(18).remote,
        remote: stream_path(18).local,
        transport: stream_path(18).transport,
    };
    let mut rng = sim::LinkRng::new(18);
    for i in 0..2000 {
        let mut m = genuine.clone();
        // Flip bytes after the header so routing still finds the SA.
        let at = 28 + (rng.below((m.len() - 28) as u64) as usize);
        m[at] ^= 1 << (i % 8);
        let now = w.at();
        w.ep(B).handle_message(now, to_b, &m);
    }
    w.drain();
    assert_eq!(w.sides[B].ep.ike_sas(), before);
    assert_eq!(w.children(B), 1);
    assert!(w.events(B).all(|e| !matches!(e, Event::IkeDown { .. })));
}

/// An UPDATE_SA_ADDRESSES from a (message `mid`) carrying NO_NATS_ALLOWED with addresses
/// that match no path, delivered to b on `path` (as b sees it). Returns b's answer.
fn hostile_update(w: &mut World, mid: u32, path: Path) -> (Path, Vec<Payload>) {
    use iketcp_wire::codec::Writer;
    use iketcp_wire::ike::{Notify, emit_chain};
    let chain = [
        Payload::Notify(Notify::new(NotifyType::UPDATE_SA_ADDRESSES, vec![])),
        Payload::Notify(Notify::new(NotifyType::NO_NATS_ALLOWED, vec![7; 12])),
        Payload::Notify(Notify::new(NotifyType::COOKIE2, vec![mid as u8; 16])),
    ];
    let mut wr = Writer { buf: Vec::new() };
    let first = emit_chain(&chain, &mut wr).unwrap();
    let (_, bytes) = w.craft(A, ExchangeType::INFORMATIONAL, mid, first, &wr.buf);
    let sent = w.sides[B].sent.len();
    let now = w.at();
    w.ep(B).handle_message(now, path, &bytes);
    w.drain();
    assert_eq!(
        w.sides[B].sent.len(),
        sent + 1,
        "b sends its answer and nothing else (no return routability check)"
    );
    let (_, on, reply) = w.sides[B].sent.last().unwrap().clone();
    let msg = Message::parse(&reply).unwrap();
    assert!(msg.header.flags.contains(Flags::RESPONSE));
    assert_eq!(msg.header.message_id, mid);
    (on, w.open_at(A, &reply))
}

// R-MOB-4: over UDP, an UPDATE_SA_ADDRESSES whose NO_NATS_ALLOWED does not match the
// packet's addresses is refused with UNEXPECTED_NAT_DETECTED and moves nothing (RFC 4555
// §3.9); over a stream NO_NATS_ALLOWED is ignored, the SA moves at once, and no return
// routability check is made. The answer goes where the request came from, and echoes
// COOKIE2.
#[test]
fn r_mob_4_no_nats_allowed_ignored_over_a_stream() {
    let (a, b) = pair_configs();
    let mut w = World::new(23, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1));
    let before = w.sides[B].ep.ike_sas()[0].path;
    let from_nat = Path::udp(before.local, "10.0.0.9:4500".parse().unwrap());

    let (on, answer) = hostile_update(&mut w, 2, from_nat);
    assert_eq!(on, from_nat, "answered where the request came from");
    assert!(
        answer.iter().any(
            |p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::UNEXPECTED_NAT_DETECTED)
        ),
        "{answer:?}"
    );
    assert_eq!(w.sides[B].ep.ike_sas()[0].path, before, "nothing moved");

    let stream = Path {
        local: before.local,
        remote: "10.0.0.9:40000".parse().unwrap(),
        transport: Transport::Tcp(StreamId(77)),
    };
    let (on, answer) = hostile_update(&mut w, 3, stream);
    assert_eq!(on, stream);
    assert!(
        !answer
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.notify_type.is_error())),
        "{answer:?}"
    );
    assert!(answer.iter().any(
        |p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::COOKIE2 && n.data == [3; 16])
    ));
    assert_eq!(
        w.sides[B].ep.ike_sas()[0].path,
        stream,
        "moved to the stream"
    );
    // R-ESP-1: ESP follows with a window of 1 on the stream.
    let spi = w.sides[B].ep.ike_sas()[0].children[0].spi_in;
    assert_eq!(w.sides[B].repathed.last(), Some(&(spi, stream, 1)));
    assert!(
        w.events(B)
            .any(|e| matches!(e, Event::PathChanged { path, .. } if *path == stream))
    );
}
