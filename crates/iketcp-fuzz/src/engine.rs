//! Fuzz bodies for the IKE engine: a responder waiting for IKE_SA_INIT, and an
//! established IKE SA fed messages that pass its integrity check (the harness holds the
//! peer's keys, exported as for Wireshark, so the fuzzer reaches the exchange logic
//! without any weakened crypto in the engine).

use std::time::{Duration, Instant};

use iketcp_crypto::{DeterministicRng, SecretBytes, SkCipher};
use iketcp_proto::config::suites;
use iketcp_proto::{
    AuthConfig, ChildConfig, Endpoint, EndpointConfig, Lifetime, Mode, Output, Path, PeerConfig,
};
use iketcp_wire::ike::{
    Encrypted, ExchangeType, Flags, Header, IKEV2_VERSION, Id, IdType, Message, Payload,
    PayloadType,
};

fn peer(local: &str, remote: &str, me: &str, them: &str, lts: &str, rts: &str) -> PeerConfig {
    let id = |s: &str| Id {
        id_type: IdType::RFC822_ADDR,
        data: s.as_bytes().to_vec(),
    };
    let net = |s: &str| {
        let (a, p) = s.split_once('/').expect("net");
        iketcp_proto::ts::subnet(a.parse().expect("addr"), p.parse().expect("prefix"))
    };
    PeerConfig {
        name: "peer".into(),
        remote: remote.parse().expect("addr"),
        local: local.parse().expect("addr"),
        local_id: id(me),
        remote_id: id(them),
        auth: AuthConfig::Psk(SecretBytes::from_slice(b"fuzz-psk-0123456789abcdef")),
        ike_proposals: vec![
            suites::ike_aes128gcm16_prfsha256_ecp256(),
            suites::ike_aes256_sha256_modp2048(),
        ],
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
        dpd: Some(Duration::from_secs(30)),
        fragmentation: true,
        mobike: true,
        tcp: Default::default(),
        vips: Vec::new(),
        pools: Vec::new(),
    }
}

/// a initiates, b responds; PSK. Shared by every engine target.
pub(crate) fn endpoints() -> (Endpoint, Endpoint) {
    let a = peer(
        "10.0.0.1:500",
        "10.0.0.2:500",
        "a@fuzz",
        "b@fuzz",
        "10.1.0.0/24",
        "10.2.0.0/24",
    );
    let b = peer(
        "10.0.0.2:500",
        "10.0.0.1:500",
        "b@fuzz",
        "a@fuzz",
        "10.2.0.0/24",
        "10.1.0.0/24",
    );
    (
        Endpoint::new(
            EndpointConfig::default(),
            vec![a],
            Box::new(DeterministicRng::from_u64(1)),
        ),
        Endpoint::new(
            EndpointConfig::default(),
            vec![b],
            Box::new(DeterministicRng::from_u64(2)),
        ),
    )
}

/// Drains `ep`; returns messages it sent, and fails on keys installed where none may be.
fn drain(ep: &mut Endpoint, installs_allowed: bool) -> Vec<(Path, Vec<u8>)> {
    let mut sent = Vec::new();
    while let Some(o) = ep.poll_output() {
        match o {
            Output::Transmit(t) => sent.push((t.path, t.message)),
            Output::InstallChild(_) => assert!(
                installs_allowed,
                "unauthenticated input installed a Child SA"
            ),
            _ => {}
        }
    }
    sent
}

/// Splits input into messages: 2-byte length, then that many bytes.
fn records(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let [h, l, rest @ ..] = data else { return None };
        let n = (usize::from(*h) << 8 | usize::from(*l)).min(rest.len());
        let (m, r) = rest.split_at(n);
        data = r;
        Some(m)
    })
}

/// Arbitrary messages, with time passing, to a responder that has no IKE SA: nothing
/// authenticated can come of them, so no Child SA and no established IKE SA.
pub fn ike_responder(data: &[u8]) {
    let (_, mut b) = endpoints();
    let base = Instant::now();
    let from: Path = Path::udp(
        "10.0.0.2:500".parse().expect("addr"),
        "10.0.0.1:500".parse().expect("addr"),
    );
    for (i, m) in records(data).enumerate().take(64) {
        let now = base + Duration::from_millis(500 * i as u64);
        b.handle_message(now, from, m);
        b.handle_timeout(now);
        for (_, reply) in drain(&mut b, false) {
            assert!(
                Message::parse(&reply).is_ok(),
                "we sent a message we cannot parse"
            );
        }
    }
    assert!(b.ike_sas().iter().all(|s| !s.established));
}

/// Brings two engines to an established IKE SA with a Child SA; returns b and the
/// message id a would use next.
fn established() -> (Endpoint, Endpoint, Instant) {
    let (mut a, mut b) = endpoints();
    let now = Instant::now();
    a.initiate(now, "peer", Some("net")).expect("initiate");
    for _ in 0..8 {
        for (p, m) in drain(&mut a, true) {
            b.handle_message(
                now,
                Path {
                    local: p.remote,
                    remote: p.local,
                    transport: p.transport,
                },
                &m,
            );
        }
        for (p, m) in drain(&mut b, true) {
            a.handle_message(
                now,
                Path {
                    local: p.remote,
                    remote: p.local,
                    transport: p.transport,
                },
                &m,
            );
        }
    }
    assert!(
        b.ike_sas()
            .first()
            .is_some_and(|s| s.established && s.children.len() == 1)
    );
    (a, b, now)
}

/// Authenticated messages with fuzzer-chosen contents to an established responder. Each
/// record: exchange type, flags, message id offset, first payload type, then the
/// encrypted payload chain. Whatever happens, the engine must not panic, and every
/// message it sends must parse.
pub fn ike_established(data: &[u8]) {
    let (a, mut b, now) = established();
    let Some(info) = a.ike_sas().first().cloned() else {
        return;
    };
    let Some(keys) = a.export_ike_keys(info.id) else {
        return;
    };
    let k = &keys.keys;
    let Ok(mut seal) = SkCipher::new(k.encr, k.integ, &k.sk_ei, &k.sk_ai) else {
        return;
    };
    let mut rng = DeterministicRng::from_u64(3);
    let path = Path {
        local: info.path.remote,
        remote: info.path.local,
        transport: info.path.transport,
    };
    for (i, r) in records(data).enumerate().take(32) {
        let [xchg, flags, mid, first, chain @ ..] = r else {
            continue;
        };
        let exchange = match xchg % 4 {
            0 => ExchangeType::IKE_AUTH,
            1 => ExchangeType::CREATE_CHILD_SA,
            2 => ExchangeType::INFORMATIONAL,
            _ => ExchangeType(*xchg),
        };
        let header = Header {
            spi_i: keys.spi_i,
            spi_r: keys.spi_r,
            next_payload: PayloadType::SK,
            version: IKEV2_VERSION,
            exchange,
            flags: Flags(Flags::INITIATOR.0 | (flags & Flags::RESPONSE.0)),
            message_id: 2 + u32::from(*mid % 8),
            length: 0,
        };
        let body_len = seal.body_len(chain.len());
        let Ok(mut bytes) = (Message {
            header,
            payloads: vec![Payload::Encrypted(Encrypted {
                first_payload: PayloadType(*first),
                body: vec![0; body_len],
            })],
        })
        .emit() else {
            continue;
        };
        let aad = bytes.len() - body_len;
        let Ok(body) = seal.encrypt(&bytes[..aad], chain, &mut rng) else {
            continue;
        };
        bytes.truncate(aad);
        bytes.extend(body);
        let t = now + Duration::from_secs(i as u64);
        b.handle_message(t, path, &bytes);
        b.handle_timeout(t);
        for (_, reply) in drain(&mut b, true) {
            assert!(
                Message::parse(&reply).is_ok(),
                "we sent a message we cannot parse"
            );
        }
    }
}
