//! MOBIKE across transports (RFC 4555 with RFC 9329 §8) on whole nodes over the
//! simulated network: the path dies and the SA moves to TCP; UDP comes back and the SA
//! moves back; the initiator's address changes; a stranger replays the move.

use std::net::SocketAddr;
use std::time::Duration;

use iketcp_proto::{Event, MoveReason, TcpMode, Transport};
use iketcp_sim::{World, pair_with};
use iketcp_wire::ike::ExchangeType;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

const PROBE: f64 = 5.0;

/// a (road warrior, TCP as the fallback, liveness every 2 s, UDP probes every 5 s) and
/// b, up over UDP.
fn up_over_udp(seed: u64, tcp: TcpMode) -> (World, usize, usize) {
    let (mut w, a, b) = pair_with(seed, tcp, |c| {
        c.dpd = Some(secs(2.0));
        c.tcp.udp_probe_interval = secs(PROBE);
    });
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(1.0), |w| up(w, a, b)), "{}", w.dump());
    assert_eq!(ike(&w, a).path.transport, Transport::Udp);
    assert!(ike(&w, a).mobike && ike(&w, b).mobike, "MOBIKE negotiated");
    (w, a, b)
}

fn up(w: &World, a: usize, b: usize) -> bool {
    w.ike_up(a) && w.ike_up(b) && w.children(a) == 1 && w.children(b) == 1
}

fn ike(w: &World, h: usize) -> iketcp_proto::IkeSaInfo {
    let sas = w.hosts[h].node.endpoint().ike_sas();
    assert_eq!(sas.len(), 1, "one IKE SA on {}", w.hosts[h].name);
    sas[0].clone()
}

/// Both sides' IKE SA and every Child SA route on a stream (`true`) or on UDP.
fn on_stream(w: &World, a: usize, b: usize, stream: bool) -> bool {
    [a, b].into_iter().all(|h| {
        let sas = w.hosts[h].node.endpoint().ike_sas();
        sas.len() == 1
            && sas[0].path.is_stream() == stream
            && w.hosts[h].node.routes().count() == 1
            && w.hosts[h]
                .node
                .routes()
                .all(|r| r.path.is_stream() == stream)
    })
}

fn traffic(w: &mut World, a: usize, b: usize, tag: u8) -> bool {
    w.traffic(a, b, tag)
}

// R-MOB-1, R-MOB-3, R-SEC-2: UDP dies under an established SA: the initiator's next
// request goes unanswered over UDP, it opens a connection, sends the same request and
// UPDATE_SA_ADDRESSES on it, and IKE and ESP move to TCP on both sides; the IKE SA and
// its Child SA are the same ones.
// R-FB-4: UDP works again: the next probe (UPDATE_SA_ADDRESSES over UDP) is answered
// over UDP, both sides move back, and the initiator closes the connection; within one
// probe interval plus a round trip.
#[test]
fn r_mob_1_r_mob_3_r_fb_4_udp_dies_and_comes_back() {
    for seed in 0..10 {
        let (mut w, a, b) = up_over_udp(seed, TcpMode::Fallback);
        let before = (ike(&w, a).spi_i, ike(&w, a).spi_r);
        let spis: Vec<u32> = w.hosts[a].node.routes().map(|r| r.spi_out).collect();
        assert!(traffic(&mut w, a, b, 1));

        w.udp_blocked = true;
        // Liveness every 2 s, UDP given up after fallback_delay (1 s), then TCP.
        assert!(
            w.run_until(secs(4.0), |w| on_stream(w, a, b, true)),
            "seed {seed}\n{}",
            w.dump()
        );
        assert_eq!(
            (ike(&w, a).spi_i, ike(&w, a).spi_r),
            before,
            "the same IKE SA"
        );
        let now: Vec<u32> = w.hosts[a].node.routes().map(|r| r.spi_out).collect();
        assert_eq!(now, spis, "the same Child SA");
        assert!(traffic(&mut w, a, b, 2), "seed {seed}\n{}", w.dump());
        assert!(w.events(a).any(|e| matches!(
            e,
            Event::PathChanged { path, reason: MoveReason::UdpUnanswered, .. } if path.is_stream()
        )));
        // An UPDATE_SA_ADDRESSES went on the connection.
        assert!(w.stream_ike(a).iter().any(|(_, m)| {
            m.header.exchange == ExchangeType::INFORMATIONAL && !m.is_response()
        }));
        let next = ike(&w, a).next_udp_probe.expect("a UDP probe is scheduled");
        assert!(next > w.at() && next <= w.at() + secs(PROBE));

        // UDP works again.
        w.udp_blocked = false;
        let t = w.now;
        assert!(
            w.run_until(secs(PROBE + 1.0), |w| on_stream(w, a, b, false)),
            "seed {seed}\n{}",
            w.dump()
        );
        let took = w.now - t;
        assert!(
            took <= secs(PROBE) + 2 * w.latency,
            "back on UDP after {took:?}"
        );
        assert!(w.run_until(secs(0.1), |w| w.connections(a).is_empty()));
        assert_eq!((ike(&w, a).spi_i, ike(&w, a).spi_r), before);
        assert!(ike(&w, a).next_udp_probe.is_none());
        assert!(w.events(a).any(|e| matches!(
            e,
            Event::PathChanged { path, reason: MoveReason::UdpWorksAgain, .. } if !path.is_stream()
        )));
        assert!(traffic(&mut w, a, b, 3), "seed {seed}\n{}", w.dump());
    }
}

// R-MOB-2, R-FB-4: while UDP stays blocked, each probe goes over UDP first, then the same
// request (same message ID, same bytes) over the connection, and the probes back off.
#[test]
fn r_mob_2_probe_over_udp_then_the_same_request_over_tcp() {
    let (mut w, a, b) = up_over_udp(21, TcpMode::Fallback);
    w.udp_blocked = true;
    assert!(w.run_until(secs(4.0), |w| on_stream(w, a, b, true)));
    let moved = w.now;
    w.run_for(secs(PROBE * 7.5));
    let probes: Vec<_> = w
        .udp_ike(a)
        .into_iter()
        .filter(|(t, m)| {
            *t > moved && m.header.exchange == ExchangeType::INFORMATIONAL && !m.is_response()
        })
        .collect();
    assert!(probes.len() >= 3, "{}", w.dump());
    let over_tcp = w.stream_ike(a);
    // The last probe may still be in its UDP attempt.
    let settled = w.now - secs(1.5);
    let mut ids: Vec<u32> = probes
        .iter()
        .filter(|(t, _)| *t < settled)
        .map(|(_, m)| m.header.message_id)
        .collect();
    ids.dedup();
    for id in &ids {
        let tcp: Vec<_> = over_tcp
            .iter()
            .filter(|(_, m)| m.header.message_id == *id && !m.is_response())
            .collect();
        assert_eq!(tcp.len(), 1, "probe {id} went over TCP once, after UDP");
        let udp = probes
            .iter()
            .find(|(_, m)| m.header.message_id == *id)
            .unwrap();
        assert_eq!(
            tcp[0].1.emit().unwrap(),
            udp.1.emit().unwrap(),
            "the same request"
        );
    }
    // Backoff: each probe's first datagram comes later after the last than the one before.
    let firsts: Vec<Duration> = ids
        .iter()
        .map(|id| {
            probes
                .iter()
                .find(|(_, m)| m.header.message_id == *id)
                .unwrap()
                .0
        })
        .collect();
    let gaps: Vec<Duration> = firsts.windows(2).map(|p| p[1] - p[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] > g[0]), "gaps {gaps:?}");
    assert!(on_stream(&w, a, b, true));
    assert!(traffic(&mut w, a, b, 4));
}

// R-SEC-1: a stranger who replays, on a new connection, what the initiator sent on its
// connection (the UPDATE_SA_ADDRESSES that moved the SA to TCP last) moves nothing.
#[test]
fn r_sec_1_replayed_update_sa_addresses_moves_nothing() {
    let (mut w, a, b) = up_over_udp(31, TcpMode::Fallback);
    w.udp_blocked = true;
    assert!(w.run_until(secs(4.0), |w| on_stream(w, a, b, true)));
    w.run_for(secs(0.1));
    let before = ike(&w, b).path;
    let stranger: SocketAddr = "192.0.2.66:51000".parse().unwrap();
    w.stranger_replays(a, stranger, "10.0.0.2:4500".parse().unwrap());
    w.run_for(secs(0.5));
    assert_eq!(ike(&w, b).path, before, "{}", w.dump());
    assert!(
        w.hosts[b]
            .node
            .routes()
            .all(|r| r.path.remote.ip() != stranger.ip())
    );
    assert!(traffic(&mut w, a, b, 5));
}

// RFC 4555 §3.5, R-MOB-1: the initiator's address changes (one removed, another added):
// UPDATE_SA_ADDRESSES from the new address moves the IKE SA and ESP at the responder; no
// new IKE SA.
#[test]
fn rfc4555_address_change_moves_the_sa() {
    for tcp in [TcpMode::No, TcpMode::Fallback] {
        let (mut w, a, b) = up_over_udp(41, tcp);
        let before = (ike(&w, b).spi_i, ike(&w, b).spi_r);
        w.readdress(a, "10.0.0.9");
        assert!(
            w.run_until(secs(1.0), |w| {
                let p = w.hosts[b].node.endpoint().ike_sas()[0].path;
                p.remote.ip().to_string() == "10.0.0.9"
                    && w.hosts[b]
                        .node
                        .routes()
                        .all(|r| r.path.remote.ip().to_string() == "10.0.0.9")
            }),
            "{tcp:?}\n{}",
            w.dump()
        );
        assert_eq!((ike(&w, b).spi_i, ike(&w, b).spi_r), before);
        assert!(!ike(&w, b).path.is_stream(), "still over UDP");
        assert!(traffic(&mut w, a, b, 6), "{}", w.dump());
    }
}
