//! The fuzz entry point (feature `insecure-fuzzing`): the null transform lets crafted
//! packets reach the replay window and the trailer checks.
#![cfg(feature = "insecure-fuzzing")]

use iketcp_esp::fuzzing::{
    FUZZ_SPI_ESN, FUZZ_SPI_SELECTORS, FUZZ_SPI_STREAM, fuzz_decapsulate, fuzz_engine,
};
use iketcp_esp::{Decapsulated, EspError};

/// A null-transform packet: header, 8-byte IV, plaintext, 16-byte ICV of zeros.
fn null_packet(spi: u32, seq: u32, plaintext: &[u8]) -> Vec<u8> {
    let mut p = spi.to_be_bytes().to_vec();
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(plaintext);
    p.extend_from_slice(&[0; 16]);
    p
}

#[test]
fn null_packets_reach_the_window_and_trailer() {
    let mut e = fuzz_engine();
    let mut out = [0u8; 256];
    let udp = [0u8, 1, 0, 2, 0, 8, 0, 0, 1, 2, 2, 17];
    let p = null_packet(FUZZ_SPI_STREAM, 5, &udp);
    assert_eq!(
        e.decapsulate(&p, &mut out),
        Ok(Decapsulated::Transport {
            spi: FUZZ_SPI_STREAM,
            len: 8,
            protocol: 17
        })
    );
    // R-ESP-1 window: anything not newer is a replay.
    let p = null_packet(FUZZ_SPI_STREAM, 4, &udp);
    assert!(matches!(
        e.decapsulate(&p, &mut out),
        Err(EspError::Replayed { .. })
    ));
    // Bad padding is reached.
    let p = null_packet(FUZZ_SPI_ESN, 1, &[0, 1, 9, 3, 3, 4]);
    assert_eq!(
        e.decapsulate(&p, &mut out),
        Err(EspError::BadPadding { spi: FUZZ_SPI_ESN })
    );
}

#[test]
fn null_packets_reach_the_selector_check() {
    let mut e = fuzz_engine();
    let mut out = [0u8; 256];
    // IPv4/TCP 10.2.0.5:40000 -> 10.1.0.7:port, then padding 1, 2, Pad Length, Next Header 4.
    let inner = |port: u16| {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 2, 0, 5, 10, 1, 0, 7,
        ];
        p.extend(40000u16.to_be_bytes());
        p.extend(port.to_be_bytes());
        p.extend([0u8; 16]);
        p.extend([1, 2, 2, 4]);
        p
    };
    let p = null_packet(FUZZ_SPI_SELECTORS, 1, &inner(443));
    assert_eq!(
        e.decapsulate(&p, &mut out),
        Ok(Decapsulated::Tunnel {
            spi: FUZZ_SPI_SELECTORS,
            len: 40
        })
    );
    let p = null_packet(FUZZ_SPI_SELECTORS, 2, &inner(80));
    assert_eq!(
        e.decapsulate(&p, &mut out),
        Err(EspError::SelectorMismatch {
            spi: FUZZ_SPI_SELECTORS,
            seq: 2
        })
    );
}

#[test]
fn fuzz_entry_point_runs_on_framed_input() {
    let p = null_packet(FUZZ_SPI_STREAM, 1, &[1, 2, 0, 17]);
    let mut data = (p.len() as u16).to_be_bytes().to_vec();
    data.extend_from_slice(&p);
    data.extend_from_slice(&[0, 3, 1, 2, 3, 0xff, 0xff, 9]);
    fuzz_decapsulate(&data);
    fuzz_decapsulate(&[]);
    fuzz_decapsulate(&[0]);
}

/// Replays the committed corpus of the `esp_decap` fuzz target (fuzz/corpus/esp_decap).
#[test]
fn esp_decap_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/esp_decap");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus folder") {
        let data = std::fs::read(entry.expect("entry").path()).expect("corpus file");
        fuzz_decapsulate(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus in {}", dir.display());
}
