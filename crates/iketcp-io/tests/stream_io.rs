//! RFC 9329 framing over real byte streams: an in-memory duplex and loopback TCP.

use iketcp_io::stream::{FramedRead, FramedWrite, RecvError, framed};
use iketcp_wire::encap::stream::{Frame, Limits, Outgoing, Role, StreamError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

fn esp(spi: u32, seq: u32, n: usize) -> Vec<u8> {
    let mut p = spi.to_be_bytes().to_vec();
    p.extend(seq.to_be_bytes());
    p.extend((0..n - 8).map(|i| (i as u8).wrapping_mul(31)));
    p
}

fn ike(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 200) as u8 + 1).collect()
}

// R-FRAME-9: the same framing works over any byte stream; a 7-byte duplex splits every
// frame across many reads and writes.
#[tokio::test]
async fn r_frame_9_framing_over_an_in_memory_duplex() {
    let (a, b) = tokio::io::duplex(7);
    let (_ra, mut wa) = framed(a, Role::Originator, Limits::default());
    let (mut rb, _wb) = framed(b, Role::Responder, Limits::default());
    let msgs: Vec<(bool, Vec<u8>)> = (0..50)
        .map(|i| {
            if i % 3 == 0 {
                (true, ike(100 + i))
            } else {
                (false, esp(0x1000 + i as u32, i as u32, 64 + i))
            }
        })
        .collect();
    let sent = msgs.clone();
    let writer = tokio::spawn(async move {
        for (is_ike, m) in &sent {
            let out = if *is_ike {
                Outgoing::Ike(m)
            } else {
                Outgoing::Esp(m)
            };
            wa.send(out).await.unwrap();
        }
        wa.shutdown().await.unwrap();
    });
    for (is_ike, m) in &msgs {
        let want = if *is_ike {
            Frame::Ike(m.clone().into())
        } else {
            Frame::Esp(m.clone().into())
        };
        assert_eq!(rb.recv().await.unwrap(), Some(want));
    }
    writer.await.unwrap();
    assert_eq!(rb.recv().await.unwrap(), None);
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    (c.unwrap(), s.unwrap().0)
}

// R-FRAME-9, R-FRAME-1, R-FRAME-3: over real loopback TCP, both directions; only the
// Originator's direction starts with the prefix.
#[tokio::test]
async fn r_frame_9_framing_over_loopback_tcp_both_directions() {
    let (c, s) = tcp_pair().await;
    let (mut rc, mut wc) = framed(c, Role::Originator, Limits::default());
    let (mut rs, mut ws) = framed(s, Role::Responder, Limits::default());
    let n = 2000u32;
    let client = tokio::spawn(async move {
        wc.send(Outgoing::Ike(&ike(300))).await.unwrap();
        for seq in 1..=n {
            wc.send(Outgoing::Esp(&esp(0xc0de, seq, 1400)))
                .await
                .unwrap();
        }
        wc.shutdown().await.unwrap();
        // The Responder's frames carry no prefix: the Originator's deframer expects none.
        let mut got = 0;
        while let Some(f) = rc.recv().await.unwrap() {
            assert!(matches!(f, Frame::Esp(_)));
            got += 1;
        }
        got
    });
    assert_eq!(rs.recv().await.unwrap(), Some(Frame::Ike(ike(300).into())));
    for seq in 1..=n {
        match rs.recv().await.unwrap() {
            Some(Frame::Esp(p)) => assert_eq!(p[4..8], seq.to_be_bytes()),
            other => panic!("unexpected {other:?}"),
        }
        if seq % 10 == 0 {
            ws.send(Outgoing::Esp(&esp(0xbeef, seq, 200)))
                .await
                .unwrap();
        }
    }
    assert_eq!(rs.recv().await.unwrap(), None);
    ws.shutdown().await.unwrap();
    assert_eq!(client.await.unwrap(), n / 10);
    let (_, closed) = rs.close();
    assert_eq!(closed.partial_bytes, 0);
    assert_eq!(closed.stats.esp, u64::from(n));
}

// R-FRAME-7: a message cut off by the connection closing is discarded, not delivered.
#[tokio::test]
async fn r_frame_7_partial_message_discarded_when_tcp_closes() {
    let (mut c, s) = tcp_pair().await;
    let mut rs = FramedRead::new(s, Role::Responder, Limits::default());
    let full = {
        let mut buf = Vec::new();
        let mut w = FramedWrite::new(&mut buf, Role::Originator, Limits::default());
        w.send(Outgoing::Esp(&esp(9, 1, 500))).await.unwrap();
        w.send(Outgoing::Esp(&esp(9, 2, 500))).await.unwrap();
        buf
    };
    c.write_all(&full[..full.len() - 100]).await.unwrap();
    c.shutdown().await.unwrap();
    assert!(matches!(rs.recv().await.unwrap(), Some(Frame::Esp(_))));
    assert_eq!(rs.recv().await.unwrap(), None);
    let (_, closed) = rs.close();
    assert_eq!(closed.partial_bytes, 502 - 100);
    assert_eq!(closed.stats.esp, 1);
}

// R-FRAME-1, R-FRAME-2: a stream without the prefix, or with Length 1, is a fatal error
// for that connection only.
#[tokio::test]
async fn fatal_framing_errors_over_tcp() {
    for (bytes, want_prefix) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], true),
        (&b"IKETCP\x00\x01"[..], false),
    ] {
        let (mut c, s) = tcp_pair().await;
        let mut rs = FramedRead::new(s, Role::Responder, Limits::default());
        c.write_all(bytes).await.unwrap();
        let e = rs.recv().await.unwrap_err();
        assert!(e.is_fatal());
        match e {
            RecvError::Framing(StreamError::BadPrefix { .. }) => assert!(want_prefix),
            RecvError::Framing(StreamError::BadLength(1)) => assert!(!want_prefix),
            other => panic!("unexpected {other}"),
        }
    }
}
