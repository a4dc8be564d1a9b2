//! RFC 4303 §3.4.3 anti-replay through the engine, and RFC 4303 Appendix A ESN inference.

mod common;

use common::*;
use iketcp_esp::{Algorithm, Direction, EspError, STREAM_REPLAY_WINDOW, SaParams};

fn gcm(window: u32, esn: bool) -> SaParams {
    let alg = Algorithm::AesGcm16_128;
    SaParams::new(SPI, alg, key_for(alg))
        .with_replay_window(window)
        .with_esn(esn)
}

fn packets(tx: &mut iketcp_esp::Engine, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| encap(tx, SPI, &ipv4_packet(i))).collect()
}

fn deliver(rx: &mut iketcp_esp::Engine, p: &[u8]) -> Result<(), EspError> {
    let mut out = vec![0u8; p.len()];
    rx.decapsulate(p, &mut out).map(|_| ())
}

#[test]
fn duplicate_old_and_reordered_packets() {
    let (mut tx, mut rx) = pair(&gcm(32, false));
    let p = packets(&mut tx, 100);
    // p[i] carries sequence number i + 1.
    deliver(&mut rx, &p[0]).unwrap();
    assert!(matches!(
        deliver(&mut rx, &p[0]),
        Err(EspError::Replayed { seq: 1, .. })
    ));
    deliver(&mut rx, &p[49]).unwrap(); // top = 50, window 19..=50
    // Reordered inside the window: accepted once, in any order.
    for i in [40, 20, 48, 18] {
        deliver(&mut rx, &p[i]).unwrap();
    }
    assert!(deliver(&mut rx, &p[40]).is_err());
    // Left of the window: seq 18 and below.
    assert!(matches!(
        deliver(&mut rx, &p[16]),
        Err(EspError::Replayed { seq: 17, .. })
    ));
    let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
    assert_eq!(s.replayed, 3);
    assert_eq!(s.packets, 6);
    assert_eq!(rx.stats().replayed, 3);
}

// R-ESP-1: over a stream the window is 1, so any packet not newer than the last one is
// dropped, whatever its distance.
#[test]
fn r_esp_1_window_of_one_accepts_only_newer_packets() {
    let (mut tx, mut rx) = pair(&gcm(STREAM_REPLAY_WINDOW, false));
    let p = packets(&mut tx, 10);
    deliver(&mut rx, &p[2]).unwrap();
    assert!(deliver(&mut rx, &p[2]).is_err(), "duplicate");
    assert!(deliver(&mut rx, &p[1]).is_err(), "one older");
    assert!(deliver(&mut rx, &p[0]).is_err(), "two older");
    deliver(&mut rx, &p[3]).unwrap();
    deliver(&mut rx, &p[9]).unwrap();
    for q in &p[..9] {
        assert!(matches!(
            deliver(&mut rx, q),
            Err(EspError::Replayed { .. })
        ));
    }
    let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
    assert_eq!((s.packets, s.replayed, s.auth_failed), (3, 12, 0));
    assert_eq!(s.icv_checks, 3, "no refused packet reached the cipher");
}

#[test]
fn window_is_checked_before_decryption() {
    let (mut tx, mut rx) = pair(&gcm(64, false));
    let p = packets(&mut tx, 3);
    for q in &p {
        deliver(&mut rx, q).unwrap();
    }
    let before = rx.sa_stats(Direction::Inbound, SPI).unwrap().icv_checks;
    for _ in 0..10 {
        for q in &p {
            assert!(deliver(&mut rx, q).is_err());
        }
    }
    let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
    assert_eq!(s.icv_checks, before, "replays cost no decryption");
    assert_eq!(s.replayed, 30);
}

#[test]
fn forged_packet_does_not_move_the_window() {
    let (mut tx, mut rx) = pair(&gcm(32, false));
    let p = packets(&mut tx, 200);
    deliver(&mut rx, &p[0]).unwrap();
    // A forged packet far ahead: if it moved the window, seq 2..=100 would fall off it.
    let mut forged = p[150].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(matches!(
        deliver(&mut rx, &forged),
        Err(EspError::AuthenticationFailed { spi: SPI })
    ));
    // A replay of seq 1 with a forged ICV: refused as a replay, before the ICV.
    let mut forged_replay = p[0].clone();
    forged_replay[20] ^= 0xff;
    assert!(matches!(
        deliver(&mut rx, &forged_replay),
        Err(EspError::Replayed { .. })
    ));
    // A forged copy of a not-yet-seen number inside the window: fails the ICV and leaves
    // the genuine packet deliverable.
    let mut forged_in_window = p[1].clone();
    forged_in_window[20] ^= 0xff;
    assert!(matches!(
        deliver(&mut rx, &forged_in_window),
        Err(EspError::AuthenticationFailed { .. })
    ));
    deliver(&mut rx, &p[1]).unwrap();
    deliver(&mut rx, &p[2]).unwrap();
    let s = rx.sa_stats(Direction::Inbound, SPI).unwrap();
    assert_eq!((s.auth_failed, s.replayed, s.packets), (2, 1, 3));
}

#[test]
fn esn_high_bits_inferred_across_the_2_pow_32_boundary() {
    let start = (1u64 << 32) - 3;
    let params = gcm(64, true).with_initial_seq(start);
    let (mut tx, mut rx) = pair(&params);
    let p = packets(&mut tx, 8); // 2^32-3 ..= 2^32+4
    assert_eq!(&p[3][4..8], &[0, 0, 0, 0], "low half wraps to 0");
    assert_eq!(&p[4][4..8], &[0, 0, 0, 1]);
    // In order across the boundary.
    for q in &p[..5] {
        deliver(&mut rx, q).unwrap();
    }
    // Late packets from the old epoch, after the window moved into the new one (case B).
    let (mut tx2, mut rx2) = pair(&params);
    let p2 = packets(&mut tx2, 8);
    deliver(&mut rx2, &p2[6]).unwrap(); // 2^32 + 3
    deliver(&mut rx2, &p2[0]).unwrap(); // 2^32 - 3, inferred high = 0
    deliver(&mut rx2, &p2[2]).unwrap(); // 2^32 - 1
    deliver(&mut rx2, &p2[3]).unwrap(); // 2^32
    assert!(
        deliver(&mut rx2, &p2[0]).is_err(),
        "replay across the boundary"
    );
    assert_eq!(
        rx2.sa_stats(Direction::Inbound, SPI).unwrap().auth_failed,
        0
    );
}

#[test]
fn esn_without_the_high_bits_fails_authentication() {
    // The high half is in the AAD but not on the wire: a receiver whose window is in
    // another epoch computes a different AAD and the ICV fails.
    let tx_params = gcm(64, true).with_initial_seq((7 << 32) + 5);
    let rx_params = gcm(64, true).with_initial_seq(3);
    let mut tx = iketcp_esp::Engine::new();
    tx.install_outbound(&tx_params).unwrap();
    let mut rx = iketcp_esp::Engine::new();
    rx.install_inbound(&rx_params).unwrap();
    let p = encap(&mut tx, SPI, &ipv4_packet(5));
    assert!(matches!(
        deliver(&mut rx, &p),
        Err(EspError::AuthenticationFailed { .. })
    ));
}

#[test]
fn disabled_window_accepts_replays() {
    let (mut tx, mut rx) = pair(&gcm(0, false));
    let p = packets(&mut tx, 2);
    deliver(&mut rx, &p[1]).unwrap();
    deliver(&mut rx, &p[1]).unwrap();
    deliver(&mut rx, &p[0]).unwrap();
}
