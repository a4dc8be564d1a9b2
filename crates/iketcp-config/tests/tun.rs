//! `[tun]`: the tunnel device, its address, MTU and routes.

mod common;

use iketcp_config::Config;

fn parse(text: &str) -> Result<Config, iketcp_config::ConfigError> {
    Config::parse_with_env(text, "tun.toml", &common::env)
}

#[test]
fn static_routes_default_to_the_on_demand_connections_remote_ts() {
    // `a` starts at once: its Child SA brings its routes. `b` starts on demand: its
    // selectors go into the device from the start, so that its first packet is seen.
    let text = format!(
        "[tun]\naddress = \"10.1.0.1/24\"\n{}{}",
        common::connection("a", ""),
        common::connection("b", "start = \"ondemand\"").replace("10.2.0.0/16", "10.3.0.0/16")
    );
    let c = parse(&text).unwrap();
    let t = c.tun.as_ref().unwrap();
    assert_eq!(t.name, "iketcp0");
    assert_eq!(
        (t.addresses[0].0.to_string(), t.addresses[0].1, t.mtu),
        ("10.1.0.1".into(), 24, 1400)
    );
    assert_eq!(t.routes.len(), 1);
    let d = c.runtime().driver.tun.unwrap();
    let routes: Vec<String> = d.routes.iter().map(|(a, p)| format!("{a}/{p}")).collect();
    assert_eq!(routes, ["10.3.0.0/16"]);
    // R-ESP-5: over a stream the inner MTU follows the maximum message length, at its
    // default a UDP payload's, less ESP's overhead.
    assert_eq!(d.stream_mtu, 1472 - 73);
}

#[test]
fn r_frame_5_max_message_length_sets_the_stream_mtu() {
    let c = parse(&format!(
        "[daemon]\nmax_message_length = 65533\n[tun]\naddress = \"10.1.0.1/24\"\n{}",
        common::connection("a", "")
    ))
    .unwrap();
    assert_eq!(c.daemon.max_message_length, 65533);
    let rt = c.runtime();
    assert_eq!(rt.node.limits.max_esp_len, 65533);
    let d = rt.driver.tun.unwrap();
    assert_eq!((d.mtu, d.stream_mtu, d.device_mtu()), (1400, 65460, 65460));
    for bad in ["100", "65534"] {
        let e = parse(&format!(
            "[daemon]\nmax_message_length = {bad}\n{}",
            common::connection("a", "")
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("tun.toml:2:") && e.contains("max_message_length"),
            "{e}"
        );
    }
}

#[test]
fn explicit_routes_and_errors_with_their_line() {
    let c = parse(&format!(
        "[tun]\nname = \"vpn0\"\naddress = \"fd00::1/64\"\nmtu = 1280\nroutes = [\"10.9.0.0/16\"]\n{}",
        common::connection("a", "")
    ))
    .unwrap();
    let t = c.tun.unwrap();
    assert_eq!((t.name.as_str(), t.mtu, t.routes.len()), ("vpn0", 1280, 1));
    let e = parse(&format!(
        "[tun]\naddress = \"10.1.0.1\"\n{}",
        common::connection("a", "")
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("tun.toml:2:") && e.contains("address"), "{e}");
    let e = parse(&format!(
        "[tun]\naddress = \"10.1.0.1/24\"\nmtu = 100\n{}",
        common::connection("a", "")
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("tun.toml:3:") && e.contains("mtu"), "{e}");
    let e = parse(&format!(
        "[tun]\naddress = \"10.1.0.1/24\"\ncolour = \"blue\"\n{}",
        common::connection("a", "")
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("colour"), "{e}");
}

// IPv4 and IPv6 inside: one device with an address of each, at most one of each.
#[test]
fn an_ipv4_and_an_ipv6_address_on_one_device() {
    let text = format!(
        "[tun]\naddress = [\"10.1.0.1/24\", \"fd01::1/64\"]\n{}",
        common::connection("a", "")
    );
    let c = parse(&text).unwrap();
    let a: Vec<String> = c
        .tun
        .as_ref()
        .unwrap()
        .addresses
        .iter()
        .map(|(a, p)| format!("{a}/{p}"))
        .collect();
    assert_eq!(a, ["10.1.0.1/24", "fd01::1/64"]);
    for bad in [
        r#"["10.1.0.1/24", "10.1.0.2/24"]"#,
        "[]",
        r#"["fd01::1/129"]"#,
    ] {
        let text = format!("[tun]\naddress = {bad}\n{}", common::connection("a", ""));
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("tun: "), "{bad}: {e}");
    }
}

// RFC 7296 §2.19: a road warrior asks for virtual addresses (its local_ts then defaults
// to any address of each version asked for) and needs no device address of its own; a
// gateway hands them out from pools (its remote_ts defaults to the pools).
#[test]
fn vips_and_pools() {
    let road = common::connection("road", "vips = [\"0.0.0.0\", \"::\"]")
        .replace("local_ts = [\"10.1.0.0/16\"]\n", "");
    let c = parse(&format!("[tun]\n{road}")).unwrap();
    assert!(c.tun.as_ref().unwrap().addresses.is_empty());
    let p = c.runtime().peers[0].clone();
    assert_eq!(p.vips.len(), 2);
    let local: Vec<String> = p.children[0]
        .local_ts
        .iter()
        .map(|t| format!("{}-{}", t.start_addr, t.end_addr))
        .collect();
    assert_eq!(
        local,
        [
            "0.0.0.0-255.255.255.255",
            "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        ]
    );

    let gw = common::connection("gw", "pools = [\"10.3.0.0/24\", \"fd03::10-fd03::1f\"]")
        .replace("remote_ts = [\"10.2.0.0/16\"]\n", "");
    let c = parse(&gw).unwrap();
    let p = c.runtime().peers[0].clone();
    let remote: Vec<String> = p.children[0]
        .remote_ts
        .iter()
        .map(|t| format!("{}-{}", t.start_addr, t.end_addr))
        .collect();
    assert_eq!(remote, ["10.3.0.1-10.3.0.254", "fd03::10-fd03::1f"]);

    for (extra, want) in [
        ("vips = [\"10.0.0.1\", \"10.0.0.2\"]", "at most one of each"),
        ("vips = [\"any\"]", "not an IP address"),
        ("pools = [\"10.3.0.9-10.3.0.1\"]", "comes after"),
        ("pools = []", "empty"),
        ("", "remote_ts is missing"),
    ] {
        let text = common::connection("x", extra).replace("remote_ts = [\"10.2.0.0/16\"]\n", "");
        let text = if extra.starts_with("vips") {
            common::connection("x", extra)
        } else {
            text
        };
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(want), "{extra}: {e}");
    }
}
