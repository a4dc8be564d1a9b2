//! The file as serde reads it: every key optional where it has a default, unknown keys
//! refused, and `Spanned` where a check after parsing must point back at the value.
//! Values that can be judged alone (ports, durations, addresses, proposals) are checked
//! while they are read, so their errors carry the span of the exact array element.

use std::path::PathBuf;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::address::{Address, Dscp, Port, Selector};
use crate::duration::DurationValue;
use crate::identity::IdentityValue;
use crate::proposal::{EspProposal, IkeProposal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    pub daemon: Option<Daemon>,
    pub tun: Option<crate::tun::Tun>,
    #[serde(default)]
    pub connection: Vec<Connection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Daemon {
    pub listen: Option<Spanned<Vec<Address>>>,
    pub ike_port: Option<Spanned<Port>>,
    pub natt_port: Option<Spanned<Port>>,
    pub listen_udp: Option<bool>,
    pub raw_esp: Option<bool>,
    pub listen_tcp: Option<Spanned<Vec<Port>>>,
    pub control_socket: Option<PathBuf>,
    pub max_connections: Option<Spanned<usize>>,
    pub max_connections_per_source: Option<Spanned<usize>>,
    pub half_open_limit: Option<Spanned<usize>>,
    pub half_open_per_source: Option<Spanned<usize>>,
    pub cookie_threshold: Option<usize>,
    pub key_export_dir: Option<PathBuf>,
    pub connect_timeout: Option<Spanned<DurationValue>>,
    pub tcp_send_buffer: Option<u32>,
    pub max_message_length: Option<Spanned<usize>>,
    pub dscp: Option<Dscp>,
    pub prefix_timeout: Option<Spanned<DurationValue>>,
    pub idle_timeout: Option<Spanned<DurationValue>>,
    pub retransmit_timeout: Option<Spanned<DurationValue>>,
    pub retransmit_tries: Option<u32>,
    pub listen_tls: Option<Spanned<Vec<Port>>>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_min_version: Option<TlsVersion>,
    pub tls_alpn: Option<Vec<String>>,
    pub handshake_timeout: Option<Spanned<DurationValue>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthMethod {
    Psk,
    Pubkey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModeValue {
    Tunnel,
    Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EnableTcp {
    No,
    Yes,
    Fallback,
}

/// What the daemon does with a connection when it starts or reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Initiate it at once.
    Start,
    /// Initiate it when traffic for its selectors appears.
    Ondemand,
    /// Never initiate: wait for the peer.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Connection {
    pub name: Spanned<String>,
    pub remote_addrs: Option<Spanned<Vec<Address>>>,
    pub local_addrs: Option<Spanned<Vec<Address>>>,
    pub remote_port: Option<Port>,
    pub local_id: IdentityValue,
    pub remote_id: IdentityValue,
    pub auth: Spanned<AuthMethod>,
    pub psk_file: Option<Spanned<PathBuf>>,
    pub psk_env: Option<Spanned<String>>,
    /// Only read to be refused with a message saying where a key belongs.
    pub psk: Option<Spanned<IgnoredAny>>,
    pub cert_file: Option<Spanned<PathBuf>>,
    pub key_file: Option<Spanned<PathBuf>>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub ike: Option<Spanned<Vec<IkeProposal>>>,
    pub esp: Option<Spanned<Vec<EspProposal>>>,
    pub local_ts: Option<Spanned<Vec<Selector>>>,
    pub remote_ts: Option<Spanned<Vec<Selector>>>,
    pub vips: Option<Spanned<Vec<crate::address::Vip>>>,
    pub pools: Option<Spanned<Vec<crate::address::Pool>>>,
    pub mode: Option<ModeValue>,
    pub enable_tcp: Option<EnableTcp>,
    pub tcp_remote_port: Option<Port>,
    pub fallback_delay: Option<Spanned<DurationValue>>,
    pub udp_probe_interval: Option<Spanned<DurationValue>>,
    pub mobike: Option<bool>,
    pub start: Option<Spanned<Start>>,
    pub rekey_time: Option<Spanned<DurationValue>>,
    pub child_rekey_time: Option<Spanned<DurationValue>>,
    pub dpd_delay: Option<Spanned<DurationValue>>,
    pub fragmentation: Option<bool>,
    pub replay_window: Option<Spanned<u32>>,
    pub tcp_tls: Option<Spanned<bool>>,
    pub tls_server_name: Option<Spanned<String>>,
    pub tls_alpn: Option<Spanned<Vec<String>>>,
    pub tls_ca_file: Option<Spanned<PathBuf>>,
    pub tls_pin: Option<Spanned<String>>,
    pub http_proxy: Option<Spanned<String>>,
    pub http_proxy_credentials_file: Option<Spanned<PathBuf>>,
}
