//! A test peer: the IKE engine and the ESP engine over real UDP sockets (ports 500 and
//! 4500), answering ICMP echo for its inner address and pinging the far side, driven by
//! commands on stdin and reporting on stdout, one line each.
//!
//! ```text
//! iketcp-peer local=10.201.0.1 remote=10.201.0.2 id=a-psk@ss.test remote-id=b-psk@ss.test \
//!     psk=... local-ts=10.201.1.0/24 remote-ts=10.201.2.0/24 inner=10.201.1.1 \
//!     [initiate=1] [ping=10.201.2.1] [dpd=SECS] [retransmit-ms=MS] [ike=aes128gcm16-prfsha256-ecp256] [esp=aes128gcm16-ecp256] \
//!     [keys=DIR]
//! iketcp-peer ... id=a.ecdsa.ss.test remote-id=b.ecdsa.ss.test cert=a-ecdsa.pem \
//!     key=a-ecdsa.key ca=ca-ecdsa.pem [rsa-padding=pss] ...
//! stdin:  rekey-child | rekey-ike | delete-child | terminate | create-child | status | liveness | quit
//! stdout: EVENT <event> | SA <summary> | PING-REPLY <seq> | ECHO-ANSWERED <seq> | ERROR <text>
//! ```
//!
//! `cert=` (PEM, our certificate then any intermediates), `key=` (PEM private key) and
//! `ca=` (PEM, the CAs trusted for the peer) select certificate authentication (RFC 7427)
//! instead of `psk=`; RSA keys sign with PKCS#1 v1.5 unless `rsa-padding=pss`. An ID
//! without `@` that is not an IPv4 address is an FQDN.
//!
//! `keys=DIR` **writes secret keys in the clear**, for decrypting captures of a test run
//! and nothing else: every IKE SA, once established or rekeyed, is appended to
//! `DIR/ikev2_decryption_table`, and every Child SA to `DIR/esp_sa` (one row per
//! direction, on the outer addresses), in Wireshark 4.0's formats. SAs Wireshark cannot
//! decrypt (ChaCha20-Poly1305, ESN) give an `ERROR keys` line instead.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use iketcp_crypto::{SecretBytes, SystemRng};
use iketcp_esp::wireshark::esp_sa_row;
use iketcp_esp::{
    AesKeySize, Algorithm, Decapsulated, Direction, Engine, Integrity, Mode as EspMode, SaParams,
};
use iketcp_proto::config::{Certificate, PrivateKey, RsaPadding, TrustStore, suites};
use iketcp_proto::proposal::ProposalSpec;
use iketcp_proto::{
    AuthConfig, ChildConfig, ChildSaKeys, Endpoint, EndpointConfig, Event, IkeSaId, Lifetime, Mode,
    Output, Path, PeerConfig,
};
use iketcp_wire::encap::udp::{self, Datagram};
use iketcp_wire::ike::{Id, IdType, TransformId};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;

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
            other => panic!("unknown ESP proposal {other}"),
        })
        .collect()
}

/// The ESP engine's algorithm for a negotiated Child SA.
fn esp_algorithm(k: &ChildSaKeys) -> Option<Algorithm> {
    Some(match (k.encr, k.encr_key_bits, k.integ) {
        (TransformId::ENCR_AES_GCM_16, Some(128), None) => Algorithm::AesGcm16_128,
        (TransformId::ENCR_AES_GCM_16, Some(256), None) => Algorithm::AesGcm16_256,
        (TransformId::ENCR_CHACHA20_POLY1305, _, None) => Algorithm::ChaCha20Poly1305,
        (TransformId::ENCR_AES_CBC, bits, Some(integ)) => Algorithm::AesCbc {
            key: if bits == Some(256) {
                AesKeySize::Aes256
            } else {
                AesKeySize::Aes128
            },
            integrity: match integ {
                TransformId::INTEG_HMAC_SHA2_256_128 => Integrity::HmacSha256_128,
                TransformId::INTEG_HMAC_SHA2_384_192 => Integrity::HmacSha384_192,
                TransformId::INTEG_HMAC_SHA2_512_256 => Integrity::HmacSha512_256,
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// The ESP engine's inbound and outbound SAs for a negotiated Child SA.
fn sa_params(k: &ChildSaKeys) -> Result<(SaParams, SaParams), String> {
    let alg = esp_algorithm(k).ok_or("unsupported ESP transforms")?;
    let mode = if k.mode == Mode::Tunnel {
        EspMode::Tunnel
    } else {
        EspMode::Transport
    };
    let key = |e: &SecretBytes, i: &SecretBytes| {
        let mut v = e.expose().to_vec();
        v.extend_from_slice(i.expose());
        v
    };
    // RFC 4301 §5.2: inbound packets must fall inside the negotiated selectors, or an
    // authenticated peer could send from any inner address.
    let inbound = SaParams::new(k.spi_in, alg, key(&k.encr_in, &k.integ_in))
        .with_esn(k.esn)
        .with_mode(mode)
        .with_replay_window(k.replay_window)
        .with_selectors(k.local_ts.clone(), k.remote_ts.clone());
    let outbound = SaParams::new(k.spi_out, alg, key(&k.encr_out, &k.integ_out))
        .with_esn(k.esn)
        .with_mode(mode);
    Ok((inbound, outbound))
}

fn install(esp: &mut Engine, k: &ChildSaKeys) -> Result<(), String> {
    let (inbound, outbound) = sa_params(k)?;
    esp.install_inbound(&inbound).map_err(|e| e.to_string())?;
    esp.install_outbound(&outbound).map_err(|e| e.to_string())?;
    Ok(())
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

struct Peer {
    ep: Endpoint,
    esp: Engine,
    s500: UdpSocket,
    s4500: UdpSocket,
    /// In install order, so the newest (a rekey's successor) comes last.
    children: Vec<ChildSaKeys>,
    inner: Ipv4Addr,
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

    fn export_ike(&self, ike: IkeSaId) {
        if self.keys.is_some() {
            let row = self
                .ep
                .export_ike_keys(ike)
                .ok_or_else(|| format!("no keys for {ike}"));
            self.export(
                "ikev2_decryption_table",
                row.and_then(|k| k.wireshark_row().map_err(|e| e.to_string())),
            );
        }
    }

    /// Two rows: inbound (from the peer's outer address to ours), then outbound.
    fn export_child(&self, k: &ChildSaKeys) {
        if self.keys.is_some() {
            let (ours, theirs) = (k.path.local.ip(), k.path.remote.ip());
            let rows = sa_params(k).and_then(|(inbound, outbound)| {
                let row =
                    |p: &SaParams, src, dst| esp_sa_row(p, src, dst).map_err(|e| e.to_string());
                Ok(format!(
                    "{}\n{}",
                    row(&inbound, theirs, ours)?,
                    row(&outbound, ours, theirs)?
                ))
            });
            self.export("esp_sa", rows);
        }
    }

    async fn drain(&mut self) {
        // Byte, packet and sequence-number limits counted by the ESP engine drive rekeys.
        while let Some(e) = self.esp.poll_event() {
            let (spi, hard) = match e {
                iketcp_esp::EspEvent::SoftLifetime { spi, .. } => (spi, false),
                iketcp_esp::EspEvent::HardLifetime { spi, .. } => (spi, true),
                _ => continue,
            };
            if let Err(err) = self.ep.child_lifetime(Instant::now(), spi, hard) {
                println!("ERROR lifetime {err}");
            }
        }
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Transmit(t) => {
                    let mut buf = Vec::with_capacity(t.message.len() + 4);
                    if t.path.needs_non_esp_marker() {
                        udp::emit_ike(&t.message, &mut buf);
                    } else {
                        buf = t.message;
                    }
                    let sock = if t.path.local.port() == 500 {
                        &self.s500
                    } else {
                        &self.s4500
                    };
                    if let Err(e) = sock.send_to(&buf, t.path.remote).await {
                        println!("ERROR send {e}");
                    }
                }
                Output::InstallChild(k) => {
                    match install(&mut self.esp, &k) {
                        Ok(()) => println!("CHILD-INSTALLED {:08x} {:08x}", k.spi_in, k.spi_out),
                        Err(e) => println!("ERROR install {e}"),
                    }
                    self.export_child(&k);
                    self.children.push(*k);
                }
                Output::RemoveChild { spi_in, spi_out } => {
                    self.esp.remove(Direction::Inbound, spi_in);
                    self.esp.remove(Direction::Outbound, spi_out);
                    self.children.retain(|k| k.spi_in != spi_in);
                    println!("CHILD-REMOVED {spi_in:08x} {spi_out:08x}");
                }
                Output::Event(e) => {
                    if let Event::IkeUp { ike, .. } | Event::IkeRekeyed { new: ike, .. } = e {
                        self.export_ike(ike);
                    }
                    println!("EVENT {e:?}");
                }
                other => println!("OUTPUT {other:?}"),
            }
        }
    }

    /// The newest Child SA whose remote selectors cover `dst`.
    fn child_for(&self, dst: Ipv4Addr) -> Option<&ChildSaKeys> {
        self.children
            .iter()
            .rev()
            .find(|k| iketcp_proto::ts::matches(&k.remote_ts, IpAddr::V4(dst), 1, 0))
    }

    async fn send_inner(&mut self, packet: &[u8], dst: Ipv4Addr) {
        let Some(k) = self.child_for(dst) else {
            println!("ERROR no Child SA for {dst}");
            return;
        };
        let (spi, to) = (k.spi_out, k.path.remote);
        let mut out = vec![0u8; packet.len() + 128];
        match self.esp.encapsulate(spi, packet, &mut out) {
            Ok(e) => {
                if let Err(err) = self.s4500.send_to(&out[..e.len], to).await {
                    println!("ERROR send ESP {err}");
                }
            }
            Err(e) => println!("ERROR encapsulate {e}"),
        }
    }

    async fn on_esp(&mut self, pkt: &[u8]) {
        let mut out = vec![0u8; pkt.len()];
        let d = match self.esp.decapsulate(pkt, &mut out) {
            Ok(d) => d,
            Err(e) => {
                println!("ESP-DROP {e}");
                return;
            }
        };
        let Decapsulated::Tunnel { len, .. } = d else {
            return;
        };
        let ip = &out[..len];
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
                let reply = icmp_echo(self.inner, src, 0, ident, seq, &icmp[8..]);
                self.send_inner(&reply, src).await;
                println!("ECHO-ANSWERED {src} {seq}");
            }
            0 => println!("PING-REPLY {src} {seq}"),
            _ => {}
        }
    }

    fn first_ike(&self) -> Option<iketcp_proto::IkeSaInfo> {
        self.ep.ike_sas().into_iter().find(|s| s.established)
    }

    fn command(&mut self, line: &str) -> bool {
        let now = Instant::now();
        let Some(sa) = self.first_ike() else {
            if line != "quit" && line != "status" {
                println!("ERROR no IKE SA");
            }
            if line == "status" {
                println!("SA none");
            }
            return line != "quit";
        };
        // The newest Child SA comes last.
        let spi = sa.children.last().map(|c| c.spi_in);
        let r = match line {
            "rekey-child" => spi.map(|s| self.ep.rekey_child(now, sa.id, s)),
            "delete-child" => spi.map(|s| self.ep.delete_child(now, sa.id, s)),
            "create-child" => Some(self.ep.create_child(now, sa.id, "net")),
            "rekey-ike" => Some(self.ep.rekey_ike(now, sa.id)),
            "terminate" => Some(self.ep.terminate(now, sa.id)),
            "liveness" => Some(self.ep.liveness(now, sa.id)),
            "status" => {
                println!(
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
                );
                None
            }
            "quit" => return false,
            other => {
                println!("ERROR unknown command {other}");
                None
            }
        };
        if let Some(Err(e)) = r {
            println!("ERROR {e}");
        }
        true
    }
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
        tcp: Default::default(),
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
    let ep = Endpoint::new(config, vec![peer], Box::new(SystemRng::new()));
    let s500 = UdpSocket::bind(SocketAddr::new(local, 500))
        .await
        .expect("bind 500");
    let s4500 = UdpSocket::bind(SocketAddr::new(local, 4500))
        .await
        .expect("bind 4500");
    let mut p = Peer {
        ep,
        esp: Engine::new(),
        s500,
        s4500,
        children: Vec::new(),
        inner,
        keys: args.get("keys").map(PathBuf::from),
    };
    if args.get("initiate") == Some("1") {
        if let Err(e) = p.ep.initiate(Instant::now(), "peer", Some("net")) {
            println!("ERROR initiate {e}");
        }
        p.drain().await;
    }
    let ping: Option<Ipv4Addr> = args.get("ping").map(|s| s.parse().expect("ping address"));
    let mut ping_seq: u16 = 0;
    let mut ping_timer = tokio::time::interval(Duration::from_millis(200));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let (mut b500, mut b4500) = (vec![0u8; 65536], vec![0u8; 65536]);
    println!("READY");
    loop {
        let deadline = p.ep.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = p.s500.recv_from(&mut b500) => {
                if let Ok((n, from)) = r {
                    let path = Path::udp(SocketAddr::new(local, 500), from);
                    // Port 500 carries no marker, except between two non-500 ports.
                    let msg = if path.needs_non_esp_marker() { b500.get(4..n) } else { b500.get(..n) };
                    if let Some(m) = msg {
                        p.ep.handle_message(Instant::now(), path, m);
                    }
                }
            }
            r = p.s4500.recv_from(&mut b4500) => {
                if let Ok((n, from)) = r {
                    let data = b4500[..n].to_vec();
                    match udp::classify(&data) {
                        Ok(Datagram::Ike(m)) => {
                            p.ep.handle_message(Instant::now(), Path::udp(SocketAddr::new(local, 4500), from), m);
                        }
                        Ok(Datagram::Esp(e)) => p.on_esp(e).await,
                        Ok(Datagram::Keepalive) | Err(_) => {}
                    }
                }
            }
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))).await }, if deadline.is_some() => {
                p.ep.handle_timeout(Instant::now());
            }
            _ = ping_timer.tick(), if ping.is_some() => {
                if let Some(dst) = ping
                    && p.child_for(dst).is_some()
                {
                    ping_seq = ping_seq.wrapping_add(1);
                    let pkt = icmp_echo(inner, dst, 8, 0x1ce, ping_seq, b"iketcp interop ping");
                    p.send_inner(&pkt, dst).await;
                }
            }
            line = stdin.next_line() => {
                match line {
                    Ok(Some(l)) => {
                        if !p.command(l.trim()) {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        p.drain().await;
    }
}
