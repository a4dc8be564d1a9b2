//! IKEv2 exchanges between two engines on a virtual clock (RFC 7296 §1.2–1.4).

use iketcp_sim::engine as sim;

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
        w.run_until(secs(10), |w| w.ike_up(A)
            && w.ike_up(B)
            && w.children(A) == 1
            && w.children(B) == 1),
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

fn ike_of(w: &World, side: usize) -> iketcp_proto::IkeSaId {
    w.sides[side].ep.ike_sas()[0].id
}

fn child_spi(w: &World, side: usize) -> u32 {
    w.sides[side].ep.ike_sas()[0].children[0].spi_in
}

#[test]
fn rfc7296_1_3_3_child_rekey_from_either_side() {
    for (side, seed) in [(A, 11), (B, 12)] {
        let mut w = up(seed);
        let (ike, old) = (ike_of(&w, side), child_spi(&w, side));
        let now = w.at();
        w.ep(side).rekey_child(now, ike, old).unwrap();
        assert!(
            w.run_until(secs(10), |w| {
                w.events(side)
                    .any(|e| matches!(e, Event::ChildRekeyed { .. }))
                    && w.children(A) == 1
                    && w.children(B) == 1
                    && !w.sides[side].installed.contains_key(&old)
            }),
            "{}",
            w.dump()
        );
        w.assert_children_agree();
        let other = 1 - side;
        assert!(w.events(other).any(|e| matches!(
            e,
            Event::ChildDown {
                reason: DownReason::Rekeyed,
                ..
            }
        )));
    }
}

#[test]
fn rfc7296_1_3_2_ike_rekey_from_either_side_keeps_children() {
    for (side, seed) in [(A, 21), (B, 22)] {
        let mut w = up(seed);
        let old = ike_of(&w, side);
        let old_child = child_spi(&w, side);
        let now = w.at();
        w.ep(side).rekey_ike(now, old).unwrap();
        assert!(
            w.run_until(secs(10), |w| {
                let a = w.sides[A].ep.ike_sas();
                let b = w.sides[B].ep.ike_sas();
                a.len() == 1 && b.len() == 1 && a[0].id != old && b[0].spi_i == a[0].spi_i
            }),
            "{}",
            w.dump()
        );
        // The Child SA moved to the new IKE SA, unchanged.
        assert_eq!(child_spi(&w, side), old_child);
        w.assert_children_agree();
        // The rekey's initiator is the new IKE SA's initiator.
        assert!(w.sides[side].ep.ike_sas()[0].initiator);
        assert!(
            w.events(side)
                .any(|e| matches!(e, Event::IkeRekeyed { .. }))
        );
        // The new IKE SA works: a Child rekey over it completes.
        let (ike, spi) = (ike_of(&w, side), child_spi(&w, side));
        let now = w.at();
        w.ep(side).rekey_child(now, ike, spi).unwrap();
        assert!(w.run_until(secs(10), |w| w.children(A) == 1
            && !w.sides[side].installed.contains_key(&spi)));
        w.assert_children_agree();
    }
}

#[test]
fn rfc7296_1_4_1_delete_child_and_ike_from_either_side() {
    for (side, seed) in [(A, 31), (B, 32)] {
        let mut w = up(seed);
        let (ike, spi) = (ike_of(&w, side), child_spi(&w, side));
        let now = w.at();
        w.ep(side).delete_child(now, ike, spi).unwrap();
        assert!(
            w.run_until(secs(10), |w| w.children(A) == 0 && w.children(B) == 0),
            "{}",
            w.dump()
        );
        assert!(w.ike_up(A) && w.ike_up(B));
        // A new Child SA on the same IKE SA.
        let now = w.at();
        w.ep(side).create_child(now, ike, "net").unwrap();
        assert!(
            w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
            "{}",
            w.dump()
        );
        w.assert_children_agree();
        let now = w.at();
        w.ep(side).terminate(now, ike).unwrap();
        assert!(
            w.run_until(secs(10), |w| w.sides[A].ep.ike_sas().is_empty()
                && w.sides[B].ep.ike_sas().is_empty()),
            "{}",
            w.dump()
        );
        assert_eq!(w.children(A) + w.children(B), 0);
        assert!(w.events(1 - side).any(|e| matches!(
            e,
            Event::IkeDown {
                reason: DownReason::PeerDeleted,
                ..
            }
        )));
    }
}

// R-DPD-1: liveness is an IKE INFORMATIONAL exchange; a silent peer is declared dead
// when it goes unanswered.
#[test]
fn r_dpd_1_liveness_detects_a_dead_peer() {
    let (mut a, b) = pair_configs();
    a.dpd = Some(secs(30));
    let mut w = World::new(41, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1));
    // While the peer answers, liveness checks pass.
    w.run_for(secs(100));
    assert!(w.ike_up(A));
    assert!(w.dump().contains("INFORMATIONAL request"), "{}", w.dump());
    // The peer goes silent.
    w.hold = Some(Box::new(|_| true));
    assert!(
        w.run_until(secs(600), |w| w.events(A).any(|e| matches!(
            e,
            Event::IkeDown {
                reason: DownReason::Timeout,
                ..
            }
        ))),
        "{}",
        w.dump()
    );
    assert_eq!(w.children(A), 0);
}

#[test]
fn rfc7296_1_2_wrong_psk_fails_authentication() {
    let (a, mut b) = pair_configs();
    b.auth = iketcp_proto::AuthConfig::Psk(iketcp_crypto::SecretBytes::from_slice(
        b"another secret 0123456789",
    ));
    let mut w = World::new(51, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    w.run_for(secs(30));
    assert!(
        w.events(B).any(|e| matches!(
            e,
            Event::IkeDown {
                reason: DownReason::AuthFailed,
                ..
            }
        )),
        "{}",
        w.dump()
    );
    assert!(
        w.events(A).any(|e| matches!(e, Event::IkeDown { .. })),
        "{}",
        w.dump()
    );
    assert!(w.sides[A].ep.ike_sas().is_empty() && w.sides[B].ep.ike_sas().is_empty());
    assert_eq!(w.children(A) + w.children(B), 0);
}

#[test]
fn rfc7296_1_2_invalid_ke_payload_retry_with_the_wanted_group() {
    use iketcp_proto::config::suites::*;
    let (mut a, mut b) = pair_configs();
    // a offers x25519 first (and sends its KE) but also group 19; b accepts only 19.
    let mut first = ike_aes256gcm16_prfsha384_x25519();
    first.transforms.push(iketcp_wire::ike::Transform::new(
        iketcp_wire::ike::TransformType::KE,
        iketcp_wire::ike::TransformId::KE_ECP_256,
    ));
    a.ike_proposals = vec![first.clone()];
    first
        .transforms
        .retain(|t| t.id != iketcp_wire::ike::TransformId::KE_CURVE25519);
    b.ike_proposals = vec![first];
    let mut w = World::new(61, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    assert!(w.dump().contains("N(INVALID_KE_PAYLOAD)"), "{}", w.dump());
    w.assert_children_agree();
}

#[test]
fn rfc7296_2_9_child_refused_keeps_ike_sa() {
    let (mut a, b) = pair_configs();
    a.children[0].remote_ts = vec![sim::net("192.168.0.0/16")];
    let mut w = World::new(71, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.ike_up(A) && w.ike_up(B)),
        "{}",
        w.dump()
    );
    w.run_for(secs(1));
    assert!(w.events(A).any(|e| matches!(
        e,
        Event::ChildFailed {
            reason: DownReason::Refused(iketcp_proto::Refusal::Notify(
                iketcp_wire::ike::NotifyType::TS_UNACCEPTABLE
            )),
            ..
        }
    )));
    assert_eq!(w.children(A) + w.children(B), 0);
}

/// Both sides start the same rekey at the same instant, so the requests cross.
fn settled_single(w: &World) -> bool {
    let (a, b) = (w.sides[A].ep.ike_sas(), w.sides[B].ep.ike_sas());
    a.len() == 1
        && b.len() == 1
        && a[0].spi_i == b[0].spi_i
        && a[0].spi_r == b[0].spi_r
        && w.children(A) == 1
        && w.children(B) == 1
        && a[0].children.len() == 1
        && b[0].children.len() == 1
}

#[test]
fn rfc7296_2_8_1_simultaneous_child_rekey() {
    for seed in 100..120 {
        let mut w = up(seed);
        let (ia, ib) = (ike_of(&w, A), ike_of(&w, B));
        let (old_a, old_b) = (child_spi(&w, A), child_spi(&w, B));
        let now = w.at();
        w.ep(A).rekey_child(now, ia, old_a).unwrap();
        w.ep(B).rekey_child(now, ib, old_b).unwrap();
        assert!(
            w.run_until(secs(30), |w| settled_single(w)
                && !w.sides[A].installed.contains_key(&old_a)
                && !w.sides[B].installed.contains_key(&old_b)),
            "{}",
            w.dump()
        );
        w.run_for(secs(5));
        assert!(settled_single(&w), "{}", w.dump());
        w.assert_children_agree();
        // The redundant SA was deleted, not left to expire.
        let downs = w
            .events(A)
            .filter(|e| matches!(e, Event::ChildDown { .. }))
            .count();
        assert_eq!(downs, 2, "old and redundant SA gone on a\n{}", w.dump());
    }
}

#[test]
fn rfc7296_2_8_2_simultaneous_ike_rekey() {
    for seed in 200..220 {
        let mut w = up(seed);
        let (ia, ib) = (ike_of(&w, A), ike_of(&w, B));
        let child = child_spi(&w, A);
        let now = w.at();
        w.ep(A).rekey_ike(now, ia).unwrap();
        w.ep(B).rekey_ike(now, ib).unwrap();
        assert!(
            w.run_until(secs(30), |w| settled_single(w) && ike_of(w, A) != ia),
            "{}",
            w.dump()
        );
        w.run_for(secs(5));
        assert!(settled_single(&w), "{}", w.dump());
        assert_eq!(child_spi(&w, A), child, "the Child SA survives unchanged");
        w.assert_children_agree();
        // The surviving IKE SA works.
        let (ike, spi) = (ike_of(&w, B), child_spi(&w, B));
        let now = w.at();
        w.ep(B).rekey_child(now, ike, spi).unwrap();
        assert!(
            w.run_until(secs(30), |w| settled_single(w)
                && !w.sides[B].installed.contains_key(&spi)),
            "{}",
            w.dump()
        );
        w.assert_children_agree();
    }
}

// RFC 4301 §4.4.2.1: byte and packet lifetimes counted by the ESP engine drive the
// engine: soft rekeys the Child SA, hard deletes it.
#[test]
fn child_byte_lifetimes_from_the_esp_engine() {
    let mut w = up(81);
    let spi = child_spi(&w, A);
    let out = w.sides[A].installed[&spi].spi_out;
    let now = w.at();
    w.ep(A).child_lifetime(now, out, false).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1
            && !w.sides[A].installed.contains_key(&spi)),
        "{}",
        w.dump()
    );
    w.assert_children_agree();
    let spi = child_spi(&w, B);
    let now = w.at();
    w.ep(B).child_lifetime(now, spi, true).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 0 && w.children(B) == 0),
        "{}",
        w.dump()
    );
    assert!(w.events(B).any(|e| matches!(
        e,
        Event::ChildDown {
            reason: DownReason::Expired,
            ..
        }
    )));
    assert!(w.ike_up(A) && w.ike_up(B));
    assert!(w.ep(B).child_lifetime(now, 0x1234_5678, true).is_err());
}

// RFC 7296 §2.5: an unknown payload with the critical bit set rejects the message with
// UNSUPPORTED_CRITICAL_PAYLOAD naming its type; nothing else changes.
#[test]
fn rfc7296_2_5_unsupported_critical_payload() {
    use iketcp_wire::ike::{ExchangeType, NotifyType, Payload, PayloadType};
    let mut w = up(91);
    // Payload type 200, critical, four bytes of body.
    let (to_b, bytes) = w.craft(
        A,
        ExchangeType::INFORMATIONAL,
        2,
        PayloadType(200),
        &[0, 0x80, 0, 8, 1, 2, 3, 4],
    );
    let before = w.sides[B].ep.ike_sas();
    let now = w.at();
    w.ep(B).handle_message(now, to_b, &bytes);
    w.drain();
    let reply = w.sides[B].sent.last().unwrap().2.clone();
    let payloads = w.open_at(A, &reply);
    assert!(
        matches!(&payloads[..], [Payload::Notify(n)] if n.notify_type == NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD && n.data == [200]),
        "{payloads:?}"
    );
    assert_eq!(w.sides[B].ep.ike_sas(), before);
    // The same payload without the critical bit is skipped: an empty INFORMATIONAL
    // answer, a liveness check.
    let (to_b, bytes) = w.craft(
        A,
        ExchangeType::INFORMATIONAL,
        3,
        PayloadType(200),
        &[0, 0, 0, 8, 1, 2, 3, 4],
    );
    let now = w.at();
    w.ep(B).handle_message(now, to_b, &bytes);
    w.drain();
    let reply = w.sides[B].sent.last().unwrap().2.clone();
    assert!(w.open_at(A, &reply).is_empty());
}

// RFC 7296 §2.5: a higher major version gets INVALID_MAJOR_VERSION, and no state.
#[test]
fn rfc7296_2_5_invalid_major_version() {
    use iketcp_proto::{Output, Path};
    use iketcp_wire::ike::{Message, NotifyType};
    let (a, b) = pair_configs();
    let mut w = World::new(92, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    let Some(Output::Transmit(t)) = w.ep(A).poll_output() else {
        panic!()
    };
    let mut m = t.message.clone();
    m[17] = 0x30; // version 3.0
    let p = Path {
        local: t.path.remote,
        remote: t.path.local,
        transport: t.path.transport,
    };
    w.ep(B).handle_message(now, p, &m);
    let Some(Output::Transmit(r)) = w.ep(B).poll_output() else {
        panic!("no answer")
    };
    let reply = Message::parse(&r.message).unwrap();
    assert!(reply.notify(NotifyType::INVALID_MAJOR_VERSION).is_some());
    assert_eq!(reply.header.version, 0x20);
    assert!(w.sides[B].ep.ike_sas().is_empty());
}

// RFC 7296 §3.3.2 / RFC 4303 §2.2.1: extended sequence numbers are negotiated per Child
// SA and handed to the ESP engine; no ESN when one side does not offer it.
#[test]
fn esn_negotiated_for_child_sas() {
    use iketcp_proto::proposal::ProposalSpec;
    use iketcp_wire::ike::{Transform, TransformId, TransformType};
    let esn = |yes: bool| ProposalSpec {
        transforms: vec![
            Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_GCM_16, 256),
            Transform::new(
                TransformType::ESN,
                if yes {
                    TransformId::ESN_YES
                } else {
                    TransformId::ESN_NO
                },
            ),
        ],
    };
    for (a_yes, b_yes) in [(true, true), (true, false)] {
        let (mut a, mut b) = pair_configs();
        // a prefers ESN and also offers it off; b takes what its config allows.
        a.children[0].esp_proposals = vec![esn(a_yes), esn(false)];
        b.children[0].esp_proposals = vec![esn(b_yes)];
        let mut w = World::new(93, a, b);
        let now = w.at();
        w.ep(A).initiate(now, "b", Some("net")).unwrap();
        assert!(
            w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
            "{}",
            w.dump()
        );
        w.assert_children_agree();
        let want = a_yes && b_yes;
        assert!(w.sides[A].installed.values().all(|k| k.esn == want));
        assert!(w.sides[B].installed.values().all(|k| k.esn == want));
    }
}

// The default proposals agree with each other, with X25519 and AES-256-GCM chosen, and
// with strongSwan-style single-suite peers.
#[test]
fn default_proposals_negotiate() {
    use iketcp_proto::config::suites;
    let (mut a, mut b) = pair_configs();
    a.ike_proposals = suites::default_ike();
    b.ike_proposals = suites::default_ike();
    a.children[0].esp_proposals = suites::default_esp();
    b.children[0].esp_proposals = suites::default_esp();
    let mut w = World::new(94, a.clone(), b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(10), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    let k = w.sides[A].installed.values().next().unwrap();
    assert_eq!(k.encr, iketcp_wire::ike::TransformId::ENCR_AES_GCM_16);
    assert_eq!(k.encr_key_bits, Some(256));
    // PFS with the default groups on a Child rekey.
    let (ike, spi) = (ike_of(&w, A), child_spi(&w, A));
    let now = w.at();
    w.ep(A).rekey_child(now, ike, spi).unwrap();
    assert!(w.run_until(secs(10), |w| w.children(A) == 1
        && !w.sides[A].installed.contains_key(&spi)));
    w.assert_children_agree();
    // Against a peer configured like strongSwan's fixture (ECP-256, AES-128-GCM only).
    let (_, b) = pair_configs();
    let mut w = World::new(95, a, b);
    let now = w.at();
    w.ep(A).initiate(now, "b", Some("net")).unwrap();
    assert!(
        w.run_until(secs(30), |w| w.children(A) == 1 && w.children(B) == 1),
        "{}",
        w.dump()
    );
    w.assert_children_agree();
}
