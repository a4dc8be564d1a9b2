//! ESP as IP protocol 50 on whole nodes over the simulated network: raw where the NAT
//! detection of RFC 7296 §2.23 finds no NAT and both data planes carry raw ESP;
//! UDP-encapsulated (RFC 3948) behind a NAT or towards a peer that fakes one; over the
//! stream when on TCP, and raw again when MOBIKE brings the SA back to UDP.

use std::time::Duration;

use iketcp_proto::{EndpointConfig, TcpMode};
use iketcp_sim::{World, pair_of};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn endpoint(raw_esp: bool) -> EndpointConfig {
    EndpointConfig {
        raw_esp,
        ..EndpointConfig::default()
    }
}

fn ike(w: &World, h: usize) -> iketcp_proto::IkeSaInfo {
    let sas = w.hosts[h].node.endpoint().ike_sas();
    assert_eq!(sas.len(), 1, "one IKE SA on {}", w.hosts[h].name);
    sas[0].clone()
}

/// a and b with `raw` data planes (a's tuned by `tune`), up over UDP.
fn up(
    seed: u64,
    raw: [bool; 2],
    tcp: TcpMode,
    tune: impl FnOnce(&mut iketcp_proto::PeerConfig),
    before: impl FnOnce(&mut World),
) -> (World, usize, usize) {
    let (mut w, a, b) = pair_of(seed, tcp, raw.map(endpoint), tune);
    before(&mut w);
    w.command(a, |ep, now| ep.initiate(now, "b", Some("net")))
        .unwrap();
    assert!(
        w.run_until(secs(2.0), |w| {
            w.ike_up(a) && w.ike_up(b) && w.children(a) == 1 && w.children(b) == 1
        }),
        "{}",
        w.dump()
    );
    (w, a, b)
}

/// Whether every Child SA route of both hosts is raw.
fn routes_raw(w: &World, a: usize, b: usize) -> [bool; 2] {
    [a, b].map(|h| w.hosts[h].node.routes().all(|r| r.raw))
}

// RFC 7296 §2.23, RFC 4303: no NAT between two hosts that both carry raw ESP: IKE stays
// on port 500, ESP goes as protocol 50 both ways, and the traffic gets through.
#[test]
fn raw_esp_where_no_nat_is_seen() {
    for seed in 0..5 {
        let (mut w, a, b) = up(seed, [true, true], TcpMode::No, |_| {}, |_| {});
        for h in [a, b] {
            let s = ike(&w, h);
            assert!(!s.udp_encap, "{}", w.dump());
            assert_eq!(s.path.local.port(), 500);
        }
        assert_eq!(routes_raw(&w, a, b), [true, true]);
        let sent = (w.hosts[a].raw_esp, w.hosts[b].raw_esp);
        assert!(w.traffic(a, b, 1), "seed {seed}\n{}", w.dump());
        assert!(w.hosts[a].raw_esp > sent.0 && w.hosts[b].raw_esp > sent.1);
    }
}

// A data plane without raw ESP fakes its NAT detection hash: its peer sees a NAT and
// encapsulates, and so does it; IKE moves to port 4500 (RFC 7296 §2.23).
#[test]
fn a_peer_without_raw_esp_gets_encapsulation() {
    for raw in [[true, false], [false, true], [false, false]] {
        let (mut w, a, b) = up(7, raw, TcpMode::No, |_| {}, |_| {});
        for h in [a, b] {
            let s = ike(&w, h);
            assert!(s.udp_encap, "{raw:?}\n{}", w.dump());
            assert_eq!(s.path.local.port(), 4500, "{raw:?}");
        }
        assert_eq!(routes_raw(&w, a, b), [false, false], "{raw:?}");
        assert!(w.traffic(a, b, 2), "{raw:?}\n{}", w.dump());
        assert_eq!(w.hosts[a].raw_esp + w.hosts[b].raw_esp, 0, "{raw:?}");
    }
}

// A NAT in front of a: both detect it (a's address hash does not match what b sees),
// both encapsulate, and ESP gets through the NAT in UDP.
#[test]
fn a_nat_between_means_encapsulation() {
    let (mut w, a, b) = up(
        3,
        [true, true],
        TcpMode::No,
        |_| {},
        |w| {
            w.rebind("10.0.0.1:500", "10.0.0.1:62000");
            w.rebind("10.0.0.1:4500", "10.0.0.1:62001");
        },
    );
    for h in [a, b] {
        assert!(ike(&w, h).udp_encap, "{}", w.dump());
    }
    assert_eq!(ike(&w, a).path.local.port(), 4500);
    assert_eq!(routes_raw(&w, a, b), [false, false]);
    assert!(w.traffic(a, b, 3), "{}", w.dump());
    assert_eq!(w.hosts[a].raw_esp + w.hosts[b].raw_esp, 0);
}

// RFC 4555 §3.5 with R-FB-4: the SA leaves UDP for TCP (ESP on the stream), and when
// UDP works again UPDATE_SA_ADDRESSES carries NAT detection for the UDP path: no NAT,
// so ESP goes raw again on both sides.
#[test]
fn back_from_tcp_esp_is_raw_again() {
    let (mut w, a, b) = up(
        11,
        [true, true],
        TcpMode::Fallback,
        |c| {
            c.dpd = Some(secs(2.0));
            c.tcp.udp_probe_interval = secs(5.0);
        },
        |_| {},
    );
    assert_eq!(routes_raw(&w, a, b), [true, true]);
    w.udp_blocked = true;
    let on_stream = |w: &World| {
        [a, b].iter().all(|&h| {
            w.hosts[h]
                .node
                .routes()
                .all(|r| r.path.is_stream() && !r.raw)
        })
    };
    assert!(w.run_until(secs(5.0), on_stream), "{}", w.dump());
    let sent = w.hosts[a].raw_esp;
    assert!(w.traffic(a, b, 4), "{}", w.dump());
    assert_eq!(w.hosts[a].raw_esp, sent, "ESP went on the stream");
    w.udp_blocked = false;
    assert!(
        w.run_until(secs(7.0), |w| routes_raw(w, a, b) == [true, true]),
        "{}",
        w.dump()
    );
    assert!(!ike(&w, a).path.is_stream() && !ike(&w, a).udp_encap);
    assert!(w.traffic(a, b, 5), "{}", w.dump());
    assert!(w.hosts[a].raw_esp > sent);
}
