//! From the checked file to what the daemon runs: the engine's, the node's and the
//! driver's settings, one `PeerConfig` per connection, and what to start.

use core::net::SocketAddr;
use std::collections::HashMap;
use std::path::PathBuf;

use iketcp_io::DriverConfig;
use iketcp_io::wrap::StreamSettings;
use iketcp_node::NodeConfig;
use iketcp_proto::config::id_from_identity;
use iketcp_proto::{ChildConfig, EndpointConfig, PeerConfig};

use crate::config::{Config, Connection};
use crate::schema::Start;

/// Everything the daemon builds its node and driver from.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub endpoint: EndpointConfig,
    /// One per connection, in the file's order.
    pub peers: Vec<PeerConfig>,
    pub node: NodeConfig,
    pub driver: DriverConfig,
    /// The connections to initiate at start (`start = "start"`), in the file's order.
    pub start: Vec<String>,
    /// The connections to initiate when traffic for them appears (`start = "ondemand"`).
    pub on_demand: Vec<String>,
    /// Where Wireshark key files go; key export is off without it.
    pub key_export_dir: Option<PathBuf>,
    pub control_socket: PathBuf,
}

impl Connection {
    /// This connection as the engine's peer, with one Child SA configuration of the
    /// same name.
    pub fn peer_config(&self) -> PeerConfig {
        PeerConfig {
            name: self.name.clone(),
            remote: self.remote,
            local: self.local,
            local_id: id_from_identity(&self.local_id),
            remote_id: id_from_identity(&self.remote_id),
            auth: self.auth.clone(),
            ike_proposals: self.ike_proposals.clone(),
            children: vec![ChildConfig {
                name: self.name.clone(),
                local_ts: self.local_ts.clone(),
                remote_ts: self.remote_ts.clone(),
                esp_proposals: self.esp_proposals.clone(),
                mode: self.mode,
                lifetime: self.child_lifetime,
                replay_window: self.replay_window,
            }],
            ike_lifetime: self.ike_lifetime,
            dpd: self.dpd_delay,
            fragmentation: self.fragmentation,
            mobike: self.mobike,
            tcp: self.tcp.clone(),
            vips: self.vips.clone(),
            pools: self.pools.clone(),
        }
    }
}

/// The most ESP adds to an inner packet: SPI and sequence number (8), a CBC IV (16),
/// padding to a 16-byte block (up to 15), pad length and next header (2), and the
/// longest ICV (HMAC-SHA-512-256, 32).
const ESP_OVERHEAD: usize = 8 + 16 + 15 + 2 + 32;

impl Config {
    /// How the driver opens each connection's streams.
    pub fn stream_settings(&self) -> HashMap<String, StreamSettings> {
        self.connections
            .iter()
            .filter(|c| c.wrap != crate::wrap::StreamWrap::default())
            .map(|c| {
                let s = c.wrap.settings(c.remote.ip(), self.daemon.tls_min_version);
                (c.name.clone(), s)
            })
            .collect()
    }

    /// The runtime settings this file describes.
    pub fn runtime(&self) -> Runtime {
        let d = &self.daemon;
        let endpoint = EndpointConfig {
            half_open_limit: d.half_open_limit,
            half_open_per_source: d.half_open_per_source,
            cookie_threshold: d.cookie_threshold,
            retransmit: iketcp_proto::Retransmit {
                initial: d.retransmit_timeout,
                tries: d.retransmit_tries,
                ..iketcp_proto::Retransmit::default()
            },
            raw_esp: d.raw_esp,
            ..EndpointConfig::default()
        };
        let node = NodeConfig {
            prefix_timeout: d.prefix_timeout,
            idle_timeout: d.idle_timeout,
            max_streams: d.max_connections,
            max_streams_per_source: d.max_connections_per_source,
            export_keys: d.key_export_dir.is_some(),
            limits: iketcp_wire::encap::stream::Limits {
                max_esp_len: d.max_message_length,
                ..Default::default()
            },
            ..NodeConfig::default()
        };
        let udp = if d.listen_udp {
            d.listen
                .iter()
                .flat_map(|&ip| [d.ike_port, d.natt_port].map(|port| SocketAddr::new(ip, port)))
                .collect()
        } else {
            Vec::new()
        };
        let tcp = d
            .listen
            .iter()
            .flat_map(|&ip| {
                d.listen_tcp
                    .iter()
                    .map(move |&port| SocketAddr::new(ip, port))
            })
            .collect();
        let tls = d
            .listen
            .iter()
            .flat_map(|&ip| {
                d.listen_tls
                    .iter()
                    .map(move |&port| SocketAddr::new(ip, port))
            })
            .collect();
        let driver = DriverConfig {
            udp,
            tcp,
            tls,
            // Loaded (or made) by the daemon when it starts: it may write files.
            tls_server: None,
            handshake_timeout: d.handshake_timeout,
            streams: self.stream_settings(),
            connect_timeout: d.connect_timeout,
            tcp_send_buffer: d.tcp_send_buffer,
            dscp: d.dscp,
            tun: self.tun.as_ref().map(|t| iketcp_io::tun::TunConfig {
                name: t.name.clone(),
                addresses: t.addresses.clone(),
                mtu: t.mtu,
                // R-ESP-5: the largest ESP message less ESP's largest overhead.
                stream_mtu: u16::try_from(d.max_message_length.saturating_sub(ESP_OVERHEAD))
                    .unwrap_or(u16::MAX)
                    .max(576),
                routes: t.routes.iter().flat_map(iketcp_io::routes::cidrs).collect(),
            }),
            // RFC 4555: an initiator follows its addresses.
            watch_addresses: self.connections.iter().any(|c| c.mobike),
            // A full tunnel is routed by policy; the daemon's own packets stay out of it.
            fwmark: self.tun.is_some(),
            raw_esp: d.raw_esp,
        };
        let named = |s: Start| {
            self.connections
                .iter()
                .filter(|c| c.start == s)
                .map(|c| c.name.clone())
                .collect()
        };
        Runtime {
            endpoint,
            peers: self
                .connections
                .iter()
                .map(Connection::peer_config)
                .collect(),
            node,
            driver,
            start: named(Start::Start),
            on_demand: named(Start::Ondemand),
            key_export_dir: d.key_export_dir.clone(),
            control_socket: d.control_socket.clone(),
        }
    }
}
