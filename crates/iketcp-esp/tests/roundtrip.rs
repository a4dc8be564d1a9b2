//! RFC 4303 §3.3/§3.4 round trips: every transform, both modes, with and without ESN,
//! IPv4 and IPv6 inner packets.

mod common;

use common::*;
use iketcp_esp::{Algorithm, Decapsulated, Direction, Mode, SaParams};

#[test]
fn every_algorithm_mode_esn_and_ip_version_round_trips() {
    for alg in all_algorithms() {
        for mode in [Mode::Tunnel, Mode::Transport] {
            for esn in [false, true] {
                let params = SaParams::new(SPI, alg, key_for(alg))
                    .with_mode(mode)
                    .with_esn(esn);
                let (mut tx, mut rx) = pair(&params);
                for (n, ip) in [
                    ipv4_packet(0),
                    ipv6_packet(1),
                    ipv4_packet(1400),
                    ipv6_packet(77),
                ]
                .into_iter()
                .enumerate()
                {
                    let esp = encap(&mut tx, SPI, &ip);
                    assert_eq!(&esp[..4], &SPI.to_be_bytes());
                    assert_eq!(&esp[4..8], &(n as u32 + 1).to_be_bytes(), "seq starts at 1");
                    let header_len = match mode {
                        Mode::Tunnel => 0,
                        _ if ip[0] >> 4 == 4 => 20,
                        _ => 40,
                    };
                    assert_eq!(esp.len(), alg.esp_len(ip.len() - header_len), "{alg:?}");
                    let mut out = vec![0u8; esp.len()];
                    let d = rx.decapsulate(&esp, &mut out).unwrap();
                    match (mode, d) {
                        (Mode::Tunnel, Decapsulated::Tunnel { spi, len }) => {
                            assert_eq!(spi, SPI);
                            assert_eq!(&out[..len], &ip[..], "{alg:?} esn={esn}");
                        }
                        (Mode::Transport, Decapsulated::Transport { len, protocol, .. }) => {
                            assert_eq!(protocol, if ip[0] >> 4 == 4 { ip[9] } else { ip[6] });
                            assert_eq!(&out[..len], &ip[header_len..]);
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
                assert_eq!(s.packets, 4);
                assert_eq!(s.auth_failed + s.replayed + s.bad_padding, 0);
            }
        }
    }
}

#[test]
fn ciphertext_hides_the_payload_and_differs_per_packet() {
    for alg in all_algorithms() {
        let params = SaParams::new(SPI, alg, key_for(alg));
        let (mut tx, _) = pair(&params);
        let ip = ipv4_packet(200);
        let a = encap(&mut tx, SPI, &ip);
        let b = encap(&mut tx, SPI, &ip);
        assert!(
            !a.windows(32).any(|w| ip.windows(32).any(|x| x == w)),
            "{alg:?}"
        );
        assert_ne!(a[8..], b[8..]);
    }
}

#[test]
fn aead_iv_is_the_sequence_number() {
    // RFC 4106 §3.1: a counter never repeats under one key; with ESN the IV carries all
    // 64 bits although the header carries only the low 32.
    let alg = Algorithm::AesGcm16_256;
    let params = SaParams::new(SPI, alg, key_for(alg))
        .with_esn(true)
        .with_initial_seq((5 << 32) + 9);
    let (mut tx, _) = pair(&params);
    let esp = encap(&mut tx, SPI, &ipv4_packet(10));
    assert_eq!(&esp[4..8], &9u32.to_be_bytes());
    assert_eq!(&esp[8..16], &((5u64 << 32) + 9).to_be_bytes());
}

#[test]
fn padding_aligns_to_the_cipher_block() {
    // RFC 4303 §2.4: 4-byte alignment for the AEADs, the 16-byte block for AES-CBC.
    for alg in all_algorithms() {
        let params = SaParams::new(SPI, alg, key_for(alg));
        let (mut tx, _) = pair(&params);
        for n in 0..40 {
            let ip = ipv4_packet(n);
            let esp = encap(&mut tx, SPI, &ip);
            let ct = esp.len() - 8 - alg.iv_len() - alg.icv_len();
            assert_eq!(ct % alg.alignment(), 0, "{alg:?} {n}");
            assert!(ct >= ip.len() + 2 && ct < ip.len() + 2 + alg.alignment());
        }
    }
}

#[test]
fn sa_install_and_remove() {
    let alg = Algorithm::AesGcm16_128;
    let params = SaParams::new(SPI, alg, key_for(alg));
    let (mut tx, mut rx) = pair(&params);
    assert!(tx.install_outbound(&params).is_err(), "duplicate SPI");
    let esp = encap(&mut tx, SPI, &ipv4_packet(10));
    assert!(rx.remove(Direction::Inbound, SPI));
    assert!(!rx.remove(Direction::Inbound, SPI));
    let mut out = [0u8; 256];
    assert!(matches!(
        rx.decapsulate(&esp, &mut out),
        Err(iketcp_esp::EspError::UnknownSpi { spi: SPI })
    ));
    // A rekeyed SA under a new SPI works beside the old one.
    let new = SaParams::new(SPI + 1, alg, vec![9u8; 20]);
    tx.install_outbound(&new).unwrap();
    rx.install_inbound(&new).unwrap();
    let esp = encap(&mut tx, SPI + 1, &ipv6_packet(3));
    assert!(rx.decapsulate(&esp, &mut out).is_ok());
}

#[test]
fn invalid_parameters_are_refused() {
    use iketcp_esp::EspError;
    let alg = Algorithm::ChaCha20Poly1305;
    let mut e = iketcp_esp::Engine::new();
    assert_eq!(
        e.install_inbound(&SaParams::new(0, alg, key_for(alg))),
        Err(EspError::ZeroSpi)
    );
    assert!(matches!(
        e.install_inbound(&SaParams::new(1, alg, vec![0; 32])),
        Err(EspError::KeyLength {
            expected: 36,
            got: 32,
            ..
        })
    ));
    assert!(matches!(
        e.install_inbound(&SaParams::new(1, alg, key_for(alg)).with_replay_window(1 << 20)),
        Err(EspError::ReplayWindowTooLarge { .. })
    ));
    assert!(matches!(
        e.install_outbound(&SaParams::new(1, alg, key_for(alg)).with_initial_seq(0)),
        Err(EspError::InvalidInitialSeq { .. })
    ));
    assert!(matches!(
        e.install_outbound(&SaParams::new(1, alg, key_for(alg)).with_initial_seq(1 << 32)),
        Err(EspError::InvalidInitialSeq { .. })
    ));
}

#[test]
fn input_that_is_not_ip_is_refused() {
    use iketcp_esp::EspError;
    let alg = Algorithm::AesGcm16_128;
    for mode in [Mode::Tunnel, Mode::Transport] {
        let params = SaParams::new(SPI, alg, key_for(alg)).with_mode(mode);
        let (mut tx, _) = pair(&params);
        let mut out = [0u8; 256];
        for bad in [&[][..], &[0x45; 10], &[0x50; 60], &[0x60; 39]] {
            assert_eq!(
                tx.encapsulate(SPI, bad, &mut out),
                Err(EspError::InvalidIpPacket)
            );
        }
        assert_eq!(
            tx.encapsulate(SPI + 9, &ipv4_packet(1), &mut out),
            Err(EspError::UnknownOutboundSpi { spi: SPI + 9 })
        );
    }
}
