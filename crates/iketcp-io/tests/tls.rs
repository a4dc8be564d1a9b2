//! The stream inside TLS and through HTTP CONNECT, over real sockets on loopback (no
//! root needed): two nodes over a TLS port, one port that takes both, session
//! resumption, the server certificate checks, a forwarding proxy and a proxy's
//! refusals, and hostile clients on a TLS port.

mod common;

use common::{Peer, child_up, configs, free_port, node, start, stop, traffic};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use iketcp_io::proxy::{Proxy, Rewind, Why};
use iketcp_io::tls::{ClientSettings, MinVersion, ServerSettings, Verify, sha256};
use iketcp_io::wrap::{ListenMode, Opened, StreamSettings, accept, open};
use iketcp_io::{DriverConfig, Report};
use iketcp_node::NodeConfig;
use iketcp_proto::{TcpMode, Transport};
use rustls::HandshakeKind;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A self-signed certificate for `name` and the server settings that present it.
fn server(name: &str) -> (ServerSettings, CertificateDer<'static>) {
    let g = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let cert = g.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(g.signing_key.serialize_der()));
    let s =
        ServerSettings::new(vec![cert.clone()], key, &["h2".into()], MinVersion::Tls13).unwrap();
    (s, cert)
}

fn client(verify: Verify, name: Option<&str>, peer: SocketAddr) -> ClientSettings {
    ClientSettings::new(verify, name, peer.ip(), &["h2".into()], MinVersion::Tls13).unwrap()
}

/// a at 127.0.0.1 towards b at 127.0.0.2, whose only port is `b_mode` (TLS, or both);
/// a wraps its connections as `wrap(b_addr)` says.
async fn pair(
    b_mode: ListenMode,
    b_server: ServerSettings,
    b_node: NodeConfig,
    wrap: impl FnOnce(SocketAddr) -> StreamSettings,
) -> (Peer, Peer, SocketAddr) {
    let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let a_addr: SocketAddr = format!("127.0.0.1:{pa}").parse().unwrap();
    let b_addr: SocketAddr = format!("127.0.0.2:{pb}").parse().unwrap();
    let (a_cfg, b_cfg) = configs(a_addr, b_addr, TcpMode::Yes);
    let b = start(
        node(b_cfg, 2, b_node),
        DriverConfig {
            tcp: if b_mode == ListenMode::Either {
                vec![b_addr]
            } else {
                vec![]
            },
            tls: vec![b_addr],
            tls_server: Some(b_server),
            handshake_timeout: Duration::from_millis(500),
            ..DriverConfig::default()
        },
    )
    .await;
    let a = start(
        node(a_cfg, 1, NodeConfig::default()),
        DriverConfig {
            udp: vec![a_addr],
            streams: HashMap::from([("b".to_string(), wrap(b_addr))]),
            ..DriverConfig::default()
        },
    )
    .await;
    (a, b, b_addr)
}

async fn transport(p: &Peer) -> Transport {
    p.handle
        .inspect(|n| n.endpoint().ike_sas()[0].path.transport)
        .await
        .unwrap()
}

// R-TLS-1, R-CFG-2: the peer's connections are configured to go inside TLS; the port
// takes TLS only; IKE and ESP cross it and both ends know the path is TLS. The client
// pins the server's certificate and presents none.
#[tokio::test]
async fn r_tls_1_ike_and_esp_inside_tls() {
    let (srv, cert) = server("b.loop.test");
    let pin = sha256(&cert);
    let (mut a, mut b, _) = pair(ListenMode::Tls, srv, NodeConfig::default(), |b| {
        StreamSettings {
            tls: Some(client(Verify::Pin(pin), Some("b.loop.test"), b)),
            proxy: None,
        }
    })
    .await;
    a.initiate("b").await;
    assert!(a.wait(Duration::from_secs(10), child_up).await);
    assert!(matches!(transport(&a).await, Transport::Tls(_)));
    assert!(matches!(transport(&b).await, Transport::Tls(_)));
    assert!(traffic(&mut a, &mut b, 1).await);
    stop(a, b).await;
}

// R-TLS-1: without TLS, a peer whose only port is TLS is not reached (the prefix is
// not a TLS record); the attempt is reported, not retried into a busy loop.
#[tokio::test]
async fn plain_stream_to_a_tls_port_fails() {
    let (srv, _) = server("b.loop.test");
    let (mut a, b, _) = pair(ListenMode::Tls, srv, NodeConfig::default(), |_| {
        StreamSettings::default()
    })
    .await;
    a.initiate("b").await;
    assert!(!a.wait(Duration::from_secs(2), child_up).await);
    stop(a, b).await;
}

// R-TLS-1 (one port for both, when configured): the first byte tells a TLS record from
// the RFC 9329 prefix.
#[tokio::test]
async fn one_port_takes_plain_and_tls() {
    let (srv, _) = server("b.loop.test");
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = l.local_addr().unwrap();
    let srv2 = srv.clone();
    let acceptor = tokio::spawn(async move {
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let (s, _) = l.accept().await.unwrap();
            let o = accept(
                s,
                at,
                ListenMode::Either,
                Some(&srv2),
                Duration::from_secs(3),
            )
            .await
            .expect("accepted");
            kinds.push(o.is_tls());
            // Read the prefix through whatever the stream turned out to be.
            let mut buf = [0u8; 6];
            match o {
                Opened::Tcp(mut s) => s.read_exact(&mut buf).await.unwrap(),
                Opened::Wrapped { mut stream, .. } => stream.read_exact(&mut buf).await.unwrap(),
            };
            assert_eq!(&buf, b"IKETCP");
        }
        kinds
    });
    let mut plain = TcpStream::connect(at).await.unwrap();
    plain.write_all(b"IKETCP").await.unwrap();
    let c = client(Verify::None, None, at);
    let mut tls = c
        .connect(TcpStream::connect(at).await.unwrap())
        .await
        .unwrap();
    tls.write_all(b"IKETCP").await.unwrap();
    tls.flush().await.unwrap();
    let kinds = tokio::time::timeout(Duration::from_secs(5), acceptor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kinds, vec![false, true]);
}

/// One TLS connection to `at` that reads the server's greeting (and with it, in TLS
/// 1.3, the session tickets): how it was set up.
async fn handshake(c: &ClientSettings, at: SocketAddr) -> std::io::Result<HandshakeKind> {
    let mut s = c.connect(TcpStream::connect(at).await?).await?;
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello");
    Ok(s.get_ref().1.handshake_kind().unwrap())
}

/// A TLS server on loopback that greets each client and closes.
async fn greeter(srv: ServerSettings) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let srv = srv.clone();
            tokio::spawn(async move {
                if let Ok(mut t) = srv.accept(s).await {
                    let _ = t.write_all(b"hello").await;
                    let _ = t.shutdown().await;
                }
            });
        }
    });
    at
}

// R-TLS-3: the client keeps the session tickets it got, so a reconnect to the same
// server resumes the session instead of a full handshake.
#[tokio::test]
async fn r_tls_3_reconnect_resumes_the_session() {
    let (srv, _) = server("b.loop.test");
    let at = greeter(srv).await;
    let c = client(Verify::None, Some("b.loop.test"), at);
    assert_eq!(handshake(&c, at).await.unwrap(), HandshakeKind::Full);
    assert_eq!(handshake(&c, at).await.unwrap(), HandshakeKind::Resumed);
    // A client with its own settings (another peer) has no ticket for this server.
    let other = client(Verify::None, Some("b.loop.test"), at);
    assert_eq!(handshake(&other, at).await.unwrap(), HandshakeKind::Full);
}

// R-TLS-1: the client checks the server's certificate as configured: a pin that matches
// or not, a CA that issued it (naming the server) or not.
#[tokio::test]
async fn server_certificate_checked_as_configured() {
    let (srv, cert) = server("b.loop.test");
    let (_, other_cert) = server("b.loop.test");
    let at = greeter(srv).await;
    let name = Some("b.loop.test");
    assert!(
        handshake(&client(Verify::Pin(sha256(&cert)), name, at), at)
            .await
            .is_ok()
    );
    assert!(
        handshake(&client(Verify::Pin(sha256(&other_cert)), name, at), at)
            .await
            .is_err()
    );
    assert!(
        handshake(&client(Verify::Ca(vec![cert.clone()]), name, at), at)
            .await
            .is_ok()
    );
    assert!(
        handshake(&client(Verify::Ca(vec![other_cert]), name, at), at)
            .await
            .is_err()
    );
    // The CA is right but the name is not the certificate's.
    assert!(
        handshake(&client(Verify::Ca(vec![cert]), Some("c.loop.test"), at), at)
            .await
            .is_err()
    );
}

/// A forwarding HTTP proxy on loopback: CONNECT, then bytes both ways. It answers
/// with `answer` instead when given one. Returns its address and the number of tunnels
/// it opened.
async fn proxy(answer: Option<&'static [u8]>) -> (SocketAddr, tokio::sync::watch::Receiver<u32>) {
    let l = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let at = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
                    if s.read_exact(&mut b).await.is_err() {
                        return;
                    }
                    head.push(b[0]);
                }
                if let Some(a) = answer {
                    let _ = s.write_all(a).await;
                    // Keep the connection open: the client has to give up by itself.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let line = String::from_utf8_lossy(&head);
                let target = line.split(' ').nth(1).unwrap().to_string();
                let Ok(mut up) = TcpStream::connect(&target).await else {
                    let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                tx.send_modify(|n| *n += 1);
                let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
            });
        }
    });
    (at, rx)
}

// R-TLS-2, R-CFG-2: a's connections to b go through a web proxy, CONNECT then TLS then
// the prefix; IKE and ESP cross it.
#[tokio::test]
async fn r_tls_2_through_an_http_proxy() {
    let (px, tunnels) = proxy(None).await;
    let (srv, _) = server("b.loop.test");
    let (mut a, mut b, _) = pair(ListenMode::Tls, srv, NodeConfig::default(), |b| {
        StreamSettings {
            tls: Some(client(Verify::None, None, b)),
            proxy: Some(Proxy::parse(&format!("http://{px}")).unwrap()),
        }
    })
    .await;
    a.initiate("b").await;
    assert!(a.wait(Duration::from_secs(10), child_up).await);
    assert_eq!(*tunnels.borrow(), 1);
    assert!(matches!(transport(&a).await, Transport::Tls(_)));
    assert!(traffic(&mut a, &mut b, 4).await);
    stop(a, b).await;
}

// R-TLS-2: a proxy's refusal, a header that never ends and a proxy that never answers
// are each an error that names the proxy and its answer, and memory stays bounded.
#[tokio::test]
async fn proxy_refusals_are_named() {
    let target: SocketAddr = "127.0.0.2:4500".parse().unwrap();
    let t = Duration::from_secs(2);
    type Answer = (&'static [u8], fn(&Why) -> bool);
    let cases: [Answer; 4] = [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
            |w| matches!(w, Why::Refused { status: 407, reason } if reason == "Proxy Authentication Required"),
        ),
        (b"HTTP/1.0 403 Forbidden\r\n\r\n", |w| {
            matches!(w, Why::Refused { status: 403, .. })
        }),
        (b"SSH-2.0-OpenSSH\r\n\r\n", |w| matches!(w, Why::Malformed)),
        (b"", |w| matches!(w, Why::Timeout(_))),
    ];
    for (answer, want) in cases {
        let (px, _) = proxy(Some(answer)).await;
        let p = Proxy::parse(&format!("http://{px}")).unwrap();
        let mut s = TcpStream::connect(px).await.unwrap();
        let e = p.connect(&mut s, target, t).await.unwrap_err();
        assert!(want(&e.why), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&px.to_string()) && text.contains("127.0.0.2:4500"),
            "{text}"
        );
    }
    // A header that never ends: given up after a bounded number of bytes, whatever the
    // proxy keeps sending.
    let l = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let px = l.local_addr().unwrap();
    let sent = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut n = 0usize;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n").await;
        let line = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        while n < 10 << 20 {
            if s.write_all(line).await.is_err() {
                break;
            }
            n += line.len();
        }
        n
    });
    let p = Proxy::parse(&format!("http://{px}")).unwrap();
    let mut s = TcpStream::connect(px).await.unwrap();
    let e = p.connect(&mut s, target, t).await.unwrap_err();
    assert_eq!(e.why, Why::HeaderTooLong, "{e}");
    drop(s);
    let n = sent.await.unwrap();
    assert!(n < 10 << 20, "the client stopped reading: {n} bytes sent");
}

// R-TLS-2: bytes that come in the same segment as the proxy's 200 are the tunnel's
// first bytes and are read first.
#[tokio::test]
async fn bytes_after_the_200_are_kept() {
    let l = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let px = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\nIKETCP-first")
            .await
            .unwrap();
        s.write_all(b"-then").await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let p = Proxy::parse(&format!("http://{px}")).unwrap();
    let mut s = TcpStream::connect(px).await.unwrap();
    let head = p
        .connect(
            &mut s,
            "127.0.0.2:4500".parse().unwrap(),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    let mut r = Rewind::new(head, s);
    let mut buf = [0u8; 17];
    r.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"IKETCP-first-then");
}

// R-TLS-2: a connection through a proxy that refuses fails with the proxy's answer,
// which the driver reports for the peer.
#[tokio::test]
async fn proxy_refusal_reported_for_the_peer() {
    let (px, _) = proxy(Some(b"HTTP/1.1 403 Filtered\r\n\r\n")).await;
    let (srv, _) = server("b.loop.test");
    let (mut a, b, _) = pair(ListenMode::Tls, srv, NodeConfig::default(), |b| {
        StreamSettings {
            tls: Some(client(Verify::None, None, b)),
            proxy: Some(Proxy::parse(&format!("http://{px}")).unwrap()),
        }
    })
    .await;
    a.initiate("b").await;
    let mut reason = String::new();
    assert!(
        a.wait(Duration::from_secs(10), |r| match r {
            Report::ConnectFailed { peer, reason: why } if peer == "b" => {
                reason = why.clone();
                true
            }
            _ => false,
        })
        .await
    );
    assert!(
        reason.contains("403 Filtered") && reason.contains(&px.to_string()),
        "{reason}"
    );
    stop(a, b).await;
}

// Hostile input on a TLS port: a ClientHello and then garbage, the plain prefix, and a
// connection that never says anything are each closed; the established SA keeps
// carrying traffic.
#[tokio::test]
async fn hostile_clients_on_a_tls_port() {
    let (srv, _) = server("b.loop.test");
    let (mut a, mut b, b_addr) = pair(ListenMode::Tls, srv, NodeConfig::default(), |b| {
        StreamSettings {
            tls: Some(client(Verify::None, None, b)),
            proxy: None,
        }
    })
    .await;
    a.initiate("b").await;
    assert!(a.wait(Duration::from_secs(10), child_up).await);

    async fn closed_by_peer(s: &mut TcpStream) -> bool {
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(3);
        loop {
            match tokio::time::timeout_at(end.into(), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
    // A real ClientHello, taken from a client writing into memory.
    let (mut mine, theirs) = tokio::io::duplex(1 << 16);
    let c = client(Verify::None, None, b_addr);
    let hs = tokio::spawn(async move { c.connect(theirs).await.is_ok() });
    let mut hello = vec![0u8; 4096];
    let n = mine.read(&mut hello).await.unwrap();
    hello.truncate(n);
    assert_eq!(hello[0], 0x16);
    drop(mine);
    assert!(!hs.await.unwrap());
    let mut s = TcpStream::connect(b_addr).await.unwrap();
    s.write_all(&hello).await.unwrap();
    s.write_all(&[0x17, 3, 3, 0, 40]).await.unwrap();
    s.write_all(&[0xab; 40]).await.unwrap();
    assert!(closed_by_peer(&mut s).await, "ClientHello then garbage");
    // The plain prefix on a TLS port.
    let mut s = TcpStream::connect(b_addr).await.unwrap();
    s.write_all(b"IKETCP\x00\x20").await.unwrap();
    assert!(closed_by_peer(&mut s).await, "plain stream on a TLS port");
    // Silence: closed when the handshake deadline passes.
    let mut s = TcpStream::connect(b_addr).await.unwrap();
    assert!(closed_by_peer(&mut s).await, "no handshake");
    // Many at once cost nothing lasting.
    let mut many = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(b_addr).await.unwrap();
        s.write_all(&hello[..n / 2]).await.unwrap();
        many.push(s);
    }
    for s in &mut many {
        assert!(closed_by_peer(s).await, "half a ClientHello");
    }
    assert!(traffic(&mut a, &mut b, 5).await);
    assert!(matches!(transport(&b).await, Transport::Tls(_)));
    stop(a, b).await;
}

// A TLS stream opened by `open` and taken by `accept` carries what the RFC 9329 prefix
// and messages need, both ways.
#[tokio::test]
async fn open_and_accept_over_tls() {
    let (srv, _) = server("b.loop.test");
    let l = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let at = l.local_addr().unwrap();
    let settings = StreamSettings {
        tls: Some(client(Verify::None, None, at)),
        proxy: None,
    };
    let server_side = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let Some(Opened::Wrapped {
            mut stream, tls, ..
        }) = accept(s, at, ListenMode::Tls, Some(&srv), Duration::from_secs(3)).await
        else {
            panic!("not wrapped")
        };
        assert!(tls);
        let mut buf = vec![0u8; 100_000];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(&buf).await.unwrap();
        stream.flush().await.unwrap();
    });
    let o = open(
        "127.0.0.1".parse().unwrap(),
        at,
        &settings,
        Duration::from_secs(3),
        None,
        |_| {},
    )
    .await
    .unwrap();
    assert!(o.is_tls());
    let (local, remote) = o.addrs().unwrap();
    assert_eq!(remote, at);
    assert_eq!(local.ip().to_string(), "127.0.0.1");
    let Opened::Wrapped { mut stream, .. } = o else {
        panic!()
    };
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    stream.write_all(&data).await.unwrap();
    stream.flush().await.unwrap();
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(back, data);
    server_side.await.unwrap();
}
