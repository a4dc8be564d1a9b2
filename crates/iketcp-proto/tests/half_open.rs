//! Bounded responder state (RFC 7296 §2.6): half-open IKE SAs are limited in all and per
//! source address, cookies come first and refusal after, and each IKE SA carries a
//! bounded number of Child SAs. Counters, not scans: see `benches/half_open.rs`.

use iketcp_sim::engine as sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use iketcp_crypto::{DeterministicRng, SecretBytes};
use iketcp_proto::{
    AuthConfig, DownReason, Endpoint, EndpointConfig, Event, Output, Path, PeerConfig,
};
use iketcp_wire::ike::{Message, NotifyType, Payload};
use sim::{A, B, World, pair_configs};

/// `n` IKE_SA_INIT requests from distinct initiators (distinct SPIs and nonces).
fn init_requests(n: usize) -> Vec<Vec<u8>> {
    let (a, _) = pair_configs();
    let mut ep = Endpoint::new(
        EndpointConfig::default(),
        vec![a],
        Box::new(DeterministicRng::from_u64(99)),
    );
    let now = Instant::now();
    let mut out = Vec::new();
    for _ in 0..n {
        ep.initiate(now, "b", Some("net")).unwrap();
        while let Some(o) = ep.poll_output() {
            if let Output::Transmit(t) = o {
                out.push(t.message);
            }
        }
    }
    out
}

fn responder(cfg: EndpointConfig) -> Endpoint {
    let (_, b) = pair_configs();
    Endpoint::new(cfg, vec![b], Box::new(DeterministicRng::from_u64(7)))
}

fn from(addr: &str) -> Path {
    Path::udp(
        "10.0.0.2:500".parse().unwrap(),
        addr.parse::<SocketAddr>().unwrap(),
    )
}

/// What the responder answered: `(cookie asked, SA answered)` counts.
fn answers(ep: &mut Endpoint) -> (usize, usize) {
    let (mut cookie, mut sa) = (0, 0);
    while let Some(o) = ep.poll_output() {
        if let Output::Transmit(t) = o {
            let m = Message::parse(&t.message).unwrap();
            if m.notify(NotifyType::COOKIE).is_some() {
                cookie += 1;
            } else if m.payloads.iter().any(|p| matches!(p, Payload::Sa(_))) {
                sa += 1;
            }
        }
    }
    (cookie, sa)
}

#[test]
fn rfc7296_2_6_half_open_sas_per_source_are_limited() {
    let mut ep = responder(EndpointConfig {
        half_open_per_source: 4,
        ..EndpointConfig::default()
    });
    let now = Instant::now();
    let reqs = init_requests(12);
    for r in &reqs[..10] {
        ep.handle_message(now, from("10.0.0.1:500"), r);
    }
    assert_eq!(answers(&mut ep), (0, 4));
    let s = ep.stats();
    assert_eq!((s.half_open, s.init_dropped_source), (4, 6));
    // Another address is not held back by the first one's flood.
    ep.handle_message(now, from("10.0.0.9:500"), &reqs[10]);
    assert_eq!(answers(&mut ep), (0, 1));
    // Once the half-open SAs time out, the first address is served again.
    let later = now + EndpointConfig::default().half_open_timeout + Duration::from_secs(1);
    ep.handle_timeout(later);
    assert_eq!(ep.stats().half_open, 0);
    assert!(ep.ike_sas().is_empty());
    ep.handle_message(later, from("10.0.0.1:500"), &reqs[11]);
    assert_eq!(answers(&mut ep), (0, 1));
}

#[test]
fn rfc7296_2_6_cookies_first_then_refusal_beyond_the_global_limit() {
    let mut ep = responder(EndpointConfig {
        cookie_threshold: 3,
        half_open_limit: 6,
        ..EndpointConfig::default()
    });
    let now = Instant::now();
    let reqs = init_requests(10);
    // Distinct sources: below the threshold, answered.
    for (i, r) in reqs[..3].iter().enumerate() {
        ep.handle_message(now, from(&format!("10.0.1.{}:500", i + 1)), r);
    }
    assert_eq!(answers(&mut ep), (0, 3));
    // Above it, a cookie is asked for and no state is kept.
    ep.handle_message(now, from("10.0.1.4:500"), &reqs[3]);
    assert_eq!(answers(&mut ep), (1, 0));
    assert_eq!(ep.stats().half_open, 3);
    // Initiators that present their cookie get half-open SAs up to the limit...
    let (a, _) = pair_configs();
    let mut n = 0;
    for i in 0..6 {
        let mut ini = Endpoint::new(
            EndpointConfig::default(),
            vec![PeerConfig {
                local: format!("10.0.2.{}:500", i + 1).parse().unwrap(),
                ..a.clone()
            }],
            Box::new(DeterministicRng::from_u64(100 + i)),
        );
        ini.initiate(now, "b", Some("net")).unwrap();
        // Two rounds: the request, then the retry with the cookie.
        for _ in 0..2 {
            while let Some(o) = ini.poll_output() {
                if let Output::Transmit(t) = o {
                    let p = Path::udp(t.path.remote, t.path.local);
                    ep.handle_message(now, p, &t.message);
                }
            }
            while let Some(o) = ep.poll_output() {
                if let Output::Transmit(t) = o {
                    let m = Message::parse(&t.message).unwrap();
                    if m.payloads.iter().any(|p| matches!(p, Payload::Sa(_))) {
                        n += 1;
                    }
                    let p = Path::udp(t.path.remote, t.path.local);
                    ini.handle_message(now, p, &t.message);
                }
            }
        }
    }
    // ...and beyond it every IKE_SA_INIT is dropped, cookie or not.
    assert_eq!(n, 3, "three more half-open SAs fit below the limit of six");
    let s = ep.stats();
    assert_eq!(s.half_open, 6);
    assert_eq!(s.init_dropped_limit, 3);
}

#[test]
fn oversized_ike_sa_init_is_dropped_before_any_work() {
    let mut ep = responder(EndpointConfig {
        max_init_request: 200,
        ..EndpointConfig::default()
    });
    let req = &init_requests(1)[0];
    assert!(req.len() > 200);
    ep.handle_message(Instant::now(), from("10.0.0.1:500"), req);
    assert_eq!(answers(&mut ep), (0, 0));
    assert_eq!(ep.stats().init_dropped_size, 1);
    assert!(ep.ike_sas().is_empty());
}

/// Failed negotiations give their reserved inbound SPIs back: an initiator whose
/// IKE_AUTH keeps failing ends with no SPI reserved.
#[test]
fn child_spis_of_failed_negotiations_are_released() {
    let (mut a, b) = pair_configs();
    a.auth = AuthConfig::Psk(SecretBytes::from_slice(b"not-the-shared-key-0123456789"));
    let mut w = World::new(41, a, b);
    for _ in 0..5 {
        let now = w.at();
        w.ep(A).initiate(now, "b", Some("net")).unwrap();
        w.run_for(Duration::from_secs(5));
    }
    let failed = w
        .events(A)
        .filter(|e| {
            matches!(
                e,
                Event::IkeDown {
                    reason: DownReason::Refused(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(failed, 5, "{}", w.dump());
    assert_eq!(w.sides[A].ep.stats().child_spis, 0);
    assert_eq!(w.sides[B].ep.stats().child_spis, 0);
}

/// RFC 7296 §1.3: an IKE SA carries at most `max_children` Child SAs; one more is
/// refused with NO_ADDITIONAL_SAS, and rekeys of those it has still work.
#[test]
fn rfc7296_1_3_child_sas_per_ike_sa_are_capped() {
    let (a, b) = pair_configs();
    let cfg = EndpointConfig {
        max_children: 2,
        ..EndpointConfig::default()
    };
    let mut w = World::with_config(42, cfg, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(Duration::from_secs(10), |w| w.children(A) == 1
        && w.children(B) == 1));
    let ike = w.sides[A].ep.ike_sas()[0].id;
    for _ in 0..2 {
        let now = w.at();
        w.ep(A).create_child(now, ike, "net").unwrap();
        w.run_for(Duration::from_secs(2));
    }
    assert_eq!(w.children(B), 2);
    assert!(
        w.events(A).any(|e| matches!(
            e,
            Event::ChildFailed {
                reason: DownReason::Refused(iketcp_proto::Refusal::Notify(
                    NotifyType::NO_ADDITIONAL_SAS
                )),
                ..
            }
        )),
        "{}",
        w.dump()
    );
    let spi = w.sides[A].ep.ike_sas()[0].children[0].spi_in;
    let now = w.at();
    w.ep(A).rekey_child(now, ike, spi).unwrap();
    assert!(w.run_until(Duration::from_secs(10), |w| {
        w.children(A) == 2 && !w.sides[A].installed.contains_key(&spi)
    }));
    assert_eq!(w.sides[A].ep.stats().child_spis, 2);
    w.assert_children_agree();
}
