//! RFC 9329 on whole nodes (IKE and ESP in the loop) over the simulated network:
//! fallback from UDP, connections that break and come back, and strangers on new
//! connections.

use std::net::SocketAddr;
use std::time::Duration;

use iketcp_proto::{Event, StreamId, TcpMode, Transport};
use iketcp_sim::{World, ipv4_udp, pair};
use iketcp_wire::ike::{ExchangeType, Message};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn up(w: &World, a: usize, b: usize) -> bool {
    w.ike_up(a) && w.ike_up(b) && w.children(a) == 1 && w.children(b) == 1
}

fn traffic(w: &mut World, a: usize, b: usize, tag: u8) -> bool {
    w.traffic(a, b, tag)
}

fn ike_path(w: &World, h: usize) -> iketcp_proto::Path {
    w.hosts[h].node.endpoint().ike_sas()[0].path
}

fn stream_ike(w: &World, h: usize) -> Vec<(StreamId, Message)> {
    w.stream_ike(h)
}

/// The IKE_SA_INIT requests a host sent over UDP.
fn udp_inits(w: &World, h: usize) -> Vec<Message> {
    w.hosts[h]
        .sent
        .iter()
        .filter(|(_, s, _)| s.is_none())
        .filter_map(|(_, _, d)| Message::parse(d).ok())
        .filter(|m| m.header.exchange == ExchangeType::IKE_SA_INIT && !m.is_response())
        .collect()
}

// R-FB-1, R-FB-2: UDP first, at least one retransmission, then a new IKE_SA_INIT over TCP
// with a new SPI; with the defaults the tunnel is up within 1.5 s of a silent UDP
// blackhole, and carries traffic over the connection.
#[test]
fn r_fb_1_r_fb_2_fallback_to_tcp_under_a_udp_blackhole() {
    for seed in 0..20 {
        let (mut w, a, b) = pair(seed, TcpMode::Fallback);
        w.udp_blocked = true;
        w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
            .unwrap();
        assert!(
            w.run_until(secs(1.5), |w| up(w, a, b)),
            "seed {seed}\n{}",
            w.dump()
        );
        let udp = udp_inits(&w, a);
        assert!(udp.len() >= 2, "at least one UDP retransmission first");
        assert_eq!(udp[0].header.spi_i, udp[1].header.spi_i);
        let tcp = stream_ike(&w, a);
        let tcp_init = &tcp
            .iter()
            .find(|(_, m)| m.header.exchange == ExchangeType::IKE_SA_INIT)
            .expect("IKE_SA_INIT over TCP")
            .1;
        assert_ne!(tcp_init.header.spi_i, udp[0].header.spi_i, "a new SPI");
        assert!(
            w.events(a)
                .any(|e| matches!(e, Event::FellBackToTcp { .. }))
        );
        assert!(matches!(ike_path(&w, a).transport, Transport::Tcp(_)));
        assert!(matches!(ike_path(&w, b).transport, Transport::Tcp(_)));
        // R-CONN-1: one connection carries the IKE SA and its Child SA's ESP.
        assert_eq!(w.connections(a).len(), 1);
        assert!(
            traffic(&mut w, a, b, seed as u8),
            "seed {seed}\n{}",
            w.dump()
        );
        assert!(w.hosts[a].node.routes().all(|r| r.path.stream().is_some()));
    }
}

// R-FB-3, R-CFG-1: `yes` goes straight to TCP; not a single UDP datagram is sent.
#[test]
fn r_fb_3_tcp_only_sends_no_udp() {
    let (mut w, a, b) = pair(1, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)), "{}", w.dump());
    assert!(w.hosts[a].sent.iter().all(|(_, s, _)| s.is_some()));
    assert!(w.hosts[b].sent.iter().all(|(_, s, _)| s.is_some()));
    assert!(traffic(&mut w, a, b, 1));
}

// R-CFG-1: `no` never touches TCP, even when UDP is blocked.
#[test]
fn r_cfg_1_udp_only_never_connects() {
    let (mut w, a, _) = pair(2, TcpMode::No);
    w.udp_blocked = true;
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    w.run_for(secs(30.0));
    assert!(w.hosts[a].connects.is_empty());
}

// R-CONN-3, R-RETX-2, R-CONN-10, R-SEC-2, R-CONN-5: a reset connection is reopened by the
// Originator from a new port; both sides keep their SAs; an empty INFORMATIONAL on the
// new connection moves the Responder's return path; traffic resumes.
#[test]
fn r_conn_3_reconnect_after_reset_keeps_every_sa() {
    for seed in 0..10 {
        let (mut w, a, b) = pair(100 + seed, TcpMode::Yes);
        w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
            .unwrap();
        assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
        let before_a = w.hosts[a].node.endpoint().ike_sas();
        let old = w.connections(a)[0];
        let old_port = ike_path(&w, a).local.port();
        w.reset(a, old);
        assert!(
            w.run_until(secs(2.0), |w| {
                w.connections(a).len() == 1
                    && w.connections(a)[0] != old
                    && w.hosts[b].node.endpoint().ike_sas()[0].path.remote.port()
                        == ike_path(w, a).local.port()
            }),
            "seed {seed}\n{}",
            w.dump()
        );
        assert_ne!(ike_path(&w, a).local.port(), old_port, "a new source port");
        // Same SAs on both sides.
        let after_a = w.hosts[a].node.endpoint().ike_sas();
        assert_eq!(before_a[0].spi_i, after_a[0].spi_i);
        assert_eq!(before_a[0].children, after_a[0].children);
        assert_eq!(w.children(a), 1);
        assert_eq!(w.children(b), 1);
        // R-CONN-10: an empty INFORMATIONAL on the new connection.
        let new = w.connections(a)[0];
        assert!(stream_ike(&w, a).iter().any(|(s, m)| *s == new
            && m.header.exchange == ExchangeType::INFORMATIONAL
            && !m.is_response()));
        assert!(traffic(&mut w, a, b, 7), "seed {seed}\n{}", w.dump());
    }
}

// R-RETX-2: a request waiting when the connection breaks is sent again, unchanged (same
// message ID), on the new connection, and the exchange completes.
#[test]
fn r_retx_2_waiting_request_resent_on_the_new_connection() {
    let (mut w, a, b) = pair(7, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let ike = w.hosts[a].node.endpoint().ike_sas()[0].id;
    let old = w.connections(a)[0];
    // The rekey request leaves, and the connection breaks before it arrives.
    w.command(a, |ep, now| ep.rekey_ike(now, ike)).unwrap();
    w.reset(a, old);
    assert!(
        w.run_until(secs(3.0), |w| w
            .events(a)
            .any(|e| matches!(e, Event::IkeRekeyed { .. }))
            && w.hosts[a].node.endpoint().ike_sas().len() == 1
            && w.hosts[b].node.endpoint().ike_sas().len() == 1),
        "{}",
        w.dump()
    );
    let sent = stream_ike(&w, a);
    let rekeys: Vec<_> = sent
        .iter()
        .filter(|(_, m)| m.header.exchange == ExchangeType::CREATE_CHILD_SA && !m.is_response())
        .collect();
    assert_eq!(rekeys.len(), 2, "sent once per connection");
    assert_ne!(rekeys[0].0, rekeys[1].0);
    assert_eq!(rekeys[0].1.header.message_id, rekeys[1].1.header.message_id);
    assert!(traffic(&mut w, a, b, 9));
    // R-CONN-2: a stays the Originator through the rekey and reconnects again.
    let c = w.connections(a)[0];
    w.reset(a, c);
    assert!(
        w.run_until(secs(3.0), |w| w.connections(a).len() == 1
            && w.connections(a)[0] != c
            && ike_path(w, b).remote == ike_path(w, a).local),
        "{}",
        w.dump()
    );
    assert!(traffic(&mut w, a, b, 10), "{}", w.dump());
}

// R-SEC-1, R-CONN-4: a stranger who opens a connection with the prefix and replays
// captured messages moves nothing: the Responder keeps sending on the Originator's
// connection, and the replay gets at most the cached response.
#[test]
fn r_sec_1_replay_on_a_new_connection_moves_nothing() {
    let (mut w, a, b) = pair(8, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let before = ike_path(&w, b);
    let stranger: SocketAddr = "192.0.2.66:51000".parse().unwrap();
    w.stranger_replays(a, stranger, "10.0.0.2:4500".parse().unwrap());
    w.run_for(secs(0.5));
    assert_eq!(ike_path(&w, b), before, "{}", w.dump());
    assert_eq!(w.children(b), 1);
    assert!(traffic(&mut w, a, b, 11));
}

// R-CONN-9: after the IKE SA is deleted the Originator closes its connection.
#[test]
fn r_conn_9_originator_closes_after_delete() {
    let (mut w, a, b) = pair(9, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let ike = w.hosts[a].node.endpoint().ike_sas()[0].id;
    w.command(a, |ep, now| ep.terminate(now, ike)).unwrap();
    assert!(w.run_until(secs(2.0), |w| w.connections(a).is_empty()));
    assert!(w.hosts[b].node.endpoint().ike_sas().is_empty());
}

// R-FRAME-1, R-SEC-3: a connection that does not send the prefix in time, or sends a
// wrong one, is closed; an established SA keeps carrying traffic.
#[test]
fn r_frame_1_prefix_rules_on_the_responder() {
    let (mut w, a, b) = pair(10, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let to: SocketAddr = "10.0.0.2:4500".parse().unwrap();
    let slow = w.stranger_connects("192.0.2.1:1000".parse().unwrap(), to, b"IKE");
    let wrong = w.stranger_connects("192.0.2.2:1000".parse().unwrap(), to, b"IKEUDP");
    // A split prefix is accepted: the rest comes later.
    let split = w.stranger_connects("192.0.2.3:1000".parse().unwrap(), to, b"IK");
    let now = w.at();
    w.hosts[b].node.handle(
        now,
        iketcp_node::Input::StreamData {
            id: split,
            data: b"ETCP",
        },
    );
    w.run_for(secs(11.0));
    let closed = &w.hosts[b].closed;
    assert!(
        closed
            .iter()
            .any(|(id, r)| *id == slow && *r == iketcp_node::CloseReason::PrefixTimeout)
    );
    assert!(
        closed
            .iter()
            .any(|(id, r)| *id == wrong && matches!(r, iketcp_node::CloseReason::Framing(_)))
    );
    assert!(!closed.iter().any(|(id, _)| *id == split), "{closed:?}");
    assert!(traffic(&mut w, a, b, 12));
}

// R-CONN-7, R-CONN-1: two IKE SAs to the same peer use two connections, each carrying
// all of its own IKE SA.
#[test]
fn r_conn_7_one_connection_per_ike_sa() {
    let (mut w, a, b) = pair(11, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(
        w.run_until(secs(2.0), |w| w.children(a) == 2 && w.children(b) == 2),
        "{}",
        w.dump()
    );
    let sas = w.hosts[a].node.endpoint().ike_sas();
    assert_eq!(sas.len(), 2);
    assert_ne!(sas[0].path.stream(), sas[1].path.stream());
    assert_eq!(w.connections(a).len(), 2);
    // Each IKE SA's Child SA sends ESP on its own IKE SA's connection.
    for r in w.hosts[a].node.routes() {
        let ike = sas.iter().find(|s| s.id == r.ike).unwrap();
        assert_eq!(r.path.stream(), ike.path.stream());
    }
}

// R-CONN-8: a connection is closed after too many unparsable messages, or at once for
// ESP that fails authentication on a known SPI; not for ESP on an unknown SPI, and the
// SAs stay (R-SEC-2).
#[test]
fn r_conn_8_corruption_closes_the_connection_not_the_sa() {
    let (mut w, a, b) = pair(12, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let to: SocketAddr = "10.0.0.2:4500".parse().unwrap();
    // ESP on an unknown SPI, twice: skipped, the connection stays.
    let mut unknown = b"IKETCP".to_vec();
    for _ in 0..2 {
        unknown.extend_from_slice(&(2u16 + 24).to_be_bytes());
        unknown.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        unknown.extend_from_slice(&[0; 20]);
    }
    let s1 = w.stranger_connects("192.0.2.10:1000".parse().unwrap(), to, &unknown);
    // ESP on the Child SA's SPI with a bad ICV: closed at once.
    let spi = w.hosts[b].node.routes().next().unwrap().spi_in;
    let mut forged = b"IKETCP".to_vec();
    forged.extend_from_slice(&(2u16 + 40).to_be_bytes());
    forged.extend_from_slice(&spi.to_be_bytes());
    forged.extend_from_slice(&1u32.to_be_bytes());
    forged.extend_from_slice(&[0x5a; 32]);
    let s2 = w.stranger_connects("192.0.2.11:1000".parse().unwrap(), to, &forged);
    // Messages over the limits, one after the other: closed after the configured count.
    let mut big = b"IKETCP".to_vec();
    for _ in 0..10 {
        big.extend_from_slice(&(2u16 + 1600).to_be_bytes());
        big.extend_from_slice(&[0x11; 1600]);
    }
    let s3 = w.stranger_connects("192.0.2.12:1000".parse().unwrap(), to, &big);
    w.run_for(secs(0.5));
    let closed = &w.hosts[b].closed;
    assert!(!closed.iter().any(|(id, _)| *id == s1), "{closed:?}");
    assert!(
        closed
            .iter()
            .any(|(id, r)| *id == s2 && *r == iketcp_node::CloseReason::EspAuthentication)
    );
    assert!(
        closed
            .iter()
            .any(|(id, r)| *id == s3 && matches!(r, iketcp_node::CloseReason::Corrupt(_)))
    );
    assert_eq!(w.children(b), 1);
    assert!(traffic(&mut w, a, b, 13));
}

// R-FRAME-6: a NAT keepalive on a stream is dropped silently and counted as no error;
// none is ever sent over TCP.
#[test]
fn r_frame_6_keepalives_on_a_stream() {
    let (mut w, a, b) = pair(13, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let mut ka = b"IKETCP".to_vec();
    for _ in 0..20 {
        ka.extend_from_slice(&[0, 3, 0xff]);
    }
    let to: SocketAddr = "10.0.0.2:4500".parse().unwrap();
    let s = w.stranger_connects("192.0.2.20:1000".parse().unwrap(), to, &ka);
    w.run_for(secs(0.5));
    assert!(!w.hosts[b].closed.iter().any(|(id, _)| *id == s));
    w.run_for(secs(120.0));
    for h in [a, b] {
        for (_, stream, bytes) in &w.hosts[h].sent {
            if stream.is_none() {
                continue;
            }
            // Each write is whole frames, the first one after the prefix.
            let mut rest = bytes.strip_prefix(b"IKETCP").unwrap_or(bytes);
            while rest.len() >= 2 {
                let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                assert!(n >= 2 && n <= rest.len(), "a broken frame");
                assert_ne!(&rest[2..n], &[0xff], "a keepalive sent over TCP");
                rest = &rest[n..];
            }
        }
    }
}

// R-COOKIE-1 over TCP: a responder under load asks for a cookie and closes that
// connection; the initiator comes back on a new connection, from another port, with
// the cookie, and the tunnel comes up.
#[test]
fn r_cookie_1_cookie_over_tcp_on_a_new_connection() {
    let (_, a_cfg, b_cfg) = {
        let (w, a, b) = pair(14, TcpMode::Yes);
        let pa = w.hosts[a].node.endpoint().peers()[0].clone();
        let pb = w.hosts[b].node.endpoint().peers()[0].clone();
        (w, pa, pb)
    };
    let mut w = World::new(14);
    let a = w.host(
        "a",
        "10.0.0.1",
        iketcp_sim::node(iketcp_proto::EndpointConfig::default(), vec![a_cfg], 1),
        &[500, 4500],
        &[],
    );
    let loaded = iketcp_proto::EndpointConfig {
        cookie_threshold: 0,
        ..iketcp_proto::EndpointConfig::default()
    };
    let b = w.host(
        "b",
        "10.0.0.2",
        iketcp_sim::node(loaded, vec![b_cfg], 2),
        &[500, 4500],
        &[4500],
    );
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(2.0), |w| up(w, a, b)), "{}", w.dump());
    let connects = &w.hosts[a].connects;
    assert_eq!(
        connects.len(),
        2,
        "the cookie came back on a second connection"
    );
    assert!(
        w.hosts[b]
            .closed
            .iter()
            .any(|(_, r)| *r == iketcp_node::CloseReason::Ike)
    );
    let inits: Vec<(StreamId, Message)> = stream_ike(&w, a)
        .into_iter()
        .filter(|(_, m)| m.header.exchange == ExchangeType::IKE_SA_INIT && !m.is_response())
        .collect();
    // The first without a cookie; the one on the new connection with it (the retry may
    // also have been written to the closing one, R-RETX-2).
    assert!(
        inits[0]
            .1
            .notify(iketcp_wire::ike::NotifyType::COOKIE)
            .is_none()
    );
    let (last_conn, last) = inits.last().unwrap();
    assert_ne!(*last_conn, inits[0].0);
    assert!(last.notify(iketcp_wire::ike::NotifyType::COOKIE).is_some());
    assert_eq!(last.header.spi_i, inits[0].1.header.spi_i, "the same setup");
    assert!(traffic(&mut w, a, b, 14));
}

// RFC 7296 §2.23 over UDP: after a NAT rebinding, the next request from the new address
// moves the IKE SA, and the Child SA's ESP follows it.
#[test]
fn rfc7296_2_23_nat_rebinding_moves_esp_too() {
    let (mut w, a, b) = pair(15, TcpMode::No);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(10.0), |w| up(w, a, b)));
    assert!(traffic(&mut w, a, b, 15));
    w.rebind("10.0.0.1:4500", "10.0.0.1:31000");
    let ike = w.hosts[a].node.endpoint().ike_sas()[0].id;
    w.command(a, |ep, now| ep.liveness(now, ike)).unwrap();
    assert!(
        w.run_until(secs(5.0), |w| ike_path(w, b).remote.port() == 31000),
        "{}",
        w.dump()
    );
    assert!(
        w.hosts[b]
            .node
            .routes()
            .all(|r| r.path.remote.port() == 31000)
    );
    assert!(traffic(&mut w, a, b, 16), "{}", w.dump());
}

// R-CONN-10 with R-SEC-1: the connection breaks after the Responder took a request but
// before its answer arrived. The resent request is a retransmission there and moves
// nothing, so the Originator also sends a fresh INFORMATIONAL, and the Responder's
// return path follows.
#[test]
fn r_conn_10_reconnect_after_the_request_was_taken() {
    let (mut w, a, b) = pair(16, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let ike = w.hosts[a].node.endpoint().ike_sas()[0].id;
    let old = w.connections(a)[0];
    let answered = w.hosts[b].sent.len();
    w.command(a, |ep, now| ep.liveness(now, ike)).unwrap();
    assert!(w.run_until(secs(1.0), |w| w.hosts[b].sent.len() > answered));
    // The answer is on its way: the reset loses it.
    w.reset(a, old);
    assert!(
        w.run_until(secs(3.0), |w| w.connections(a).len() == 1
            && w.connections(a)[0] != old
            && ike_path(w, b).remote == ike_path(w, a).local),
        "{}",
        w.dump()
    );
    assert!(traffic(&mut w, a, b, 17), "{}", w.dump());
}

// R-CONN-6 with R-CONN-5: the Originator's next request arrives on a new connection; the
// Responder answers there from now on, and still takes what comes on the old one (ESP
// here) until that one is closed; it does not close it itself while it is in use.
#[test]
fn r_conn_6_old_and_new_connections_both_accepted() {
    let (mut w, a, b) = pair(17, TcpMode::Yes);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)));
    let old_b = ike_path(&w, b);
    let ike = w.hosts[a].node.endpoint().ike_sas()[0].id;
    // a's next request is caught on its way, and arrives over a second connection.
    w.capture = Some(a);
    w.command(a, |ep, now| ep.liveness(now, ike)).unwrap();
    w.capture = None;
    let (_, frame) = w.captured.pop().expect("the request");
    let mut bytes = b"IKETCP".to_vec();
    bytes.extend(frame);
    let second = w.stranger_connects(
        "10.0.0.1:45000".parse().unwrap(),
        "10.0.0.2:4500".parse().unwrap(),
        &bytes,
    );
    w.run_for(secs(0.2));
    assert_eq!(
        ike_path(&w, b).stream(),
        Some(second),
        "R-CONN-5: the new connection"
    );
    // ESP still comes on the old connection, and is taken.
    let n = w.hosts[b].delivered.len();
    w.send_packet(a, &ipv4_udp("10.1.0.5", "10.2.0.7", &[18; 100]));
    w.run_for(secs(0.2));
    assert_eq!(w.hosts[b].delivered.len(), n + 1, "{}", w.dump());
    assert!(
        old_b
            .stream()
            .is_some_and(|old| !w.hosts[b].closed.iter().any(|(id, _)| *id == old))
    );
}
