//! Every error names the file, the line and the key.

mod common;

use iketcp_config::{Config, ConfigError};

fn error(text: &str) -> String {
    match Config::parse_with_env(text, "office.toml", &common::env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The error for `text`, which must start with `office.toml:LINE: ` and contain `what`.
#[track_caller]
fn assert_error(text: &str, line: usize, what: &str) {
    let e = error(text);
    let prefix = format!("office.toml:{line}: ");
    assert!(e.starts_with(&prefix), "expected line {line} in: {e}");
    assert!(e.contains(what), "expected {what:?} in: {e}");
}

#[test]
fn unknown_esp_algorithm() {
    // Line 1 is the blank line the helper starts with, [[connection]] is line 2.
    let text = common::connection("office", "esp = [\"aes256gcm16\",\n  \"aes999\"]\n");
    let e = error(&text);
    assert_eq!(
        e,
        "office.toml:12: connection \"office\": esp: unknown algorithm \"aes999\""
    );
}

#[test]
fn unknown_token_within_a_proposal() {
    let text = common::connection(
        "office",
        "ike = [\"aes256gcm16-prfsha384-x25519-blowfish\"]\n",
    );
    assert_error(
        &text,
        11,
        "connection \"office\": ike: unknown algorithm \"blowfish\"",
    );
}

#[test]
fn algorithm_known_but_not_implemented() {
    let text = common::connection("office", "esp = [\"aes192-sha256\"]\n");
    assert_error(&text, 11, "esp: \"aes192\" is not implemented");
}

#[test]
fn duplicate_connection_names() {
    let text = format!(
        "{}{}",
        common::connection("office", ""),
        common::connection("office", "")
    );
    assert_error(
        &text,
        13,
        "connection \"office\": name: duplicate connection name (first at line 3)",
    );
}

#[test]
fn zero_ports() {
    assert_error("[daemon]\nike_port = 0\n", 2, "daemon: ike_port: port 0");
    assert_error(
        "[daemon]\nlisten_tcp = [4500,\n 0]\n",
        3,
        "daemon: listen_tcp: port 0",
    );
    let text = common::connection("office", "tcp_remote_port = 0\n");
    assert_error(&text, 11, "connection \"office\": tcp_remote_port: port 0");
}

#[test]
fn dscp_out_of_range() {
    assert_error(
        "[daemon]\n\ndscp = 64\n",
        3,
        "daemon: dscp: 64 is not a DSCP: give 0 to 63",
    );
}

#[test]
fn empty_remote_ts() {
    let text =
        common::connection("office", "").replace("remote_ts = [\"10.2.0.0/16\"]", "remote_ts = []");
    assert_error(&text, 10, "connection \"office\": remote_ts: empty");
}

#[test]
fn host_names_are_resolved_or_refused() {
    let text =
        common::connection("office", "").replace("[\"192.0.2.2\"]", "[\"no-such-host.invalid\"]");
    assert_error(
        &text,
        4,
        "connection \"office\": remote_addrs: \"no-such-host.invalid\" cannot be resolved",
    );
    // RFC 6761: "localhost" is always the loopback address.
    let text = common::connection("office", "").replace("[\"192.0.2.2\"]", "[\"localhost\"]");
    let c = iketcp_config::Config::parse_with_env(&text, "office.toml", &common::env).unwrap();
    assert!(
        c.connections[0].remote.ip().is_loopback(),
        "{:?}",
        c.connections[0].remote
    );
}

#[test]
fn inline_psk_is_refused() {
    let text = common::connection("office", "psk = \"hunter2\"\n")
        .replace("psk_env = \"IKETCP_TEST_PSK\"\n", "");
    let e = error(&text);
    assert!(
        e.starts_with("office.toml:10: connection \"office\": psk: "),
        "{e}"
    );
    assert!(
        e.contains("does not belong in the configuration file"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "the error repeats the secret: {e}");
}

#[test]
fn unknown_keys_are_refused_everywhere() {
    assert_error("colour = \"blue\"\n", 1, "unknown key `colour`");
    assert_error(
        "[daemon]\nlisten = [\"0.0.0.0\"]\nlisten_port = 500\n",
        3,
        "daemon: unknown key `listen_port`",
    );
    let text = common::connection("office", "dpddelay = \"30s\"\n");
    assert_error(&text, 11, "connection \"office\": unknown key `dpddelay`");
    assert_error("[deamon]\n", 1, "unknown key `deamon`");
}

#[test]
fn missing_key_names_the_connection_by_position() {
    let text = "[[connection]]\nremote_addrs = [\"192.0.2.2\"]\n";
    let e = error(text);
    assert!(e.starts_with("office.toml:"), "{e}");
    assert!(e.contains("connection #1"), "{e}");
    assert!(e.contains("missing key `name`"), "{e}");
}

#[test]
fn wrong_types_and_values() {
    assert_error(
        "[daemon]\nlisten_udp = \"yes\"\n",
        2,
        "daemon: listen_udp: invalid type",
    );
    let text = common::connection("office", "enable_tcp = \"maybe\"\n");
    assert_error(
        &text,
        11,
        "enable_tcp: unknown value `maybe`, expected one of `no`, `yes`, `fallback`",
    );
    let text = common::connection("office", "rekey_time = \"4\"\n");
    assert_error(
        &text,
        11,
        "connection \"office\": rekey_time: \"4\" has no unit",
    );
    let text = common::connection("office", "dpd_delay = \"0s\"\n");
    assert_error(&text, 11, "dpd_delay: must be longer than 0");
    let text = common::connection("office", "").replace("10.1.0.0/16", "10.1.0.1/16");
    assert_error(&text, 9, "local_ts: \"10.1.0.1/16\" has host bits set");
    let text = common::connection("office", "").replace("\"road.example.net\"", "\"@#zz\"");
    assert_error(&text, 5, "local_id: \"@#zz\": invalid identity");
    let text = common::connection("office", "replay_window = 100000\n");
    assert_error(
        &text,
        11,
        "replay_window: 100000 is larger than the largest window",
    );
}

#[test]
fn syntax_error_has_a_line() {
    assert_error("[daemon]\nlisten = [\"0.0.0.0\"\n\nike_port = 500\n", 4, "");
}

#[test]
fn daemon_consistency() {
    assert_error(
        "[daemon]\nnatt_port = 500\n",
        2,
        "daemon: natt_port: ike_port and natt_port are both 500",
    );
    assert_error("[daemon]\nlisten = []\n", 2, "daemon: listen: empty");
    assert_error(
        "[daemon]\nmax_connections = 0\n",
        2,
        "max_connections: must be at least 1",
    );
}

#[test]
fn psk_sources() {
    let text = common::connection("office", "").replace("psk_env", "psk_nothing");
    assert_error(&text, 8, "unknown key `psk_nothing`");
    let text = common::connection("office", "").replace("psk_env = \"IKETCP_TEST_PSK\"\n", "");
    assert_error(&text, 7, "auth = \"psk\" needs psk_file");
    let text = common::connection("office", "").replace("IKETCP_TEST_PSK", "IKETCP_NOT_SET");
    assert_error(
        &text,
        8,
        "psk_env: environment variable IKETCP_NOT_SET is not set",
    );
    let text = common::connection("office", "cert_file = \"a.pem\"\n");
    assert_error(&text, 11, "cert_file does not apply with auth = \"psk\"");
}

#[test]
fn ipv6_peer_needs_an_ipv6_address() {
    let text = common::connection("office", "").replace("192.0.2.2", "2001:db8::2");
    assert_error(&text, 4, "remote_addrs: no [daemon] listen address is IPv6");
}

#[test]
fn read_error_names_the_file() {
    let e = Config::load("/nonexistent/iketcpd.toml").unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(
        e.to_string().starts_with("/nonexistent/iketcpd.toml: "),
        "{e}"
    );
}
