//! Fuzz body for the node's input: connections accepted, bytes read in any split,
//! connections closed, datagrams, inner packets and time, in any order, against a
//! responder node. Whatever comes in, the node stays within its bounds: it never writes
//! to a connection it closed or never had, never holds more connections than its limits,
//! and never installs a Child SA (nobody here can authenticate).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use iketcp_crypto::{DeterministicRng, SecretBytes};
use iketcp_node::{Input, Node, NodeConfig, Output};
use iketcp_proto::config::suites;
use iketcp_proto::{
    AuthConfig, ChildConfig, Endpoint, EndpointConfig, Lifetime, Mode, PeerConfig, StreamId,
};
use iketcp_wire::ike::{Id, IdType};

const MAX_STREAMS: usize = 8;
const PER_SOURCE: usize = 4;

fn responder() -> Node {
    let id = |s: &str| Id {
        id_type: IdType::RFC822_ADDR,
        data: s.as_bytes().to_vec(),
    };
    let net = |s: &str| {
        let (a, p) = s.split_once('/').expect("net");
        iketcp_proto::ts::subnet(a.parse().expect("addr"), p.parse().expect("prefix"))
    };
    let peer = PeerConfig {
        name: "peer".into(),
        remote: "10.0.0.1:500".parse().expect("addr"),
        local: "10.0.0.2:500".parse().expect("addr"),
        local_id: id("b@fuzz"),
        remote_id: id("a@fuzz"),
        auth: AuthConfig::Psk(SecretBytes::from_slice(b"fuzz-psk-0123456789abcdef")),
        ike_proposals: vec![suites::ike_aes128gcm16_prfsha256_ecp256()],
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![net("10.2.0.0/24")],
            remote_ts: vec![net("10.1.0.0/24")],
            esp_proposals: vec![suites::esp_aes128gcm16(None)],
            mode: Mode::Tunnel,
            lifetime: Lifetime::CHILD_DEFAULT,
            replay_window: 64,
        }],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp: Default::default(),
        vips: Vec::new(),
        pools: Vec::new(),
    };
    Node::new(
        NodeConfig {
            max_streams: MAX_STREAMS,
            max_streams_per_source: PER_SOURCE,
            max_corrupt: 3,
            ..NodeConfig::default()
        },
        Endpoint::new(
            EndpointConfig::default(),
            vec![peer],
            Box::new(DeterministicRng::from_u64(7)),
        ),
        iketcp_esp::Engine::new(),
    )
}

/// Records: an opcode byte, then arguments (reading as zero past the end).
/// 0 accept (source), 1 data (stream, length, bytes), 2 close (stream), 3 datagram
/// (port, length, bytes), 4 inner packet (length, bytes), 5 time (seconds).
pub fn node_input(data: &[u8]) {
    let mut node = responder();
    let base = Instant::now();
    let mut now = base;
    let mut open: Vec<StreamId> = Vec::new();
    let mut closed: HashSet<StreamId> = HashSet::new();
    let mut rest = data;
    let mut take = |n: usize| -> Vec<u8> {
        let n = n.min(rest.len());
        let (a, b) = rest.split_at(n);
        rest = b;
        a.to_vec()
    };
    for _ in 0..256 {
        let op = take(1);
        let Some(&op) = op.first() else { break };
        let arg = take(2);
        let a0 = arg.first().copied().unwrap_or(0);
        let a1 = arg.get(1).copied().unwrap_or(0);
        match op % 6 {
            0 => {
                let id = node.new_stream_id();
                let remote = format!("192.0.2.{}:{}", a0 % 4 + 1, 40_000 + u16::from(a1));
                node.handle(
                    now,
                    Input::Accepted {
                        id,
                        local: "10.0.0.2:4500".parse().expect("addr"),
                        remote: remote.parse().expect("addr"),
                        tls: false,
                    },
                );
                open.push(id);
            }
            1 => {
                let bytes = take(usize::from(a1) * 4);
                if let Some(&id) = open.get(usize::from(a0) % open.len().max(1)) {
                    node.handle(now, Input::StreamData { id, data: &bytes });
                }
            }
            2 => {
                if !open.is_empty() {
                    let id = open.remove(usize::from(a0) % open.len());
                    node.handle(now, Input::StreamClosed { id });
                    closed.insert(id);
                }
            }
            3 => {
                let bytes = take(usize::from(a1) * 4);
                let local = if a0 & 1 == 0 {
                    "10.0.0.2:500"
                } else {
                    "10.0.0.2:4500"
                };
                node.handle(
                    now,
                    Input::Datagram {
                        local: local.parse().expect("addr"),
                        remote: "10.0.0.1:4500".parse().expect("addr"),
                        data: &bytes,
                    },
                );
            }
            4 => {
                let bytes = take(usize::from(a1) * 4);
                node.handle(now, Input::Packet(&bytes));
            }
            _ => {
                now += Duration::from_secs(u64::from(a0) % 64);
                node.handle_timeout(now);
            }
        }
        while let Some(o) = node.poll_output() {
            match o {
                Output::StreamWrite { id, .. } => {
                    assert!(!closed.contains(&id), "wrote to a closed connection");
                    assert!(open.contains(&id), "wrote to an unknown connection");
                }
                Output::Close { id, .. } => {
                    closed.insert(id);
                    open.retain(|s| *s != id);
                }
                Output::Event(iketcp_proto::Event::ChildUp { .. }) => {
                    panic!("a Child SA with nobody authenticated")
                }
                _ => {}
            }
        }
        let held = node.streams().count();
        assert!(held <= MAX_STREAMS, "{held} connections held");
        assert!(node.routes().next().is_none());
    }
}
