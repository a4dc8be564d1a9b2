//! Full IKE SA + Child SA setups per second in one process (both engines, PSK, X25519,
//! AES-GCM), beside the bare cost of the public-key operations one setup needs (two
//! X25519 key generations and two agreements), measured in the same run.
//!
//! `cargo bench -p iketcp-proto --bench setup`

use std::hint::black_box;
use std::time::{Duration, Instant};

use iketcp_crypto::{KeGroup, SecretBytes, SystemRng};
use iketcp_proto::config::suites;
use iketcp_proto::{
    AuthConfig, ChildConfig, Endpoint, EndpointConfig, Lifetime, Mode, Output, Path, PeerConfig,
};
use iketcp_wire::ike::{Id, IdType};

fn peer(
    name: &str,
    local: &str,
    remote: &str,
    me: &str,
    them: &str,
    lts: &str,
    rts: &str,
) -> PeerConfig {
    let id = |s: &str| Id {
        id_type: IdType::RFC822_ADDR,
        data: s.as_bytes().to_vec(),
    };
    let net = |s: &str| {
        let (a, p) = s.split_once('/').expect("net");
        iketcp_proto::ts::subnet(a.parse().expect("addr"), p.parse().expect("prefix"))
    };
    PeerConfig {
        name: name.into(),
        remote: remote.parse().expect("addr"),
        local: local.parse().expect("addr"),
        local_id: id(me),
        remote_id: id(them),
        auth: AuthConfig::Psk(SecretBytes::from_slice(b"bench-psk-0123456789abcdef")),
        ike_proposals: vec![suites::ike_aes256gcm16_prfsha384_x25519()],
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![net(lts)],
            remote_ts: vec![net(rts)],
            esp_proposals: vec![suites::esp_aes128gcm16(None)],
            mode: Mode::Tunnel,
            lifetime: Lifetime::CHILD_DEFAULT,
            replay_window: 64,
        }],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp: Default::default(),
        vips: Vec::new(),
        pools: Vec::new(),
    }
}

/// Delivers everything `from` wants to send to `to`; counts installed Child SAs.
fn shuttle(from: &mut Endpoint, to: &mut Endpoint, now: Instant, installed: &mut usize) -> bool {
    let mut msgs = Vec::new();
    while let Some(o) = from.poll_output() {
        match o {
            Output::Transmit(t) => msgs.push(t),
            Output::InstallChild(k) => {
                black_box(k);
                *installed += 1;
            }
            _ => {}
        }
    }
    let moved = !msgs.is_empty();
    for t in msgs {
        let p = Path {
            local: t.path.remote,
            remote: t.path.local,
            transport: t.path.transport,
        };
        to.handle_message(now, p, &t.message);
    }
    moved
}

/// One complete setup: both engines from scratch until each has installed the Child SA.
fn setup(a_cfg: &PeerConfig, b_cfg: &PeerConfig) -> usize {
    let now = Instant::now();
    let mut a = Endpoint::new(
        EndpointConfig::default(),
        vec![a_cfg.clone()],
        Box::new(SystemRng::new()),
    );
    let mut b = Endpoint::new(
        EndpointConfig::default(),
        vec![b_cfg.clone()],
        Box::new(SystemRng::new()),
    );
    a.initiate(now, "b", Some("net")).expect("initiate");
    let mut installed = 0;
    for _ in 0..16 {
        let moved = shuttle(&mut a, &mut b, now, &mut installed)
            | shuttle(&mut b, &mut a, now, &mut installed);
        if !moved {
            break;
        }
    }
    assert_eq!(installed, 2, "setup did not complete");
    installed
}

/// The public-key work of one setup, alone.
fn public_key_ops(rng: &mut SystemRng) {
    let i = KeGroup::Curve25519.start(rng).expect("keygen");
    let r = KeGroup::Curve25519.start(rng).expect("keygen");
    let (pi, pr) = (i.public_value().to_vec(), r.public_value().to_vec());
    black_box(i.complete(&pr).expect("agree"));
    black_box(r.complete(&pi).expect("agree"));
}

fn rate(mut f: impl FnMut(), for_: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < for_ {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let a = peer(
        "b",
        "10.0.0.1:500",
        "10.0.0.2:500",
        "a@bench",
        "b@bench",
        "10.1.0.0/24",
        "10.2.0.0/24",
    );
    let b = peer(
        "a",
        "10.0.0.2:500",
        "10.0.0.1:500",
        "b@bench",
        "a@bench",
        "10.2.0.0/24",
        "10.1.0.0/24",
    );
    let per = Duration::from_millis(if quick { 50 } else { 1500 });
    let rounds = if quick { 1 } else { 5 };
    let mut rng = SystemRng::new();
    let (mut setups, mut pk) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        setups.push(rate(
            || {
                black_box(setup(&a, &b));
            },
            per,
        ));
        pk.push(rate(|| public_key_ops(&mut rng), per));
    }
    setups.sort_by(f64::total_cmp);
    pk.sort_by(f64::total_cmp);
    let (s, p) = (setups[setups.len() / 2], pk[pk.len() / 2]);
    println!("IKE SA + Child SA setups/s (both sides, PSK, X25519, AES-GCM): {s:.0}");
    println!("bare public-key operations of one setup, per second:             {p:.0}");
    println!("ratio: {:.2} (target at least 0.5)", s / p);
}
