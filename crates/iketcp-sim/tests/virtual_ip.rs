//! Virtual IP addresses (RFC 7296 §2.19, §3.15) between whole nodes: road warriors ask
//! for an address in IKE_AUTH, a gateway leases them from its pools, and both narrow the
//! road warrior's side of every Child SA to it.

use std::net::IpAddr;
use std::time::Duration;

use iketcp_proto::{AddressPool, EndpointConfig, Event, PeerConfig, TcpMode};
use iketcp_sim::{World, ipv4_udp, net, node, peer_config};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A road warrior at `addr` asking for `vips`, whatever its inner side.
fn road(addr: &str, vips: &[&str]) -> PeerConfig {
    let mut c = peer_config(
        "gw",
        (&format!("{addr}:500"), "10.0.0.2:500"),
        ("a@sim.test", "b@sim.test"),
        ("0.0.0.0/0", "10.2.0.0/24"),
        TcpMode::No,
    );
    if vips.iter().any(|v| ip(v).is_ipv6()) {
        c.children[0].local_ts.push(net("::/0"));
        c.children[0].remote_ts.push(net("fd02::/64"));
    }
    c.vips = vips.iter().map(|v| ip(v)).collect();
    c
}

/// The gateway at 10.0.0.2: 10.2.0.0/24 behind it, any road warrior as "a@sim.test",
/// addresses from `pools`.
fn gateway(pools: Vec<AddressPool>) -> PeerConfig {
    let mut c = peer_config(
        "roads",
        ("10.0.0.2:500", "0.0.0.0:500"),
        ("b@sim.test", "a@sim.test"),
        ("10.2.0.0/24", "0.0.0.0/0"),
        TcpMode::No,
    );
    c.children[0].local_ts.push(net("fd02::/64"));
    c.children[0].remote_ts.push(net("::/0"));
    c.pools = pools;
    c
}

fn world(
    seed: u64,
    pools: Vec<AddressPool>,
    roads: &[(&str, &[&str])],
) -> (World, usize, Vec<usize>) {
    let mut w = World::new(seed);
    let gw = w.host(
        "gw",
        "10.0.0.2",
        node(EndpointConfig::default(), vec![gateway(pools)], seed * 7),
        &[500, 4500],
        &[],
    );
    let rs = roads
        .iter()
        .enumerate()
        .map(|(i, (addr, vips))| {
            w.host(
                &format!("road{i}"),
                addr,
                node(
                    EndpointConfig::default(),
                    vec![road(addr, vips)],
                    seed * 7 + 1 + i as u64,
                ),
                &[500, 4500],
                &[],
            )
        })
        .collect();
    (w, gw, rs)
}

fn bring_up(w: &mut World, h: usize) {
    w.command(h, |ep, now| ep.initiate(now, "gw", Some("net")))
        .unwrap();
    assert!(w.run_until(secs(3.0), |w| w.ike_up(h)), "{}", w.dump());
    w.run_for(secs(0.2));
}

fn assigned(w: &World, h: usize) -> Vec<IpAddr> {
    w.events(h)
        .filter_map(|e| match e {
            Event::VirtualIps { addresses, .. } => Some(addresses.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn pool(a: &str, b: &str) -> AddressPool {
    AddressPool::range(ip(a), ip(b)).unwrap()
}

// RFC 7296 §2.19: the initiator's CFG_REQUEST gets a CFG_REPLY with an address of the
// pool; TSi is narrowed to it on both sides, and traffic from it (and only from it)
// goes through.
#[test]
fn a_road_warrior_gets_an_address_and_its_selectors_narrow_to_it() {
    for seed in 0..4 {
        let pools = vec![AddressPool::subnet(ip("10.3.0.0"), 24).unwrap()];
        let (mut w, gw, r) = world(seed, pools, &[("10.0.0.1", &["0.0.0.0"])]);
        bring_up(&mut w, r[0]);
        let vip = ip("10.3.0.1");
        assert_eq!(assigned(&w, r[0]), vec![vip], "{}", w.dump());
        let mine = w.hosts[r[0]].node.endpoint().ike_sas();
        assert_eq!(mine[0].virtual_ips, vec![vip]);
        let theirs = w.hosts[gw].node.endpoint().ike_sas();
        assert_eq!(theirs[0].leased, vec![vip]);
        let host = net("10.3.0.1/32");
        let road_route = w.hosts[r[0]].node.routes().next().unwrap();
        assert_eq!(road_route.local_ts, vec![host]);
        let gw_route = w.hosts[gw].node.routes().next().unwrap();
        assert_eq!(gw_route.remote_ts, vec![host]);

        let before = w.hosts[gw].delivered.len();
        w.send_packet(r[0], &ipv4_udp("10.3.0.1", "10.2.0.7", &[7; 60]));
        w.send_packet(r[0], &ipv4_udp("10.1.0.5", "10.2.0.7", &[8; 60]));
        w.send_packet(gw, &ipv4_udp("10.2.0.7", "10.3.0.1", &[9; 60]));
        w.run_for(secs(0.5));
        let got: Vec<u8> = w.hosts[gw].delivered[before..]
            .iter()
            .map(|p| p[28])
            .collect();
        assert_eq!(got, vec![7], "only the virtual address is carried");
        assert!(w.hosts[r[0]].delivered.iter().any(|p| p[28] == 9));
    }
}

// Each road warrior gets its own address; when the pool is used up the next one gets
// INTERNAL_ADDRESS_FAILURE (RFC 7296 §3.10.1): its IKE SA is made, no Child SA; once an
// IKE SA goes, its address is free for the next.
#[test]
fn leases_are_unique_exhaustion_refuses_and_a_gone_sa_frees_its_address() {
    let pools = vec![pool("10.3.0.10", "10.3.0.11")];
    let roads: &[(&str, &[&str])] = &[
        ("10.0.0.11", &["0.0.0.0"]),
        ("10.0.0.12", &["0.0.0.0"]),
        ("10.0.0.13", &["0.0.0.0"]),
    ];
    let (mut w, gw, r) = world(3, pools, roads);
    bring_up(&mut w, r[0]);
    bring_up(&mut w, r[1]);
    assert_eq!(assigned(&w, r[0]), vec![ip("10.3.0.10")]);
    assert_eq!(assigned(&w, r[1]), vec![ip("10.3.0.11")]);
    bring_up(&mut w, r[2]);
    assert!(assigned(&w, r[2]).is_empty());
    assert_eq!(w.children(r[2]), 0, "no Child SA without an address");
    assert!(
        w.events(r[2])
            .any(|e| matches!(e, Event::ChildFailed { .. })),
        "{}",
        w.dump()
    );
    assert_eq!(w.children(gw), 2);

    let first = w.hosts[r[0]].node.endpoint().ike_sas()[0].id;
    w.command(r[0], |ep, now| ep.terminate(now, first)).unwrap();
    assert!(
        w.run_until(secs(3.0), |w| w.hosts[gw].node.endpoint().ike_sas().len()
            == 2)
    );
    let third = w.hosts[r[2]].node.endpoint().ike_sas()[0].id;
    w.command(r[2], |ep, now| ep.terminate(now, third)).unwrap();
    w.run_for(secs(1.0));
    bring_up(&mut w, r[2]);
    assert_eq!(assigned(&w, r[2]), vec![ip("10.3.0.10")], "{}", w.dump());
    assert_eq!(w.children(r[2]), 1);
}

// An IKE SA rekey keeps the lease on both sides (RFC 7296 §2.8: the new IKE SA inherits
// the old one's state); a Child SA made afterwards with CREATE_CHILD_SA is narrowed to
// the same address, and a rekeyed Child SA keeps it.
#[test]
fn rekeys_keep_the_address() {
    let pools = vec![pool("10.3.0.1", "10.3.0.1")];
    let roads: &[(&str, &[&str])] = &[("10.0.0.1", &["0.0.0.0"]), ("10.0.0.12", &["0.0.0.0"])];
    let (mut w, gw, r) = world(5, pools, roads);
    bring_up(&mut w, r[0]);
    let old = w.hosts[r[0]].node.endpoint().ike_sas()[0].id;
    w.command(r[0], |ep, now| ep.rekey_ike(now, old)).unwrap();
    assert!(w.run_until(secs(3.0), |w| {
        let s = w.hosts[r[0]].node.endpoint().ike_sas();
        s.len() == 1 && s[0].id != old && w.hosts[gw].node.endpoint().ike_sas().len() == 1
    }));
    let new = w.hosts[r[0]].node.endpoint().ike_sas()[0].clone();
    assert_eq!(new.virtual_ips, vec![ip("10.3.0.1")]);
    assert_eq!(
        w.hosts[gw].node.endpoint().ike_sas()[0].leased,
        vec![ip("10.3.0.1")]
    );
    let spi = new.children[0].spi_in;
    w.command(r[0], |ep, now| ep.rekey_child(now, new.id, spi))
        .unwrap();
    w.command(r[0], |ep, now| ep.create_child(now, new.id, "net"))
        .unwrap();
    assert!(
        w.run_until(secs(3.0), |w| w.children(r[0]) == 2 && w.children(gw) == 2),
        "{}",
        w.dump()
    );
    w.run_for(secs(1.0));
    for route in w.hosts[r[0]].node.routes() {
        assert_eq!(route.local_ts, vec![net("10.3.0.1/32")]);
    }
    for route in w.hosts[gw].node.routes() {
        assert_eq!(route.remote_ts, vec![net("10.3.0.1/32")]);
    }
    // The old IKE SA's end did not release the address: a second road warrior finds
    // the one-address pool taken.
    bring_up(&mut w, r[1]);
    assert!(assigned(&w, r[1]).is_empty(), "{}", w.dump());
}

// One address of each IP version, from a pool of each, on one Child SA.
#[test]
fn ipv4_and_ipv6_together() {
    let pools = vec![
        AddressPool::subnet(ip("10.3.0.0"), 24).unwrap(),
        AddressPool::subnet(ip("fd03::"), 120).unwrap(),
    ];
    let (mut w, gw, r) = world(8, pools, &[("10.0.0.1", &["0.0.0.0", "::"])]);
    bring_up(&mut w, r[0]);
    assert_eq!(assigned(&w, r[0]), vec![ip("10.3.0.1"), ip("fd03::1")]);
    let route = w.hosts[gw].node.routes().next().unwrap();
    assert_eq!(
        route.remote_ts,
        vec![net("10.3.0.1/32"), net("fd03::1/128")]
    );
}
