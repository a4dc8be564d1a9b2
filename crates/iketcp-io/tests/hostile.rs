//! Hostile clients against a responder over real sockets (R-SEC-3): a thousand idle
//! connections, a flood of half-open IKE SAs over TCP, a prefix trickled byte by byte;
//! each is closed or answered as the rules say, the state stays bounded, the process
//! stays idle, and an established SA carries traffic throughout.

mod common;

use std::net::SocketAddr;

use common::{configs, free_port, node, start, traffic};
use std::time::{Duration, Instant};

use iketcp_crypto::DeterministicRng;
use iketcp_io::{DriverConfig, Report};
use iketcp_node::{Node, NodeConfig};
use iketcp_proto::{Endpoint, EndpointConfig, Event, Output, Path, StreamId, TcpMode, Transport};
use iketcp_sim::peer_config;
use iketcp_wire::encap::stream::{Framer, Limits, Outgoing, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name in parentheses; utime and stime are 14th and 15th.
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// IKE_SA_INIT requests as an initiator sends them on a stream, framed with the prefix.
fn framed_inits(n: usize) -> Vec<Vec<u8>> {
    let cfg = peer_config(
        "b",
        ("127.0.0.1:500", "127.0.0.2:500"),
        ("x@loop.test", "b@loop.test"),
        ("10.9.0.0/24", "10.2.0.0/24"),
        TcpMode::No,
    );
    let mut ep = Endpoint::new(
        EndpointConfig::default(),
        vec![cfg],
        Box::new(DeterministicRng::from_u64(5)),
    );
    let now = Instant::now();
    let path = Path {
        local: "127.0.0.1:40000".parse().unwrap(),
        remote: "127.0.0.2:4500".parse().unwrap(),
        transport: Transport::Tcp(StreamId(1)),
    };
    let mut out = Vec::new();
    for _ in 0..n {
        ep.initiate_on(now, "b", Some("net"), path).unwrap();
        while let Some(o) = ep.poll_output() {
            if let Output::Transmit(t) = o {
                let mut f = Framer::new(Role::Originator, Limits::default());
                let mut bytes = Vec::new();
                f.encode(Outgoing::Ike(&t.message), &mut bytes).unwrap();
                out.push(bytes);
            }
        }
    }
    out
}

async fn connect_from(src: &str, to: SocketAddr) -> Option<TcpStream> {
    let s = TcpSocket::new_v4().ok()?;
    s.bind(format!("{src}:0").parse().ok()?).ok()?;
    s.connect(to).await.ok()
}

// R-SEC-3: bounded resources under a thousand idle connections, a half-open flood over
// TCP and a trickled prefix, while an established SA carries traffic; the process stays
// idle once the attackers stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_3_bounded_under_hostile_clients() {
    // Both ends of a thousand connections live in this process.
    let limit = rlimit::increase_nofile_limit(8192).unwrap_or(0);
    assert!(
        limit >= 2500,
        "RLIMIT_NOFILE is {limit}: too low for this test"
    );
    let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let a_addr: SocketAddr = format!("127.0.0.1:{pa}").parse().unwrap();
    let b_addr: SocketAddr = format!("127.0.0.2:{pb}").parse().unwrap();
    let (a_cfg, b_cfg) = configs(a_addr, b_addr, TcpMode::Yes);
    let b_node = Node::new(
        NodeConfig {
            prefix_timeout: Duration::from_millis(800),
            idle_timeout: Duration::from_millis(800),
            max_streams_per_source: 32,
            ..NodeConfig::default()
        },
        Endpoint::new(
            EndpointConfig {
                half_open_per_source: 8,
                half_open_timeout: Duration::from_secs(2),
                ..EndpointConfig::default()
            },
            vec![b_cfg],
            Box::new(DeterministicRng::from_u64(2)),
        ),
        iketcp_esp::Engine::new(),
    );
    let mut b = start(
        b_node,
        DriverConfig {
            tcp: vec![b_addr],
            ..DriverConfig::default()
        },
    )
    .await;
    let mut a = start(
        node(a_cfg, 1, NodeConfig::default()),
        DriverConfig::default(),
    )
    .await;
    a.handle
        .command(|ep, now| ep.initiate(now, "b", Some("net")))
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.wait(Duration::from_secs(10), |r| matches!(
            r,
            Report::Event(Event::ChildUp { .. })
        ))
        .await
    );

    // A thousand connections from 40 addresses, each sending the prefix and then
    // nothing. The ones beyond 32 per address are refused at once.
    let mut idle = Vec::new();
    for i in 0..1000 {
        let src = format!("127.0.3.{}", i % 40 + 1);
        if let Some(mut s) = connect_from(&src, b_addr).await {
            let _ = s.write_all(b"IKETCP").await;
            idle.push(s);
        }
    }
    // A half-open flood over TCP from one address: eight half-open SAs, then drops.
    let mut flood = Vec::new();
    for msg in framed_inits(40) {
        if let Some(mut s) = connect_from("127.0.4.1", b_addr).await {
            let _ = s.write_all(&msg).await;
            flood.push(s);
        }
    }
    // A prefix one byte at a time, slower than the prefix deadline allows.
    let mut trickle = connect_from("127.0.5.1", b_addr).await.unwrap();
    for byte in b"IKETC" {
        if trickle.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        traffic(&mut a, &mut b, 1).await,
        "traffic during the attack"
    );
    let stats = b.handle.inspect(|n| n.endpoint().stats()).await.unwrap();
    assert!(stats.half_open <= 8, "{stats:?}");
    assert!(stats.init_dropped_source > 0, "{stats:?}");
    let mut buf = [0u8; 16];
    let trickle_closed = matches!(
        tokio::time::timeout(Duration::from_secs(3), trickle.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    );
    assert!(
        trickle_closed,
        "a trickled prefix is closed at the deadline"
    );

    // The idle connections are closed once idle, the flood's once their half-open SAs
    // time out; only the SA's stays.
    let end = Instant::now() + Duration::from_secs(10);
    let mut held = usize::MAX;
    while Instant::now() < end {
        held = b.handle.inspect(|n| n.streams().count()).await.unwrap();
        if held == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held, 1, "connections left on the responder");
    assert!(traffic(&mut a, &mut b, 2).await, "traffic after the attack");

    // Idle means idle: no busy loop in either driver.
    drop((idle, flood, trickle));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_time().saturating_sub(t0);
    assert!(
        spent < Duration::from_millis(200),
        "{spent:?} of CPU in 1 s idle"
    );
}
