//! IKE over real sockets on loopback, three figures:
//!
//! (a) IKE SA + Child SA setups per second against one responder, many initiators in
//!     flight, over TCP beside the same over UDP in the same run;
//! (b) resident memory per TCP-carried IKE SA (with its Child SA and its connection) on
//!     a responder process holding 10,000 of them;
//! (c) time from start to Child SA up when UDP is silently lost, with `fallback` and the
//!     default fallback delay.
//!
//! `cargo bench -p iketcp-io --bench tcp` (needs about 2 × 10,000 file descriptors;
//! `IKETCP_BENCH_SAS` sets the count of (b)).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use iketcp_io::{Driver, DriverConfig, Handle, Report};
use iketcp_node::{Node, NodeConfig};
use iketcp_proto::{Endpoint, EndpointConfig, Event, IkeSaId, PeerConfig, TcpMode};
use iketcp_sim::peer_config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

fn free_port(ip: &str) -> u16 {
    let t = std::net::TcpListener::bind((ip, 0)).expect("bind");
    t.local_addr().expect("addr").port()
}

fn configs(a: SocketAddr, b: SocketAddr, mode: TcpMode) -> (PeerConfig, PeerConfig) {
    let mut ac = peer_config(
        "b",
        (&a.to_string(), &b.to_string()),
        ("a@bench.test", "b@bench.test"),
        ("10.1.0.0/24", "10.2.0.0/24"),
        mode,
    );
    ac.tcp.remote_port = b.port();
    let bc = peer_config(
        "a",
        (&b.to_string(), &a.to_string()),
        ("b@bench.test", "a@bench.test"),
        ("10.2.0.0/24", "10.1.0.0/24"),
        TcpMode::No,
    );
    (ac, bc)
}

/// A responder that lets one source hold many SAs and connections.
fn responder_node(peer: PeerConfig) -> Node {
    let cfg = EndpointConfig {
        half_open_per_source: 100_000,
        half_open_limit: 100_000,
        cookie_threshold: 100_000,
        ..EndpointConfig::default()
    };
    let node_cfg = NodeConfig {
        max_streams: 100_000,
        max_streams_per_source: 100_000,
        ..NodeConfig::default()
    };
    Node::new(
        node_cfg,
        Endpoint::new(cfg, vec![peer], Box::new(iketcp_crypto::SystemRng::new())),
        iketcp_esp::Engine::new(),
    )
}

fn initiator_node(peer: PeerConfig) -> Node {
    Node::new(
        NodeConfig::default(),
        Endpoint::new(
            EndpointConfig::default(),
            vec![peer],
            Box::new(iketcp_crypto::SystemRng::new()),
        ),
        iketcp_esp::Engine::new(),
    )
}

async fn start(
    node: Node,
    config: DriverConfig,
) -> (
    Handle,
    mpsc::UnboundedReceiver<Report>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let d = Driver::bind(config, node, tx).await.expect("bind");
    let h = d.handle();
    (h, rx, tokio::spawn(d.run()))
}

async fn initiate(h: &Handle) {
    h.command(|ep, now| ep.initiate(now, "b", Some("net")))
        .await
        .expect("driver")
        .expect("initiate");
}

/// (c): median time from `initiate` to Child SA up, UDP unanswered, `fallback`.
async fn fallback_time(runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
        let a: SocketAddr = format!("127.0.0.1:{pa}").parse().expect("a");
        let b: SocketAddr = format!("127.0.0.2:{pb}").parse().expect("b");
        let (ac, bc) = configs(a, b, TcpMode::Fallback);
        let (hb, _rb, tb) = start(
            responder_node(bc),
            DriverConfig {
                tcp: vec![b],
                ..DriverConfig::default()
            },
        )
        .await;
        let (ha, mut ra, ta) = start(
            initiator_node(ac),
            DriverConfig {
                udp: vec![a],
                ..DriverConfig::default()
            },
        )
        .await;
        let t0 = Instant::now();
        initiate(&ha).await;
        while let Some(r) = ra.recv().await {
            if matches!(r, Report::Event(Event::ChildUp { .. })) {
                break;
            }
        }
        times.push(t0.elapsed());
        drop((ha, hb));
        let _ = (ta.await, tb.await);
    }
    times.sort();
    times[times.len() / 2]
}

/// (a): setups completed per second over `secs`, `initiators` drivers each keeping
/// `in_flight` setups going (each setup deleted once up, and another started).
async fn setup_rate(mode: TcpMode, initiators: usize, in_flight: usize, secs: f64) -> f64 {
    let pb = free_port("127.0.0.2");
    let b: SocketAddr = format!("127.0.0.2:{pb}").parse().expect("b");
    let a0: SocketAddr = "127.0.1.1:500".parse().expect("a");
    let (_, bc) = configs(a0, b, mode);
    let (hb, _rb, tb) = start(
        responder_node(bc),
        DriverConfig {
            udp: vec![b],
            tcp: vec![b],
            ..DriverConfig::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for i in 0..initiators {
        let ip = format!("127.0.1.{}", i + 1);
        let a: SocketAddr = format!("{ip}:{}", free_port(&ip)).parse().expect("a");
        let (ac, _) = configs(a, b, mode);
        let (ha, mut ra, ta) = start(
            initiator_node(ac),
            DriverConfig {
                udp: vec![a],
                ..DriverConfig::default()
            },
        )
        .await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..in_flight {
                initiate(&ha).await;
            }
            let mut done = 0u64;
            while let Some(r) = ra.recv().await {
                let Report::Event(e) = r else { continue };
                match e {
                    Event::ChildUp { ike, .. } => {
                        done += 1;
                        let _ = ha.command(move |ep, now| ep.terminate(now, ike)).await;
                        if Instant::now() < deadline {
                            initiate(&ha).await;
                        } else {
                            break;
                        }
                    }
                    Event::IkeDown { .. } if Instant::now() < deadline => {}
                    _ => {}
                }
            }
            drop(ha);
            let _ = ta.await;
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    drop(hb);
    let _ = tb.await;
    total as f64 / secs
}

/// (b): the responder runs in a child process; this process opens `n` IKE SAs over TCP
/// to it and reads its resident memory before and after.
async fn memory_per_sa(n: usize) -> Option<(f64, usize)> {
    let pb = free_port("127.0.0.2");
    let b: SocketAddr = format!("127.0.0.2:{pb}").parse().ok()?;
    let mut child = tokio::process::Command::new(std::env::current_exe().ok()?)
        .env("IKETCP_BENCH_RESPONDER", b.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let pid = child.id()?;
    let mut lines = BufReader::new(child.stdout.take()?).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        if l == "ready" {
            break;
        }
    }
    let rss = || -> usize {
        std::fs::read_to_string(format!("/proc/{pid}/statm"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
            .map_or(0, |p| p * 4096)
    };
    let before = rss();
    let a: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .ok()?;
    let (ac, _) = configs(a, b, TcpMode::Yes);
    let (ha, mut ra, ta) = start(initiator_node(ac), DriverConfig::default()).await;
    let window = 200;
    let mut started = 0;
    let mut up = 0;
    while started < window.min(n) {
        initiate(&ha).await;
        started += 1;
    }
    let t0 = Instant::now();
    while up < n {
        match tokio::time::timeout(Duration::from_secs(30), ra.recv()).await {
            Ok(Some(Report::Event(Event::ChildUp { .. }))) => {
                up += 1;
                if started < n {
                    initiate(&ha).await;
                    started += 1;
                }
            }
            Ok(Some(Report::Event(Event::IkeDown { .. }))) => {
                eprintln!("an IKE SA failed");
                return None;
            }
            Ok(Some(_)) => {}
            _ => return None,
        }
    }
    eprintln!("{n} IKE SAs over TCP up in {:?}", t0.elapsed());
    // Let the responder settle (cached responses, timers) before reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss();
    let ids: Vec<IkeSaId> = ha
        .inspect(|node| node.endpoint().ike_sas().iter().map(|s| s.id).collect())
        .await?;
    drop(ids);
    drop(ha);
    let _ = ta.await;
    let _ = child.kill().await;
    Some((after.saturating_sub(before) as f64 / n as f64, after))
}

async fn responder_process(addr: SocketAddr) {
    let a: SocketAddr = "127.0.0.1:500".parse().expect("a");
    let (_, bc) = configs(a, addr, TcpMode::Yes);
    let (h, mut r, t) = start(
        responder_node(bc),
        DriverConfig {
            tcp: vec![addr],
            ..DriverConfig::default()
        },
    )
    .await;
    println!("ready");
    while r.recv().await.is_some() {}
    drop(h);
    let _ = t.await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(addr) = std::env::var("IKETCP_BENCH_RESPONDER") {
        rt.block_on(responder_process(addr.parse().expect("address")));
        return;
    }
    rt.block_on(async {
        let t = fallback_time(5).await;
        println!(
            "(c) Child SA up {:.0} ms after the start, UDP silently lost, fallback after the default 1 s (median of 5)",
            t.as_secs_f64() * 1e3
        );
        let udp = setup_rate(TcpMode::No, 4, 16, 5.0).await;
        let tcp = setup_rate(TcpMode::Yes, 4, 16, 5.0).await;
        println!(
            "(a) IKE SA + Child SA setups: {tcp:.0}/s over TCP, {udp:.0}/s over UDP (TCP/UDP {:.2}), 4 initiators × 16 in flight, one responder",
            tcp / udp
        );
        let n = std::env::var("IKETCP_BENCH_SAS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000);
        match memory_per_sa(n).await {
            Some((per, total)) => println!(
                "(b) {n} IKE SAs over TCP on one responder: {:.1} KiB resident per SA (Child SA and connection included), {:.0} MiB in all",
                per / 1024.0,
                total as f64 / 1048576.0
            ),
            None => println!("(b) not measured: the setups did not complete"),
        }
    });
}
