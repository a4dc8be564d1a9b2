//! Entry points for fuzz targets; present only with the `insecure-fuzzing` feature.
//!
//! The SAs here use [`Algorithm::NullForFuzzing`], whose ICV always verifies, so arbitrary
//! input reaches the anti-replay window, ESN inference, the trailer checks and the
//! traffic selector check on the inner packet. One SA with a real AEAD key keeps the ICV
//! failure path in reach too.

use core::net::{IpAddr, Ipv4Addr};

use iketcp_wire::ike::TrafficSelector;

use crate::algorithm::Algorithm;
use crate::engine::Engine;
use crate::error::EspError;
use crate::sa::{Mode, STREAM_REPLAY_WINDOW, SaParams};

/// SPI of the null SA with ESN and a 64-packet window, in tunnel mode.
pub const FUZZ_SPI_ESN: u32 = 1;
/// SPI of the null SA with a window of 1 (R-ESP-1), in transport mode.
pub const FUZZ_SPI_STREAM: u32 = 2;
/// SPI of an AES-128-GCM SA with a fixed key.
pub const FUZZ_SPI_GCM: u32 = 3;
/// SPI of the null SA in tunnel mode with traffic selectors (RFC 4301 §5.2): from
/// 10.2.0.0/16 or any IPv6 source, to TCP port 443 in 10.1.0.0/16 or, for any protocol,
/// to any IPv6 address whose ports are OPAQUE.
pub const FUZZ_SPI_SELECTORS: u32 = 4;

fn v4_range(start: [u8; 4], end: [u8; 4]) -> TrafficSelector {
    TrafficSelector {
        start_addr: IpAddr::V4(Ipv4Addr::from(start)),
        end_addr: IpAddr::V4(Ipv4Addr::from(end)),
        ..TrafficSelector::ipv4_any()
    }
}

/// An engine with the four fuzzing SAs installed inbound.
pub fn fuzz_engine() -> Engine {
    let mut e = Engine::new();
    let sas = [
        SaParams::new(FUZZ_SPI_ESN, Algorithm::NullForFuzzing, Vec::new()).with_esn(true),
        SaParams::new(FUZZ_SPI_STREAM, Algorithm::NullForFuzzing, Vec::new())
            .with_replay_window(STREAM_REPLAY_WINDOW)
            .with_mode(Mode::Transport),
        SaParams::new(FUZZ_SPI_GCM, Algorithm::AesGcm16_128, vec![7u8; 20]),
        SaParams::new(FUZZ_SPI_SELECTORS, Algorithm::NullForFuzzing, Vec::new()).with_selectors(
            vec![
                TrafficSelector {
                    ip_protocol: 6,
                    start_port: 443,
                    end_port: 443,
                    ..v4_range([10, 1, 0, 0], [10, 1, 255, 255])
                },
                TrafficSelector {
                    start_port: u16::MAX,
                    end_port: 0,
                    ..TrafficSelector::ipv6_any()
                },
            ],
            vec![
                v4_range([10, 2, 0, 0], [10, 2, 255, 255]),
                TrafficSelector::ipv6_any(),
            ],
        ),
    ];
    for p in &sas {
        if e.install_inbound(p).is_err() {
            unreachable!("fuzzing SA parameters are valid");
        }
    }
    e
}

/// Feeds `data` to [`fuzz_engine`] as a sequence of packets, each preceded by a 16-bit
/// big-endian length, and checks the engine's invariants after each one: a delivered
/// packet fits in what was received, and delivering the same packet twice is impossible.
pub fn fuzz_decapsulate(data: &[u8]) {
    let mut engine = fuzz_engine();
    let mut out = vec![0u8; 65_536];
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (packet, tail) = tail.split_at(len);
        rest = tail;
        match engine.decapsulate(packet, &mut out) {
            Ok(d) => {
                assert!(d.len() <= packet.len());
                let again = engine.decapsulate(packet, &mut out);
                assert!(
                    matches!(again, Err(EspError::Replayed { .. })),
                    "a packet was accepted twice: {again:?}"
                );
            }
            Err(e) => assert!(e.is_inbound_drop(), "unexpected error {e:?}"),
        }
    }
}
