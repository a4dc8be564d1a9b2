//! A test peer: an [`iketcp_node::Node`] (the IKE engine, the ESP engine and RFC 9329
//! streams) run by the [`iketcp_io::Driver`] over real sockets (UDP ports 500 and 4500,
//! TCP connections and listeners), answering ICMP echo for its inner address and pinging
//! the far side, driven by commands on stdin and reporting on stdout, one line each.
//!
//! ```text
//! iketcp-peer local=10.201.0.1 remote=10.201.0.2 id=a-psk@ss.test remote-id=b-psk@ss.test \
//!     psk=... local-ts=10.201.1.0/24 remote-ts=10.201.2.0/24 inner=10.201.1.1 \
//!     [initiate=1] [ping=10.201.2.1] [dpd=SECS] [retransmit-ms=MS] [ike=aes128gcm16-prfsha256-ecp256] [esp=aes128gcm16-ecp256] \
//!     [keys=DIR] [tcp=no|yes|fallback] [tcp-port=4500] [listen-tcp=4500,443] [udp=0]
//! iketcp-peer ... id=a.ecdsa.ss.test remote-id=b.ecdsa.ss.test cert=a-ecdsa.pem \
//!     key=a-ecdsa.key ca=ca-ecdsa.pem [rsa-padding=pss] ...
//! stdin:  rekey-child | rekey-ike | delete-child | terminate | create-child | status | liveness | quit
//! stdout: EVENT <event> | SA <summary> | PING-REPLY <seq> | ECHO-ANSWERED <seq> | ERROR <text>
//!         | CHILD-INSTALLED <spi_in> <spi_out> | CHILD-REMOVED <spi_in> <spi_out>
//!         | CLOSED tcp#<id> <reason>
//! ```
//!
//! `cert=` (PEM, our certificate then any intermediates), `key=` (PEM private key) and
//! `ca=` (PEM, the CAs trusted for the peer) select certificate authentication (RFC 7427)
//! instead of `psk=`; RSA keys sign with PKCS#1 v1.5 unless `rsa-padding=pss`. An ID
//! without `@` that is not an IPv4 address is an FQDN.
//!
//! RFC 9329 (R-CFG-1): `tcp=` is the peer's transport as initiator (`no`: UDP, `yes`:
//! TCP only, `fallback`: UDP first, then TCP), `tcp-port=` the peer's TCP port,
//! `listen-tcp=` the TCP ports we accept streams on (on `local=`), and `udp=0` binds no
//! UDP socket at all.
//!
//! `keys=DIR` **writes secret keys in the clear**, for decrypting captures of a test run
//! and nothing else: every IKE SA, once established or rekeyed, is appended to
//! `DIR/ikev2_decryption_table`, and every Child SA to `DIR/esp_sa` (one row per
//! direction, on the outer addresses), in Wireshark 4.0's formats. SAs Wireshark cannot
//! decrypt (ChaCha20-Poly1305, ESN) give an `ERROR keys` line instead.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use iketcp_crypto::{SecretBytes, SystemRng};
use iketcp_io::{Driver, DriverConfig, Handle, Report};
use iketcp_node::{Node, NodeConfig};
use iketcp_proto::config::{Certificate, PrivateKey, RsaPadding, TrustStore, suites};
use iketcp_proto::proposal::ProposalSpec;
use iketcp_proto::{
    AuthConfig, ChildConfig, ChildSaKeys, Endpoint, EndpointConfig, Event, IkeSaId, Lifetime, Mode,
    PeerConfig, TcpConfig, TcpMode,
};
use iketcp_wire::ike::{Id, IdType, TransformId};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

struct Args(HashMap<String, String>);

impl Args {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    fn req(&self, k: &str) -> String {
        self.get(k)
            .unwrap_or_else(|| panic!("missing {k}="))
            .to_string()
    }
}

fn id(s: &str) -> Id {
    let (id_type, data) = if s.contains('@') {
        (IdType::RFC822_ADDR, s.as_bytes().to_vec())
    } else if let Ok(IpAddr::V4(a)) = s.parse() {
        (IdType::IPV4_ADDR, a.octets().to_vec())
    } else {
        (IdType::FQDN, s.as_bytes().to_vec())
    };
    Id { id_type, data }
}

/// `cert=`, `key=` and `ca=` give certificate authentication, else `psk=`.
fn auth_config(args: &Args) -> AuthConfig {
    let Some(cert) = args.get("cert") else {
        return AuthConfig::Psk(SecretBytes::from_slice(args.req("psk").as_bytes()));
    };
    let read = |path: &str| std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let chain = Certificate::all_from_pem(&read(cert)).expect("cert=");
    let key = PrivateKey::from_pem(&read(&args.req("key"))).expect("key=");
    let trust = TrustStore::from_pem([read(&args.req("ca")).as_slice()]).expect("ca=");
    let padding = match args.get("rsa-padding") {
        None | Some("pkcs1") => RsaPadding::Pkcs1,
        Some("pss") => RsaPadding::Pss,
        Some(other) => panic!("rsa-padding={other}: pkcs1 or pss"),
    };
    AuthConfig::pubkey(key, chain, trust)
        .expect("key= must belong to cert=")
        .with_rsa_padding(padding)
}

fn net(s: &str) -> iketcp_wire::ike::TrafficSelector {
    let (a, p) = s.split_once('/').expect("a/prefix");
    iketcp_proto::ts::subnet(a.parse().expect("address"), p.parse().expect("prefix"))
}

fn ike_proposals(s: &str) -> Vec<ProposalSpec> {
    s.split(',')
        .map(|p| match p {
            "aes128gcm16-prfsha256-ecp256" => suites::ike_aes128gcm16_prfsha256_ecp256(),
            "aes256-sha256-modp2048" => suites::ike_aes256_sha256_modp2048(),
            "aes256gcm16-prfsha384-x25519" => suites::ike_aes256gcm16_prfsha384_x25519(),
            other => panic!("unknown IKE proposal {other}"),
        })
        .collect()
}

fn esp_proposals(s: &str) -> Vec<ProposalSpec> {
    s.split(',')
        .map(|p| match p {
            "aes128gcm16-ecp256" => suites::esp_aes128gcm16(Some(TransformId::KE_ECP_256)),
            "aes128gcm16" => suites::esp_aes128gcm16(None),
            "aes128-sha256-ecp256" => suites::esp_aes128_sha256(Some(TransformId::KE_ECP_256)),
            "aes128-sha256" => suites::esp_aes128_sha256(None),
            "aes256-sha256-modp2048" => suites::esp_aes256_sha256(Some(TransformId::KE_MODP_2048)),
            "aes256-sha256" => suites::esp_aes256_sha256(None),
            other => panic!("unknown ESP proposal {other}"),
        })
        .collect()
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo packet.
fn icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: u8,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![kind, 0, 0, 0];
    icmp.extend(ident.to_be_bytes());
    icmp.extend(seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend(src.octets());
    ip.extend(dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend(icmp);
    ip
}

/// A Child SA as the node's ESP data plane holds it: (SPI in, SPI out).
type Installed = BTreeSet<(u32, u32)>;

struct Peer {
    handle: Handle,
    inner: Ipv4Addr,
    /// The Child SAs installed in the node's ESP engine when last looked.
    installed: Installed,
    /// `keys=DIR`: where SA keys are written for Wireshark (secrets, debugging only).
    keys: Option<PathBuf>,
}

impl Peer {
    /// Appends `row` to `DIR/file` when key export is on.
    fn export(&self, file: &str, row: Result<String, String>) {
        let Some(dir) = &self.keys else { return };
        let written = row.and_then(|row| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(file))
                .and_then(|mut f| writeln!(f, "{row}"))
                .map_err(|e| e.to_string())
        });
        if let Err(e) = written {
            println!("ERROR keys {file}: {e}");
        }
    }

    async fn export_ike(&self, ike: IkeSaId) {
        if self.keys.is_some() {
            let row = self
                .handle
                .inspect(move |n| {
                    n.endpoint()
                        .export_ike_keys(ike)
                        .ok_or_else(|| format!("no keys for {ike}"))
                        .and_then(|k| k.wireshark_row().map_err(|e| e.to_string()))
                })
                .await
                .unwrap_or_else(|| Err("the driver is gone".into()));
            self.export("ikev2_decryption_table", row);
        }
    }

    /// Two rows: inbound (from the peer's outer address to ours), then outbound.
    fn export_child(&self, k: &ChildSaKeys) {
        self.export("esp_sa", iketcp_node::esp_sa_rows(k));
    }

    /// Reports the Child SAs the node's ESP engine gained or lost since last looked.
    async fn sync_children(&mut self) {
        let Some(now) = self
            .handle
            .inspect(|n| {
                n.routes()
                    .map(|r| (r.spi_in, r.spi_out))
                    .collect::<Installed>()
            })
            .await
        else {
            return;
        };
        for (i, o) in now.difference(&self.installed) {
            println!("CHILD-INSTALLED {i:08x} {o:08x}");
        }
        for (i, o) in self.installed.difference(&now) {
            println!("CHILD-REMOVED {i:08x} {o:08x}");
        }
        self.installed = now;
    }

    /// Whether a Child SA carries ICMP from our inner address to `dst`.
    async fn routed(&self, dst: Ipv4Addr) -> bool {
        let src = IpAddr::V4(self.inner);
        self.handle
            .inspect(move |n| n.routes().any(|r| r.carries(src, IpAddr::V4(dst), 1)))
            .await
            .unwrap_or(false)
    }

    async fn report(&mut self, r: Report) {
        match r {
            Report::Event(e) => {
                // Installs and removals come before the event that announces them.
                self.sync_children().await;
                if let Event::IkeUp { ike, .. } | Event::IkeRekeyed { new: ike, .. } = e {
                    self.export_ike(ike).await;
                }
                println!("EVENT {e:?}");
            }
            Report::Packet(p) => self.on_packet(&p).await,
            Report::ChildKeys(k) => self.export_child(&k),
            Report::Closed { id, reason } => println!("CLOSED tcp#{} {reason}", id.0),
            // Nothing is started on demand here.
            _ => {}
        }
    }

    /// An IP packet out of a Child SA: ICMP echo for our inner address is answered, an
    /// echo reply is reported.
    async fn on_packet(&mut self, ip: &[u8]) {
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 1 {
            return;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let Some(icmp) = ip.get(ihl..) else { return };
        if icmp.len() < 8 || dst != self.inner {
            return;
        }
        let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
        let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        match icmp[0] {
            8 => {
                if !self.routed(src).await {
                    println!("ERROR no Child SA for {src}");
                    return;
                }
                let reply = icmp_echo(self.inner, src, 0, ident, seq, &icmp[8..]);
                self.handle.send_packet(reply);
                println!("ECHO-ANSWERED {src} {seq}");
            }
            0 => println!("PING-REPLY {src} {seq}"),
            _ => {}
        }
    }

    /// Runs a stdin command; false to quit.
    async fn command(&mut self, line: &str) -> bool {
        if line == "quit" {
            return false;
        }
        let cmd = line.to_string();
        // Picked and run inside the driver in one go, so that nothing moves in between.
        let out = self
            .handle
            .command(move |ep: &mut Endpoint, now| {
                let Some(sa) = ep.ike_sas().into_iter().find(|s| s.established) else {
                    return vec![if cmd == "status" {
                        "SA none".to_string()
                    } else {
                        "ERROR no IKE SA".to_string()
                    }];
                };
                // The newest Child SA comes last.
                let spi = sa.children.last().map(|c| c.spi_in);
                let r = match cmd.as_str() {
                    "rekey-child" => spi.map(|s| ep.rekey_child(now, sa.id, s)),
                    "delete-child" => spi.map(|s| ep.delete_child(now, sa.id, s)),
                    "create-child" => Some(ep.create_child(now, sa.id, "net")),
                    "rekey-ike" => Some(ep.rekey_ike(now, sa.id)),
                    "terminate" => Some(ep.terminate(now, sa.id)),
                    "liveness" => Some(ep.liveness(now, sa.id)),
                    "status" => {
                        return vec![format!(
                            "SA {} {:016x}_i {:016x}_r {} children={}",
                            sa.id,
                            sa.spi_i,
                            sa.spi_r,
                            sa.path,
                            sa.children
                                .iter()
                                .map(|c| format!("{:08x}/{:08x}", c.spi_in, c.spi_out))
                                .collect::<Vec<_>>()
                                .join(",")
                        )];
                    }
                    other => return vec![format!("ERROR unknown command {other}")],
                };
                match r {
                    Some(Err(e)) => vec![format!("ERROR {e}")],
                    _ => Vec::new(),
                }
            })
            .await
            .unwrap_or_else(|| vec!["ERROR the driver is gone".into()]);
        for l in out {
            println!("{l}");
        }
        true
    }
}

/// `listen-tcp=4500,443`
fn ports(s: &str) -> Vec<u16> {
    s.split(',')
        .map(|p| p.parse().expect("listen-tcp=PORT[,PORT]"))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args(
        std::env::args()
            .skip(1)
            .filter_map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    );
    let local: IpAddr = args.req("local").parse().expect("local");
    let remote: IpAddr = args.req("remote").parse().expect("remote");
    let ike_port: u16 = args
        .get("ike-port")
        .map_or(500, |p| p.parse().expect("port"));
    let inner: Ipv4Addr = args.req("inner").parse().expect("inner");
    let tcp = TcpConfig {
        mode: match args.get("tcp") {
            None | Some("no") => TcpMode::No,
            Some("yes") => TcpMode::Yes,
            Some("fallback") => TcpMode::Fallback,
            Some(other) => panic!("tcp={other}: no, yes or fallback"),
        },
        remote_port: args
            .get("tcp-port")
            .map_or(4500, |p| p.parse().expect("tcp-port")),
        ..TcpConfig::default()
    };
    let peer = PeerConfig {
        name: "peer".into(),
        remote: SocketAddr::new(remote, ike_port),
        local: SocketAddr::new(local, 500),
        local_id: id(&args.req("id")),
        remote_id: id(&args.req("remote-id")),
        auth: auth_config(&args),
        ike_proposals: ike_proposals(
            args.get("ike")
                .unwrap_or("aes128gcm16-prfsha256-ecp256,aes256-sha256-modp2048"),
        ),
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![net(&args.req("local-ts"))],
            remote_ts: vec![net(&args.req("remote-ts"))],
            esp_proposals: esp_proposals(
                args.get("esp")
                    .unwrap_or("aes128gcm16-ecp256,aes128-sha256-ecp256"),
            ),
            mode: Mode::Tunnel,
            lifetime: Lifetime::CHILD_DEFAULT,
            replay_window: 64,
        }],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: args
            .get("dpd")
            .map(|s| Duration::from_secs(s.parse().expect("dpd secs"))),
        fragmentation: true,
        mobike: true,
        tcp,
        vips: Vec::new(),
        pools: Vec::new(),
    };
    let config = EndpointConfig {
        fragment_size: args
            .get("fragment-size")
            .map_or(1280, |s| s.parse().expect("size")),
        retransmit: match args.get("retransmit-ms") {
            // A short schedule for tests of dead-peer detection: the first wait, then
            // 1.5 times longer each, three retransmissions.
            Some(ms) => iketcp_proto::Retransmit {
                initial: Duration::from_millis(ms.parse().expect("milliseconds")),
                factor: 1.5,
                tries: 3,
            },
            None => iketcp_proto::Retransmit::default(),
        },
        ..EndpointConfig::default()
    };
    let keys = args.get("keys").map(PathBuf::from);
    let node = Node::new(
        NodeConfig {
            // Child SA keys leave the node only when asked for with keys=.
            export_keys: keys.is_some(),
            ..NodeConfig::default()
        },
        Endpoint::new(config, vec![peer], Box::new(SystemRng::new())),
        iketcp_esp::Engine::new(),
    );
    let udp = match args.get("udp") {
        Some("0") => Vec::new(),
        None | Some("1") => vec![SocketAddr::new(local, 500), SocketAddr::new(local, 4500)],
        Some(other) => panic!("udp={other}: 0 or 1"),
    };
    let listen = args.get("listen-tcp").map(ports).unwrap_or_default();
    let driver_config = DriverConfig {
        udp,
        tcp: listen
            .into_iter()
            .map(|p| SocketAddr::new(local, p))
            .collect(),
        ..DriverConfig::default()
    };
    let (tx, mut reports) = mpsc::unbounded_channel();
    let driver = Driver::bind(driver_config, node, tx)
        .await
        .expect("binding the sockets");
    let mut p = Peer {
        handle: driver.handle(),
        inner,
        installed: Installed::new(),
        keys,
    };
    let task = tokio::spawn(driver.run());
    if args.get("initiate") == Some("1") {
        match p
            .handle
            .command(|ep, now| ep.initiate(now, "peer", Some("net")))
            .await
        {
            Some(Ok(_)) => {}
            Some(Err(e)) => println!("ERROR initiate {e}"),
            None => println!("ERROR initiate: the driver is gone"),
        }
    }
    let ping: Option<Ipv4Addr> = args.get("ping").map(|s| s.parse().expect("ping address"));
    let mut ping_seq: u16 = 0;
    let mut ping_timer = tokio::time::interval(Duration::from_millis(200));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    println!("READY");
    loop {
        tokio::select! {
            r = reports.recv() => {
                let Some(r) = r else { break };
                p.report(r).await;
            }
            _ = ping_timer.tick(), if ping.is_some() => {
                if let Some(dst) = ping
                    && p.routed(dst).await
                {
                    ping_seq = ping_seq.wrapping_add(1);
                    let pkt = icmp_echo(inner, dst, 8, 0x1ce, ping_seq, b"iketcp interop ping");
                    p.handle.send_packet(pkt);
                }
            }
            line = stdin.next_line() => {
                match line {
                    Ok(Some(l)) => {
                        if !p.command(l.trim()).await {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
    }
    // The driver stops once its last handle is gone.
    drop(p);
    let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
}
