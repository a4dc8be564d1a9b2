//! ESP throughput on 1400-byte packets: the engine's encapsulate + decapsulate beside a
//! bare aws-lc-rs AEAD seal + open of the same bytes, in the same run; `engine_selectors`
//! adds the RFC 4301 §5.2 inbound selector check, with four selectors a side and the
//! packet matching the last of each.

use std::hint::black_box;
use std::net::IpAddr;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iketcp_esp::{Algorithm, Engine, SaParams};
use iketcp_wire::ike::TrafficSelector;

const PAYLOAD: usize = 1400;
const SPI: u32 = 0x0102_0304;

fn ip_packet() -> Vec<u8> {
    let mut p = vec![0u8; PAYLOAD];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(PAYLOAD as u16).to_be_bytes());
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 2, 0, 5]);
    p[16..20].copy_from_slice(&[10, 1, 0, 7]);
    p[20..22].copy_from_slice(&4500u16.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    p
}

fn ts(start: &str, end: &str, ip_protocol: u8, ports: (u16, u16)) -> TrafficSelector {
    TrafficSelector {
        ip_protocol,
        start_port: ports.0,
        end_port: ports.1,
        start_addr: start.parse::<IpAddr>().unwrap(),
        end_addr: end.parse::<IpAddr>().unwrap(),
    }
}

/// Our side and the peer's; the bench packet matches only the last selector of each.
fn selectors() -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
    let any = (0, u16::MAX);
    let local = vec![
        ts("fd00:1::", "fd00:1::ffff", 0, any),
        ts("10.1.0.0", "10.1.0.255", 6, (443, 443)),
        ts("10.1.0.0", "10.1.0.255", 17, (123, 123)),
        ts("10.1.0.0", "10.1.0.255", 17, (53, 53)),
    ];
    let remote = vec![
        ts("fd00:2::", "fd00:2::ffff", 0, any),
        ts("192.168.0.0", "192.168.255.255", 0, any),
        ts("10.3.0.0", "10.3.0.255", 17, any),
        ts("10.2.0.0", "10.2.0.255", 17, any),
    ];
    (local, remote)
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("aes-128-gcm", Algorithm::AesGcm16_128, &aead::AES_128_GCM),
        ("aes-256-gcm", Algorithm::AesGcm16_256, &aead::AES_256_GCM),
        (
            "chacha20-poly1305",
            Algorithm::ChaCha20Poly1305,
            &aead::CHACHA20_POLY1305,
        ),
    ];
    let mut g = c.benchmark_group("esp_1400");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    for (name, alg, aead_alg) in cases {
        let key: Vec<u8> = (0..alg.key_material_len()).map(|i| i as u8).collect();
        // Replay protection off on the receiver: the bench sends each sequence number
        // once but runs more iterations than a window would let through out of order.
        let params = SaParams::new(SPI, alg, key.clone()).with_esn(true);
        let (local, remote) = selectors();
        let ip = ip_packet();
        let mut esp = vec![0u8; PAYLOAD + 64];
        let mut plain = vec![0u8; PAYLOAD + 64];
        for (variant, inbound) in [
            ("engine", params.clone()),
            (
                "engine_selectors",
                params.clone().with_selectors(local, remote),
            ),
        ] {
            let mut tx = Engine::new();
            let mut rx = Engine::new();
            tx.install_outbound(&params).unwrap();
            rx.install_inbound(&inbound.with_replay_window(0)).unwrap();
            g.bench_function(format!("{variant}/{name}"), |b| {
                b.iter(|| {
                    let e = tx.encapsulate(SPI, black_box(&ip), &mut esp).unwrap();
                    let d = rx.decapsulate(&esp[..e.len], &mut plain).unwrap();
                    let _ = black_box(d);
                })
            });
        }

        let k = LessSafeKey::new(UnboundKey::new(aead_alg, &key[..key.len() - 4]).unwrap());
        // Ciphertext and tag side by side, as `open_in_place` wants them; only the 16-byte
        // tag is copied per round.
        let mut buf = ip.clone();
        buf.resize(PAYLOAD + 16, 0);
        let mut counter = 0u64;
        g.bench_function(format!("bare_aead/{name}"), |b| {
            b.iter(|| {
                counter += 1;
                let mut n = [0u8; 12];
                n[4..].copy_from_slice(&counter.to_be_bytes());
                let aad = [0u8; 8];
                let (msg, tag_out) = buf.split_at_mut(PAYLOAD);
                let tag = k
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(n),
                        Aad::from(aad),
                        black_box(msg),
                    )
                    .unwrap();
                tag_out.copy_from_slice(tag.as_ref());
                let pt = k
                    .open_in_place(Nonce::assume_unique_for_key(n), Aad::from(aad), &mut buf)
                    .unwrap();
                black_box(pt);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
