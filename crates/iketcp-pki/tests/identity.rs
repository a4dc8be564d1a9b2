//! Identification payload contents (RFC 7296 §3.5), their configuration syntax, and
//! their binding to certificates (RFC 4945 §3.1).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{Alg, Ca, EeSpec};
use iketcp_pki::{Identity, PkiError};

#[test]
fn config_strings_pick_the_type() {
    let cases: Vec<(&str, Identity)> = vec![
        ("a.ecdsa.ss.test", Identity::Fqdn("a.ecdsa.ss.test".into())),
        ("a-psk@ss.test", Identity::Rfc822("a-psk@ss.test".into())),
        ("10.201.0.1", Identity::Ipv4(Ipv4Addr::new(10, 201, 0, 1))),
        ("fd00::1", Identity::Ipv6("fd00::1".parse().unwrap())),
        ("@peer.test", Identity::Fqdn("peer.test".into())),
        (
            "@@user@peer.test",
            Identity::Rfc822("user@peer.test".into()),
        ),
        ("@#0a0b", Identity::KeyId(vec![0x0a, 0x0b])),
        ("keyid:0a0b", Identity::KeyId(vec![0x0a, 0x0b])),
        ("keyid:#0A:0B", Identity::KeyId(vec![0x0a, 0x0b])),
        ("fqdn:10.1.2.3", Identity::Fqdn("10.1.2.3".into())),
        ("email:x@y", Identity::Rfc822("x@y".into())),
        (
            "ipv4:192.0.2.1",
            Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
        ),
        (
            "ipv6:2001:db8::1",
            Identity::Ipv6("2001:db8::1".parse().unwrap()),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Identity::parse(text).as_ref(), Ok(&expected), "{text}");
        assert_eq!(text.parse::<Identity>().as_ref(), Ok(&expected), "{text}");
    }
}

#[test]
fn dn_strings() {
    let id = Identity::parse("C=CH, O=strongSwan, CN=foo").unwrap();
    assert_eq!(id.id_type(), Identity::ID_DER_ASN1_DN);
    assert_eq!(id.to_string(), "C=CH, O=strongSwan, CN=foo");
    assert_eq!(Identity::parse("/C=CH/O=strongSwan/CN=foo").unwrap(), id);
    assert_eq!(
        Identity::parse("asn1dn:C=CH, O=strongSwan, CN=foo").unwrap(),
        id
    );
    let hex: String = id.data().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(Identity::parse(&format!("asn1dn:#{hex}")).unwrap(), id);
    for bad in [
        "C=CH, X=y",
        "CN=",
        "=foo",
        "asn1dn:#3000ff",
        "keyid:xyz",
        "keyid:",
        "",
        "  ",
    ] {
        assert!(Identity::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn display() {
    assert_eq!(
        Identity::parse("a.rsa.ss.test").unwrap().to_string(),
        "a.rsa.ss.test"
    );
    assert_eq!(Identity::parse("10.0.0.1").unwrap().to_string(), "10.0.0.1");
    assert_eq!(Identity::KeyId(vec![1, 0xab]).to_string(), "keyid:#01ab");
    assert_eq!(Identity::Dn(vec![0x30, 0x01]).to_string(), "asn1dn:#3001");
}

#[test]
fn wire_round_trip_for_each_type() {
    for text in [
        "10.201.0.1",
        "2001:db8::5",
        "a.ecdsa.ss.test",
        "a-psk@ss.test",
        "C=CH, O=strongSwan, CN=foo",
        "keyid:#00ff10",
    ] {
        let id = Identity::parse(text).unwrap();
        let back = Identity::from_wire(id.id_type(), &id.data()).unwrap();
        assert_eq!(back, id, "{text}");
    }
    assert_eq!(
        Identity::from_wire(1, &[10, 0, 0, 1]).unwrap().data(),
        [10, 0, 0, 1]
    );
    assert_eq!(Identity::parse("10.0.0.1").unwrap().id_type(), 1);
    assert_eq!(Identity::parse("fqdn:x").unwrap().id_type(), 2);
    assert_eq!(Identity::parse("x@y").unwrap().id_type(), 3);
    assert_eq!(Identity::parse("::1").unwrap().id_type(), 5);
    assert_eq!(Identity::parse("CN=x").unwrap().id_type(), 9);
    assert_eq!(Identity::parse("keyid:01").unwrap().id_type(), 11);
}

#[test]
fn malformed_wire_identities() {
    for (id_type, data) in [
        (1u8, &[10u8, 0, 0][..]),
        (5, &[0; 15][..]),
        (2, &[][..]),
        (2, &[0xff, 0xfe][..]),
        (3, b"a\0b"),
        (9, &[0x30, 0x03, 0x31, 0x00][..]),
        (9, &[0x30, 0x00, 0x00][..]),
        (11, &[][..]),
    ] {
        assert!(
            matches!(
                Identity::from_wire(id_type, data),
                Err(PkiError::InvalidIdentity(_))
            ),
            "type {id_type} {data:02x?}"
        );
    }
    for unsupported in [0u8, 4, 7, 8, 10, 12, 13, 255] {
        assert_eq!(
            Identity::from_wire(unsupported, b"x"),
            Err(PkiError::UnsupportedIdType(unsupported))
        );
    }
    // An empty Name is a valid DER Name.
    assert_eq!(
        Identity::from_wire(9, &[0x30, 0x00]).unwrap().to_string(),
        ""
    );
}

#[test]
fn certificate_matching_per_type() {
    let ca = Ca::new("root", Alg::P256);
    let peer = ca.issue(&EeSpec {
        cn: "peer.test".into(),
        dns: vec!["peer.test".into(), "Alt.Peer.Test".into()],
        emails: vec!["vpn@peer.test".into()],
        ips: vec![
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            IpAddr::V6("2001:db8::7".parse::<Ipv6Addr>().unwrap()),
        ],
        ..EeSpec::new(Alg::P256, "peer.test")
    });
    let cert = &peer.cert;
    assert_eq!(cert.dns_names(), ["peer.test", "Alt.Peer.Test"]);
    assert_eq!(cert.rfc822_names(), ["vpn@peer.test"]);
    assert_eq!(cert.ip_addresses().len(), 2);

    let matching = [
        "peer.test",
        "PEER.test",
        "alt.peer.test",
        "peer.test.",
        "vpn@peer.test",
        "VPN@Peer.Test",
        "192.0.2.7",
        "2001:db8::7",
        "C=CH, O=iketcp-test, CN=peer.test",
        "C=ch, O=IKETCP-test, CN=Peer.Test",
    ];
    for text in matching {
        assert!(
            cert.matches_identity(&Identity::parse(text).unwrap()),
            "{text}"
        );
    }
    let not_matching = [
        "other.test",
        "peer.tes",
        "peer.test@peer.test",
        "192.0.2.8",
        "::1",
        "C=CH, O=iketcp-test",
        "O=iketcp-test, C=CH, CN=peer.test",
        "C=CH, O=iketcp-test, CN=other.test",
        // ID_FQDN never matches an rfc822Name, nor an address a DNS name.
        "fqdn:vpn@peer.test",
        "fqdn:192.0.2.7",
        "keyid:#00",
    ];
    for text in not_matching {
        assert!(
            !cert.matches_identity(&Identity::parse(text).unwrap()),
            "{text}"
        );
    }
    // The subject itself, as sent in ID_DER_ASN1_DN.
    assert!(cert.matches_identity(&cert.subject_identity()));
    // The CN is not a SAN: a name only in the CN does not match an ID_FQDN.
    let cn_only = ca.issue(&EeSpec {
        cn: "cn-only.test".into(),
        dns: vec![],
        ..EeSpec::new(Alg::P256, "cn-only.test")
    });
    assert!(
        !cn_only
            .cert
            .matches_identity(&Identity::parse("cn-only.test").unwrap())
    );
}

#[test]
fn key_id_matches_the_key_as_strongswan_does() {
    let ca = Ca::new("root", Alg::P256);
    let peer = ca.issue(&EeSpec::new(Alg::P256, "peer.test"));
    let spki_sha1 = Identity::KeyId(peer.cert.spki_sha1().to_vec());
    assert!(peer.cert.matches_identity(&spki_sha1));
    let key_sha1 = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        peer.cert.public_key(),
    );
    assert!(
        peer.cert
            .matches_identity(&Identity::KeyId(key_sha1.as_ref().to_vec()))
    );
    assert!(!ca.cert.matches_identity(&spki_sha1));
}
