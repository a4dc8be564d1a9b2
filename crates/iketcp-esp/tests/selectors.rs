//! RFC 4301 §5.2: an authentic inbound packet is delivered only if it matches the SA's
//! traffic selectors (RFC 7296 §3.13.1 as negotiated in TSi/TSr); otherwise it is dropped
//! and counted, and the replay window still records it.

mod common;

use std::net::IpAddr;

use common::*;
use iketcp_esp::{
    Algorithm, Decapsulated, Direction, Engine, EspError, Mode, STREAM_REPLAY_WINDOW, SaParams,
};
use iketcp_wire::ike::TrafficSelector;

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const GRE: u8 = 47;
const ICMPV6: u8 = 58;

/// An address range, any protocol, any port.
fn range(start: &str, end: &str) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: start.parse::<IpAddr>().unwrap(),
        end_addr: end.parse::<IpAddr>().unwrap(),
    }
}

fn with_proto(
    ts: TrafficSelector,
    ip_protocol: u8,
    start_port: u16,
    end_port: u16,
) -> TrafficSelector {
    TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        ..ts
    }
}

/// Ours: 10.1.0.0/24.
fn local_net() -> TrafficSelector {
    range("10.1.0.0", "10.1.0.255")
}

/// The peer's: 10.2.0.0/24.
fn remote_net() -> TrafficSelector {
    range("10.2.0.0", "10.2.0.255")
}

fn gcm() -> SaParams {
    let alg = Algorithm::AesGcm16_128;
    SaParams::new(SPI, alg, key_for(alg))
}

fn sa(local: Vec<TrafficSelector>, remote: Vec<TrafficSelector>) -> SaParams {
    gcm().with_selectors(local, remote)
}

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[12] = 0x50;
    h.extend_from_slice(b"payload");
    h
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&8u16.to_be_bytes());
    h
}

fn icmp(kind: u8, code: u8) -> Vec<u8> {
    vec![kind, code, 0, 0, 0, 1, 0, 1, 0xaa, 0xbb]
}

/// An IPv4 packet around `l4`; `frag` is the flags and fragment offset word.
fn v4_frag(src: [u8; 4], dst: [u8; 4], protocol: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = protocol;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn v4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4: &[u8]) -> Vec<u8> {
    v4_frag(src, dst, protocol, 0x4000, l4)
}

/// An IPv6 packet whose fixed header names `next` and is followed by `rest`.
fn v6(src: &str, dst: &str, next: u8, rest: &[u8]) -> Vec<u8> {
    let src: std::net::Ipv6Addr = src.parse().unwrap();
    let dst: std::net::Ipv6Addr = dst.parse().unwrap();
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(rest.len() as u16).to_be_bytes());
    p[6] = next;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p.extend_from_slice(rest);
    p
}

/// Sends `ip` through a fresh sender and returns what the receiver made of it.
struct Link {
    tx: Engine,
    rx: Engine,
}

impl Link {
    fn new(params: &SaParams) -> Self {
        let (tx, rx) = pair(params);
        Self { tx, rx }
    }

    fn send(&mut self, ip: &[u8]) -> Result<Decapsulated, EspError> {
        let esp = encap(&mut self.tx, SPI, ip);
        self.deliver(&esp)
    }

    fn deliver(&mut self, esp: &[u8]) -> Result<Decapsulated, EspError> {
        let mut out = vec![0u8; esp.len()];
        self.rx.decapsulate(esp, &mut out)
    }

    fn mismatches(&self) -> u64 {
        let s = self.rx.sa_stats(Direction::Inbound, SPI).unwrap();
        assert_eq!(s.selector_mismatch, self.rx.stats().selector_mismatch);
        s.selector_mismatch
    }
}

fn delivered(r: Result<Decapsulated, EspError>) -> bool {
    match r {
        Ok(Decapsulated::Tunnel { .. } | Decapsulated::Transport { .. }) => true,
        Err(EspError::SelectorMismatch { .. }) => false,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rfc4301_5_2_inner_packet_inside_selectors_is_delivered() {
    let mut l = Link::new(&sa(vec![local_net()], vec![remote_net()]));
    let ip = v4([10, 2, 0, 5], [10, 1, 0, 7], UDP, &udp(5000, 53));
    let esp = encap(&mut l.tx, SPI, &ip);
    let mut out = vec![0u8; esp.len()];
    let d = l.rx.decapsulate(&esp, &mut out).unwrap();
    assert_eq!(
        d,
        Decapsulated::Tunnel {
            spi: SPI,
            len: ip.len()
        }
    );
    assert_eq!(&out[..d.len()], &ip[..]);
    assert_eq!(l.mismatches(), 0);
}

#[test]
fn rfc4301_5_2_inner_source_outside_selectors_is_dropped() {
    let mut l = Link::new(&sa(vec![local_net()], vec![remote_net()]));
    // Authentic, but the peer claims a source it was never given.
    let spoofed = v4([10, 9, 9, 9], [10, 1, 0, 7], UDP, &udp(5000, 53));
    let esp = encap(&mut l.tx, SPI, &spoofed);
    let mut out = vec![0xeeu8; esp.len()];
    let e = l.rx.decapsulate(&esp, &mut out).unwrap_err();
    assert_eq!(e, EspError::SelectorMismatch { spi: SPI, seq: 1 });
    assert!(e.is_inbound_drop());
    assert_eq!(l.mismatches(), 1);
    let s = l.rx.sa_stats(Direction::Inbound, SPI).unwrap();
    assert_eq!((s.packets, s.icv_checks, s.auth_failed), (0, 1, 0));
}

#[test]
fn rfc4301_5_2_inner_destination_outside_selectors_is_dropped() {
    let mut l = Link::new(&sa(vec![local_net()], vec![remote_net()]));
    let stray = v4([10, 2, 0, 5], [192, 168, 7, 1], UDP, &udp(5000, 53));
    assert_eq!(
        l.send(&stray),
        Err(EspError::SelectorMismatch { spi: SPI, seq: 1 })
    );
    // Source and destination swapped: each must be on its own side.
    let reversed = v4([10, 1, 0, 7], [10, 2, 0, 5], UDP, &udp(5000, 53));
    assert_eq!(
        l.send(&reversed),
        Err(EspError::SelectorMismatch { spi: SPI, seq: 2 })
    );
    assert_eq!(l.mismatches(), 2);
    assert!(delivered(l.send(&v4(
        [10, 2, 0, 5],
        [10, 1, 0, 7],
        UDP,
        &udp(1, 2)
    ))));
}

#[test]
fn rfc4301_5_2_selectors_are_sets() {
    // TSi/TSr carry several selectors; a source in any remote one and a destination in
    // any local one will do.
    let mut l = Link::new(&sa(
        vec![local_net(), range("10.1.9.1", "10.1.9.1")],
        vec![remote_net(), range("10.3.0.0", "10.3.255.255")],
    ));
    assert!(delivered(l.send(&v4(
        [10, 3, 4, 5],
        [10, 1, 9, 1],
        UDP,
        &udp(1, 2)
    ))));
    assert!(delivered(l.send(&v4(
        [10, 2, 0, 1],
        [10, 1, 0, 1],
        UDP,
        &udp(1, 2)
    ))));
    assert!(!delivered(l.send(&v4(
        [10, 4, 0, 1],
        [10, 1, 9, 1],
        UDP,
        &udp(1, 2)
    ))));
    assert!(!delivered(l.send(&v4(
        [10, 3, 0, 1],
        [10, 1, 9, 2],
        UDP,
        &udp(1, 2)
    ))));
    // An empty list admits nothing.
    let mut none = Link::new(&sa(vec![], vec![remote_net()]));
    assert!(!delivered(none.send(&v4(
        [10, 2, 0, 1],
        [10, 1, 0, 1],
        UDP,
        &udp(1, 2)
    ))));
}

#[test]
fn rfc4301_5_2_refused_packet_still_advances_replay_window() {
    // The ICV verified, so RFC 4303 §3.4.3 has the window move; the selector check comes
    // after and does not undo it. Replaying the refused packet is a replay, not a second
    // selector refusal.
    for window in [64, STREAM_REPLAY_WINDOW] {
        let mut l =
            Link::new(&sa(vec![local_net()], vec![remote_net()]).with_replay_window(window));
        let spoofed = encap(
            &mut l.tx,
            SPI,
            &v4([10, 9, 9, 9], [10, 1, 0, 7], UDP, &udp(1, 2)),
        );
        assert_eq!(
            l.deliver(&spoofed),
            Err(EspError::SelectorMismatch { spi: SPI, seq: 1 })
        );
        assert_eq!(
            l.deliver(&spoofed),
            Err(EspError::Replayed { spi: SPI, seq: 1 })
        );
        let s = l.rx.sa_stats(Direction::Inbound, SPI).unwrap();
        assert_eq!((s.selector_mismatch, s.replayed, s.icv_checks), (1, 1, 1));
        assert!(delivered(l.send(&v4(
            [10, 2, 0, 5],
            [10, 1, 0, 7],
            UDP,
            &udp(1, 2)
        ))));
    }
}

#[test]
fn rfc7296_3_13_1_protocol_and_port_selectors() {
    // Our side admits TCP to port 443 only; the peer's side any TCP source port.
    let mut l = Link::new(&sa(
        vec![with_proto(local_net(), TCP, 443, 443)],
        vec![with_proto(remote_net(), TCP, 0, u16::MAX)],
    ));
    let (src, dst) = ([10, 2, 0, 5], [10, 1, 0, 7]);
    assert!(delivered(l.send(&v4(src, dst, TCP, &tcp(40000, 443)))));
    assert!(!delivered(l.send(&v4(src, dst, TCP, &tcp(40000, 80)))));
    assert!(!delivered(l.send(&v4(src, dst, TCP, &tcp(443, 444)))));
    // Right port, wrong protocol.
    assert!(!delivered(l.send(&v4(src, dst, UDP, &udp(40000, 443)))));
    assert_eq!(l.mismatches(), 3);

    // The source port is checked against the peer's selector: a reply from its HTTPS
    // server to any port of ours.
    let mut l = Link::new(&sa(
        vec![with_proto(local_net(), TCP, 0, u16::MAX)],
        vec![with_proto(remote_net(), TCP, 443, 443)],
    ));
    assert!(delivered(l.send(&v4(src, dst, TCP, &tcp(443, 51515)))));
    assert!(!delivered(l.send(&v4(src, dst, TCP, &tcp(8443, 51515)))));

    // A protocol on one side only still binds: "any" on ours, UDP on theirs.
    let mut l = Link::new(&sa(
        vec![local_net()],
        vec![with_proto(remote_net(), UDP, 0, u16::MAX)],
    ));
    assert!(delivered(l.send(&v4(src, dst, UDP, &udp(1, 2)))));
    assert!(!delivered(l.send(&v4(src, dst, TCP, &tcp(1, 2)))));

    // Port ranges are inclusive at both ends.
    let mut l = Link::new(&sa(
        vec![with_proto(local_net(), UDP, 500, 4500)],
        vec![remote_net()],
    ));
    for (port, ok) in [(499, false), (500, true), (4500, true), (4501, false)] {
        assert_eq!(
            delivered(l.send(&v4(src, dst, UDP, &udp(7, port)))),
            ok,
            "{port}"
        );
    }
}

#[test]
fn rfc7296_3_13_1_ports_too_short_to_read_match_only_any_ports() {
    let (src, dst) = ([10, 2, 0, 5], [10, 1, 0, 7]);
    let only_443 = sa(
        vec![with_proto(local_net(), TCP, 443, 443)],
        vec![remote_net()],
    );
    let any_tcp = sa(
        vec![with_proto(local_net(), TCP, 0, u16::MAX)],
        vec![remote_net()],
    );
    // Two bytes of TCP header: the destination port is missing.
    let short = v4(src, dst, TCP, &[0x01, 0xbb]);
    assert!(!delivered(Link::new(&only_443).send(&short)));
    assert!(delivered(Link::new(&any_tcp).send(&short)));
}

#[test]
fn rfc7296_3_13_1_icmp_type_and_code_in_port_fields() {
    // Type in the high byte, code in the low byte: echo request (8) with any code.
    let echo_request = with_proto(local_net(), ICMP, 0x0800, 0x08ff);
    let (src, dst) = ([10, 2, 0, 5], [10, 1, 0, 7]);
    let mut l = Link::new(&sa(
        vec![echo_request],
        vec![with_proto(remote_net(), ICMP, 0, u16::MAX)],
    ));
    assert!(delivered(l.send(&v4(src, dst, ICMP, &icmp(8, 0)))));
    assert!(!delivered(l.send(&v4(src, dst, ICMP, &icmp(0, 0)))));
    assert!(!delivered(l.send(&v4(src, dst, ICMP, &icmp(3, 1)))));
    assert!(!delivered(l.send(&v4(src, dst, UDP, &udp(0x0800, 0x0800)))));

    // RFC 4301 §4.4.1.1 has one type/code selector and IKE may put it in either TS: the
    // value is checked against the peer's selector too. Destination unreachable (3),
    // codes 0 to 3 only.
    let unreachable = with_proto(remote_net(), ICMP, 0x0300, 0x0303);
    let mut l = Link::new(&sa(
        vec![with_proto(local_net(), ICMP, 0, u16::MAX)],
        vec![unreachable],
    ));
    assert!(delivered(l.send(&v4(src, dst, ICMP, &icmp(3, 3)))));
    assert!(!delivered(l.send(&v4(src, dst, ICMP, &icmp(3, 4)))));
    assert!(!delivered(l.send(&v4(src, dst, ICMP, &icmp(8, 0)))));

    // Constrained on both sides: the packet must satisfy both.
    let mut l = Link::new(&sa(
        vec![with_proto(local_net(), ICMP, 0x0800, 0x08ff)],
        vec![with_proto(remote_net(), ICMP, 0x0000, 0x08ff)],
    ));
    assert!(delivered(l.send(&v4(src, dst, ICMP, &icmp(8, 0)))));
    assert!(!delivered(l.send(&v4(src, dst, ICMP, &icmp(0, 0)))));

    // ICMPv6: neighbour solicitation (135) only.
    let (s6, d6) = ("2001:db8:2::5", "2001:db8:1::7");
    let mut l = Link::new(&sa(
        vec![with_proto(
            range("2001:db8:1::", "2001:db8:1::ffff"),
            ICMPV6,
            0x8700,
            0x87ff,
        )],
        vec![range("2001:db8:2::", "2001:db8:2::ffff")],
    ));
    assert!(delivered(l.send(&v6(s6, d6, ICMPV6, &icmp(135, 0)))));
    assert!(!delivered(l.send(&v6(s6, d6, ICMPV6, &icmp(128, 0)))));
}

#[test]
fn rfc4301_4_4_1_1_ipv6_inner_packets() {
    let local6 = range("2001:db8:1::", "2001:db8:1:0:ffff:ffff:ffff:ffff");
    let remote6 = range("2001:db8:2::", "2001:db8:2:0:ffff:ffff:ffff:ffff");
    let (src, dst) = ("2001:db8:2::5", "2001:db8:1::7");
    let mut l = Link::new(&sa(vec![local6, local_net()], vec![remote6, remote_net()]));
    assert!(delivered(l.send(&v6(src, dst, UDP, &udp(1, 2)))));
    assert!(!delivered(l.send(&v6(
        "2001:db8:9::9",
        dst,
        UDP,
        &udp(1, 2)
    ))));
    assert!(!delivered(l.send(&v6(
        src,
        "2001:db8:3::1",
        UDP,
        &udp(1, 2)
    ))));
    // Both families can be admitted side by side, but each only by its own selectors.
    assert!(delivered(l.send(&v4(
        [10, 2, 0, 5],
        [10, 1, 0, 7],
        UDP,
        &udp(1, 2)
    ))));
    let mut v6_only = Link::new(&sa(vec![local6], vec![remote6]));
    assert!(!delivered(v6_only.send(&v4(
        [10, 2, 0, 5],
        [10, 1, 0, 7],
        UDP,
        &udp(1, 2)
    ))));

    // Extension headers are skipped to find the Next Layer Protocol (RFC 4301 §4.4.1.1:
    // Hop-by-Hop, Routing, Fragment, Destination Options).
    let mut l = Link::new(&sa(vec![with_proto(local6, TCP, 443, 443)], vec![remote6]));
    let mut chain = vec![60, 0, 0, 0, 0, 0, 0, 0]; // Hop-by-Hop, next Destination Options
    chain.extend([TCP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 16 bytes
    let mut https = chain.clone();
    https.extend(tcp(40000, 443));
    assert!(delivered(l.send(&v6(src, dst, 0, &https))));
    let mut http = chain;
    http.extend(tcp(40000, 80));
    assert!(!delivered(l.send(&v6(src, dst, 0, &http))));
    // AH is a Next Layer Protocol for the selectors, not a header to skip.
    let mut ah = vec![TCP, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    ah.extend([0u8; 12]);
    ah.extend(tcp(40000, 443));
    assert!(!delivered(l.send(&v6(src, dst, 51, &ah))));
    // A chain that never ends hides the protocol: only "any protocol" admits it.
    let endless: Vec<u8> = (0..32).flat_map(|_| [0u8, 0, 0, 0, 0, 0, 0, 0]).collect();
    assert!(!delivered(l.send(&v6(src, dst, 0, &endless))));
    let mut any = Link::new(&sa(vec![local6], vec![remote6]));
    assert!(delivered(any.send(&v6(src, dst, 0, &endless))));
}

#[test]
fn rfc4301_7_non_initial_fragment_matches_only_any_or_opaque_ports() {
    let (src, dst) = ([10, 2, 0, 5], [10, 1, 0, 7]);
    let only_443 = sa(
        vec![with_proto(local_net(), TCP, 443, 443)],
        vec![remote_net()],
    );
    let any_tcp = sa(
        vec![with_proto(local_net(), TCP, 0, u16::MAX)],
        vec![remote_net()],
    );
    let opaque = sa(
        vec![with_proto(local_net(), TCP, u16::MAX, 0)],
        vec![remote_net()],
    );
    // Offset 185 (1480 bytes): its first bytes look like ports 40000 -> 443, but are
    // data from the middle of the segment.
    let later = v4_frag(src, dst, TCP, 185, &tcp(40000, 443));
    assert!(!delivered(Link::new(&only_443).send(&later)));
    assert!(delivered(Link::new(&any_tcp).send(&later)));
    assert!(delivered(Link::new(&opaque).send(&later)));
    // The protocol is still known: a UDP selector refuses a TCP fragment.
    let udp_any = sa(
        vec![with_proto(local_net(), UDP, 0, u16::MAX)],
        vec![remote_net()],
    );
    assert!(!delivered(Link::new(&udp_any).send(&later)));
    // The first fragment (More Fragments, offset 0) carries its ports.
    let first = v4_frag(src, dst, TCP, 0x2000, &tcp(40000, 443));
    assert!(delivered(Link::new(&only_443).send(&first)));

    // IPv6: a Fragment header with a non-zero offset.
    let local6 = range("2001:db8:1::", "2001:db8:1::ffff");
    let remote6 = range("2001:db8:2::", "2001:db8:2::ffff");
    let (s6, d6) = ("2001:db8:2::5", "2001:db8:1::7");
    let mut frag = vec![TCP, 0, 0x05, 0xc8, 0, 0, 0, 9]; // offset 185
    frag.extend(tcp(40000, 443));
    let v6_443 = sa(vec![with_proto(local6, TCP, 443, 443)], vec![remote6]);
    let v6_opaque = sa(vec![with_proto(local6, TCP, u16::MAX, 0)], vec![remote6]);
    assert!(!delivered(Link::new(&v6_443).send(&v6(s6, d6, 44, &frag))));
    assert!(delivered(
        Link::new(&v6_opaque).send(&v6(s6, d6, 44, &frag))
    ));
    let mut first6 = vec![TCP, 0, 0, 0x01, 0, 0, 0, 9]; // offset 0, More Fragments
    first6.extend(tcp(40000, 443));
    assert!(delivered(Link::new(&v6_443).send(&v6(s6, d6, 44, &first6))));
}

#[test]
fn rfc7296_3_13_1_opaque_ports_match_only_packets_without_ports() {
    let (src, dst) = ([10, 2, 0, 5], [10, 1, 0, 7]);
    // Start 65535, end 0: OPAQUE.
    let mut l = Link::new(&sa(
        vec![with_proto(local_net(), 0, u16::MAX, 0)],
        vec![remote_net()],
    ));
    assert!(!delivered(l.send(&v4(src, dst, TCP, &tcp(40000, 443)))));
    assert!(!delivered(l.send(&v4(src, dst, ICMP, &icmp(8, 0)))));
    // GRE has no ports; a later fragment shows none.
    assert!(delivered(l.send(&v4(
        src,
        dst,
        GRE,
        &[0, 0, 0x08, 0, 0x45]
    ))));
    assert!(delivered(l.send(&v4_frag(
        src,
        dst,
        TCP,
        100,
        &tcp(40000, 443)
    ))));
    // ANY encompasses OPAQUE (RFC 4301 §4.4.1): a port range does not.
    let mut ranged = Link::new(&sa(
        vec![with_proto(local_net(), GRE, 1, 2)],
        vec![remote_net()],
    ));
    assert!(!delivered(ranged.send(&v4(
        src,
        dst,
        GRE,
        &[0, 0, 0x08, 0, 0x45]
    ))));
}

#[test]
fn rfc4301_5_2_transport_mode_checks_protocol_and_ports() {
    // Transport mode: the outer header stays with the caller, so only the upper-layer
    // protocol and ports are checked. The addresses in the selectors are not consulted;
    // the caller binds the SA to its path.
    let params = sa(
        vec![with_proto(local_net(), TCP, 443, 443)],
        vec![with_proto(remote_net(), TCP, 0, u16::MAX)],
    )
    .with_mode(Mode::Transport);
    let mut l = Link::new(&params);
    let (src, dst) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let d = l.send(&v4(src, dst, TCP, &tcp(40000, 443))).unwrap();
    assert!(
        matches!(d, Decapsulated::Transport { protocol: TCP, .. }),
        "{d:?}"
    );
    assert_eq!(
        l.send(&v4(src, dst, TCP, &tcp(40000, 80))),
        Err(EspError::SelectorMismatch { spi: SPI, seq: 2 })
    );
    assert!(!delivered(l.send(&v4(src, dst, UDP, &udp(40000, 443)))));
    assert_eq!(l.mismatches(), 2);

    // IPv6 extension headers travel inside ESP in transport mode and are walked the same.
    let mut hop = vec![TCP, 0, 0, 0, 0, 0, 0, 0];
    hop.extend(tcp(40000, 443));
    let d = l.send(&v6("2001:db8::1", "2001:db8::2", 0, &hop)).unwrap();
    assert!(
        matches!(d, Decapsulated::Transport { protocol: 0, .. }),
        "{d:?}"
    );
}

#[test]
fn no_selectors_keeps_old_behaviour() {
    let mut l = Link::new(&gcm());
    assert!(delivered(l.send(&v4(
        [10, 9, 9, 9],
        [8, 8, 8, 8],
        TCP,
        &tcp(1, 2)
    ))));
    assert!(delivered(l.send(&ipv6_packet(40))));
    assert_eq!(l.mismatches(), 0);
    let mut t = Link::new(&gcm().with_mode(Mode::Transport));
    assert!(delivered(t.send(&ipv4_packet(10))));
}

#[test]
fn mixed_family_selector_is_refused_at_install() {
    let bad = range("10.0.0.0", "::1");
    let mut e = Engine::new();
    assert_eq!(
        e.install_inbound(&sa(vec![local_net()], vec![bad])),
        Err(EspError::InvalidSelector)
    );
    assert!(!e.contains(Direction::Inbound, SPI));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    /// Whatever an authenticated peer puts inside, the header walk neither panics nor
    /// reads past the packet, and selectors covering everything admit every packet the
    /// engine without selectors would.
    #[test]
    fn any_inner_packet_is_checked_without_panicking(
        mut inner in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160),
        v6 in proptest::prelude::any::<bool>(),
        next_header in proptest::prelude::any::<u8>(),
    ) {
        let alg = Algorithm::AesGcm16_128;
        let key = key_for(alg);
        // Hand-built, so that transport mode carries data no sender would produce.
        let packet = |plaintext: &[u8]| gcm_packet(&key, SPI, 1, false, [0; 8], plaintext);
        let mut out = vec![0u8; 256];

        let everything = vec![TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()];
        let narrow = (
            vec![
                with_proto(local_net(), TCP, 443, 443),
                with_proto(range("::", "::ffff"), ICMPV6, u16::MAX, 0),
            ],
            vec![remote_net(), range("::", "ff::")],
        );
        if let Some(b) = inner.first_mut() {
            *b = if v6 { 0x60 | (*b & 0x0f) } else { 0x40 | (*b & 0x0f) };
        }
        let tunnel = packet(&with_trailer(&inner, 4, if v6 { 41 } else { 4 }));
        let transport = packet(&with_trailer(&inner, 4, next_header));
        for (mode, esp) in [(Mode::Tunnel, &tunnel), (Mode::Transport, &transport)] {
            let mut plain = Engine::new();
            plain.install_inbound(&gcm().with_mode(mode)).unwrap();
            let mut open = Engine::new();
            open.install_inbound(&sa(everything.clone(), everything.clone()).with_mode(mode)).unwrap();
            let mut strict = Engine::new();
            strict.install_inbound(&sa(narrow.0.clone(), narrow.1.clone()).with_mode(mode)).unwrap();

            let without = plain.decapsulate(esp, &mut out);
            proptest::prop_assert_eq!(open.decapsulate(esp, &mut out), without);
            let r = strict.decapsulate(esp, &mut out);
            match without {
                Ok(_) => proptest::prop_assert!(
                    matches!(r, Ok(_) | Err(EspError::SelectorMismatch { .. })),
                    "{:?}",
                    r
                ),
                Err(e) => proptest::prop_assert_eq!(r, Err(e)),
            }
        }
    }
}
