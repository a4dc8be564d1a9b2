//! IKEv2 exchanges between two engines on a virtual clock (RFC 7296 §1.2–1.4).

mod sim;

use std::time::Duration;

use iketcp_proto::{DownReason, Event};
use sim::{A, B, World, pair_configs};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn up(seed: u64) -> World {
    let (a, b) = pair_configs();
    let mut w = World::new(seed, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.ike_up(A) && w.ike_up(B) && w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    w
}

#[test]
fn rfc7296_1_2_ike_sa_and_first_child_sa() {
    let w = up(1);
    w.assert_children_agree();
    let a = w.sides[A].ep.ike_sas();
    let b = w.sides[B].ep.ike_sas();
    assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
    assert!(a[0].initiator && !b[0].initiator);
    assert_eq!(b[0].peer.as_deref(), Some("a"));
    // RFC 7296 §2.23: NAT-T (faked for UDP encapsulation) moved IKE to port 4500.
    assert_eq!(a[0].path.remote.port(), 4500);
    assert_eq!(b[0].path.remote.port(), 4500);
    assert!(w.events(A).any(|e| matches!(e, Event::IkeUp { .. })));
    assert!(w.events(B).any(|e| matches!(e, Event::ChildUp { .. })));
}
