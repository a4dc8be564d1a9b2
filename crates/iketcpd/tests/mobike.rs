//! MOBIKE across transports between two `iketcpd` in network namespaces: UDP blocked in
//! the middle of a transfer moves the tunnel to TCP, unblocked it comes back to UDP and
//! the connection closes; the road warrior's address changes and UPDATE_SA_ADDRESSES
//! moves the SA. Needs root, nftables and iperf3: skipped with a reason otherwise, never
//! under `CI=true`.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::netns::{
    Net, TunPair, connections, drop_udp, iperf, iperf_intervals, nft, ping_inner, sh, tag,
};
use iketcp_ctl::{IkeSaStatus, Reply, Request};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ready() -> bool {
    common::netns::ready(&["iperf3"])
}

/// Waits (bounded by `limit`) until the road warrior's status satisfies `f`; returns
/// how long it took.
fn wait_status(
    a: &Daemon,
    limit: Duration,
    what: &str,
    f: impl Fn(&IkeSaStatus) -> bool,
) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if a.try_status().is_some_and(|s| s.len() == 1 && f(&s[0])) {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}: {:?}", a.try_status());
}

fn history(d: &Daemon) -> Vec<String> {
    match d.ask(&Request::Status { connection: None }) {
        Ok(Reply::Status { history, .. }) => history.into_iter().map(|h| h.what).collect(),
        other => panic!("{other:?}"),
    }
}

fn on_udp(s: &IkeSaStatus) -> bool {
    s.transport.starts_with("udp")
}

// (c), R-MOB-1, R-MOB-3, R-FB-4, R-SEC-2: the tunnel starts on UDP; UDP is blocked in
// the middle of an iperf3 transfer: the road warrior's next liveness check goes
// unanswered, it connects over TCP and moves IKE and ESP there with MOBIKE; the inner
// TCP flow survives. UDP unblocked: the next probe is answered over UDP and the tunnel
// is back on UDP within one probe interval plus a round trip, and the TCP connection is
// closed. The same IKE SA and Child SA throughout.
#[test]
fn udp_blocked_mid_transfer_moves_to_tcp_and_back() {
    blocked_mid_transfer(21, false);
}

// (c) with TLS: the same, the connection MOBIKE moves to being TLS on port 443.
#[test]
fn udp_blocked_mid_transfer_moves_to_tls_and_back() {
    blocked_mid_transfer(23, true);
}

fn blocked_mid_transfer(n: u32, tls: bool) {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tag = tag(n);
    let net = Net::new(&tag);
    let road = "start = \"start\"\nenable_tcp = \"fallback\"\ndpd_delay = \"1s\"\nudp_probe_interval = \"3s\"";
    let pair = if tls {
        TunPair::with_gateway(
            &format!("iketcpd-mobike-{tag}"),
            &format!("{road}\ntcp_remote_port = 443\ntcp_tls = true"),
            "listen_tls = [443]\ntls_cert_file = \"{dir}/tls-cert.pem\"\ntls_key_file = \"{dir}/tls-key.pem\"",
        )
    } else {
        TunPair::new(&format!("iketcpd-mobike-{tag}"), road)
    };
    let (stream, port) = if tls { ("tls", 443) } else { ("tcp", 4500) };
    let (a, _b) = pair.start(&net);
    let up = a.wait_tunnel(Duration::from_secs(15)).expect("tunnel up");
    assert!(on_udp(&up[0]) && up[0].mobike, "{:?}", up[0]);

    let flow = {
        let (na, nb) = (net.a.clone(), net.b.clone());
        std::thread::spawn(move || iperf(&na, &nb, "10.2.0.1", "10.1.0.1", 14))
    };
    wait_status(&a, Duration::from_secs(10), "traffic", |s| {
        s.children.first().is_some_and(|c| c.bytes_out > 1 << 20)
    });

    drop_udp(&net.b);
    let to_tcp = wait_status(&a, Duration::from_secs(15), "the move to TCP", |s| {
        s.transport == stream && s.next_udp_probe_secs.is_some()
    });
    println!("UDP blocked -> on {stream} in {to_tcp:?}");
    assert_eq!(connections(&net.a, "10.204.0.2", port).len(), 1);
    let moved = a.status()[0].children[0].bytes_out;
    wait_status(&a, Duration::from_secs(10), "traffic over TCP", |s| {
        s.children[0].bytes_out > moved + (1 << 20)
    });

    // Unblocked between two probes (none in flight, so the next one goes out after the
    // unblocking): back on UDP by that probe.
    wait_status(&a, Duration::from_secs(30), "a probe scheduled", |s| {
        s.next_udp_probe_secs.is_some()
    });
    let probe_in = a.status()[0]
        .next_udp_probe_secs
        .expect("a probe scheduled");
    assert!(nft(&net.b, "delete table inet ikt"));
    let to_udp = wait_status(&a, Duration::from_secs(30), "the move back to UDP", on_udp);
    println!("UDP unblocked -> on UDP in {to_udp:?} (probe was due in {probe_in} s)");
    assert!(
        to_udp <= Duration::from_secs(probe_in + 2),
        "back on UDP after {to_udp:?}, the probe was due in {probe_in} s"
    );
    let start = Instant::now();
    while !connections(&net.a, "10.204.0.2", port).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the TCP connection stays"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let report = flow.join().unwrap().expect("iperf3 ran and reported");
    assert!(report["error"].is_null(), "iperf3: {}", report["error"]);
    let iv = iperf_intervals(&report);
    assert!(
        iv.len() >= 14 && iv[iv.len() - 1] > 0,
        "the flow did not survive: {iv:?}"
    );
    let after = a.status();
    assert_eq!(after[0].spi_i, up[0].spi_i, "the same IKE SA");
    assert_eq!(
        after[0].children[0].spi_in, up[0].children[0].spi_in,
        "the same Child SA"
    );
    let h = history(&a).join("\n");
    // The history says where the SA went, and why.
    assert!(
        h.contains(&format!("({stream}#")) && h.contains("no answer over UDP"),
        "{h}"
    );
    assert!(h.contains("(udp): UDP works again"), "{h}");
}

// (d), RFC 4555 §3.5: the road warrior's address is removed and another added in its
// namespace: UPDATE_SA_ADDRESSES from the new address moves the SA at the gateway, the
// tunnel carries traffic again, and no new IKE SA is made.
#[test]
fn address_change_moves_the_sa() {
    if !ready() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tag = tag(22);
    let net = Net::new(&tag);
    let pair = TunPair::new(&format!("iketcpd-readdr-{tag}"), "start = \"start\"");
    // The road warrior listens on any address, as a laptop does.
    let text = std::fs::read_to_string(&pair.road).unwrap();
    std::fs::write(
        &pair.road,
        text.replace(r#"listen = ["10.204.0.1"]"#, r#"listen = ["0.0.0.0"]"#),
    )
    .unwrap();
    let (a, b) = pair.start(&net);
    let up = a.wait_tunnel(Duration::from_secs(15)).expect("tunnel up");
    assert!(ping_inner(&net.a, 2).0);
    let gw = b.status();
    assert!(gw[0].remote.starts_with("10.204.0.1:"), "{gw:?}");

    let dev = format!("v{tag}a");
    assert!(sh(&[
        "ip",
        "-n",
        &net.a,
        "addr",
        "del",
        "10.204.0.1/24",
        "dev",
        &dev
    ]));
    assert!(sh(&[
        "ip",
        "-n",
        &net.a,
        "addr",
        "add",
        "10.204.0.3/24",
        "dev",
        &dev
    ]));
    let took = wait_status(&b, Duration::from_secs(10), "the gateway following", |s| {
        s.remote.starts_with("10.204.0.3:")
    });
    println!("address changed -> gateway follows in {took:?}");
    let (ok, out) = ping_inner(&net.a, 3);
    assert!(ok, "{out}");
    let (ra, rb) = (a.status(), b.status());
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].spi_i, up[0].spi_i, "no new IKE SA");
    assert_eq!(rb[0].spi_i, up[0].spi_i);
    assert!(
        history(&b).iter().any(|h| h.contains("10.204.0.3")),
        "{:?}",
        history(&b)
    );
}
