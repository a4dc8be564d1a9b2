//! Decapsulation never panics on hostile input: arbitrary bytes, and mutations of valid
//! packets, against SAs of every transform.

mod common;

use common::*;
use iketcp_esp::{Engine, Mode, STREAM_REPLAY_WINDOW, SaParams};
use proptest::prelude::*;

fn receiver() -> (Engine, Vec<Engine>) {
    let mut rx = Engine::new();
    let mut txs = Vec::new();
    for (i, alg) in all_algorithms().into_iter().enumerate() {
        let p = SaParams::new(i as u32 + 1, alg, key_for(alg))
            .with_esn(i % 2 == 0)
            .with_mode(if i % 3 == 0 {
                Mode::Transport
            } else {
                Mode::Tunnel
            })
            .with_replay_window(if i % 4 == 0 { STREAM_REPLAY_WINDOW } else { 64 });
        rx.install_inbound(&p).unwrap();
        let mut tx = Engine::new();
        tx.install_outbound(&p).unwrap();
        txs.push(tx);
    }
    (rx, txs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(spi in 0u32..12, rest in proptest::collection::vec(any::<u8>(), 0..300), out_len in 0usize..400) {
        let (mut rx, _) = receiver();
        let mut pkt = spi.to_be_bytes().to_vec();
        pkt.extend_from_slice(&rest);
        let mut out = vec![0u8; out_len];
        let r = rx.decapsulate(&pkt, &mut out);
        if let Ok(d) = r {
            prop_assert!(d.len() <= out_len);
        }
    }

    #[test]
    fn mutated_valid_packets(which in 0usize..9, len in 0usize..200, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
        let (mut rx, mut txs) = receiver();
        let tx = &mut txs[which];
        let spi = which as u32 + 1;
        let mut pkt = encap(tx, spi, &ipv4_packet(len));
        let n = pkt.len();
        for (at, x) in &flips {
            pkt[8 + at % (n - 8)] ^= x;
        }
        pkt.truncate(8 + cut % (n - 7));
        let mut out = vec![0u8; n];
        let unchanged = flips.iter().all(|(_, x)| *x == 0) && pkt.len() == n;
        let r = rx.decapsulate(&pkt, &mut out);
        if unchanged {
            prop_assert!(r.is_ok(), "{:?}", r);
        } else {
            prop_assert!(r.is_err(), "a modified packet was delivered: {:?}", r);
        }
    }
}
