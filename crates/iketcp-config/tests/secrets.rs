//! Secrets come from a private file or the environment, and are never printed.

mod common;

use std::process::Command;

use iketcp_config::Config;
use iketcp_proto::AuthConfig;

fn psk_file_connection(path: &str) -> String {
    common::connection("office", "").replace(
        "psk_env = \"IKETCP_TEST_PSK\"",
        &format!("psk_file = \"{path}\""),
    )
}

fn psk(config: &Config) -> Vec<u8> {
    match &config.connections[0].auth {
        AuthConfig::Psk(k) => k.expose().to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn psk_from_a_0600_file() {
    let dir = common::TempDir::new("psk0600");
    let path = dir.file("office.psk", b"correct horse\n", 0o600);
    let text = psk_file_connection(path.to_str().unwrap());
    let config = Config::parse(&text, dir.path().join("iketcpd.toml")).unwrap();
    assert_eq!(psk(&config), b"correct horse");
    // Stricter than 0600 is fine too, and a relative name is relative to the file.
    dir.file("ro.psk", b"0x00ff10", 0o400);
    let text = psk_file_connection("ro.psk");
    let config = Config::parse(&text, dir.path().join("iketcpd.toml")).unwrap();
    assert_eq!(psk(&config), [0x00, 0xff, 0x10]);
}

#[test]
fn psk_file_readable_by_others_is_refused() {
    let dir = common::TempDir::new("psk0644");
    for mode in [0o644, 0o640, 0o604, 0o620] {
        let path = dir.file("office.psk", b"correct horse\n", mode);
        let text = psk_file_connection(path.to_str().unwrap());
        let e = Config::parse(&text, "office.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("office.toml:8: connection \"office\": psk_file: "),
            "{e}"
        );
        assert!(e.contains(&format!("(mode {mode:04o})")), "{e}");
        assert!(e.contains("0600 or stricter"), "{e}");
        assert!(!e.contains("correct horse"), "{e}");
    }
}

#[test]
fn missing_psk_file_names_it() {
    let text = psk_file_connection("/nonexistent/office.psk");
    let e = Config::parse(&text, "office.toml").unwrap_err().to_string();
    assert!(
        e.starts_with("office.toml:8: connection \"office\": psk_file: /nonexistent/office.psk: "),
        "{e}"
    );
}

#[test]
fn psk_from_an_environment_lookup() {
    let text = common::connection("office", "");
    let config = Config::parse_with_env(&text, "office.toml", &common::env).unwrap();
    assert_eq!(psk(&config), b"test key");
}

/// The real process environment, in a child process: setting a variable in this one is
/// `unsafe` in Rust 2024, and the crate forbids `unsafe`.
#[test]
fn psk_from_the_process_environment() {
    if std::env::var_os("IKETCP_CONFIG_CHILD").is_some() {
        let text = common::connection("office", "").replace("IKETCP_TEST_PSK", "IKETCP_REAL_PSK");
        let config = Config::parse(&text, "office.toml").unwrap();
        assert_eq!(psk(&config), b"from the environment");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "psk_from_the_process_environment", "--nocapture"])
        .env("IKETCP_CONFIG_CHILD", "1")
        .env("IKETCP_REAL_PSK", "from the environment")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn debug_shows_no_secret() {
    let dir = common::TempDir::new("debug");
    let path = dir.file("office.psk", b"correct horse\n", 0o600);
    let text = psk_file_connection(path.to_str().unwrap());
    let config = Config::parse(&text, "office.toml").unwrap();
    let shown = format!("{config:?} {:?}", config.runtime());
    assert!(!shown.contains("correct horse"), "{shown}");
    let bytes = format!("{:?}", b"correct horse");
    assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
    assert!(
        shown.contains("redacted") || shown.contains("bytes>"),
        "{shown}"
    );
}

fn pubkey_files(dir: &common::TempDir, key_mode: u32) -> String {
    let ck = rcgen::generate_simple_self_signed(vec!["vpn.example.net".to_owned()]).unwrap();
    dir.file("cert.pem", ck.cert.pem().as_bytes(), 0o644);
    dir.file("ca.pem", ck.cert.pem().as_bytes(), 0o644);
    dir.file(
        "key.pem",
        ck.signing_key.serialize_pem().as_bytes(),
        key_mode,
    );
    common::connection(
        "office",
        "cert_file = \"cert.pem\"\nkey_file = \"key.pem\"\nca_file = \"ca.pem\"\n",
    )
    .replace("auth = \"psk\"", "auth = \"pubkey\"")
    .replace("psk_env = \"IKETCP_TEST_PSK\"\n", "")
}

#[test]
fn pubkey_from_pem_files() {
    let dir = common::TempDir::new("pubkey");
    let text = pubkey_files(&dir, 0o600);
    let config = Config::parse(&text, dir.path().join("iketcpd.toml")).unwrap();
    match &config.connections[0].auth {
        AuthConfig::Pubkey { cert_chain, .. } => assert_eq!(cert_chain.len(), 1),
        other => panic!("{other:?}"),
    }
    let shown = format!("{config:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[test]
fn pubkey_key_file_must_be_private() {
    let dir = common::TempDir::new("pubkey0644");
    let text = pubkey_files(&dir, 0o644);
    let e = Config::parse(&text, dir.path().join("iketcpd.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("connection \"office\": key_file: "), "{e}");
    assert!(e.contains("(mode 0644)"), "{e}");
}

#[test]
fn pubkey_key_must_match_the_certificate() {
    let dir = common::TempDir::new("pubkeymismatch");
    let text = pubkey_files(&dir, 0o600);
    let other = rcgen::KeyPair::generate().unwrap();
    dir.file("key.pem", other.serialize_pem().as_bytes(), 0o600);
    let e = Config::parse(&text, dir.path().join("iketcpd.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("key_file: "), "{e}");
    assert!(e.contains("not the one in cert_file"), "{e}");
}

#[test]
fn pubkey_needs_its_files() {
    let dir = common::TempDir::new("pubkeyneeds");
    let text = pubkey_files(&dir, 0o600).replace("ca_file = \"ca.pem\"\n", "");
    let e = Config::parse(&text, dir.path().join("iketcpd.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":7: connection \"office\": auth: auth = \"pubkey\" needs ca_file"),
        "{e}"
    );
    let text = pubkey_files(&dir, 0o600) + "psk_env = \"X\"\n";
    let e = Config::parse(&text, dir.path().join("iketcpd.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("psk_env does not apply with auth = \"pubkey\""),
        "{e}"
    );
}
