//! R-CFG-2: per connection, TLS on or off (with its server check, SNI and ALPN) and an
//! HTTP CONNECT proxy; per daemon, the TLS ports. Every mistake names its line.

mod common;

use std::ffi::OsString;

use iketcp_config::{Config, TlsClient};
use iketcp_io::tls::Verify;

fn parse(text: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Config, String> {
    Config::parse_with_env(text, "office.toml", env).map_err(|e| e.to_string())
}

#[track_caller]
fn refused(extra: &str, what: &str) {
    let text = common::connection("office", extra);
    match parse(&text, &common::env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => assert!(
            e.starts_with("office.toml:") && e.contains(what),
            "expected {what:?} in: {e}"
        ),
    }
}

#[test]
fn r_cfg_2_tls_per_connection() {
    let hex = "0a".repeat(32);
    let text = common::connection(
        "office",
        &format!(
            "enable_tcp = \"fallback\"\ntcp_remote_port = 443\ntcp_tls = true\n\
             tls_pin = \"sha256:{hex}\"\ntls_server_name = \"vpn.example.net\"\n\
             tls_alpn = [\"h2\", \"http/1.1\"]\n"
        ),
    );
    let c = parse(&text, &common::env).unwrap();
    let w = &c.connections[0].wrap;
    assert_eq!(
        w.tls,
        Some(TlsClient {
            verify: Verify::Pin([0x0a; 32]),
            server_name: Some("vpn.example.net".into()),
            alpn: vec!["h2".into(), "http/1.1".into()],
        })
    );
    assert!(w.proxy.is_none());
    // Colons between the bytes, as tools print fingerprints, are allowed.
    let colons = vec!["0A"; 32].join(":");
    let text = common::connection(
        "office",
        &format!("enable_tcp = \"yes\"\ntcp_tls = true\ntls_pin = \"sha256:{colons}\"\n"),
    );
    let c = parse(&text, &common::env).unwrap();
    assert_eq!(
        c.connections[0].wrap.tls.as_ref().unwrap().verify,
        Verify::Pin([0x0a; 32])
    );
    // Neither a CA nor a pin: no check of the certificate.
    let text = common::connection("office", "enable_tcp = \"yes\"\ntcp_tls = true\n");
    let c = parse(&text, &common::env).unwrap();
    assert_eq!(
        c.connections[0].wrap.tls.as_ref().unwrap().verify,
        Verify::None
    );
    // Without tcp_tls, nothing wraps the stream.
    let c = parse(&common::connection("office", ""), &common::env).unwrap();
    assert!(c.connections[0].wrap.tls.is_none() && c.connections[0].wrap.proxy.is_none());
}

#[test]
fn tls_mistakes_are_refused_with_their_line() {
    refused("tcp_tls = true\n", "tcp_tls needs enable_tcp");
    refused(
        "enable_tcp = \"yes\"\ntls_pin = \"sha256:00\"\n",
        "tls_pin needs tcp_tls",
    );
    refused(
        "enable_tcp = \"yes\"\ntcp_tls = true\ntls_pin = \"sha256:abcd\"\n",
        "tls_pin",
    );
    refused(
        "enable_tcp = \"yes\"\ntcp_tls = true\ntls_pin = \"md5:00\"\n",
        "tls_pin",
    );
    let dir = common::TempDir::new("wrap-ca");
    let ca = dir.file("ca.pem", b"not a certificate\n", 0o644);
    refused(
        &format!(
            "enable_tcp = \"yes\"\ntcp_tls = true\ntls_ca_file = \"{}\"\ntls_pin = \"sha256:{}\"\n",
            ca.display(),
            "00".repeat(32)
        ),
        "give only one",
    );
    refused(
        &format!(
            "enable_tcp = \"yes\"\ntcp_tls = true\ntls_ca_file = \"{}\"\n",
            ca.display()
        ),
        "ca.pem",
    );
}

#[test]
fn r_cfg_2_proxy_per_connection() {
    let dir = common::TempDir::new("wrap-proxy");
    let creds = dir.file("proxy.cred", b"road:secret\n", 0o600);
    let text = common::connection(
        "office",
        &format!(
            "enable_tcp = \"yes\"\nhttp_proxy = \"http://proxy.example.net:8080\"\n\
             http_proxy_credentials_file = \"{}\"\n",
            creds.display()
        ),
    );
    let c = parse(&text, &common::env).unwrap();
    let p = c.connections[0].wrap.proxy.as_ref().unwrap();
    assert_eq!((p.host.as_str(), p.port), ("proxy.example.net", 8080));
    let shown = format!("{p:?}");
    assert!(
        shown.contains("with credentials") && !shown.contains("secret"),
        "{shown}"
    );
    // From the environment, when asked to.
    let env = |k: &str| match k {
        "https_proxy" => Some(OsString::from("http://10.0.0.3")),
        _ => common::env(k),
    };
    let text = common::connection(
        "office",
        "enable_tcp = \"fallback\"\nhttp_proxy = \"env\"\n",
    );
    let c = parse(&text, &env).unwrap();
    let p = c.connections[0].wrap.proxy.as_ref().unwrap();
    assert_eq!((p.host.as_str(), p.port), ("10.0.0.3", 3128));
    refused(
        "enable_tcp = \"yes\"\nhttp_proxy = \"env\"\n",
        "https_proxy",
    );
}

#[test]
fn proxy_mistakes_are_refused_with_their_line() {
    refused(
        "http_proxy = \"http://proxy.example.net:3128\"\n",
        "http_proxy needs enable_tcp",
    );
    refused(
        "enable_tcp = \"yes\"\nhttp_proxy = \"http://road:pw@proxy.example.net:3128\"\n",
        "http_proxy",
    );
    refused(
        "enable_tcp = \"yes\"\nhttp_proxy = \"socks5://proxy.example.net\"\n",
        "http_proxy",
    );
    let dir = common::TempDir::new("wrap-cred");
    let open = dir.file("proxy.cred", b"road:secret\n", 0o644);
    refused(
        &format!(
            "enable_tcp = \"yes\"\nhttp_proxy = \"http://p.example.net\"\n\
             http_proxy_credentials_file = \"{}\"\n",
            open.display()
        ),
        "proxy.cred",
    );
    let bad = dir.file("bad.cred", b"no colon here\n", 0o600);
    refused(
        &format!(
            "enable_tcp = \"yes\"\nhttp_proxy = \"http://p.example.net\"\n\
             http_proxy_credentials_file = \"{}\"\n",
            bad.display()
        ),
        "user:password",
    );
    refused(
        "http_proxy_credentials_file = \"/nonexistent\"\n",
        "needs http_proxy",
    );
}

#[test]
fn tls_ports_in_the_daemon_table() {
    let text = format!(
        "[daemon]\nlisten_tcp = [4500, 443]\nlisten_tls = [443, 8443]\ntls_min_version = \"1.2\"\n\
         tls_alpn = [\"h2\"]\nhandshake_timeout = \"3s\"\n{}",
        common::connection("office", "")
    );
    let c = parse(&text, &common::env).unwrap();
    assert_eq!(c.daemon.listen_tls, vec![443, 8443]);
    assert_eq!(c.daemon.tls_alpn, vec!["h2".to_string()]);
    assert_eq!(
        c.daemon.handshake_timeout,
        std::time::Duration::from_secs(3)
    );
    let text = format!(
        "[daemon]\ntls_min_version = \"1.1\"\n{}",
        common::connection("office", "")
    );
    let e = parse(&text, &common::env).unwrap_err();
    assert!(
        e.starts_with("office.toml:2:") && e.contains("tls_min_version"),
        "{e}"
    );
}
