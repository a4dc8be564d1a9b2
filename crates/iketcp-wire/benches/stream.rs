//! RFC 9329 deframer throughput beside a plain memcpy of the same bytes, in one run.
//!
//! The stream mixes 1400-byte ESP and 300-byte IKE messages (9:1) and is fed in chunks
//! of 1 KiB to 64 KiB. The memcpy baseline copies the same chunks into a reused buffer,
//! which is the least any decoder that owns its input must do. Rounds of both alternate
//! so that frequency changes and neighbours hit both alike; medians are reported.
//!
//! `cargo bench -p iketcp-wire --bench stream`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use iketcp_wire::encap::stream::{Deframer, Frame, Framer, Limits, Outgoing, Role};

const STREAM_BYTES: usize = 32 << 20;
const ROUNDS: usize = 21;

fn build_stream() -> (Vec<u8>, usize) {
    let mut framer = Framer::new(Role::Originator, Limits::default());
    let mut out = BytesMut::with_capacity(STREAM_BYTES + 4096);
    let ike: Vec<u8> = (0..300).map(|i| i as u8 | 1).collect();
    let mut esp: Vec<u8> = (0..1400).map(|i| i as u8).collect();
    esp[..4].copy_from_slice(&0xc0ffee_u32.to_be_bytes());
    let mut n = 0;
    while out.len() < STREAM_BYTES {
        let msg = if n % 10 == 9 {
            Outgoing::Ike(&ike)
        } else {
            Outgoing::Esp(&esp)
        };
        framer.encode(msg, &mut out).expect("frame");
        n += 1;
    }
    (out.to_vec(), n)
}

fn decode(stream: &[u8], chunk: usize) -> usize {
    let mut d = Deframer::new(Role::Responder, Limits::default());
    let mut total = 0;
    for mut c in stream.chunks(chunk) {
        while !c.is_empty() {
            let n = d.feed(c);
            c = &c[n..];
            while let Ok(Some(f)) = d.next_frame() {
                total += match f {
                    Frame::Ike(b) | Frame::Esp(b) => black_box(b).len(),
                };
            }
        }
    }
    total
}

fn memcpy(stream: &[u8], chunk: usize, dst: &mut [u8]) -> usize {
    let mut total = 0;
    for c in stream.chunks(chunk) {
        dst[..c.len()].copy_from_slice(c);
        total += black_box(&dst[..c.len()]).len();
    }
    total
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench binaries once as a smoke test; keep that cheap.
    let quick = std::env::args().any(|a| a == "--test");
    let (stream, frames) = build_stream();
    let rounds = if quick { 1 } else { ROUNDS };
    println!(
        "stream: {} MiB, {} frames (1400-byte ESP and 300-byte IKE, 9:1)",
        stream.len() >> 20,
        frames
    );
    println!(
        "{:>8} {:>14} {:>14} {:>8}",
        "chunk", "memcpy GB/s", "deframe GB/s", "ratio"
    );
    let mut dst = vec![0u8; 64 << 10];
    for chunk in [1 << 10, 4 << 10, 16 << 10, 64 << 10] {
        let (mut tm, mut td) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            black_box(memcpy(&stream, chunk, &mut dst));
            tm.push(t.elapsed());
            let t = Instant::now();
            let got = black_box(decode(&stream, chunk));
            td.push(t.elapsed());
            assert!(got > stream.len() * 9 / 10, "decoder lost data");
        }
        let (m, d) = (median(tm), median(td));
        let gbps = |t: Duration| stream.len() as f64 / t.as_secs_f64() / 1e9;
        println!(
            "{:>6}Ki {:>14.2} {:>14.2} {:>7.2}x",
            chunk >> 10,
            gbps(m),
            gbps(d),
            d.as_secs_f64() / m.as_secs_f64()
        );
    }
}
