//! RFC 4303 §3.4: every refused inbound packet is dropped, never delivered, and counted
//! under its reason; plus the sender's limits (§3.3.3 sequence numbers, lifetimes) and
//! buffer handling.

mod common;

use common::*;
use iketcp_esp::{
    Algorithm, Decapsulated, Direction, Engine, EspError, EspEvent, Lifetime, Limit, Mode, SaParams,
};

fn gcm() -> SaParams {
    let alg = Algorithm::AesGcm16_128;
    SaParams::new(SPI, alg, key_for(alg))
}

#[test]
fn forged_packets_are_counted_per_sa() {
    for alg in all_algorithms() {
        let (mut tx, mut rx) = pair(&SaParams::new(SPI, alg, key_for(alg)));
        let good = encap(&mut tx, SPI, &ipv4_packet(100));
        let mut out = vec![0xeeu8; good.len()];
        // Flip one bit in every region after the header: IV, ciphertext, ICV.
        for i in [8, 8 + alg.iv_len(), good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert_eq!(
                rx.decapsulate(&bad, &mut out),
                Err(EspError::AuthenticationFailed { spi: SPI }),
                "{alg:?} byte {i}"
            );
        }
        let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
        assert_eq!((s.auth_failed, s.packets), (4, 0), "{alg:?}");
        assert_eq!(rx.stats().auth_failed, 4);
        // The genuine packet still passes: nothing was consumed by the forgeries.
        assert!(rx.decapsulate(&good, &mut out).is_ok());
    }
}

#[test]
fn cbc_forgery_is_refused_before_decryption() {
    // Encrypt-then-MAC: a ciphertext with a bad ICV is never decrypted into `out`.
    let alg = Algorithm::AesCbc {
        key: iketcp_esp::AesKeySize::Aes256,
        integrity: iketcp_esp::Integrity::HmacSha256_128,
    };
    let (mut tx, mut rx) = pair(&SaParams::new(SPI, alg, key_for(alg)));
    let mut bad = encap(&mut tx, SPI, &ipv4_packet(64));
    let n = bad.len();
    bad[n - 1] ^= 1;
    let mut out = vec![0xeeu8; n];
    assert!(rx.decapsulate(&bad, &mut out).is_err());
    assert!(out.iter().all(|&b| b == 0xee));
}

#[test]
fn truncated_packets() {
    for alg in all_algorithms() {
        let (mut tx, mut rx) = pair(&SaParams::new(SPI, alg, key_for(alg)));
        let good = encap(&mut tx, SPI, &ipv4_packet(30));
        let mut out = vec![0u8; good.len()];
        let min = 8 + alg.iv_len() + alg.icv_len() + if alg.is_aead() { 2 } else { 16 };
        for len in 8..min {
            assert_eq!(
                rx.decapsulate(&good[..len], &mut out),
                Err(EspError::Truncated { spi: SPI }),
                "{alg:?} {len}"
            );
        }
        if !alg.is_aead() {
            // Not a whole number of cipher blocks.
            assert_eq!(
                rx.decapsulate(&good[..good.len() - 1], &mut out),
                Err(EspError::Truncated { spi: SPI })
            );
        }
        let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
        assert!(s.truncated >= (min - 8) as u64);
        assert_eq!(s.icv_checks, 0);
    }
}

#[test]
fn not_esp_and_unknown_spi() {
    let mut rx = Engine::new();
    rx.install_inbound(&gcm()).unwrap();
    let mut out = [0u8; 64];
    assert_eq!(rx.decapsulate(&[1, 2, 3], &mut out), Err(EspError::NotEsp));
    assert_eq!(rx.decapsulate(&[0; 40], &mut out), Err(EspError::NotEsp));
    assert_eq!(rx.decapsulate(&[0xff], &mut out), Err(EspError::NotEsp));
    let mut p = vec![0u8; 40];
    p[3] = 9;
    assert_eq!(
        rx.decapsulate(&p, &mut out),
        Err(EspError::UnknownSpi { spi: 9 })
    );
    let s = *rx.stats();
    assert_eq!((s.not_esp, s.unknown_spi), (3, 1));
    assert_eq!(rx.sa_stats(Direction::Inbound, SPI).unwrap().auth_failed, 0);
}

#[test]
fn bad_padding_is_dropped_after_authentication() {
    let p = gcm();
    let key = key_for(p.algorithm);
    let mut rx = Engine::new();
    rx.install_inbound(&p).unwrap();
    let ip = ipv4_packet(3); // 31 bytes: padding 3 for 4-byte alignment
    let mut pt = with_trailer(&ip, 4, 4);
    let n = pt.len();
    pt[n - 4] = 9; // padding must read 1, 2, 3
    let pkt = gcm_packet(&key, SPI, 1, false, [0, 0, 0, 0, 0, 0, 0, 1], &pt);
    let mut out = vec![0u8; pkt.len()];
    assert_eq!(
        rx.decapsulate(&pkt, &mut out),
        Err(EspError::BadPadding { spi: SPI })
    );
    // A Pad Length longer than the plaintext.
    let mut pt = vec![0u8; 6];
    pt[4] = 200;
    pt[5] = 4;
    let pkt = gcm_packet(&key, SPI, 2, false, [0, 0, 0, 0, 0, 0, 0, 2], &pt);
    assert_eq!(
        rx.decapsulate(&pkt, &mut out),
        Err(EspError::BadPadding { spi: SPI })
    );
    let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
    assert_eq!((s.bad_padding, s.packets), (2, 0));
    assert_eq!(rx.stats().bad_padding, 2);
}

#[test]
fn tunnel_inner_version_must_match_next_header() {
    let p = gcm();
    let key = key_for(p.algorithm);
    let mut rx = Engine::new();
    rx.install_inbound(&p).unwrap();
    let mut out = [0u8; 256];
    // An IPv6 packet announced as IPv4, an IPv4 one as IPv6, and next header 17 in tunnel.
    for (seq, ip, nh) in [
        (1u64, ipv6_packet(4), 4u8),
        (2, ipv4_packet(4), 41),
        (3, ipv4_packet(4), 17),
    ] {
        let pkt = gcm_packet(
            &key,
            SPI,
            seq,
            false,
            seq.to_be_bytes(),
            &with_trailer(&ip, 4, nh),
        );
        assert_eq!(
            rx.decapsulate(&pkt, &mut out),
            Err(EspError::BadInnerPacket {
                spi: SPI,
                next_header: nh
            })
        );
    }
    assert_eq!(rx.stats().bad_inner, 3);
}

#[test]
fn dummy_packets_are_consumed_silently() {
    // RFC 4303 §2.6: Next Header 59 is discarded; it still counts and moves the window.
    for mode in [Mode::Tunnel, Mode::Transport] {
        let p = gcm().with_mode(mode);
        let key = key_for(p.algorithm);
        let mut rx = Engine::new();
        rx.install_inbound(&p).unwrap();
        let pkt = gcm_packet(
            &key,
            SPI,
            1,
            false,
            [0; 8],
            &with_trailer(&[0xaa; 13], 4, 59),
        );
        let mut out = [0u8; 128];
        assert_eq!(
            rx.decapsulate(&pkt, &mut out),
            Ok(Decapsulated::Dummy { spi: SPI })
        );
        assert!(matches!(
            rx.decapsulate(&pkt, &mut out),
            Err(EspError::Replayed { .. })
        ));
        assert_eq!(rx.stats().dummy, 1);
        assert_eq!(rx.sa_stats(Direction::Inbound, SPI).unwrap().dummy, 1);
    }
}

#[test]
fn buffer_too_small_is_an_error_not_a_panic() {
    for alg in all_algorithms() {
        let (mut tx, mut rx) = pair(&SaParams::new(SPI, alg, key_for(alg)));
        let ip = ipv4_packet(500);
        let need = tx.encapsulated_len(SPI, ip.len()).unwrap();
        let mut small = vec![0u8; need - 1];
        assert_eq!(
            tx.encapsulate(SPI, &ip, &mut small),
            Err(EspError::BufferTooSmall {
                needed: need,
                available: need - 1
            })
        );
        assert!(tx.encapsulate(SPI, &ip, &mut []).is_err());
        // No sequence number was used by the failures.
        let esp = encap(&mut tx, SPI, &ip);
        assert_eq!(&esp[4..8], &1u32.to_be_bytes());
        let mut out = vec![0u8; ip.len()];
        assert!(matches!(
            rx.decapsulate(&esp, &mut out),
            Err(EspError::BufferTooSmall { .. })
        ));
        assert!(rx.decapsulate(&esp, &mut []).is_err());
        // Not counted as a drop, and the packet is still deliverable with room.
        let mut out = vec![0u8; esp.len()];
        assert!(rx.decapsulate(&esp, &mut out).is_ok());
    }
}

#[test]
fn sequence_numbers_never_cycle() {
    // RFC 4303 §3.3.3: at 2^32 - 1 (2^64 - 1 with ESN) the SA is used up.
    for (esn, last) in [(false, u64::from(u32::MAX)), (true, u64::MAX)] {
        let p = gcm().with_esn(esn).with_initial_seq(last - 1);
        let (mut tx, _) = pair(&p);
        let ip = ipv4_packet(10);
        let a = encap(&mut tx, SPI, &ip);
        let b = encap(&mut tx, SPI, &ip);
        assert_eq!(&a[4..8], &((last - 1) as u32).to_be_bytes());
        assert_eq!(&b[4..8], &(last as u32).to_be_bytes());
        let mut out = [0u8; 256];
        for _ in 0..3 {
            assert_eq!(
                tx.encapsulate(SPI, &ip, &mut out),
                Err(EspError::SequenceExhausted { spi: SPI })
            );
        }
        let events: Vec<_> = std::iter::from_fn(|| tx.poll_event()).collect();
        assert_eq!(
            events,
            [
                EspEvent::SoftLifetime {
                    spi: SPI,
                    direction: Direction::Outbound,
                    limit: Limit::SequenceNumbers
                },
                EspEvent::HardLifetime {
                    spi: SPI,
                    direction: Direction::Outbound,
                    limit: Limit::SequenceNumbers
                },
            ],
            "esn={esn}"
        );
    }
}

#[test]
fn soft_sequence_event_well_before_the_end() {
    let start = u64::from(u32::MAX) - (1 << 27);
    let (mut tx, _) = pair(&gcm().with_initial_seq(start));
    encap(&mut tx, SPI, &ipv4_packet(1));
    assert!(matches!(
        tx.poll_event(),
        Some(EspEvent::SoftLifetime {
            limit: Limit::SequenceNumbers,
            ..
        })
    ));
    encap(&mut tx, SPI, &ipv4_packet(1));
    assert_eq!(tx.poll_event(), None, "reported once");
    let (mut tx, _) = pair(&gcm().with_initial_seq(1 << 31));
    encap(&mut tx, SPI, &ipv4_packet(1));
    assert_eq!(tx.poll_event(), None);
}

#[test]
fn packet_lifetimes_raise_soft_then_hard() {
    let life = Lifetime {
        soft_packets: Some(3),
        hard_packets: Some(5),
        ..Lifetime::UNLIMITED
    };
    let (mut tx, mut rx) = pair(&gcm().with_lifetime(life));
    let ip = ipv4_packet(10);
    let mut out = [0u8; 256];
    let mut sent = Vec::new();
    for i in 1..=5 {
        sent.push(encap(&mut tx, SPI, &ip));
        let ev = tx.poll_event();
        match i {
            3 => assert_eq!(
                ev,
                Some(EspEvent::SoftLifetime {
                    spi: SPI,
                    direction: Direction::Outbound,
                    limit: Limit::Packets
                })
            ),
            5 => assert_eq!(
                ev,
                Some(EspEvent::HardLifetime {
                    spi: SPI,
                    direction: Direction::Outbound,
                    limit: Limit::Packets
                })
            ),
            _ => assert_eq!(ev, None),
        }
    }
    assert_eq!(
        tx.encapsulate(SPI, &ip, &mut out),
        Err(EspError::LifetimeExpired { spi: SPI })
    );
    // The receiver counts the same way and refuses a sixth packet.
    for p in &sent {
        let _ = rx.decapsulate(p, &mut out).unwrap();
    }
    let events: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(events.len(), 2);
    assert!(matches!(
        events[1],
        EspEvent::HardLifetime {
            direction: Direction::Inbound,
            ..
        }
    ));
    let extra = {
        let (mut tx2, _) = pair(&gcm().with_initial_seq(6));
        encap(&mut tx2, SPI, &ip)
    };
    assert_eq!(
        rx.decapsulate(&extra, &mut out),
        Err(EspError::LifetimeExpired { spi: SPI })
    );
    assert_eq!(rx.sa_stats(Direction::Inbound, SPI).unwrap().expired, 1);
    assert_eq!(rx.stats().expired, 1);
}

#[test]
fn byte_lifetimes_count_payload_bytes() {
    let life = Lifetime {
        soft_bytes: Some(1000),
        hard_bytes: Some(2000),
        ..Lifetime::UNLIMITED
    };
    let (mut tx, _) = pair(&gcm().with_lifetime(life));
    let ip = ipv4_packet(572); // 600 bytes
    encap(&mut tx, SPI, &ip);
    assert_eq!(tx.poll_event(), None);
    encap(&mut tx, SPI, &ip); // 1200
    assert!(matches!(
        tx.poll_event(),
        Some(EspEvent::SoftLifetime {
            limit: Limit::Bytes,
            ..
        })
    ));
    encap(&mut tx, SPI, &ip); // 1800
    assert_eq!(tx.poll_event(), None);
    encap(&mut tx, SPI, &ip); // 2400
    assert!(matches!(
        tx.poll_event(),
        Some(EspEvent::HardLifetime {
            limit: Limit::Bytes,
            ..
        })
    ));
    let mut out = [0u8; 1024];
    assert!(matches!(
        tx.encapsulate(SPI, &ip, &mut out),
        Err(EspError::LifetimeExpired { .. })
    ));
    let s = tx.sa_stats(Direction::Outbound, SPI).unwrap();
    assert_eq!((s.packets, s.bytes), (4, 2400));
}
