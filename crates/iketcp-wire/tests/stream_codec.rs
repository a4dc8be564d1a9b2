//! RFC 9329 §3–4 stream framing through the public codec API.

use bytes::BytesMut;
use iketcp_wire::encap::stream::{
    Deframer, EncodeError, Frame, Framer, Limits, Outgoing, PREFIX, Role, StreamError,
};
use proptest::prelude::*;

fn ike(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 | 1).collect()
}

fn esp(spi: u32, n: usize) -> Vec<u8> {
    let mut p = spi.to_be_bytes().to_vec();
    p.extend((0..n.saturating_sub(4)).map(|i| i as u8));
    p
}

fn encode_all(framer: &mut Framer, msgs: &[Outgoing<'_>]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        framer.encode(*m, &mut out).unwrap();
    }
    out.to_vec()
}

/// Feeds `stream` in chunks of the given sizes (cycled), draining after every feed.
fn decode_chunked(
    d: &mut Deframer,
    stream: &[u8],
    chunks: &[usize],
) -> Result<Vec<Frame>, StreamError> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let want = chunks[i % chunks.len()].max(1);
        i += 1;
        let end = (at + want).min(stream.len());
        let mut slice = &stream[at..end];
        while !slice.is_empty() {
            let n = d.feed(slice);
            slice = &slice[n..];
            at += n;
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn as_frame(m: &Outgoing<'_>) -> Frame {
    match m {
        Outgoing::Ike(b) => Frame::Ike(bytes::Bytes::copy_from_slice(b)),
        Outgoing::Esp(b) => Frame::Esp(bytes::Bytes::copy_from_slice(b)),
    }
}

// R-FRAME-1: the Originator writes the prefix once, first; the Responder never does.
#[test]
fn r_frame_1_originator_sends_prefix_once_first() {
    let m = ike(40);
    let mut o = Framer::new(Role::Originator, Limits::default());
    let bytes = encode_all(&mut o, &[Outgoing::Ike(&m), Outgoing::Ike(&m)]);
    assert_eq!(&bytes[..6], b"IKETCP");
    assert_eq!(bytes.windows(6).filter(|w| *w == b"IKETCP").count(), 1);
    assert_eq!(bytes.len(), 6 + 2 * (2 + 4 + 40));

    let mut r = Framer::new(Role::Responder, Limits::default());
    let bytes = encode_all(&mut r, &[Outgoing::Ike(&m)]);
    assert_eq!(bytes.len(), 2 + 4 + 40);
    assert_ne!(&bytes[..6], b"IKETCP");
}

// R-FRAME-1: a failed encode does not consume the prefix; it goes with the next message.
#[test]
fn r_frame_1_prefix_survives_a_refused_message() {
    let mut o = Framer::new(Role::Originator, Limits::default());
    assert!(o.header(Outgoing::Esp(&[0u8; 20])).is_err());
    assert!(o.prefix_pending());
    let h = o.header(Outgoing::Ike(&ike(30))).unwrap();
    assert_eq!(&h.as_slice()[..6], &PREFIX);
    assert!(!o.prefix_pending());
}

// R-FRAME-1: the Responder waits for the whole prefix before parsing anything.
#[test]
fn r_frame_1_responder_waits_for_whole_prefix() {
    let m = ike(30);
    let mut o = Framer::new(Role::Originator, Limits::default());
    let bytes = encode_all(&mut o, &[Outgoing::Ike(&m)]);
    let mut d = Deframer::new(Role::Responder, Limits::default());
    for (i, b) in bytes.iter().enumerate() {
        d.feed(std::slice::from_ref(b));
        let got = d.next_frame().unwrap();
        if i + 1 < bytes.len() {
            assert_eq!(got, None, "frame yielded after {} bytes", i + 1);
            assert_eq!(d.awaiting_prefix(), i < 5);
        } else {
            assert_eq!(got, Some(Frame::Ike(m.clone().into())));
        }
    }
}

// R-FRAME-1: a wrong prefix closes the stream and nothing on it reaches any SA, even
// well-formed frames that follow.
#[test]
fn r_frame_1_wrong_prefix_is_fatal_and_nothing_passes() {
    let m = ike(30);
    let mut r = Framer::new(Role::Responder, Limits::default());
    for bad in [&b"IKETCQ"[..], b"GET / HTTP/1.1\r\n", b"\0\0\0\0\0\0"] {
        let mut stream = bad.to_vec();
        stream.extend(encode_all(&mut r, &[Outgoing::Ike(&m)]));
        let mut d = Deframer::new(Role::Responder, Limits::default());
        d.feed(&stream);
        let e = d.next_frame().unwrap_err();
        assert!(matches!(e, StreamError::BadPrefix { .. }), "{e}");
        assert!(e.is_fatal());
        // Every later call fails the same way; no frame ever comes out.
        d.feed(&encode_all(&mut r, &[Outgoing::Ike(&m)]));
        assert_eq!(d.next_frame().unwrap_err(), e);
        assert_eq!(d.stats().ike, 0);
    }
    // Refused at the first differing byte, without waiting for six.
    let mut d = Deframer::new(Role::Responder, Limits::default());
    d.feed(b"IX");
    assert!(matches!(d.next_frame(), Err(StreamError::BadPrefix { .. })));
}

// R-FRAME-2: the Length is 16-bit big-endian and counts itself.
#[test]
fn r_frame_2_length_counts_itself() {
    let mut f = Framer::new(Role::Responder, Limits::default());
    let m = ike(300);
    let h = f.header(Outgoing::Ike(&m)).unwrap();
    assert_eq!(h.as_slice(), &[0x01, 0x32, 0, 0, 0, 0]); // 2 + 4 + 300 = 306
    let p = esp(0x1234, 100);
    let h = f.header(Outgoing::Esp(&p)).unwrap();
    assert_eq!(h.as_slice(), &[0, 102]);
}

// R-FRAME-2: Length 0 or 1 is fatal.
#[test]
fn r_frame_2_length_zero_or_one_is_fatal() {
    for bad in [[0u8, 0], [0, 1]] {
        let mut d = Deframer::new(Role::Originator, Limits::default());
        let mut stream = bad.to_vec();
        stream.extend([0u8; 64]);
        d.feed(&stream);
        let e = d.next_frame().unwrap_err();
        assert_eq!(e, StreamError::BadLength(u16::from(bad[1])));
        assert!(e.is_fatal());
        assert_eq!(d.next_frame().unwrap_err(), e);
    }
    // Length 2 is an empty message: not fatal, skipped as malformed.
    let mut d = Deframer::new(Role::Originator, Limits::default());
    d.feed(&[0, 2, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
    let e = d.next_frame().unwrap_err();
    assert!(!e.is_fatal(), "{e}");
    assert_eq!(
        d.next_frame().unwrap(),
        Some(Frame::Esp(vec![1, 2, 3, 4, 5, 6, 7, 8].into()))
    );
}

// R-FRAME-3: four zero bytes mean IKE (marker stripped), anything else ESP.
#[test]
fn r_frame_3_marker_selects_ike_else_esp() {
    let mut f = Framer::new(Role::Originator, Limits::default());
    let (m, p) = (ike(50), esp(7, 60));
    let bytes = encode_all(&mut f, &[Outgoing::Ike(&m), Outgoing::Esp(&p)]);
    assert_eq!(&bytes[6..12], &[0, 56, 0, 0, 0, 0]);
    assert_eq!(&bytes[62..68], &[0, 62, 0, 0, 0, 7]);
    let mut d = Deframer::new(Role::Responder, Limits::default());
    let got = decode_chunked(&mut d, &bytes, &[7]).unwrap();
    assert_eq!(got, vec![Frame::Ike(m.into()), Frame::Esp(p.into())]);
}

// R-FRAME-3: an ESP SPI of zero is never sent.
#[test]
fn r_frame_3_zero_spi_is_never_sent() {
    let mut f = Framer::new(Role::Originator, Limits::default());
    assert_eq!(
        f.header(Outgoing::Esp(&esp(0, 40))).unwrap_err(),
        EncodeError::ZeroSpi
    );
    let mut out = BytesMut::new();
    assert_eq!(
        f.encode(Outgoing::Esp(&esp(0, 40)), &mut out),
        Err(EncodeError::ZeroSpi)
    );
    assert!(out.is_empty());
}

// R-FRAME-4: a message that does not fit the 16-bit Length is refused, never truncated.
#[test]
fn r_frame_4_too_long_for_length_is_refused() {
    let big = Limits {
        max_esp_len: usize::MAX,
        max_ike_len: usize::MAX,
    };
    let mut f = Framer::new(Role::Responder, big);
    // 65535 - 2 (Length) - 4 (marker) = 65529 is the largest IKE message.
    assert!(f.header(Outgoing::Ike(&ike(65_529))).is_ok());
    let e = f.header(Outgoing::Ike(&ike(65_530))).unwrap_err();
    assert_eq!(
        e,
        EncodeError::TooLongForLength {
            len: 65_530,
            max: 65_529
        }
    );
    assert!(e.to_string().contains("16-bit Length"));
    assert!(f.header(Outgoing::Esp(&esp(9, 65_533))).is_ok());
    assert_eq!(
        f.header(Outgoing::Esp(&esp(9, 65_534))).unwrap_err(),
        EncodeError::TooLongForLength {
            len: 65_534,
            max: 65_533
        }
    );
    let mut out = BytesMut::new();
    assert!(f.encode(Outgoing::Ike(&ike(70_000)), &mut out).is_err());
    assert!(out.is_empty(), "nothing written for a refused message");
}

// R-FRAME-5: the configured maximum bounds what is sent; the default is a typical UDP
// ESP payload.
#[test]
fn r_frame_5_maximum_bounds_sending() {
    assert_eq!(Limits::default().max_esp_len, 1472);
    let mut f = Framer::new(Role::Originator, Limits::default());
    assert!(f.header(Outgoing::Esp(&esp(1, 1472))).is_ok());
    let e = f.header(Outgoing::Esp(&esp(1, 1473))).unwrap_err();
    assert_eq!(
        e,
        EncodeError::OverLimit {
            kind: "ESP",
            len: 1473,
            max: 1472
        }
    );
    let small = Limits {
        max_esp_len: 1000,
        max_ike_len: 2000,
    };
    let mut f = Framer::new(Role::Originator, small);
    assert!(f.header(Outgoing::Ike(&ike(2000))).is_ok());
    assert!(matches!(
        f.header(Outgoing::Ike(&ike(2001))),
        Err(EncodeError::OverLimit { .. })
    ));
}

// R-FRAME-5: the maximum bounds what is received: an oversized message is skipped as it
// streams past, without being buffered, and the stream goes on.
#[test]
fn r_frame_5_maximum_bounds_receiving() {
    let small = Limits {
        max_esp_len: 1000,
        max_ike_len: 2000,
    };
    let big = Limits {
        max_esp_len: 60_000,
        max_ike_len: 60_000,
    };
    let mut f = Framer::new(Role::Originator, big);
    let (a, b, c) = (esp(5, 50_000), ike(3000), esp(6, 900));
    let bytes = encode_all(
        &mut f,
        &[Outgoing::Esp(&a), Outgoing::Ike(&b), Outgoing::Esp(&c)],
    );
    let mut d = Deframer::new(Role::Responder, small);
    let mut errors = Vec::new();
    let mut frames = Vec::new();
    let mut max_space_used = 0;
    for chunk in bytes.chunks(1000) {
        d.feed(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    assert!(!e.is_fatal());
                    errors.push(e)
                }
            }
        }
        max_space_used = max_space_used.max(Deframer::READ_CHUNK + 2 + 2004 - d.space());
    }
    assert_eq!(frames, vec![Frame::Esp(c.into())]);
    assert_eq!(
        errors,
        vec![
            StreamError::OverLimit {
                kind: "ESP",
                len: 50_000,
                max: 1000
            },
            StreamError::OverLimit {
                kind: "IKE",
                len: 3000,
                max: 2000
            },
        ]
    );
    assert!(
        max_space_used <= 1000,
        "buffered {max_space_used} bytes of a refused message"
    );
    assert_eq!(d.stats().skipped, 2);
}

// R-FRAME-6: a keepalive is dropped silently and counted, never an error; keepalives are
// never sent over a stream.
#[test]
fn r_frame_6_keepalive_dropped_and_never_sent() {
    let m = ike(40);
    let mut f = Framer::new(Role::Responder, Limits::default());
    let mut stream = vec![0, 3, 0xff];
    stream.extend(encode_all(&mut f, &[Outgoing::Ike(&m)]));
    stream.extend([0, 3, 0xff, 0, 3, 0xff]);
    let mut d = Deframer::new(Role::Originator, Limits::default());
    let got = decode_chunked(&mut d, &stream, &[1]).unwrap();
    assert_eq!(got, vec![Frame::Ike(m.into())]);
    assert_eq!(d.stats().keepalives, 3);
    assert_eq!(d.stats().skipped, 0);
    assert_eq!(
        f.header(Outgoing::Esp(&[0xff])).unwrap_err(),
        EncodeError::ShortEsp(1)
    );
}

// R-FRAME-7: a partially received message is discarded when the connection breaks, and
// a new connection starts clean.
#[test]
fn r_frame_7_partial_message_discarded_on_close() {
    let m = ike(200);
    let mut f = Framer::new(Role::Originator, Limits::default());
    let bytes = encode_all(&mut f, &[Outgoing::Ike(&m), Outgoing::Ike(&m)]);
    let cut = bytes.len() - 50;
    let mut d = Deframer::new(Role::Responder, Limits::default());
    let got = decode_chunked(&mut d, &bytes[..cut], &[13]).unwrap();
    assert_eq!(got.len(), 1);
    let closed = d.close();
    assert_eq!(closed.partial_bytes, 2 + 4 + 200 - 50);
    assert_eq!(closed.stats.ike, 1);
    // The tail, arriving on a new connection, is not glued to the lost head.
    let mut d = Deframer::new(Role::Responder, Limits::default());
    d.feed(&bytes[cut..]);
    assert!(matches!(d.next_frame(), Err(StreamError::BadPrefix { .. })));
}

// R-FRAME-8: AH is not carried over a stream.
#[test]
fn r_frame_8_ah_is_refused() {
    let pkt = esp(0x100, 40);
    assert_eq!(
        Outgoing::from_ip_protocol(51, &pkt),
        Err(EncodeError::AhNotCarried)
    );
    assert_eq!(
        Outgoing::from_ip_protocol(6, &pkt),
        Err(EncodeError::NotIpsec(6))
    );
    assert_eq!(
        Outgoing::from_ip_protocol(50, &pkt),
        Ok(Outgoing::Esp(&pkt))
    );
}

#[test]
fn deframer_feed_is_bounded() {
    let mut d = Deframer::new(Role::Originator, Limits::default());
    let junk = vec![0x40u8; 1 << 20];
    // A length of 0x4040 = 16448 bytes of ESP is over the default limit: skipped.
    let mut total = 0;
    for _ in 0..64 {
        let n = d.feed(&junk[total % junk.len()..]);
        assert!(n <= 2 + Limits::DEFAULT_MAX_IKE_LEN + 4 + Deframer::READ_CHUNK);
        total += n;
        while let Ok(Some(_)) | Err(StreamError::OverLimit { .. }) = d.next_frame() {}
    }
    assert!(d.stats().skipped > 0);
}

fn arb_message() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        (1usize..3000).prop_map(|n| (true, ike(n))),
        (8usize..1472, 1u32..).prop_map(|(n, spi)| (false, esp(spi, n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // R-FRAME-1, R-FRAME-2, R-FRAME-3: whatever the chunking, the frames out are the
    // frames in, in order.
    #[test]
    fn decode_encode_any_chunking(
        msgs in proptest::collection::vec(arb_message(), 0..40),
        keepalive_every in 0usize..5,
        chunks in proptest::collection::vec(prop_oneof![1usize..16, 1usize..70_000], 1..20),
    ) {
        let mut f = Framer::new(Role::Originator, Limits::default());
        let out_msgs: Vec<Outgoing<'_>> = msgs
            .iter()
            .map(|(is_ike, b)| if *is_ike { Outgoing::Ike(b) } else { Outgoing::Esp(b) })
            .collect();
        let mut stream = BytesMut::new();
        for (i, m) in out_msgs.iter().enumerate() {
            f.encode(*m, &mut stream).unwrap();
            if keepalive_every > 0 && i % keepalive_every == 0 {
                stream.extend_from_slice(&[0, 3, 0xff]);
            }
        }
        if out_msgs.is_empty() {
            stream.extend_from_slice(&PREFIX);
        }
        let mut d = Deframer::new(Role::Responder, Limits::default());
        let got = decode_chunked(&mut d, &stream, &chunks).unwrap();
        let want: Vec<Frame> = out_msgs.iter().map(as_frame).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(d.close().partial_bytes, 0);
    }

    // Arbitrary bytes never panic the deframer, and a fatal error is final.
    #[test]
    fn deframer_survives_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        responder in any::<bool>(),
        chunk in 1usize..300,
    ) {
        let role = if responder { Role::Responder } else { Role::Originator };
        let mut d = Deframer::new(role, Limits::default());
        let mut fatal = None;
        for c in data.chunks(chunk) {
            d.feed(c);
            loop {
                match d.next_frame() {
                    Ok(Some(Frame::Esp(p))) => prop_assert!(p.len() >= 8 && p[..4] != [0; 4]),
                    Ok(Some(Frame::Ike(m))) => prop_assert!(!m.is_empty()),
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => { fatal = Some(e); break }
                    Err(_) => {}
                }
            }
            if fatal.is_some() { break }
        }
        if let Some(e) = fatal {
            prop_assert_eq!(d.next_frame().unwrap_err(), e);
        }
    }
}
