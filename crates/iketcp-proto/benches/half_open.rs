//! What one more IKE_SA_INIT costs a responder that already holds N half-open IKE SAs,
//! for N from 10 to 100,000, and the memory each half-open SA holds. Admission is
//! counted, not scanned, so the cost should stay flat; the public-key work (one X25519
//! key generation and agreement) is measured in the same run as the floor.
//!
//! `cargo bench -p iketcp-proto --bench half_open`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use iketcp_crypto::{KeGroup, SecretBytes, SystemRng};
use iketcp_proto::config::suites;
use iketcp_proto::{AuthConfig, Endpoint, EndpointConfig, Lifetime, Output, Path, PeerConfig};
use iketcp_wire::ike::{Id, IdType};

fn peer(local: &str, remote: &str) -> PeerConfig {
    let id = |s: &str| Id {
        id_type: IdType::RFC822_ADDR,
        data: s.as_bytes().to_vec(),
    };
    PeerConfig {
        name: "peer".into(),
        remote: remote.parse().expect("addr"),
        local: local.parse().expect("addr"),
        local_id: id("a@bench"),
        remote_id: id("b@bench"),
        auth: AuthConfig::Psk(SecretBytes::from_slice(b"bench-psk-0123456789abcdef")),
        ike_proposals: vec![suites::ike_aes256gcm16_prfsha384_x25519()],
        children: Vec::new(),
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp: Default::default(),
        vips: Vec::new(),
        pools: Vec::new(),
    }
}

/// One IKE_SA_INIT request as an initiator sends it.
fn template() -> Vec<u8> {
    let mut ep = Endpoint::new(
        EndpointConfig::default(),
        vec![peer("10.0.0.1:500", "10.0.0.2:500")],
        Box::new(SystemRng::new()),
    );
    ep.initiate(Instant::now(), "peer", None).expect("initiate");
    while let Some(o) = ep.poll_output() {
        if let Output::Transmit(t) = o {
            return t.message;
        }
    }
    unreachable!("IKE_SA_INIT sent")
}

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Sends IKE_SA_INIT number `i`: the template with its own SPIi, from its own address.
fn send(ep: &mut Endpoint, tpl: &mut [u8], i: u64, now: Instant) {
    tpl[..8].copy_from_slice(&(i + 1).to_be_bytes());
    let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i as u32 & 0x00ff_ffff)));
    let path = Path::udp(
        "10.255.0.1:500".parse().expect("addr"),
        SocketAddr::new(src, 500),
    );
    ep.handle_message(now, path, tpl);
    while let Some(o) = ep.poll_output() {
        black_box(o);
    }
}

fn main() {
    let cfg = EndpointConfig {
        cookie_threshold: usize::MAX,
        half_open_limit: usize::MAX,
        half_open_timeout: Duration::from_secs(3600),
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(
        cfg,
        vec![peer("0.0.0.0:500", "10.0.0.1:500")],
        Box::new(SystemRng::new()),
    );
    let mut tpl = template();
    let now = Instant::now();
    let probe = 1000u64;

    // The floor: the public-key work of one IKE_SA_INIT.
    let mut rng = SystemRng::new();
    let peer_ke = KeGroup::Curve25519.start(&mut rng).expect("ke");
    let peer_pub = peer_ke.public_value().to_vec();
    let t = Instant::now();
    for _ in 0..probe {
        let k = KeGroup::Curve25519.start(&mut rng).expect("ke");
        black_box(k.complete(&peer_pub).expect("agree"));
    }
    let floor = t.elapsed().as_secs_f64() / probe as f64;
    println!(
        "X25519 key generation + agreement: {:.1} µs (the floor)",
        floor * 1e6
    );

    let base_rss = rss();
    let mut n = 0u64;
    let mut first = None;
    for target in [10u64, 1_000, 10_000, 100_000] {
        while n < target {
            send(&mut ep, &mut tpl, n, now);
            n += 1;
        }
        assert_eq!(ep.stats().half_open as u64, n);
        let held = rss().saturating_sub(base_rss);
        let t = Instant::now();
        for _ in 0..probe {
            send(&mut ep, &mut tpl, n, now);
            n += 1;
        }
        let each = t.elapsed().as_secs_f64() / probe as f64;
        let first = *first.get_or_insert(each);
        println!(
            "{target:>7} half-open: one more IKE_SA_INIT {:.1} µs ({:.2}× the cost at 10, {:.2}× the floor); {:.0} bytes resident per half-open SA",
            each * 1e6,
            each / first,
            each / floor,
            held as f64 / target as f64,
        );
    }
}
