//! Taking a new configuration while SAs run (what a daemon's reload does): unchanged
//! connections keep their SAs, changed and removed ones have theirs deleted, removed
//! ones make no new SA, added ones can start.

use iketcp_sim::engine as sim;

use std::time::Duration;

use iketcp_proto::{ApiError, Event};
use sim::{A, B, World, pair_configs};

fn up(seed: u64) -> World {
    let (a, b) = pair_configs();
    let mut w = World::new(seed, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(Duration::from_secs(10), |w| w.children(A) == 1
        && w.children(B) == 1));
    w
}

#[test]
fn unchanged_keeps_its_sas() {
    let mut w = up(61);
    let (a, _) = pair_configs();
    let now = w.at();
    let r = w.ep(A).reconfigure(now, vec![a], &[]);
    assert_eq!(r.unchanged, vec!["b".to_string()]);
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.children(A), 1);
    assert!(w.ike_up(A) && w.ike_up(B));
}

#[test]
fn changed_has_its_sas_deleted_on_both_sides() {
    let mut w = up(62);
    let (mut a, _) = pair_configs();
    a.dpd = Some(Duration::from_secs(30));
    let now = w.at();
    let r = w.ep(A).reconfigure(now, vec![a], &["b".to_string()]);
    assert_eq!(r.changed, vec!["b".to_string()]);
    assert!(w.run_until(
        Duration::from_secs(5),
        |w| w.sides[A].ep.ike_sas().is_empty() && w.sides[B].ep.ike_sas().is_empty()
    ));
    assert_eq!(w.children(A) + w.children(B), 0);
    // It starts again under the new configuration.
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(Duration::from_secs(10), |w| w.children(A) == 1
        && w.children(B) == 1));
}

#[test]
fn removed_is_deleted_and_refused_added_can_start() {
    let mut w = up(63);
    let (mut other, _) = pair_configs();
    other.name = "b2".into();
    let now = w.at();
    let r = w.ep(A).reconfigure(now, vec![other], &[]);
    assert_eq!(r.removed, vec!["b".to_string()]);
    assert_eq!(r.added, vec!["b2".to_string()]);
    assert!(w.run_until(Duration::from_secs(5), |w| {
        w.sides[B].ep.ike_sas().is_empty()
    }));
    assert!(w.events(B).any(|e| matches!(e, Event::IkeDown { .. })));
    let now = w.at();
    assert_eq!(
        w.ep(A).initiate(now, "b", Some("net")),
        Err(ApiError::UnknownPeer("b".into()))
    );
    w.ep(A).initiate(now, "b2", Some("net")).unwrap();
    assert!(w.run_until(Duration::from_secs(10), |w| w.children(A) == 1
        && w.children(B) == 1));
    // A responder whose only configuration was removed answers nobody.
    let now = w.at();
    w.ep(B).reconfigure(now, vec![], &[]);
    let now = w.at();
    w.ep(A).initiate(now, "b2", Some("net")).unwrap();
    w.run_for(Duration::from_secs(10));
    assert_eq!(
        w.sides[B]
            .ep
            .ike_sas()
            .iter()
            .filter(|s| s.established)
            .count(),
        0
    );
}
