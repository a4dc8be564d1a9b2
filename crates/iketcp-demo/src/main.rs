//! iketcp on one machine, no root, no setup: a road warrior `a` and a gateway `b` on
//! loopback, with a middlebox between them that silently drops UDP. The timeline shows
//! UDP tried and retransmitted, the fallback to RFC 9329 TCP, the IKE and Child SAs,
//! pings through the Child SA's ESP both ways, a rekey on the same connection, a reset of
//! the connection and the reconnection, and a DELETE.
//!
//! `iketcp-demo [--udp-open]`: with `--udp-open` the middlebox lets UDP through and the
//! same run stays on UDP.

mod middlebox;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use iketcp_crypto::{SecretBytes, SystemRng};
use iketcp_io::{Driver, DriverConfig, Handle, Report};
use iketcp_node::{Node, NodeConfig};
use iketcp_proto::config::suites;
use iketcp_proto::{
    AuthConfig, ChildConfig, Endpoint, EndpointConfig, Event, IkeSaId, Lifetime, Mode, Path,
    PeerConfig, TcpConfig, TcpMode, Transport,
};
use iketcp_wire::ike::{Id, IdType, Message};
use middlebox::{Middlebox, Seen};
use tokio::sync::mpsc;

const PSK: &[u8] = b"iketcp-demo-not-a-secret-0123456789";

fn id(s: &str) -> Id {
    Id {
        id_type: IdType::FQDN,
        data: s.as_bytes().to_vec(),
    }
}

fn net(s: &str) -> iketcp_wire::ike::TrafficSelector {
    let (a, p) = s.split_once('/').expect("net");
    iketcp_proto::ts::subnet(a.parse().expect("addr"), p.parse().expect("prefix"))
}

/// One side's configuration: the default proposals, a PSK, one Child SA "net".
fn config(
    name: &str,
    (local, remote): (SocketAddr, SocketAddr),
    (me, them): (&str, &str),
    (ours, theirs): (&str, &str),
    tcp: TcpConfig,
) -> PeerConfig {
    PeerConfig {
        name: name.into(),
        local,
        remote,
        local_id: id(me),
        remote_id: id(them),
        auth: AuthConfig::Psk(SecretBytes::from_slice(PSK)),
        ike_proposals: suites::default_ike(),
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: vec![net(ours)],
            remote_ts: vec![net(theirs)],
            esp_proposals: suites::default_esp(),
            mode: Mode::Tunnel,
            lifetime: Lifetime::CHILD_DEFAULT,
            replay_window: 64,
        }],
        ike_lifetime: Lifetime::IKE_DEFAULT,
        dpd: None,
        fragmentation: true,
        mobike: true,
        tcp,
        vips: Vec::new(),
        pools: Vec::new(),
    }
}

fn node(peer: PeerConfig) -> Node {
    Node::new(
        NodeConfig::default(),
        Endpoint::new(
            EndpointConfig::default(),
            vec![peer],
            Box::new(SystemRng::new()),
        ),
        iketcp_esp::Engine::new(),
    )
}

fn free_port(ip: &str) -> std::io::Result<u16> {
    for _ in 0..100 {
        let t = std::net::TcpListener::bind((ip, 0))?;
        let port = t.local_addr()?.port();
        if std::net::UdpSocket::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no free port"))
}

/// An ICMP echo request or reply (RFC 792) from `src` to `dst`, in an IPv4 packet.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, reply: bool, seq: u16) -> Vec<u8> {
    let payload = b"iketcp demo ping";
    let mut icmp = vec![if reply { 0 } else { 8 }, 0, 0, 0, 0x1d, 0x5c];
    icmp.extend(seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
    let len = (20 + icmp.len()) as u16;
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip.extend(src.octets());
    ip.extend(dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend(icmp);
    ip
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// (source, destination, is reply, sequence) of an ICMP echo packet.
fn parse_echo(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, bool, u16)> {
    if p.len() < 28 || p[0] != 0x45 || p[9] != 1 {
        return None;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let kind = match p[20] {
        0 => true,
        8 => false,
        _ => return None,
    };
    Some((src, dst, kind, u16::from_be_bytes([p[26], p[27]])))
}

fn transport(path: &Path) -> &'static str {
    match path.transport {
        Transport::Udp => "udp",
        Transport::Tcp(_) => "tcp",
        Transport::Tls(_) => "tls",
    }
}

struct Side {
    name: &'static str,
    handle: Handle,
    reports: mpsc::UnboundedReceiver<Report>,
}

struct Demo {
    t0: Instant,
    a: Side,
    b: Side,
    seen: mpsc::UnboundedReceiver<Seen>,
    middlebox: Middlebox,
    ike_a: Option<IkeSaId>,
}

impl Demo {
    fn say(&self, who: &str, what: impl std::fmt::Display) {
        let ms = self.t0.elapsed().as_millis();
        println!("{ms:>6} ms  {who:<9} {what}");
    }

    fn describe(&self, e: &Event) -> Option<String> {
        Some(match e {
            Event::FellBackToTcp { .. } => "no answer over UDP: falling back to TCP".into(),
            Event::IkeUp { path, .. } => format!(
                "IKE SA up over {} ({} -> {})",
                transport(path),
                path.local,
                path.remote
            ),
            Event::ChildUp {
                name,
                spi_in,
                spi_out,
                ..
            } => format!("Child SA \"{name}\" up: SPIs {spi_in:08x} in, {spi_out:08x} out"),
            Event::ChildRekeyed {
                old_spi_in,
                new_spi_in,
                ..
            } => format!("Child SA rekeyed: {old_spi_in:08x} -> {new_spi_in:08x}"),
            Event::IkeRekeyed { .. } => "IKE SA rekeyed".into(),
            Event::PathChanged { path, .. } => format!(
                "now on {} {} -> {}",
                transport(path),
                path.local,
                path.remote
            ),
            Event::IkeDown { reason, .. } => format!("IKE SA down: {reason:?}"),
            Event::ChildDown { .. } | Event::ChildFailed { .. } => return None,
            other => format!("{other:?}"),
        })
    }

    /// Prints what happens until `done` is seen on side `a` (or `b`), at most `limit`.
    /// Echo requests that come out of the tunnel are answered.
    async fn until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&str, &Report) -> bool,
    ) -> bool {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let (who, report) = tokio::select! {
                r = self.a.reports.recv() => (self.a.name, r),
                r = self.b.reports.recv() => (self.b.name, r),
                s = self.seen.recv() => {
                    match s {
                        Some(Seen::UdpDropped(d)) => {
                            let what = d
                                .strip_prefix(&[0, 0, 0, 0][..])
                                .and_then(|m| Message::parse(m).ok())
                                .map_or_else(|| "a datagram".to_string(), |m| format!("{} {}", m.header.exchange, if m.is_response() { "response" } else { "request" }));
                            self.say("middlebox", format!("dropped UDP: {what}"));
                        }
                        Some(Seen::TcpAccepted(from)) => self.say("middlebox", format!("relays a TCP connection from {from}")),
                        Some(Seen::UdpForwarded) | None => {}
                    }
                    continue;
                }
                () = tokio::time::sleep_until(end) => return false,
            };
            let Some(report) = report else { return false };
            match &report {
                Report::Event(e) => {
                    if let Some(text) = self.describe(e) {
                        self.say(who, text);
                    }
                    if let (Event::IkeUp { ike, .. } | Event::IkeRekeyed { new: ike, .. }, "a") =
                        (e, who)
                    {
                        self.ike_a = Some(*ike);
                    }
                }
                Report::Packet(p) => {
                    if let Some((src, dst, false, seq)) = parse_echo(p) {
                        let side = if who == "a" { &self.a } else { &self.b };
                        side.handle.send_packet(icmp_echo(dst, src, true, seq));
                    }
                }
                _ => {}
            }
            if done(who, &report) {
                return true;
            }
        }
    }

    /// Pings b's inner address from a's, `n` times; returns the replies that came back.
    async fn ping(&mut self, n: u16) -> u16 {
        let (src, dst) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 0, 1));
        let mut replies = 0;
        for seq in 1..=n {
            self.a.handle.send_packet(icmp_echo(src, dst, false, seq));
            let got = self
                .until(Duration::from_secs(2), |who, r| {
                    who == "a"
                        && matches!(r, Report::Packet(p) if parse_echo(p) == Some((dst, src, true, seq)))
                })
                .await;
            replies += u16::from(got);
        }
        replies
    }

    async fn path_of_a(&self) -> Option<Path> {
        self.a
            .handle
            .inspect(|n| n.endpoint().ike_sas().first().map(|s| s.path))
            .await
            .flatten()
    }
}

async fn run(udp_open: bool) -> Result<(), String> {
    let e = |e: std::io::Error| e.to_string();
    let (ia, ib, im) = ("127.0.0.1", "127.0.0.2", "127.0.0.3");
    let a_addr = SocketAddr::new(ia.parse().map_err(|_| "a")?, free_port(ia).map_err(e)?);
    let b_addr = SocketAddr::new(ib.parse().map_err(|_| "b")?, free_port(ib).map_err(e)?);
    let m_addr = SocketAddr::new(im.parse().map_err(|_| "m")?, free_port(im).map_err(e)?);
    let tcp = TcpConfig {
        mode: TcpMode::Fallback,
        remote_port: m_addr.port(),
        ..TcpConfig::default()
    };
    let a_cfg = config(
        "gateway",
        (a_addr, m_addr),
        ("road.iketcp.test", "gateway.iketcp.test"),
        ("10.1.0.0/24", "10.2.0.0/24"),
        tcp,
    );
    let b_cfg = config(
        "road",
        (b_addr, a_addr),
        ("gateway.iketcp.test", "road.iketcp.test"),
        ("10.2.0.0/24", "10.1.0.0/24"),
        TcpConfig::default(),
    );
    println!(
        "a {a_addr} (road warrior, fallback to TCP)  ->  middlebox {m_addr} ({})  ->  b {b_addr} (gateway, UDP and TCP)",
        if udp_open {
            "lets UDP through"
        } else {
            "drops UDP silently"
        }
    );
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let middlebox = Middlebox::start(m_addr, b_addr, udp_open, seen_tx)
        .await
        .map_err(e)?;
    let (btx, brx) = mpsc::unbounded_channel();
    let b = Driver::bind(
        DriverConfig {
            udp: vec![b_addr],
            tcp: vec![b_addr],
            ..DriverConfig::default()
        },
        node(b_cfg),
        btx,
    )
    .await
    .map_err(e)?;
    let (atx, arx) = mpsc::unbounded_channel();
    let a = Driver::bind(
        DriverConfig {
            udp: vec![a_addr],
            ..DriverConfig::default()
        },
        node(a_cfg),
        atx,
    )
    .await
    .map_err(e)?;
    let mut demo = Demo {
        t0: Instant::now(),
        a: Side {
            name: "a",
            handle: a.handle(),
            reports: arx,
        },
        b: Side {
            name: "b",
            handle: b.handle(),
            reports: brx,
        },
        seen,
        middlebox,
        ike_a: None,
    };
    let (ta, tb) = (tokio::spawn(a.run()), tokio::spawn(b.run()));

    demo.say("a", "IKE_SA_INIT over UDP");
    demo.a
        .handle
        .command(|ep, now| ep.initiate(now, "gateway", Some("net")))
        .await
        .ok_or("the node is gone")?
        .map_err(|e| e.to_string())?;
    let child_up =
        |who: &str, r: &Report| who == "a" && matches!(r, Report::Event(Event::ChildUp { .. }));
    if !demo.until(Duration::from_secs(10), child_up).await {
        return Err("the Child SA did not come up".into());
    }
    let path = demo.path_of_a().await.ok_or("no IKE SA")?;
    let via = transport(&path);
    let got = demo.ping(3).await;
    demo.say(
        "a",
        format!("ping 10.2.0.1 from 10.1.0.1 through ESP over {via}: {got}/3 replies"),
    );

    let ike = demo.ike_a.ok_or("no IKE SA")?;
    let spi = demo
        .a
        .handle
        .inspect(move |n| {
            n.endpoint()
                .ike_sas()
                .iter()
                .find(|s| s.id == ike)
                .and_then(|s| s.children.first().map(|c| c.spi_in))
        })
        .await
        .flatten()
        .ok_or("no Child SA")?;
    demo.say("a", "rekeys the Child SA");
    let _ = demo
        .a
        .handle
        .command(move |ep, now| ep.rekey_child(now, ike, spi))
        .await;
    let rekeyed = |who: &str, r: &Report| {
        who == "a" && matches!(r, Report::Event(Event::ChildRekeyed { .. }))
    };
    if !demo.until(Duration::from_secs(5), rekeyed).await {
        return Err("the rekey did not complete".into());
    }
    if via == "tcp" {
        let same = demo
            .path_of_a()
            .await
            .is_some_and(|p| p.stream() == path.stream());
        demo.say(
            "a",
            if same {
                "the rekey ran on the same connection"
            } else {
                "the rekey moved to another connection"
            },
        );
        demo.say("middlebox", "resets the TCP connection");
        demo.middlebox.reset_all().await;
        let moved = |who: &str, r: &Report| {
            who == "b" && matches!(r, Report::Event(Event::PathChanged { .. }))
        };
        if !demo.until(Duration::from_secs(10), moved).await {
            return Err("no reconnection".into());
        }
        let got = demo.ping(3).await;
        demo.say("a", format!("ping after the reconnection: {got}/3 replies"));
    }
    demo.say("a", "deletes the IKE SA");
    let ike = demo.ike_a.ok_or("no IKE SA")?;
    let _ = demo
        .a
        .handle
        .command(move |ep, now| ep.terminate(now, ike))
        .await;
    let mut down = 0;
    let gone = |_: &str, r: &Report| {
        if matches!(r, Report::Event(Event::IkeDown { .. })) {
            down += 1;
        }
        down == 2
    };
    if !demo.until(Duration::from_secs(5), gone).await {
        return Err("the DELETE did not complete".into());
    }
    demo.say(
        "",
        format!("done in {:.1} s", demo.t0.elapsed().as_secs_f64()),
    );
    drop(demo);
    let _ = (ta.await, tb.await);
    Ok(())
}

fn main() {
    let udp_open = std::env::args().any(|a| a == "--udp-open");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iketcp-demo: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(udp_open)) {
        eprintln!("iketcp-demo: {e}");
        std::process::exit(1);
    }
}
