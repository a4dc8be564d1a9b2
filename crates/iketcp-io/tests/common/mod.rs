//! Helpers shared by the socket tests: free ports, a running driver, traffic through the
//! Child SA both ways.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use iketcp_io::{Driver, DriverConfig, Handle, Report};
use iketcp_node::{Node, NodeConfig};
use iketcp_proto::{EndpointConfig, Event, PeerConfig, TcpMode};
use iketcp_sim::{ipv4_udp, peer_config};
use tokio::sync::mpsc;

/// A port free on `ip` for both UDP and TCP right now.
pub fn free_port(ip: &str) -> u16 {
    for _ in 0..100 {
        let t = std::net::TcpListener::bind((ip, 0)).unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// The connection of a at `a_addr` (`mode`, TCP towards b's port) to b, and b's
/// (UDP only) back: 10.1.0.0/24 behind a, 10.2.0.0/24 behind b.
pub fn configs(a_addr: SocketAddr, b_addr: SocketAddr, mode: TcpMode) -> (PeerConfig, PeerConfig) {
    let mut a_cfg = peer_config(
        "b",
        (&a_addr.to_string(), &b_addr.to_string()),
        ("a@loop.test", "b@loop.test"),
        ("10.1.0.0/24", "10.2.0.0/24"),
        mode,
    );
    a_cfg.tcp.remote_port = b_addr.port();
    let b_cfg = peer_config(
        "a",
        (&b_addr.to_string(), &a_addr.to_string()),
        ("b@loop.test", "a@loop.test"),
        ("10.2.0.0/24", "10.1.0.0/24"),
        TcpMode::No,
    );
    (a_cfg, b_cfg)
}

pub struct Peer {
    pub handle: Handle,
    pub reports: mpsc::UnboundedReceiver<Report>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Peer {
    /// Waits for a report that `want` accepts, at most `limit`.
    pub async fn wait(&mut self, limit: Duration, mut want: impl FnMut(&Report) -> bool) -> bool {
        let end = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(end, self.reports.recv()).await {
                Ok(Some(r)) if want(&r) => return true,
                Ok(Some(_)) => {}
                _ => return false,
            }
        }
    }
}

impl Peer {
    /// Starts the connection to peer configuration `peer` and its Child SA `net`.
    pub async fn initiate(&self, peer: &'static str) {
        self.handle
            .command(move |ep, now| ep.initiate(now, peer, Some("net")))
            .await
            .unwrap()
            .unwrap();
    }
}

/// Drops both drivers' handles and waits for them to stop.
pub async fn stop(a: Peer, b: Peer) {
    drop(a.handle);
    drop(b.handle);
    let _ = a.task.await;
    let _ = b.task.await;
}

pub async fn start(node: Node, config: DriverConfig) -> Peer {
    let (tx, reports) = mpsc::unbounded_channel();
    let d = Driver::bind(config, node, tx).await.expect("bind");
    let handle = d.handle();
    let task = tokio::spawn(d.run());
    Peer {
        handle,
        reports,
        task,
    }
}

pub fn node(peer: iketcp_proto::PeerConfig, seed: u64, cfg: NodeConfig) -> Node {
    Node::new(
        cfg,
        iketcp_proto::Endpoint::new(
            EndpointConfig::default(),
            vec![peer],
            Box::new(iketcp_crypto::DeterministicRng::from_u64(seed)),
        ),
        iketcp_esp::Engine::new(),
    )
}

pub fn child_up(r: &Report) -> bool {
    matches!(r, Report::Event(Event::ChildUp { .. }))
}

/// Sends a packet each way and waits for both to come out.
pub async fn traffic(a: &mut Peer, b: &mut Peer, tag: u8) -> bool {
    a.handle
        .send_packet(ipv4_udp("10.1.0.5", "10.2.0.7", &[tag; 100]));
    let got_b = b
        .wait(
            Duration::from_secs(5),
            |r| matches!(r, Report::Packet(p) if p.len() == 128 && p[28] == tag),
        )
        .await;
    b.handle
        .send_packet(ipv4_udp("10.2.0.7", "10.1.0.5", &[tag; 200]));
    let got_a = a
        .wait(
            Duration::from_secs(5),
            |r| matches!(r, Report::Packet(p) if p.len() == 228 && p[28] == tag),
        )
        .await;
    got_a && got_b
}
