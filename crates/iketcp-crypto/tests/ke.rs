//! Key exchange: RFC 3526 group 14, RFC 5903 groups 19/20, RFC 8031 group 31.

use iketcp_crypto::{CryptoError, DeterministicRng, KeGroup, SystemRng};

#[test]
fn both_sides_agree_in_every_group() {
    let mut rng = SystemRng::new();
    for group in KeGroup::ALL {
        let i = group.start(&mut rng).unwrap();
        let r = group.start(&mut rng).unwrap();
        assert_eq!(i.group(), group);
        assert_eq!(i.public_value().len(), group.public_value_len());
        assert_ne!(i.public_value(), r.public_value());
        let (i_pub, r_pub) = (i.public_value().to_vec(), r.public_value().to_vec());
        let si = i.complete(&r_pub).unwrap();
        let sr = r.complete(&i_pub).unwrap();
        assert_eq!(si, sr, "{group:?}");
        assert_eq!(si.len(), group.shared_secret_len());
    }
}

#[test]
fn ike_lengths_of_public_values() {
    let expected = [
        (KeGroup::Modp2048, 256),
        (KeGroup::Ecp256, 64),
        (KeGroup::Ecp384, 96),
        (KeGroup::Curve25519, 32),
    ];
    let mut rng = DeterministicRng::from_u64(1);
    for (group, len) in expected {
        assert_eq!(group.start(&mut rng).unwrap().public_value().len(), len);
        assert_eq!(KeGroup::from_iana(group.iana()), Some(group));
    }
    assert_eq!(KeGroup::from_iana(2), None);
}

#[test]
fn seeded_exchanges_replay() {
    for group in KeGroup::ALL {
        let a = group.start(&mut DeterministicRng::from_u64(9)).unwrap();
        let b = group.start(&mut DeterministicRng::from_u64(9)).unwrap();
        assert_eq!(a.public_value(), b.public_value(), "{group:?}");
    }
}

fn refused(group: KeGroup, peer: &[u8]) -> bool {
    let mut rng = SystemRng::new();
    group.start(&mut rng).unwrap().complete(peer).unwrap_err() == CryptoError::BadPeerPublicValue
}

#[test]
fn wrong_lengths_are_refused() {
    for group in KeGroup::ALL {
        let n = group.public_value_len();
        let mut rng = SystemRng::new();
        let good = group.start(&mut rng).unwrap().public_value().to_vec();
        assert!(refused(group, &[]), "{group:?}");
        assert!(refused(group, &good[..n - 1]), "{group:?}");
        let mut longer = good.clone();
        longer.push(0);
        assert!(refused(group, &longer), "{group:?}");
        // The SEC 1 form with its 0x04 octet is not IKE encoding.
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(&good);
        assert!(refused(group, &sec1), "{group:?}");
    }
}

/// RFC 6989: 0, 1, p-1 and anything at or above p are refused for MODP.
#[test]
fn modp_out_of_range_values_are_refused() {
    let p_hex = concat!(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
        "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    );
    let p: Vec<u8> = (0..p_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&p_hex[i..i + 2], 16).unwrap())
        .collect();
    let with_last = |last: u8| {
        let mut v = p.clone();
        v[255] = last;
        v
    };
    let g = KeGroup::Modp2048;
    assert!(refused(g, &[0; 256]));
    assert!(refused(g, &{
        let mut one = [0u8; 256];
        one[255] = 1;
        one
    }));
    assert!(refused(g, &with_last(0xfe)), "p - 1");
    assert!(refused(g, &p), "p");
    assert!(refused(g, &[0xff; 256]), "above p");
    // 2 and p - 2 are acceptable.
    let mut rng = SystemRng::new();
    let mut two = [0u8; 256];
    two[255] = 2;
    assert!(g.start(&mut rng).unwrap().complete(&two).is_ok());
    assert!(
        g.start(&mut rng)
            .unwrap()
            .complete(&with_last(0xfd))
            .is_ok()
    );
}

#[test]
fn ecp_points_off_the_curve_are_refused() {
    let mut rng = SystemRng::new();
    for group in [KeGroup::Ecp256, KeGroup::Ecp384] {
        let n = group.public_value_len();
        assert!(refused(group, &vec![0; n]), "{group:?} zeros");
        let mut off = group.start(&mut rng).unwrap().public_value().to_vec();
        off[n - 1] ^= 1; // y changed: no longer on the curve
        assert!(refused(group, &off), "{group:?} off curve");
        assert!(
            refused(group, &vec![0xff; n]),
            "{group:?} coordinates above p"
        );
    }
}

/// RFC 8031 (RFC 7748 §6.1): low-order points give an all-zero secret and are refused.
#[test]
fn x25519_low_order_points_are_refused() {
    let g = KeGroup::Curve25519;
    assert!(refused(g, &[0; 32]));
    let mut one = [0u8; 32];
    one[0] = 1;
    assert!(refused(g, &one));
    // A point of order 8 (RFC 7748 §6.1 / libsodium blocklist).
    let order8: [u8; 32] = [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ];
    assert!(refused(g, &order8));
}

#[test]
fn debug_shows_only_the_group() {
    let mut rng = DeterministicRng::from_u64(3);
    let ke = KeGroup::Ecp256.start(&mut rng).unwrap();
    assert_eq!(format!("{ke:?}"), "ActiveKe { group: Ecp256, .. }");
}
