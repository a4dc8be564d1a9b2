//! Hundreds of seeded runs over impaired links: both engines must end agreeing on every
//! SA and key, and the transport rules must hold. A failing seed prints its trace.

use iketcp_sim::engine as sim;

use std::time::Duration;

use iketcp_proto::{Event, Path, Transport};
use sim::{A, B, World, pair_configs, stream_path};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs one seed; `None` when the loss made the setup fail, after checking that both
/// sides then agree there is nothing.
fn scenario(seed: u64, path: Option<Path>) -> Option<World> {
    let (a, b) = pair_configs();
    let mut w = World::new(seed, a, b);
    let stream = path.is_some();
    w.netem.latency = Duration::from_millis(5 + seed % 200);
    if !stream {
        w.netem.loss = 0.15;
        w.netem.dup = 0.05;
        w.netem.jitter = Duration::from_millis(50);
    }
    let now = w.at();
    match path {
        Some(p) => w.ep(A).initiate_on(now, "b", Some("net"), p).unwrap(),
        None => w.ep(A).initiate(now, "b", Some("net")).unwrap(),
    };
    let up = |w: &World| w.ike_up(A) && w.ike_up(B) && w.children(A) == 1 && w.children(B) == 1;
    if !w.run_until(secs(600), up) {
        // Legitimate under heavy loss: then neither side may keep anything.
        w.run_for(secs(120));
        assert!(
            !w.ike_up(A) && !w.ike_up(B),
            "half-failed setup\n{}",
            w.dump()
        );
        assert_eq!(w.children(A) + w.children(B), 0, "{}", w.dump());
        assert!(
            w.events(A).any(|e| matches!(e, Event::IkeDown { .. })),
            "{}",
            w.dump()
        );
        return None;
    }
    w.run_for(secs(5));
    w.assert_children_agree();

    // Work from both sides at once: a rekeys its Child SA while b rekeys the IKE SA.
    let (ike_a, ike_b) = (w.sides[A].ep.ike_sas()[0].id, w.sides[B].ep.ike_sas()[0].id);
    let spi = w.sides[A].ep.ike_sas()[0].children[0].spi_in;
    let now = w.at();
    w.ep(A).rekey_child(now, ike_a, spi).unwrap();
    w.ep(B).rekey_ike(now, ike_b).unwrap();
    let settled = |w: &World| {
        let (a, b) = (w.sides[A].ep.ike_sas(), w.sides[B].ep.ike_sas());
        a.len() == 1
            && b.len() == 1
            && a[0].spi_i == b[0].spi_i
            && a[0].id != ike_a
            && w.children(A) >= 1
            && !w.sides[A].installed.contains_key(&spi)
            && w.children(A) == w.children(B)
    };
    assert!(
        w.run_until(secs(900), settled),
        "rekeys did not settle\n{}",
        w.dump()
    );
    w.run_for(secs(30));
    w.assert_children_agree();
    assert!(w.events(A).all(|e| !matches!(
        e,
        Event::IkeDown {
            reason: iketcp_proto::DownReason::Timeout,
            ..
        }
    )));
    Some(w)
}

#[test]
fn seeded_runs_over_a_lossy_reordering_udp_link() {
    let failed = (0..300)
        .filter(|&seed| scenario(seed, None).is_none())
        .count();
    // Six losses in a row at 15 % are rare; many failures would mean a real fault.
    assert!(failed <= 3, "{failed} of 300 setups failed");
}

// R-RETX-1: over a stream, in every seeded run, no request is ever sent twice.
#[test]
fn seeded_runs_over_a_stream_never_retransmit() {
    for seed in 1000..1150 {
        let w = scenario(seed, Some(stream_path(seed))).expect("a stream loses nothing");
        assert_eq!(w.retransmissions(A), 0, "seed {seed}\n{}", w.dump());
        assert_eq!(w.retransmissions(B), 0, "seed {seed}\n{}", w.dump());
        assert!(
            w.sides[A]
                .sent
                .iter()
                .all(|(_, p, _)| matches!(p.transport, Transport::Tcp(_)))
        );
    }
}

/// An IKE SA with one Child SA over a link losing 10 % and duplicating 5 %, or `None`
/// when the loss made the setup fail.
fn lossy_setup(seed: u64) -> Option<World> {
    let (a, b) = pair_configs();
    let mut w = World::new(seed, a, b);
    w.netem.latency = Duration::from_millis(5 + seed % 100);
    w.netem.loss = 0.1;
    w.netem.dup = 0.05;
    w.netem.jitter = Duration::from_millis(30);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    let up = |w: &World| w.children(A) == 1 && w.children(B) == 1 && w.ike_up(A) && w.ike_up(B);
    if !w.run_until(secs(600), up) {
        return None;
    }
    w.run_for(secs(5));
    Some(w)
}

// RFC 7296 §2.8.1 under loss and reordering: both sides rekey the Child SA at the same
// instant; the redundant SA must be found and removed.
#[test]
fn seeded_simultaneous_child_rekeys_over_a_lossy_link() {
    let mut skipped = 0;
    let mut failed = Vec::new();
    for seed in 500..600 {
        let Some(mut w) = lossy_setup(seed) else {
            skipped += 1;
            continue;
        };
        let (ia, ib) = (w.sides[A].ep.ike_sas()[0].id, w.sides[B].ep.ike_sas()[0].id);
        let (ca, cb) = (
            w.sides[A].ep.ike_sas()[0].children[0].spi_in,
            w.sides[B].ep.ike_sas()[0].children[0].spi_in,
        );
        let now = w.at();
        w.ep(A).rekey_child(now, ia, ca).unwrap();
        w.ep(B).rekey_child(now, ib, cb).unwrap();
        let settled = |w: &World| {
            let (a, b) = (w.sides[A].ep.ike_sas(), w.sides[B].ep.ike_sas());
            a.len() == 1
                && b.len() == 1
                && a[0].spi_i == b[0].spi_i
                && a[0].id == ia
                && b[0].id == ib
                && w.children(A) == 1
                && w.children(B) == 1
                && !w.sides[A].installed.contains_key(&ca)
                && !w.sides[B].installed.contains_key(&cb)
        };
        if !w.run_until(secs(1200), settled) {
            failed.push((seed, "did not settle", w.dump()));
            continue;
        }
        w.run_for(secs(60));
        if !settled(&w) {
            failed.push((seed, "came apart", w.dump()));
            continue;
        }
        w.assert_children_agree();
    }
    if let Some((seed, what, trace)) = failed.first() {
        let seeds: Vec<u64> = failed.iter().map(|f| f.0).collect();
        panic!("seeds {seeds:?} failed; seed {seed} {what}:\n{trace}");
    }
    assert!(skipped <= 2, "{skipped} setups failed");
}

// RFC 7296 §2.8.2 under loss and reordering: both sides rekey the IKE SA at the same
// instant.
#[test]
fn seeded_simultaneous_ike_rekeys_over_a_lossy_link() {
    simultaneous_ike_rekeys(700..800, false);
}

// RFC 7296 §2.8.1–2.8.2 together: both sides rekey the Child SA and the IKE SA at once.
// A sweep of 5,000 more seeds (release build) finds one where nested collisions still
// leave the sides disagreeing; docs/status.md names it.
#[test]
fn seeded_simultaneous_child_and_ike_rekeys_over_a_lossy_link() {
    simultaneous_ike_rekeys(800..900, true);
}

/// `with_children`: both sides also rekey the Child SA at the same instant.
fn simultaneous_ike_rekeys(seeds: std::ops::Range<u64>, with_children: bool) {
    let mut skipped = 0;
    let mut failed = Vec::new();
    for seed in seeds {
        let Some(mut w) = lossy_setup(seed) else {
            skipped += 1;
            continue;
        };
        let (ia, ib) = (w.sides[A].ep.ike_sas()[0].id, w.sides[B].ep.ike_sas()[0].id);
        let now = w.at();
        if with_children {
            let ca = w.sides[A].ep.ike_sas()[0].children[0].spi_in;
            let cb = w.sides[B].ep.ike_sas()[0].children[0].spi_in;
            w.ep(A).rekey_child(now, ia, ca).unwrap();
            w.ep(B).rekey_child(now, ib, cb).unwrap();
        }
        w.ep(A).rekey_ike(now, ia).unwrap();
        w.ep(B).rekey_ike(now, ib).unwrap();
        let settled = |w: &World| {
            let (a, b) = (w.sides[A].ep.ike_sas(), w.sides[B].ep.ike_sas());
            a.len() == 1
                && b.len() == 1
                && a[0].spi_i == b[0].spi_i
                && a[0].spi_r == b[0].spi_r
                && a[0].id != ia
                && w.children(A) == 1
                && w.children(B) == 1
                && a[0].children.len() == 1
                && b[0].children.len() == 1
        };
        if !w.run_until(secs(1200), settled) {
            failed.push((seed, "did not settle", w.dump()));
            continue;
        }
        w.run_for(secs(60));
        if !settled(&w) {
            failed.push((seed, "came apart", w.dump()));
            continue;
        }
        w.assert_children_agree();
    }
    if let Some((seed, what, trace)) = failed.first() {
        let seeds: Vec<u64> = failed.iter().map(|f| f.0).collect();
        panic!("seeds {seeds:?} failed; seed {seed} {what}:\n{trace}");
    }
    assert!(skipped <= 2, "{skipped} setups failed");
}
