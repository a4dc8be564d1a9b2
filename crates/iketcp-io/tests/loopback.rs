//! Two nodes over real sockets on loopback (no root needed): UDP towards a responder
//! that does not listen on UDP, the fallback to RFC 9329 TCP, ESP carried over the
//! connection both ways, and hostile clients on the responder's TCP port.

mod common;

use common::{Peer, child_up, configs, free_port, node, start, traffic};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use iketcp_io::DriverConfig;
use iketcp_node::NodeConfig;
use iketcp_proto::{TcpMode, Transport};
use iketcp_sim::peer_config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// a at 127.0.0.1 (UDP bound, `mode`), b at 127.0.0.2 listening on TCP only, or on UDP
/// too with `b_udp`.
async fn pair(mode: TcpMode, b_udp: bool, b_node: NodeConfig) -> (Peer, Peer, SocketAddr) {
    let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let a_addr: SocketAddr = format!("127.0.0.1:{pa}").parse().unwrap();
    let b_addr: SocketAddr = format!("127.0.0.2:{pb}").parse().unwrap();
    let (a_cfg, b_cfg) = configs(a_addr, b_addr, mode);
    let b = start(
        node(b_cfg, 2, b_node),
        DriverConfig {
            udp: if b_udp { vec![b_addr] } else { vec![] },
            tcp: vec![b_addr],
            ..DriverConfig::default()
        },
    )
    .await;
    let a = start(
        node(a_cfg, 1, NodeConfig::default()),
        DriverConfig {
            udp: vec![a_addr],
            ..DriverConfig::default()
        },
    )
    .await;
    (a, b, b_addr)
}

// R-FB-1, R-FB-2, R-CFG-1 over real sockets: the responder does not listen on UDP; the
// initiator falls back to TCP and the tunnel carries traffic over the connection.
#[tokio::test]
async fn r_fb_1_fallback_over_real_sockets() {
    let (mut a, mut b, _) = pair(TcpMode::Fallback, false, NodeConfig::default()).await;
    let t0 = Instant::now();
    a.handle
        .command(|ep, now| ep.initiate(now, "b", Some("net")))
        .await
        .unwrap()
        .unwrap();
    assert!(a.wait(Duration::from_secs(10), child_up).await);
    let took = t0.elapsed();
    println!("Child SA up over TCP {took:?} after the start");
    let path = a
        .handle
        .inspect(|n| n.endpoint().ike_sas()[0].path)
        .await
        .unwrap();
    assert!(matches!(path.transport, Transport::Tcp(_)), "{path}");
    assert!(traffic(&mut a, &mut b, 1).await);
    drop(a.handle);
    drop(b.handle);
    let _ = a.task.await;
    let _ = b.task.await;
}

// R-FRAME-1, R-FRAME-2, R-SEC-3, R-SEC-4 over real sockets: a wrong prefix and Length 0
// or 1 close their connection, a prefix split across writes is accepted, a prefix that
// never completes is closed at the deadline; the established SA carries traffic
// throughout.
#[tokio::test]
async fn hostile_clients_close_only_their_own_connection() {
    let cfg = NodeConfig {
        prefix_timeout: Duration::from_millis(500),
        ..NodeConfig::default()
    };
    let (mut a, mut b, b_addr) = pair(TcpMode::Yes, true, cfg).await;
    a.handle
        .command(|ep, now| ep.initiate(now, "b", Some("net")))
        .await
        .unwrap()
        .unwrap();
    assert!(a.wait(Duration::from_secs(10), child_up).await);
    assert!(traffic(&mut a, &mut b, 2).await);

    async fn closed_by_peer(s: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }
    // A wrong prefix.
    let mut s = TcpStream::connect(b_addr).await.unwrap();
    s.write_all(b"IKEUDP").await.unwrap();
    assert!(closed_by_peer(&mut s).await, "wrong prefix");
    // Length 0 and Length 1.
    for len in [0u8, 1] {
        let mut s = TcpStream::connect(b_addr).await.unwrap();
        s.write_all(b"IKETCP\x00").await.unwrap();
        s.write_all(&[len]).await.unwrap();
        assert!(closed_by_peer(&mut s).await, "Length {len}");
    }
    // A header-only IKE_SA_INIT (28 bytes of IKE header, no payload) is refused or
    // answered, never kills the connection's neighbours.
    let mut s = TcpStream::connect(b_addr).await.unwrap();
    let mut msg = b"IKETCP".to_vec();
    msg.extend_from_slice(&(2u16 + 4 + 28).to_be_bytes());
    msg.extend_from_slice(&[0; 4]);
    let mut hdr = [0u8; 28];
    hdr[0..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    hdr[17] = 0x20;
    hdr[18] = 34;
    hdr[19] = 0x08;
    hdr[24..28].copy_from_slice(&28u32.to_be_bytes());
    msg.extend_from_slice(&hdr);
    s.write_all(&msg).await.unwrap();
    // A prefix in two pieces, then silence: accepted, then closed when idle, not
    // before the prefix deadline passes.
    let mut split = TcpStream::connect(b_addr).await.unwrap();
    split.write_all(b"IKE").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    split.write_all(b"TCP").await.unwrap();
    // A prefix that never completes.
    let mut slow = TcpStream::connect(b_addr).await.unwrap();
    slow.write_all(b"IK").await.unwrap();
    assert!(closed_by_peer(&mut slow).await, "incomplete prefix");
    let mut buf = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), split.read(&mut buf))
            .await
            .is_err(),
        "a split prefix is accepted"
    );
    assert!(traffic(&mut a, &mut b, 3).await);
    drop(a.handle);
    drop(b.handle);
    let _ = a.task.await;
    let _ = b.task.await;
}

// IPv6 outer addresses, UDP and TCP on the same port, over real sockets: the fallback
// and ESP both ways, as over IPv4.
#[tokio::test]
async fn ipv6_fallback_over_real_sockets() {
    let (pa, pb) = (free_port("::1"), free_port("::1"));
    let a_addr: SocketAddr = format!("[::1]:{pa}").parse().unwrap();
    let b_addr: SocketAddr = format!("[::1]:{pb}").parse().unwrap();
    let (a_cfg, b_cfg) = configs(a_addr, b_addr, TcpMode::Fallback);
    let mut b = start(
        node(b_cfg, 2, NodeConfig::default()),
        DriverConfig {
            tcp: vec![b_addr],
            ..DriverConfig::default()
        },
    )
    .await;
    let mut a = start(
        node(a_cfg, 1, NodeConfig::default()),
        DriverConfig {
            udp: vec![a_addr],
            ..DriverConfig::default()
        },
    )
    .await;
    a.handle
        .command(|ep, now| ep.initiate(now, "b", Some("net")))
        .await
        .unwrap()
        .unwrap();
    assert!(a.wait(Duration::from_secs(10), child_up).await);
    let path = a
        .handle
        .inspect(|n| n.endpoint().ike_sas()[0].path)
        .await
        .unwrap();
    assert!(path.remote.is_ipv6() && matches!(path.transport, Transport::Tcp(_)));
    assert!(traffic(&mut a, &mut b, 4).await);
}

// R-ESP-3, R-ESP-4: every connection gets one DSCP and a bounded send buffer, and
// TCP_NODELAY; read back from the kernel on a real connection.
#[tokio::test]
async fn r_esp_3_r_esp_4_socket_options() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    let (c, _s) = (c.unwrap(), s.unwrap());
    let config = DriverConfig {
        tcp_send_buffer: Some(64 * 1024),
        dscp: Some(46),
        ..DriverConfig::default()
    };
    iketcp_io::driver::tune(&c, &config);
    let sock = socket2::SockRef::from(&c);
    assert_eq!(sock.tos_v4().unwrap(), 46 << 2, "DSCP EF");
    // Linux doubles what is asked, for its own bookkeeping.
    let sndbuf = sock.send_buffer_size().unwrap();
    assert!((64 * 1024..=2 * 64 * 1024).contains(&sndbuf), "{sndbuf}");
    assert!(c.nodelay().unwrap());
}

// A dual-stack gateway listens on 0.0.0.0 and :: with the same ports, UDP and TCP.
#[tokio::test]
async fn dual_stack_listen_on_the_same_ports() {
    let p = free_port("0.0.0.0");
    let cfg = peer_config(
        "a",
        ("0.0.0.0:500", "127.0.0.1:500"),
        ("b@loop.test", "a@loop.test"),
        ("10.2.0.0/24", "10.1.0.0/24"),
        TcpMode::No,
    );
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let addrs: Vec<SocketAddr> = vec![
        format!("0.0.0.0:{p}").parse().unwrap(),
        format!("[::]:{p}").parse().unwrap(),
    ];
    let d = iketcp_io::Driver::bind(
        DriverConfig {
            udp: addrs.clone(),
            tcp: addrs,
            ..DriverConfig::default()
        },
        node(cfg, 3, NodeConfig::default()),
        tx,
    )
    .await
    .expect("both families bind");
    assert_eq!(d.udp_addrs.len(), 2);
    assert_eq!(d.tcp_addrs.len(), 2);
}

// R-ESP-2: RFC 6040 compatibility mode. The outer header is Not-ECT (over UDP the
// sockets set nothing; a stream has no per-packet header), so the inner ECN field,
// a CE mark included, arrives as it was sent, over UDP and over TCP.
#[tokio::test]
async fn r_esp_2_inner_ecn_kept_over_udp_and_tcp() {
    for (mode, b_udp) in [(TcpMode::No, true), (TcpMode::Yes, false)] {
        let (mut a, mut b, _) = pair(mode, b_udp, NodeConfig::default()).await;
        a.handle
            .command(|ep, now| ep.initiate(now, "b", Some("net")))
            .await
            .unwrap()
            .unwrap();
        assert!(a.wait(Duration::from_secs(10), child_up).await, "{mode:?}");
        for tos in [0xb8 | 3, 0xb8 | 2, 0xb8] {
            let mut p = iketcp_sim::ipv4_udp("10.1.0.5", "10.2.0.7", &[tos; 64]);
            p[1] = tos;
            a.handle.send_packet(p);
            let got = b
                .wait(
                    Duration::from_secs(5),
                    |r| matches!(r, iketcp_io::Report::Packet(p) if p[28] == tos && p[1] == tos),
                )
                .await;
            assert!(got, "{mode:?}: TOS {tos:#04x} not delivered as sent");
        }
    }
}
