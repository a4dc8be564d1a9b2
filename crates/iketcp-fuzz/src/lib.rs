//! One function per fuzz target. Each asserts an invariant beyond "does not panic", so
//! the fuzzer finds wrong answers as well as crashes. `fuzz/` calls these under
//! libFuzzer; `tests/corpus.rs` replays the committed corpus through them in `cargo test`.

mod engine;
mod node;
mod stateful;

pub use engine::{ike_established, ike_responder};
pub use node::node_input;
pub use stateful::ike_stateful;

use bytes::BytesMut;
use iketcp_wire::encap::stream::{Deframer, Frame, Framer, Limits, Outgoing, Role};
use iketcp_wire::encap::udp::{self, Datagram};
use iketcp_wire::esp::{self, EspPacket};

/// Arbitrary bytes, arbitrarily chunked, into a deframer. The first two bytes pick the
/// role and the chunk size. Whatever comes out, re-framed and decoded again in one piece,
/// must give the same frames.
pub fn stream_deframer(data: &[u8]) {
    let [mode, chunk, rest @ ..] = data else {
        return;
    };
    let role = if mode & 1 == 0 {
        Role::Responder
    } else {
        Role::Originator
    };
    let limits = if mode & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_esp_len: 64,
            max_ike_len: 128,
        }
    };
    let chunk = usize::from(*chunk).max(1);
    let mut d = Deframer::new(role, limits);
    let mut frames = Vec::new();
    let mut fatal = None;
    'feed: for mut c in rest.chunks(chunk) {
        while !c.is_empty() {
            let n = d.feed(c);
            assert!(n > 0 || d.space() == 0);
            c = &c[n..];
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => {
                        fatal = Some(e);
                        break 'feed;
                    }
                    Err(_) => {}
                }
            }
            if n == 0 {
                // Full although drained: only possible inside a skipped message.
                break;
            }
        }
    }
    if let Some(e) = fatal {
        assert_eq!(
            d.next_frame().unwrap_err(),
            e,
            "a fatal error must be final"
        );
    }
    let closed = d.close();
    assert!(closed.partial_bytes <= rest.len());

    let mut framer = Framer::new(Role::Originator, limits);
    let mut again = BytesMut::new();
    for f in &frames {
        match f {
            Frame::Ike(m) => {
                assert!(!m.is_empty() && m.len() <= limits.max_ike_len);
                framer
                    .encode(Outgoing::Ike(m), &mut again)
                    .expect("a received IKE message re-frames");
            }
            Frame::Esp(p) => {
                assert!(EspPacket::new_checked(&p[..]).is_ok() && p.len() <= limits.max_esp_len);
                framer
                    .encode(Outgoing::Esp(p), &mut again)
                    .expect("a received ESP packet re-frames");
            }
        }
    }
    let mut d = Deframer::new(Role::Responder, limits);
    let mut round = Vec::new();
    let mut again = &again[..];
    while !again.is_empty() || round.len() < frames.len() {
        let n = d.feed(again);
        again = &again[n..];
        let mut progressed = n > 0;
        while let Some(f) = d.next_frame().expect("re-framed stream decodes") {
            round.push(f);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    assert_eq!(round, frames);
}

/// A datagram from port 4500: classify it, and parse what claims to be ESP; then treat
/// the bytes as a decrypted ESP payload and read its trailer.
pub fn esp_packet(data: &[u8]) {
    match udp::classify(data) {
        Ok(Datagram::Keepalive) => assert_eq!(data, udp::NAT_KEEPALIVE),
        Ok(Datagram::Ike(m)) => assert_eq!(m.len() + 4, data.len()),
        Ok(Datagram::Esp(p)) => {
            if let Ok(v) = EspPacket::new_checked(p) {
                assert_ne!(v.spi(), 0);
                assert_eq!(v.header().len() + v.body().len(), p.len());
                let mut out = [0u8; esp::HEADER_LEN];
                esp::emit_header(&mut out, v.spi(), v.seq()).expect("valid SPI");
                assert_eq!(&out[..], v.header());
            }
        }
        Err(_) => assert!(data.len() < esp::HEADER_LEN),
    }
    if let Ok(t) = esp::parse_trailer(data) {
        assert_eq!(t.payload_len + t.pad_len as usize + 2, data.len());
        let mut rebuilt = data[..t.payload_len].to_vec();
        // Default padding is the only padding accepted, so it rebuilds exactly when the
        // sender aligned it the same way.
        esp::push_trailer(&mut rebuilt, t.payload_len, 4, t.next_header);
        if esp::pad_len(t.payload_len, 4) == t.pad_len as usize {
            assert_eq!(rebuilt, data);
        }
    }
}

/// Arbitrary bytes as an IKEv2 message: whatever parses must emit again, and the emitted
/// bytes must parse to the same message; the summary line must never fail. The decrypted
/// content of an SK payload goes through the chain parser the same way.
pub fn ike_message(data: &[u8]) {
    use iketcp_wire::codec::Writer;
    use iketcp_wire::ike::{Message, parse_chain};

    if let Ok(msg) = Message::parse(data) {
        let _ = msg.to_string();
        let bytes = msg.emit().expect("a parsed message emits");
        let again = Message::parse(&bytes).expect("an emitted message parses");
        assert_eq!(again, msg);
        if let Some(sk) = msg.encrypted()
            && let Ok(chain) = parse_chain(sk.first_payload, &sk.body)
        {
            let mut w = Writer::new();
            let first = iketcp_wire::ike::emit_chain(&chain, &mut w).expect("a parsed chain emits");
            assert_eq!(
                parse_chain(first, &w.buf).expect("an emitted chain parses"),
                chain
            );
        }
    }
}

/// Arbitrary bytes as a web proxy's answer to CONNECT. A complete header ends where the
/// bytes say, its reason is printable and short, its status three digits; the answer
/// depends only on the header (the tunnel's bytes after it change nothing), and no
/// answer asks for more once `MAX_HEADER` bytes are in.
pub fn proxy_answer(data: &[u8]) {
    use iketcp_wire::http::{ConnectAnswer, MAX_HEADER, connect_answer};
    let answer = connect_answer(data);
    match &answer {
        ConnectAnswer::Complete {
            status,
            reason,
            len,
        } => {
            assert!(*len <= data.len() && *len <= MAX_HEADER + 4);
            assert!(data[..*len].ends_with(b"\r\n\r\n"));
            assert!(*status <= 999);
            assert!(reason.chars().count() <= 100);
            assert!(!reason.chars().any(char::is_control));
            assert_eq!(connect_answer(&data[..*len]), answer);
        }
        ConnectAnswer::Malformed => {
            assert!(data.windows(4).any(|w| w == b"\r\n\r\n"));
        }
        ConnectAnswer::TooLong => assert!(data.len() >= MAX_HEADER),
        ConnectAnswer::Incomplete => {
            assert!(data.len() < MAX_HEADER);
            assert!(!data.windows(4).any(|w| w == b"\r\n\r\n"));
        }
    }
}
