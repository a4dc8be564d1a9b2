//! Two `iketcpd` processes on loopback with real configuration files, driven only over
//! their control sockets (the protocol `iketcp` speaks): up, status, down, and SIGTERM.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use iketcp_ctl::{IkeSaStatus, Reply, Request};

fn free_port(ip: &str) -> u16 {
    for _ in 0..100 {
        let t = std::net::TcpListener::bind((ip, 0)).unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// A temporary folder, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "iketcpd-test-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `iketcp` CLI beside this daemon: `cargo test --workspace` builds it.
fn cli() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_iketcpd")).with_file_name("iketcp");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").is_err(),
        "{} missing: the workspace is built before its tests in CI",
        p.display()
    );
    println!(
        "skipped the CLI checks: {} is not built (cargo build -p iketcp-cli)",
        p.display()
    );
    None
}

fn write_secret(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("psk");
    std::fs::write(&p, "iketcpd-test-shared-secret-0123456789\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The gateway: UDP off, TCP on its port; the road warrior: UDP first, then TCP.
fn configs(dir: &Path, road_tcp: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let psk = write_secret(dir);
    let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    // NAT-T ports only matter when IKE starts on 500; these just have to differ.
    let (na, nb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let (sa, sb) = (dir.join("road.sock"), dir.join("gw.sock"));
    let gw = format!(
        r#"
[daemon]
listen = ["127.0.0.2"]
ike_port = {pb}
natt_port = {nb}
listen_udp = false
listen_tcp = [{pb}]
control_socket = "{sb}"

[[connection]]
name = "road"
local_id = "gw.iketcpd.test"
remote_id = "road.iketcpd.test"
auth = "psk"
psk_file = "{psk}"
ike = ["aes256gcm16-prfsha384-x25519"]
esp = ["aes256gcm16"]
local_ts = ["10.2.0.0/24"]
remote_ts = ["10.1.0.0/24"]
start = "none"
"#,
        sb = sb.display(),
        psk = psk.display()
    );
    let road = format!(
        r#"
[daemon]
listen = ["127.0.0.1"]
ike_port = {pa}
natt_port = {na}
listen_tcp = []
control_socket = "{sa}"

[[connection]]
name = "gateway"
remote_addrs = ["127.0.0.2"]
remote_port = {pb}
local_id = "road.iketcpd.test"
remote_id = "gw.iketcpd.test"
auth = "psk"
psk_file = "{psk}"
ike = ["aes256gcm16-prfsha384-x25519"]
esp = ["aes256gcm16"]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
enable_tcp = "{road_tcp}"
tcp_remote_port = {pb}
start = "none"
"#,
        sa = sa.display(),
        psk = psk.display()
    );
    let (fa, fb) = (dir.join("road.toml"), dir.join("gw.toml"));
    std::fs::write(&fa, road).unwrap();
    std::fs::write(&fb, gw).unwrap();
    (fa, sa, fb, sb)
}

/// Whether an IKE SA with a Child SA is established.
fn is_up(s: &[IkeSaStatus]) -> bool {
    s.iter()
        .any(|x| x.state == "established" && !x.children.is_empty())
}

/// `up gateway` on the road warrior; its status once the tunnel is up (bounded).
fn up(road: &Daemon) -> Vec<IkeSaStatus> {
    match road.ask(&Request::Up {
        connection: "gateway".into(),
    }) {
        Ok(Reply::Done { .. }) => {}
        other => panic!("up: {other:?}"),
    }
    road.wait(Duration::from_secs(10), is_up)
}

// R-CFG-1, R-FB-1 through the daemon: a gateway that does not listen on UDP, a road
// warrior with `enable_tcp = "fallback"`: `up` brings the tunnel up over TCP, `status`
// shows the transport, addresses and SPIs on both sides, `down` deletes it, and SIGTERM
// ends the daemon cleanly.
#[test]
fn up_status_down_over_tcp_fallback() {
    let dir = Dir::new("fallback");
    let (fa, sa, fb, sb) = configs(&dir.0, "fallback");
    let mut gw = Daemon::start(&fb, sb);
    let mut road = Daemon::start(&fa, sa);
    let r = up(&road);
    let g = gw.wait(Duration::from_secs(5), is_up);
    assert!(is_up(&r) && is_up(&g), "road: {r:?}\ngateway: {g:?}");
    assert_eq!(r[0].transport, "tcp");
    assert_eq!(g[0].transport, "tcp");
    assert_eq!(r[0].connection, "gateway");
    assert_eq!(g[0].connection, "road");
    assert_eq!(
        (r[0].spi_i.clone(), r[0].spi_r.clone()),
        (g[0].spi_i.clone(), g[0].spi_r.clone())
    );
    assert_eq!(r[0].children[0].spi_in, g[0].children[0].spi_out);
    assert!(r[0].remote.starts_with("127.0.0.2:"));
    // R-FB-4: on TCP with MOBIKE, the road warrior asks over UDP again in 30 s.
    assert!(r[0].mobike && g[0].mobike);
    assert!(r[0].next_udp_probe_secs.is_some_and(|s| s <= 30), "{r:?}");
    assert!(
        g[0].next_udp_probe_secs.is_none(),
        "only the initiator probes"
    );
    assert!(r[0].age_secs.is_some() && r[0].rekey_in_secs.unwrap() > 3600);
    assert!(r[0].children[0].expire_in_secs.unwrap() > r[0].children[0].rekey_in_secs.unwrap());
    // The fallback is in the connection's history.
    let history = match road.ask(&Request::Status { connection: None }) {
        Ok(Reply::Status { history, .. }) => history,
        other => panic!("{other:?}"),
    };
    let said = |w: &str| {
        history
            .iter()
            .any(|e| e.connection == "gateway" && e.what.contains(w))
    };
    assert!(
        said("started") && said("fell back to TCP") && said("up over"),
        "{history:?}"
    );
    // The CLI over the same socket: an aligned table, stable JSON, and a one-line error
    // with exit code 3 when no daemon answers.
    if let Some(cli) = cli() {
        let run = |args: &[&str]| {
            Command::new(&cli)
                .arg("--socket")
                .arg(&road.socket)
                .args(args)
                .output()
                .unwrap()
        };
        let table = run(&["status"]);
        assert!(table.status.success());
        let text = String::from_utf8_lossy(&table.stdout);
        let header = text.lines().next().unwrap_or("");
        assert!(
            header.starts_with("CONNECTION") && header.contains("TRANSPORT"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("gateway") && l.contains(" tcp (UDP probe in ")),
            "{text}"
        );
        let json = run(&["status", "--json"]);
        let parsed: Vec<IkeSaStatus> = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(parsed, road.status());
        let none = Command::new(&cli)
            .args(["--socket", "/nonexistent/iketcpd.sock", "status"])
            .output()
            .unwrap();
        assert_eq!(none.status.code(), Some(3));
        let err = String::from_utf8_lossy(&none.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("cannot reach iketcpd"), "{err}");
    }
    // A connection that does not exist is refused with its name.
    match road.ask(&Request::Up {
        connection: "nowhere".into(),
    }) {
        Ok(Reply::Error { message }) => assert!(message.contains("nowhere"), "{message}"),
        other => panic!("{other:?}"),
    }
    match road.ask(&Request::Down {
        connection: "gateway".into(),
    }) {
        Ok(Reply::Done { .. }) => {}
        other => panic!("down: {other:?}"),
    }
    let g = gw.wait(Duration::from_secs(5), |s| s.is_empty());
    assert!(g.is_empty(), "{g:?}");
    assert!(road.terminate().success());
    assert!(gw.terminate().success());
}

// SIGTERM sends DELETE for every IKE SA: the peer's status shows it gone.
// R-FB-4 without MOBIKE: the road warrior (`mobike = false`) falls back to TCP and
// stays there; `iketcp status` says so, and no UDP probe is scheduled.
#[test]
fn without_mobike_stays_on_tcp_and_says_so() {
    let dir = Dir::new("nomobike");
    let (fa, sa, fb, sb) = configs(&dir.0, "fallback");
    let text = std::fs::read_to_string(&fa).unwrap();
    std::fs::write(&fa, format!("{text}mobike = false\n")).unwrap();
    let mut gw = Daemon::start(&fb, sb);
    let mut road = Daemon::start(&fa, sa);
    let r = up(&road);
    assert!(is_up(&r), "{r:?}");
    assert_eq!(r[0].transport, "tcp");
    assert!(!r[0].mobike && r[0].next_udp_probe_secs.is_none(), "{r:?}");
    if let Some(cli) = cli() {
        let out = Command::new(&cli)
            .arg("--socket")
            .arg(&road.socket)
            .arg("status")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines()
                .any(|l| l.starts_with("gateway") && l.contains(" tcp (no MOBIKE: stays)")),
            "{text}"
        );
    }
    assert!(road.terminate().success());
    assert!(gw.terminate().success());
}

#[test]
fn sigterm_deletes_every_sa() {
    let dir = Dir::new("sigterm");
    let (fa, sa, fb, sb) = configs(&dir.0, "yes");
    let mut gw = Daemon::start(&fb, sb);
    let mut road = Daemon::start(&fa, sa);
    let _ = road.ask(&Request::Up {
        connection: "gateway".into(),
    });
    let g = gw.wait(Duration::from_secs(10), |s| {
        s.iter().any(|x| x.state == "established")
    });
    assert!(!g.is_empty());
    assert!(road.terminate().success());
    let g = gw.wait(Duration::from_secs(5), |s| s.is_empty());
    assert!(g.is_empty(), "the gateway still has {g:?}");
    assert!(gw.terminate().success());
}

// A configuration error names the file, the line and the key, and the daemon does not
// start.
#[test]
fn bad_config_names_file_line_and_key() {
    let dir = Dir::new("bad");
    let (fa, _, _, _) = configs(&dir.0, "fallback");
    let text = std::fs::read_to_string(&fa).unwrap();
    std::fs::write(&fa, text.replace("aes256gcm16\"]", "aes999\"]")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iketcpd"))
        .arg("--config")
        .arg(&fa)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("road.toml:"), "{err}");
    assert!(err.contains("aes999"), "{err}");
    assert!(err.contains("esp"), "{err}");
}

// Reload: a file that does not load is refused with its line and the running
// configuration stays; a changed connection has its SA deleted (on both sides); a
// removed one too, and an added one appears. SIGHUP does the same as `iketcp reload`.
#[test]
fn reload_keeps_refuses_changes_and_removes() {
    let dir = Dir::new("reload");
    let (fa, sa, fb, sb) = configs(&dir.0, "yes");
    let gw = Daemon::start(&fb, sb);
    let road = Daemon::start(&fa, sa);
    let _ = road.ask(&Request::Up {
        connection: "gateway".into(),
    });
    let established = |s: &[IkeSaStatus]| s.iter().any(|x| x.state == "established");
    assert!(established(&gw.wait(Duration::from_secs(10), established)));
    let original = std::fs::read_to_string(&fa).unwrap();

    // Unchanged: the SA stays.
    match road.ask(&Request::Reload) {
        Ok(Reply::Done { message }) => assert!(message.contains("1 unchanged"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(established(&road.status()));

    // A broken file: refused, with the line; the SA stays.
    std::fs::write(
        &fa,
        original.replace("start = \"none\"", "start = \"sometimes\""),
    )
    .unwrap();
    match road.ask(&Request::Reload) {
        Ok(Reply::Error { message }) => {
            assert!(
                message.contains("road.toml:") && message.contains("start"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(established(&road.status()));

    // Changed (another ESP proposal), by SIGHUP: deleted on both sides.
    std::fs::write(
        &fa,
        original.replace("esp = [\"aes256gcm16\"]", "esp = [\"aes128gcm16\"]"),
    )
    .unwrap();
    let _ = Command::new("kill")
        .arg("-HUP")
        .arg(road.child.id().to_string())
        .status();
    let g = gw.wait(Duration::from_secs(5), |s| s.is_empty());
    assert!(g.is_empty(), "{g:?}");

    // Removed and added.
    let _ = road.ask(&Request::Up {
        connection: "gateway".into(),
    });
    assert!(established(&gw.wait(Duration::from_secs(10), established)));
    std::fs::write(
        &fa,
        original.replace("name = \"gateway\"", "name = \"gateway2\""),
    )
    .unwrap();
    match road.ask(&Request::Reload) {
        Ok(Reply::Done { message }) => {
            assert!(message.contains("1 added, 1 removed"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let g = gw.wait(Duration::from_secs(5), |s| s.is_empty());
    assert!(g.is_empty(), "{g:?}");
    match road.ask(&Request::Up {
        connection: "gateway".into(),
    }) {
        Ok(Reply::Error { .. }) => {}
        other => panic!("a removed connection started: {other:?}"),
    }
    let _ = road.ask(&Request::Up {
        connection: "gateway2".into(),
    });
    assert!(established(&gw.wait(Duration::from_secs(10), established)));
}

// Key export for Wireshark: off unless `key_export_dir` is set; then the files follow
// the SAs as they come up, and `keys export DIR` writes those of every SA up now.
#[test]
fn key_export_only_when_configured() {
    let dir = Dir::new("keys");
    let (fa, sa, fb, sb) = configs(&dir.0, "yes");
    let gw = Daemon::start(&fb, sb);
    // Off: refused.
    match gw.ask(&Request::KeysExport {
        dir: dir.0.join("x").display().to_string(),
    }) {
        Ok(Reply::Error { message }) => assert!(message.contains("key_export_dir"), "{message}"),
        other => panic!("{other:?}"),
    }
    let kdir = dir.0.join("keys");
    let text = std::fs::read_to_string(&fa).unwrap().replace(
        "[daemon]\n",
        &format!("[daemon]\nkey_export_dir = \"{}\"\n", kdir.display()),
    );
    std::fs::write(&fa, text).unwrap();
    let road = Daemon::start(&fa, sa);
    let _ = road.ask(&Request::Up {
        connection: "gateway".into(),
    });
    let s = road.wait(Duration::from_secs(10), |s| {
        s.iter()
            .any(|x| x.state == "established" && !x.children.is_empty())
    });
    let spi = s[0].spi_i.clone();
    let child = s[0].children[0].spi_in.clone();
    let end = Instant::now() + Duration::from_secs(5);
    let (mut ike, mut esp) = (String::new(), String::new());
    while Instant::now() < end {
        ike = std::fs::read_to_string(kdir.join("ikev2_decryption_table")).unwrap_or_default();
        esp = std::fs::read_to_string(kdir.join("esp_sa")).unwrap_or_default();
        if !ike.is_empty() && esp.lines().count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ike.contains(&spi), "{ike}");
    assert!(esp.to_lowercase().contains(&child), "{esp}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(kdir.join("esp_sa"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "key files are private");
    let out = dir.0.join("now");
    match road.ask(&Request::KeysExport {
        dir: out.display().to_string(),
    }) {
        Ok(Reply::Done { message }) => assert!(
            message.contains("1 IKE SA(s) and 1 Child SA(s)"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        std::fs::read_to_string(out.join("ikev2_decryption_table"))
            .unwrap()
            .contains(&spi)
    );
}

// A setup that cannot succeed (TCP only, and no gateway running: the connection is
// refused) fails fast, and `status` says why.
#[test]
fn failed_setup_reason_in_status() {
    let dir = Dir::new("unreachable");
    let (fa, sa, _, _) = configs(&dir.0, "yes");
    let road = Daemon::start(&fa, sa);
    let _ = road.ask(&Request::Up {
        connection: "gateway".into(),
    });
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let history = match road.ask(&Request::Status { connection: None }) {
            Ok(Reply::Status { history, .. }) => history,
            other => panic!("{other:?}"),
        };
        if history.iter().any(|e| e.what.contains("down: Unreachable")) {
            break;
        }
        assert!(Instant::now() < end, "{history:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(road.status().is_empty());
}

// R-CFG-1 across the combinations that come up quickly: `enable_tcp` of the road warrior
// against a gateway with UDP on or off and a second TCP port (443 in production, a free
// port here). Each comes up on the transport it should.
#[test]
fn enable_tcp_against_gateway_listeners() {
    // (road's enable_tcp, gateway's UDP on, road's TCP port: first or second listener,
    //  transport expected)
    let cases = [
        ("no", true, 0, "udp-encap"),
        ("fallback", true, 0, "udp-encap"),
        ("yes", true, 1, "tcp"),
        ("yes", false, 0, "tcp"),
        ("fallback", false, 1, "tcp"),
    ];
    for (i, (mode, gw_udp, port_index, want)) in cases.into_iter().enumerate() {
        let dir = Dir::new(&format!("matrix{i}"));
        let (fa, sa, fb, sb) = configs(&dir.0, mode);
        let second = free_port("127.0.0.2");
        let gw_text = std::fs::read_to_string(&fb).unwrap();
        let first = gw_text
            .lines()
            .find_map(|l| l.strip_prefix("ike_port = "))
            .unwrap()
            .to_string();
        let gw_text = gw_text
            .replace("listen_udp = false", &format!("listen_udp = {gw_udp}"))
            .replace(
                &format!("listen_tcp = [{first}]"),
                &format!("listen_tcp = [{first}, {second}]"),
            );
        std::fs::write(&fb, gw_text).unwrap();
        if port_index == 1 {
            let road = std::fs::read_to_string(&fa).unwrap().replace(
                &format!("tcp_remote_port = {first}"),
                &format!("tcp_remote_port = {second}"),
            );
            std::fs::write(&fa, road).unwrap();
        }
        let gw = Daemon::start(&fb, sb);
        let road = Daemon::start(&fa, sa);
        let _ = road.ask(&Request::Up {
            connection: "gateway".into(),
        });
        let up = |s: &[IkeSaStatus]| s.iter().any(|x| x.state == "established");
        let r = road.wait(Duration::from_secs(10), up);
        assert!(up(&r), "case {i} ({mode}, UDP {gw_udp}): {r:?}");
        assert_eq!(r[0].transport, want, "case {i} ({mode}, UDP {gw_udp})");
        if want == "tcp" {
            let port: u16 = r[0].remote.rsplit(':').next().unwrap().parse().unwrap();
            let expected = if port_index == 1 {
                second
            } else {
                first.parse().unwrap()
            };
            assert_eq!(port, expected, "case {i}");
        }
        drop((road, gw));
    }
}

// `enable_tcp = "no"` against a gateway that does not listen on UDP cannot come up: it
// fails when the UDP schedule runs out (short here through `retransmit_timeout` and
// `retransmit_tries`), and `status` says so.
#[test]
fn udp_only_against_udp_off_fails_with_its_reason() {
    let dir = Dir::new("udponly");
    let (fa, sa, fb, sb) = configs(&dir.0, "no");
    let text = std::fs::read_to_string(&fa).unwrap().replace(
        "[daemon]\n",
        "[daemon]\nretransmit_timeout = \"100ms\"\nretransmit_tries = 2\n",
    );
    std::fs::write(&fa, text).unwrap();
    let _gw = Daemon::start(&fb, sb);
    let road = Daemon::start(&fa, sa);
    let _ = road.ask(&Request::Up {
        connection: "gateway".into(),
    });
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let history = match road.ask(&Request::Status { connection: None }) {
            Ok(Reply::Status { history, .. }) => history,
            other => panic!("{other:?}"),
        };
        if history.iter().any(|e| e.what.contains("down: Timeout")) {
            assert!(
                !history.iter().any(|e| e.what.contains("TCP")),
                "{history:?}"
            );
            break;
        }
        assert!(Instant::now() < end, "{history:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// `--log-format json`: one JSON object per line, with the level and the message.
#[test]
fn json_logs() {
    let dir = Dir::new("json");
    let (_, _, fb, sb) = configs(&dir.0, "no");
    let child = Command::new(env!("CARGO_BIN_EXE_iketcpd"))
        .arg("--config")
        .arg(&fb)
        .args(["--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while iketcp_ctl::request(&sb, &Request::Version, Duration::from_secs(1)).is_err() {
        assert!(Instant::now() < end, "no daemon");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
        n += 1;
    }
    assert!(n >= 2, "{text}");
}

// The whole cycle with nothing but the `iketcp` CLI: up, status --json, down.
#[test]
fn driven_by_the_cli_alone() {
    let Some(cli) = cli() else { return };
    let dir = Dir::new("cli");
    let (fa, sa, fb, sb) = configs(&dir.0, "fallback");
    let gw = Daemon::start(&fb, sb);
    let _road = Daemon::start(&fa, sa.clone());
    let run = |args: &[&str]| {
        Command::new(&cli)
            .arg("--socket")
            .arg(&sa)
            .args(args)
            .output()
            .unwrap()
    };
    let up = run(&["up", "gateway"]);
    assert!(up.status.success(), "{up:?}");
    let end = Instant::now() + Duration::from_secs(10);
    let sas: Vec<IkeSaStatus> = loop {
        let out = run(&["status", "gateway", "--json"]);
        assert!(out.status.success());
        let sas: Vec<IkeSaStatus> = serde_json::from_slice(&out.stdout).unwrap();
        if sas.iter().any(|s| s.state == "established") {
            break sas;
        }
        assert!(Instant::now() < end, "{sas:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sas[0].transport, "tcp");
    let down = run(&["down", "gateway"]);
    assert!(down.status.success(), "{down:?}");
    let g = gw.wait(Duration::from_secs(5), |s| s.is_empty());
    assert!(g.is_empty(), "{g:?}");
    let again = run(&["down", "gateway"]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "nothing left to delete: refused"
    );
}
