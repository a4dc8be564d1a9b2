//! The checked configuration: every default applied, every value validated, secrets
//! read. Defaults are those of the runtime types themselves (`EndpointConfig`,
//! `NodeConfig`, `DriverConfig`, `TcpConfig`, `Lifetime`), so the file and the library
//! cannot drift apart.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ops::Range;
use core::time::Duration;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use iketcp_io::DriverConfig;
use iketcp_io::tls::MinVersion;
use iketcp_node::NodeConfig;
use iketcp_proto::config::{Certificate, Identity, PrivateKey, TrustStore, suites};
use iketcp_proto::proposal::ProposalSpec;
use iketcp_proto::{AuthConfig, EndpointConfig, Lifetime, Mode, TcpConfig, TcpMode};
use iketcp_wire::ike::TrafficSelector;
use toml::Spanned;

use crate::duration::DurationValue;
use crate::error::{ConfigError, Source};
use crate::schema::{self, AuthMethod, EnableTcp, ModeValue, Start};
use crate::secret::{self, EnvLookup};

/// Where the control socket is when the file does not say.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/iketcp/iketcpd.sock";
/// The IKE port (RFC 7296 §2).
pub const DEFAULT_IKE_PORT: u16 = 500;
/// The NAT traversal port (RFC 3948), also RFC 9329's default TCP port.
pub const DEFAULT_NATT_PORT: u16 = 4500;

/// `max_message_length` bounds: room for a 576-byte inner packet and ESP's overhead,
/// up to what the stream's 16-bit Length field leaves.
const MIN_MESSAGE_LENGTH: usize = 640;
const MAX_BODY: usize = iketcp_wire::encap::stream::MAX_BODY;

/// A whole configuration file, checked, with its secrets read.
///
/// `Debug` shows no secret: pre-shared keys are `SecretBytes` and private keys print
/// their algorithm only.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: Daemon,
    pub connections: Vec<Connection>,
    /// `[tun]`, if the file has one.
    pub tun: Option<crate::tun::TunSettings>,
}

/// `[daemon]`: sockets and limits for the whole process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    pub listen: Vec<IpAddr>,
    pub ike_port: u16,
    pub natt_port: u16,
    pub listen_udp: bool,
    /// ESP as IP protocol 50 where no NAT is seen (raw sockets, `CAP_NET_RAW`).
    pub raw_esp: bool,
    pub listen_tcp: Vec<u16>,
    pub control_socket: PathBuf,
    pub max_connections: usize,
    pub max_connections_per_source: usize,
    pub half_open_limit: usize,
    pub half_open_per_source: usize,
    pub cookie_threshold: usize,
    pub key_export_dir: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// `None`: the system's default (`tcp_send_buffer = 0`).
    pub tcp_send_buffer: Option<u32>,
    pub dscp: Option<u8>,
    /// The largest ESP message sent or accepted on a connection (R-FRAME-5), and so the
    /// inner MTU of Child SAs carried over TCP (R-ESP-5).
    pub max_message_length: usize,
    pub prefix_timeout: Duration,
    pub idle_timeout: Duration,
    /// IKE over UDP (RFC 7296 §2.1): the first wait, then each 1.8 times the last, this
    /// many retransmissions (strongSwan's `retransmit_timeout` and `retransmit_tries`).
    pub retransmit_timeout: Duration,
    pub retransmit_tries: u32,
    /// TCP ports whose streams run inside TLS (R-TLS-1); a port also in `listen_tcp`
    /// takes both, told apart by the first byte.
    pub listen_tls: Vec<u16>,
    /// The TLS server certificate and key, made self-signed at first start when
    /// neither file exists.
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
    pub tls_min_version: MinVersion,
    /// ALPN protocols the TLS ports accept (none: whatever the client offers is not
    /// answered).
    pub tls_alpn: Vec<String>,
    pub handshake_timeout: Duration,
}

/// Where the TLS certificate is kept when the file does not say.
pub const DEFAULT_TLS_CERT: &str = "/var/lib/iketcp/tls-cert.pem";
pub const DEFAULT_TLS_KEY: &str = "/var/lib/iketcp/tls-key.pem";

/// One `[[connection]]`: a peer and the one Child SA configuration named after it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    /// Empty: the peer may come from any address (it can then not be initiated to).
    pub remote_addrs: Vec<IpAddr>,
    pub local_addrs: Vec<IpAddr>,
    pub remote_port: u16,
    pub local_id: Identity,
    pub remote_id: Identity,
    pub auth: AuthConfig,
    pub ike_proposals: Vec<ProposalSpec>,
    pub esp_proposals: Vec<ProposalSpec>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Virtual addresses asked for in IKE_AUTH (RFC 7296 §2.19).
    pub vips: Vec<IpAddr>,
    /// Where the peer's virtual address comes from, when it asks for one.
    pub pools: Vec<iketcp_proto::AddressPool>,
    pub mode: Mode,
    pub tcp: TcpConfig,
    pub start: Start,
    pub ike_lifetime: Lifetime,
    pub child_lifetime: Lifetime,
    pub dpd_delay: Option<Duration>,
    pub fragmentation: bool,
    /// RFC 4555 MOBIKE announced.
    pub mobike: bool,
    pub replay_window: u32,
    /// TLS and a web proxy for its TCP streams (R-CFG-2).
    pub wrap: crate::wrap::StreamWrap,
    /// Our address for this peer: the first of `local_addrs`, else the first `listen`
    /// address of the remote's family, with the IKE port.
    pub local: SocketAddr,
    /// The first of `remote_addrs` with `remote_port`; the unspecified address of the
    /// local family when `remote_addrs` is left out.
    pub remote: SocketAddr,
}

/// Rekey and expiry times from one `rekey_time`, shaped like strongSwan's (rand_time
/// and over_time about a tenth of it) and equal to [`Lifetime::IKE_DEFAULT`] for 4 h and
/// [`Lifetime::CHILD_DEFAULT`] for 1 h: rekey up to min(rekey/10, 6 min) early, expire
/// min(rekey/6, 10 min) after the rekey time.
pub fn lifetime(rekey: Duration) -> Lifetime {
    Lifetime {
        rekey,
        jitter: (rekey / 10).min(Duration::from_secs(360)),
        hard: rekey + (rekey / 6).min(Duration::from_secs(600)),
    }
}

impl Config {
    /// Reads and checks the file at `path`. Relative file names in it (`psk_file`,
    /// `cert_file`, …) are relative to the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Checks `text`; errors name `file`, and relative file names in it are relative to
    /// `file`'s directory. Environment variables come from the process.
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::parse_with_env(text, file, &secret::process_env)
    }

    /// [`Config::parse`], reading environment variables (`psk_env`) through `env`.
    pub fn parse_with_env(
        text: &str,
        file: impl AsRef<Path>,
        env: EnvLookup<'_>,
    ) -> Result<Config, ConfigError> {
        let file = file.as_ref();
        let name = file.display().to_string();
        let src = Source { file: &name, text };
        let raw: schema::File = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let check = Check {
            src: &src,
            base: &base,
            env,
        };
        let daemon = check.daemon(raw.daemon.unwrap_or_default())?;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut connections = Vec::with_capacity(raw.connection.len());
        for c in raw.connection {
            let line = src.line_of(c.name.span().start);
            if let Some(first) = seen.insert(c.name.get_ref().clone(), line) {
                return Err(src.error(
                    Some(c.name.span()),
                    format!("duplicate connection name (first at line {first})"),
                ));
            }
            connections.push(check.connection(c, &daemon)?);
        }
        let tun = match raw.tun {
            Some(t) => {
                // Without a Child SA only a connection started on demand needs its
                // traffic in the device (to start it); the others get their routes
                // with their Child SAs.
                let remote: Vec<_> = connections
                    .iter()
                    .filter(|c| c.start == Start::Ondemand)
                    .flat_map(|c| c.remote_ts.iter().copied())
                    .collect();
                Some(t.check(&src, remote)?)
            }
            None => None,
        };
        Ok(Config {
            daemon,
            connections,
            tun,
        })
    }

    /// The connection called `name`.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }
}

/// A list of addresses as read, with its span for later errors.
type Listed = (Range<usize>, Vec<IpAddr>);

pub(crate) struct Check<'a> {
    src: &'a Source<'a>,
    base: &'a Path,
    pub(crate) env: EnvLookup<'a>,
}

impl Check<'_> {
    pub(crate) fn fail<T>(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(self.src.error(Some(span), message))
    }

    pub(crate) fn path(&self, p: &Path) -> PathBuf {
        self.base.join(p)
    }

    fn positive(&self, v: Option<Spanned<usize>>, default: usize) -> Result<usize, ConfigError> {
        match v {
            Some(v) if *v.get_ref() == 0 => self.fail(v.span(), "must be at least 1"),
            Some(v) => Ok(v.into_inner()),
            None => Ok(default),
        }
    }

    fn duration(
        &self,
        v: Option<Spanned<DurationValue>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            Some(v) if v.get_ref().0.is_zero() => self.fail(v.span(), "must be longer than 0"),
            Some(v) => Ok(v.into_inner().0),
            None => Ok(default),
        }
    }

    fn daemon(&self, d: schema::Daemon) -> Result<Daemon, ConfigError> {
        let endpoint = EndpointConfig::default();
        let node = NodeConfig::default();
        let driver = DriverConfig::default();
        let listen = self
            .addresses(
                d.listen,
                "listen",
                "give at least one address (\"0.0.0.0\", \"::\")",
            )?
            .map_or_else(|| vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)], |(_, l)| l);
        let ike_port = d
            .ike_port
            .as_ref()
            .map_or(DEFAULT_IKE_PORT, |p| p.get_ref().0);
        let natt_port = d
            .natt_port
            .as_ref()
            .map_or(DEFAULT_NATT_PORT, |p| p.get_ref().0);
        if ike_port == natt_port {
            let span = d
                .natt_port
                .as_ref()
                .or(d.ike_port.as_ref())
                .map(Spanned::span)
                .unwrap_or_default();
            return self.fail(span, format!("ike_port and natt_port are both {ike_port}"));
        }
        let ports = |list: Option<Spanned<Vec<crate::address::Port>>>| match list {
            None => Ok(None),
            Some(ports) => {
                let span = ports.span();
                let mut out: Vec<u16> = Vec::new();
                for p in ports.into_inner() {
                    if out.contains(&p.0) {
                        return self.fail(span, format!("port {} is listed twice", p.0));
                    }
                    out.push(p.0);
                }
                Ok(Some(out))
            }
        };
        let listen_tcp = ports(d.listen_tcp)?.unwrap_or_else(|| vec![DEFAULT_NATT_PORT]);
        let listen_tls = ports(d.listen_tls)?.unwrap_or_default();
        let file = |p: Option<PathBuf>, default: &str| {
            self.path(&p.unwrap_or_else(|| PathBuf::from(default)))
        };
        Ok(Daemon {
            listen,
            ike_port,
            natt_port,
            listen_udp: d.listen_udp.unwrap_or(true),
            raw_esp: d.raw_esp.unwrap_or(endpoint.raw_esp),
            listen_tcp,
            control_socket: d
                .control_socket
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET)),
            max_connections: self.positive(d.max_connections, node.max_streams)?,
            max_connections_per_source: self
                .positive(d.max_connections_per_source, node.max_streams_per_source)?,
            half_open_limit: self.positive(d.half_open_limit, endpoint.half_open_limit)?,
            half_open_per_source: self
                .positive(d.half_open_per_source, endpoint.half_open_per_source)?,
            cookie_threshold: d.cookie_threshold.unwrap_or(endpoint.cookie_threshold),
            key_export_dir: d.key_export_dir,
            connect_timeout: self.duration(d.connect_timeout, driver.connect_timeout)?,
            tcp_send_buffer: match d.tcp_send_buffer {
                None => driver.tcp_send_buffer,
                Some(0) => None,
                Some(n) => Some(n),
            },
            dscp: d.dscp.map(|v| v.0),
            max_message_length: match d.max_message_length {
                None => node.limits.max_esp_len,
                Some(v) if (MIN_MESSAGE_LENGTH..=MAX_BODY).contains(v.get_ref()) => v.into_inner(),
                Some(v) => {
                    return self.fail(
                        v.span(),
                        format!(
                            "max_message_length must be {MIN_MESSAGE_LENGTH} to {MAX_BODY} (what the 16-bit Length field allows)"
                        ),
                    );
                }
            },
            prefix_timeout: self.duration(d.prefix_timeout, node.prefix_timeout)?,
            idle_timeout: self.duration(d.idle_timeout, node.idle_timeout)?,
            retransmit_timeout: self.duration(d.retransmit_timeout, endpoint.retransmit.initial)?,
            retransmit_tries: d.retransmit_tries.unwrap_or(endpoint.retransmit.tries),
            listen_tls,
            tls_cert_file: file(d.tls_cert_file, DEFAULT_TLS_CERT),
            tls_key_file: file(d.tls_key_file, DEFAULT_TLS_KEY),
            tls_min_version: match d.tls_min_version {
                Some(schema::TlsVersion::Tls12) => MinVersion::Tls12,
                None | Some(schema::TlsVersion::Tls13) => MinVersion::Tls13,
            },
            tls_alpn: d.tls_alpn.unwrap_or_default(),
            handshake_timeout: self.duration(d.handshake_timeout, driver.handshake_timeout)?,
        })
    }

    fn addresses(
        &self,
        list: Option<Spanned<Vec<crate::address::Address>>>,
        key: &str,
        if_empty: &str,
    ) -> Result<Option<Listed>, ConfigError> {
        let Some(list) = list else { return Ok(None) };
        if list.get_ref().is_empty() {
            return self.fail(list.span(), format!("empty: {if_empty}"));
        }
        let span = list.span();
        let mut out: Vec<IpAddr> = Vec::new();
        for a in list.into_inner() {
            if out.contains(&a.0) {
                return self.fail(span, format!("{} is listed twice in {key}", a.0));
            }
            out.push(a.0);
        }
        Ok(Some((span, out)))
    }

    fn connection(
        &self,
        c: schema::Connection,
        daemon: &Daemon,
    ) -> Result<Connection, ConfigError> {
        let name = c.name.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'))
        {
            return self.fail(
                c.name.span(),
                format!("\"{name}\": a name is letters, digits, '.', '_' and '-'"),
            );
        }
        let auth = self.auth(&c)?;
        let tcp_enabled = matches!(c.enable_tcp, Some(EnableTcp::Yes | EnableTcp::Fallback));
        let wrap = self.stream_wrap(&c, tcp_enabled, daemon.tls_min_version)?;
        let start_span = c.start.as_ref().map(Spanned::span);
        let start = c.start.map_or(Start::None, Spanned::into_inner);
        let remote_addrs = self.addresses(
            c.remote_addrs,
            "remote_addrs",
            "leave remote_addrs out to accept the peer from any address",
        )?;
        let local_addrs = self.addresses(
            c.local_addrs,
            "local_addrs",
            "leave local_addrs out to use the [daemon] listen addresses",
        )?;
        let remote_port = c.remote_port.map_or(DEFAULT_IKE_PORT, |p| p.0);

        // Our address: the first local_addr, else the first listen address of the
        // remote's family (the engine takes one local and one remote address).
        let want_family = remote_addrs.as_ref().map(|(_, a)| a[0].is_ipv4());
        let local_ip = match (&local_addrs, want_family) {
            (Some((span, l)), Some(v4)) if l[0].is_ipv4() != v4 => {
                return self.fail(
                    span.clone(),
                    format!(
                        "{} and the first of remote_addrs are not of the same IP version",
                        l[0]
                    ),
                );
            }
            (Some((_, l)), _) => l[0],
            (None, Some(v4)) => match daemon.listen.iter().find(|a| a.is_ipv4() == v4) {
                Some(a) => *a,
                None => {
                    let (span, _) = remote_addrs.as_ref().expect("family comes from it");
                    return self.fail(
                        span.clone(),
                        format!(
                            "no [daemon] listen address is {}: add one, or set local_addrs",
                            if v4 { "IPv4" } else { "IPv6" }
                        ),
                    );
                }
            },
            (None, None) => daemon.listen[0],
        };
        let remote_ip = match &remote_addrs {
            Some((_, r)) => r[0],
            None => {
                if start != Start::None {
                    return self.fail(
                        start_span.unwrap_or_default(),
                        "a connection that initiates needs remote_addrs",
                    );
                }
                if local_ip.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                }
            }
        };

        let ike_proposals = match c.ike {
            None => suites::default_ike(),
            Some(l) if l.get_ref().is_empty() => {
                return self.fail(l.span(), "empty: leave ike out for the default proposals");
            }
            Some(l) => l.into_inner().into_iter().map(|p| p.0).collect(),
        };
        let esp_proposals = match c.esp {
            None => suites::default_esp(),
            Some(l) if l.get_ref().is_empty() => {
                return self.fail(l.span(), "empty: leave esp out for the default proposals");
            }
            Some(l) => l.into_inner().into_iter().map(|p| p.0).collect(),
        };
        let vips: Vec<IpAddr> = match c.vips {
            None => Vec::new(),
            Some(v) => {
                let span = v.span();
                let list: Vec<IpAddr> = v.into_inner().into_iter().map(|a| a.0).collect();
                if list.is_empty()
                    || list.iter().filter(|a| a.is_ipv4()).count() > 1
                    || list.iter().filter(|a| a.is_ipv6()).count() > 1
                {
                    return self.fail(
                        span,
                        "vips: one or two addresses, at most one of each IP version (\"0.0.0.0\" or \"::\" for any)",
                    );
                }
                list
            }
        };
        let pools: Vec<iketcp_proto::AddressPool> = match c.pools {
            None => Vec::new(),
            Some(p) if p.get_ref().is_empty() => {
                return self.fail(p.span(), "empty: give a subnet such as \"10.3.0.0/24\"");
            }
            Some(p) => p.into_inner().into_iter().map(|p| p.0).collect(),
        };
        let name_span = c.name.span();
        let selectors = |ts: Option<Spanned<Vec<crate::address::Selector>>>,
                         key: &str,
                         default: Vec<TrafficSelector>,
                         hint: &str| {
            let Some(ts) = ts else {
                if default.is_empty() {
                    return self.fail(
                        name_span.clone(),
                        format!(
                            "{key} is missing: give at least one subnet, e.g. \"10.1.0.0/16\"{hint}"
                        ),
                    );
                }
                return Ok(default);
            };
            if ts.get_ref().is_empty() {
                return self.fail(
                    ts.span(),
                    "empty: give at least one subnet, e.g. \"10.1.0.0/16\"",
                );
            }
            Ok(ts.into_inner().into_iter().map(|s| s.0).collect::<Vec<_>>())
        };
        // With a virtual address our side is whatever the peer assigns; with pools the
        // peer's side is the address leased to it.
        let any = |v6: bool| {
            if v6 {
                TrafficSelector::ipv6_any()
            } else {
                TrafficSelector::ipv4_any()
            }
        };
        let local_ts = selectors(
            c.local_ts,
            "local_ts",
            vips.iter().map(|a| any(a.is_ipv6())).collect(),
            ", or set vips",
        )?;
        let remote_ts = selectors(
            c.remote_ts,
            "remote_ts",
            pools
                .iter()
                .map(iketcp_proto::AddressPool::selector)
                .collect(),
            ", or set pools",
        )?;

        let tcp_default = TcpConfig::default();
        let tcp = TcpConfig {
            mode: match c.enable_tcp {
                None | Some(EnableTcp::No) => TcpMode::No,
                Some(EnableTcp::Yes) => TcpMode::Yes,
                Some(EnableTcp::Fallback) => TcpMode::Fallback,
            },
            remote_port: c.tcp_remote_port.map_or(tcp_default.remote_port, |p| p.0),
            fallback_delay: self.duration(c.fallback_delay, tcp_default.fallback_delay)?,
            udp_probe_interval: self
                .duration(c.udp_probe_interval, tcp_default.udp_probe_interval)?,
        };
        let replay_window = match c.replay_window {
            Some(w) if *w.get_ref() > iketcp_esp::MAX_REPLAY_WINDOW => {
                return self.fail(
                    w.span(),
                    format!(
                        "{} is larger than the largest window, {}",
                        w.get_ref(),
                        iketcp_esp::MAX_REPLAY_WINDOW
                    ),
                );
            }
            Some(w) => w.into_inner(),
            None => 64,
        };
        let dpd_delay = match c.dpd_delay {
            None => None,
            Some(d) => Some(self.duration(Some(d), Duration::ZERO)?),
        };
        Ok(Connection {
            name: c.name.into_inner(),
            remote_addrs: remote_addrs.map(|(_, a)| a).unwrap_or_default(),
            local_addrs: local_addrs.map(|(_, a)| a).unwrap_or_default(),
            remote_port,
            local_id: c.local_id.0,
            remote_id: c.remote_id.0,
            auth,
            ike_proposals,
            esp_proposals,
            local_ts,
            remote_ts,
            vips,
            pools,
            mode: match c.mode {
                None | Some(ModeValue::Tunnel) => Mode::Tunnel,
                Some(ModeValue::Transport) => Mode::Transport,
            },
            tcp,
            start,
            ike_lifetime: lifetime(self.duration(c.rekey_time, Lifetime::IKE_DEFAULT.rekey)?),
            child_lifetime: lifetime(
                self.duration(c.child_rekey_time, Lifetime::CHILD_DEFAULT.rekey)?,
            ),
            dpd_delay,
            fragmentation: c.fragmentation.unwrap_or(true),
            mobike: c.mobike.unwrap_or(true),
            replay_window,
            wrap,
            local: SocketAddr::new(local_ip, daemon.ike_port),
            remote: SocketAddr::new(remote_ip, remote_port),
        })
    }

    fn auth(&self, c: &schema::Connection) -> Result<AuthConfig, ConfigError> {
        if let Some(psk) = &c.psk {
            return self.fail(
                psk.span(),
                "a pre-shared key does not belong in the configuration file: put it in a file of mode 0600 named by psk_file, or in an environment variable named by psk_env",
            );
        }
        let method = *c.auth.get_ref();
        let psk_keys = [
            ("psk_file", c.psk_file.as_ref().map(Spanned::span)),
            ("psk_env", c.psk_env.as_ref().map(Spanned::span)),
        ];
        let pubkey_keys = [
            ("cert_file", c.cert_file.as_ref().map(Spanned::span)),
            ("key_file", c.key_file.as_ref().map(Spanned::span)),
            ("ca_file", c.ca_file.as_ref().map(Spanned::span)),
        ];
        let (other, this) = match method {
            AuthMethod::Psk => (&pubkey_keys[..], "psk"),
            AuthMethod::Pubkey => (&psk_keys[..], "pubkey"),
        };
        if let Some((key, Some(span))) = other.iter().find(|(_, s)| s.is_some()) {
            return self.fail(
                span.clone(),
                format!("{key} does not apply with auth = \"{this}\""),
            );
        }
        match method {
            AuthMethod::Psk => {
                let key = match (&c.psk_file, &c.psk_env) {
                    (Some(_), Some(env)) => {
                        return self.fail(env.span(), "psk_file and psk_env: give only one");
                    }
                    (None, None) => {
                        return self.fail(
                            c.auth.span(),
                            "auth = \"psk\" needs psk_file (a file of mode 0600) or psk_env (an environment variable)",
                        );
                    }
                    (Some(file), None) => secret::read_private_file(&self.path(file.get_ref()))
                        .and_then(|raw| secret::psk_from_bytes(&raw))
                        .or_else(|e| self.fail(file.span(), e))?,
                    (None, Some(var)) => secret::psk_from_env(var.get_ref(), self.env)
                        .or_else(|e| self.fail(var.span(), e))?,
                };
                Ok(AuthConfig::Psk(key))
            }
            AuthMethod::Pubkey => {
                let need = |v: &Option<Spanned<PathBuf>>, key: &str| match v {
                    Some(v) => Ok((v.span(), self.path(v.get_ref()))),
                    None => self.fail(c.auth.span(), format!("auth = \"pubkey\" needs {key}")),
                };
                let (cert_span, cert_path) = need(&c.cert_file, "cert_file")?;
                let (key_span, key_path) = need(&c.key_file, "key_file")?;
                let (ca_span, ca_path) = need(&c.ca_file, "ca_file")?;
                let read = |span: &Range<usize>, p: &Path| {
                    std::fs::read(p)
                        .or_else(|e| self.fail(span.clone(), format!("{}: {e}", p.display())))
                };
                let chain =
                    Certificate::all_from_pem(&read(&cert_span, &cert_path)?).or_else(|e| {
                        self.fail(cert_span.clone(), format!("{}: {e}", cert_path.display()))
                    })?;
                let key = secret::read_private_file(&key_path)
                    .and_then(|pem| {
                        PrivateKey::from_pem(&pem)
                            .map_err(|e| format!("{}: {e}", key_path.display()))
                    })
                    .or_else(|e| self.fail(key_span.clone(), e))?;
                let trust =
                    TrustStore::from_pem([read(&ca_span, &ca_path)?.as_slice()]).or_else(|e| {
                        self.fail(ca_span.clone(), format!("{}: {e}", ca_path.display()))
                    })?;
                AuthConfig::pubkey(key, chain, trust).or_else(|e| {
                    self.fail(
                        key_span,
                        format!(
                            "{}: {e}: the key is not the one in cert_file",
                            key_path.display()
                        ),
                    )
                })
            }
        }
    }
}
