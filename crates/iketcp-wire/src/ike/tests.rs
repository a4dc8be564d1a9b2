//! RFC 7296 §3 and RFC 7383 §2.5 on whole messages: golden bytes, round trips of every
//! payload kind, and mutations of valid messages that must fail cleanly.

use core::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::codec::Writer;
use crate::error::WireErrorKind;

// ---------------------------------------------------------------------------------------
// Golden IKE_SA_INIT request
// ---------------------------------------------------------------------------------------

const SPI_I: u64 = 0x0011_2233_4455_6677;
const KE_FILL: u8 = 0x4b;
const NONCE_FILL: u8 = 0x6e;
const NATD_S_FILL: u8 = 0x53;
const NATD_D_FILL: u8 = 0x44;

fn ike_sa_init_request() -> Message {
    Message {
        header: Header {
            spi_i: SPI_I,
            spi_r: 0,
            next_payload: PayloadType::SA,
            version: IKEV2_VERSION,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::INITIATOR,
            message_id: 0,
            length: 240,
        },
        payloads: vec![
            Payload::Sa(Sa {
                proposals: vec![Proposal {
                    number: 1,
                    protocol_id: ProtocolId::IKE,
                    spi: vec![],
                    transforms: vec![
                        Transform::with_key_length(
                            TransformType::ENCR,
                            TransformId::ENCR_AES_CBC,
                            256,
                        ),
                        Transform::new(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                        Transform::new(TransformType::INTEG, TransformId::INTEG_HMAC_SHA2_256_128),
                        Transform::new(TransformType::KE, TransformId::KE_ECP_256),
                    ],
                }],
            }),
            Payload::Ke(Ke {
                group: TransformId::KE_ECP_256,
                data: vec![KE_FILL; 64],
            }),
            Payload::Nonce(Nonce {
                data: vec![NONCE_FILL; 32],
            }),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                vec![NATD_S_FILL; 20],
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                vec![NATD_D_FILL; 20],
            )),
        ],
    }
}

/// The same request, written out field by field from RFC 7296 §3.1–§3.10.
fn ike_sa_init_request_bytes() -> Vec<u8> {
    let mut b = vec![
        // §3.1 header
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, // SPIi
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // SPIr
        0x21, 0x20, 0x22, 0x08, // next SA, version 2.0, IKE_SA_INIT, flags I
        0x00, 0x00, 0x00, 0x00, // message ID 0
        0x00, 0x00, 0x00, 0xf0, // length 240
        // §3.3 SA: next KE, length 48
        0x22, 0x00, 0x00, 0x30, //
        0x00, 0x00, 0x00, 0x2c, // last proposal, length 44
        0x01, 0x01, 0x00, 0x04, // #1, IKE, no SPI, 4 transforms
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c, // ENCR AES_CBC
        0x80, 0x0e, 0x01, 0x00, // KEY_LENGTH 256, TV
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF HMAC_SHA2_256
        0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c, // INTEG HMAC_SHA2_256_128
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x13, // last: KE ECP_256
        // §3.4 KE: next Nonce, length 72, group 19
        0x28, 0x00, 0x00, 0x48, 0x00, 0x13, 0x00, 0x00,
    ];
    b.extend_from_slice(&[KE_FILL; 64]);
    // §3.9 Nonce: next Notify, length 36
    b.extend_from_slice(&[0x29, 0x00, 0x00, 0x24]);
    b.extend_from_slice(&[NONCE_FILL; 32]);
    // §3.10 Notify NAT_DETECTION_SOURCE_IP: next Notify, length 28
    b.extend_from_slice(&[0x29, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x04]);
    b.extend_from_slice(&[NATD_S_FILL; 20]);
    // §3.10 Notify NAT_DETECTION_DESTINATION_IP: last, length 28
    b.extend_from_slice(&[0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x05]);
    b.extend_from_slice(&[NATD_D_FILL; 20]);
    b
}

#[test]
fn rfc7296_3_ike_sa_init_request_golden_bytes() {
    let golden = ike_sa_init_request_bytes();
    assert_eq!(golden.len(), 240);
    assert_eq!(ike_sa_init_request().emit().unwrap(), golden);
    assert_eq!(Message::parse(&golden).unwrap(), ike_sa_init_request());
}

#[test]
fn strongswan_style_summary() {
    assert_eq!(
        ike_sa_init_request().to_string(),
        "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]"
    );
    assert_eq!(
        kitchen_sink().to_string(),
        "IKE_AUTH response 1 [ IDi CERT CERTREQ AUTH CP(REQUEST) SA TSi TSr N(USE_TRANSPORT_MODE) \
         D V EAP U!(PayloadType(0xc8)) ]"
    );
    let mut m = ike_sa_init_request();
    m.payloads = vec![Payload::Encrypted(Encrypted {
        first_payload: PayloadType::NONE,
        body: vec![0; 32],
    })];
    m.header.exchange = ExchangeType::INFORMATIONAL;
    m.header.flags = Flags::RESPONSE;
    m.header.message_id = 7;
    assert_eq!(m.to_string(), "INFORMATIONAL response 7 [ SK ]");
}

#[test]
fn rfc7296_2_5_only_major_version_2_is_emitted() {
    let mut m = ike_sa_init_request();
    m.header.version = 0x21;
    assert_eq!(
        Message::parse(&m.emit().unwrap()).unwrap().header.version,
        0x21
    );
    m.header.version = 0x10;
    assert_eq!(m.emit().unwrap_err().kind, WireErrorKind::BadVersion(0x10));
}

#[test]
fn message_accessors_find_notifies_and_sk() {
    let m = ike_sa_init_request();
    assert_eq!(m.notifies().count(), 2);
    assert!(m.notify(NotifyType::NAT_DETECTION_DESTINATION_IP).is_some());
    assert!(m.notify(NotifyType::COOKIE).is_none());
    assert!(m.encrypted().is_none());
    assert!(!m.is_response());
}

// ---------------------------------------------------------------------------------------
// A message with every other payload kind
// ---------------------------------------------------------------------------------------

/// A cleartext message with one of each remaining payload kind, including values that
/// exercise every nested length field; not a meaningful exchange.
fn kitchen_sink() -> Message {
    Message {
        header: Header {
            spi_i: SPI_I,
            spi_r: 0x8899_aabb_ccdd_eeff,
            next_payload: PayloadType::NONE,
            version: IKEV2_VERSION,
            exchange: ExchangeType::IKE_AUTH,
            flags: Flags::RESPONSE,
            message_id: 1,
            length: 0,
        },
        payloads: vec![
            Payload::IdI(Id {
                id_type: IdType::FQDN,
                data: b"vpn.example.com".to_vec(),
            }),
            Payload::Cert(Cert {
                encoding: CertEncoding::X509_SIGNATURE,
                data: vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x01],
            }),
            Payload::CertReq(CertReq {
                encoding: CertEncoding::X509_SIGNATURE,
                data: vec![0xca; 20],
            }),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: vec![0xa5; 32],
            }),
            Payload::Config(Config {
                cfg_type: CfgType::REQUEST,
                attributes: vec![
                    CfgAttribute {
                        ty: CfgAttributeType::INTERNAL_IP4_ADDRESS,
                        value: vec![],
                    },
                    CfgAttribute {
                        ty: CfgAttributeType::APPLICATION_VERSION,
                        value: b"iketcp".to_vec(),
                    },
                    CfgAttribute {
                        ty: CfgAttributeType::INTERNAL_IP6_DNS,
                        value: vec![],
                    },
                ],
            }),
            Payload::Sa(Sa {
                proposals: vec![
                    Proposal {
                        number: 1,
                        protocol_id: ProtocolId::ESP,
                        spi: vec![0xde, 0xad, 0xbe, 0xef],
                        transforms: vec![
                            Transform::with_key_length(
                                TransformType::ENCR,
                                TransformId::ENCR_AES_GCM_16,
                                256,
                            ),
                            Transform {
                                ty: TransformType(250),
                                id: TransformId(0x1234),
                                attributes: vec![Attribute {
                                    ty: AttributeType(0x0777),
                                    value: AttributeValue::Tlv(vec![1, 2, 3]),
                                }],
                            },
                            Transform::new(TransformType::ESN, TransformId::ESN_NO),
                        ],
                    },
                    Proposal {
                        number: 2,
                        protocol_id: ProtocolId::ESP,
                        spi: vec![0xde, 0xad, 0xbe, 0xef],
                        transforms: vec![Transform::new(
                            TransformType::ENCR,
                            TransformId::ENCR_CHACHA20_POLY1305,
                        )],
                    },
                ],
            }),
            Payload::TsI(Ts {
                selectors: vec![
                    Selector::Ip(TrafficSelector {
                        ip_protocol: 17,
                        start_port: 500,
                        end_port: 4500,
                        start_addr: Ipv4Addr::new(192, 0, 2, 1).into(),
                        end_addr: Ipv4Addr::new(192, 0, 2, 200).into(),
                    }),
                    Selector::Ip(TrafficSelector::ipv6_any()),
                    Selector::Opaque {
                        ts_type: TsType::SECLABEL,
                        ip_protocol: 0,
                        data: b"system_u".to_vec(),
                    },
                ],
            }),
            Payload::TsR(Ts {
                selectors: vec![Selector::Ip(TrafficSelector {
                    ip_protocol: 0,
                    start_port: 0,
                    end_port: 65535,
                    start_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0).into(),
                    end_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xffff).into(),
                })],
            }),
            Payload::Notify(Notify {
                protocol_id: ProtocolId::ESP,
                spi: vec![0xde, 0xad, 0xbe, 0xef],
                notify_type: NotifyType::USE_TRANSPORT_MODE,
                data: vec![],
            }),
            Payload::Delete(Delete::child(ProtocolId::ESP, &[0x0102_0304, 0x0506_0708])),
            Payload::VendorId(VendorId {
                data: vec![0x88; 16],
            }),
            Payload::Eap(Eap {
                message: vec![2, 9, 0, 9, 1, b'u', b's', b'e', b'r'],
            }),
            Payload::Unknown {
                ty: PayloadType(200),
                critical: true,
                body: vec![0xf0, 0x0f],
            },
        ],
    }
}

#[test]
fn rfc7296_3_every_payload_kind_round_trips_in_one_message() {
    let m = kitchen_sink();
    let bytes = m.emit().unwrap();
    let back = Message::parse(&bytes).unwrap();
    assert_eq!(back.payloads, m.payloads);
    assert_eq!(back.header.length as usize, bytes.len());
    assert_eq!(back.header.next_payload, PayloadType::IDi);
    assert_eq!(back.emit().unwrap(), bytes);
}

// ---------------------------------------------------------------------------------------
// Mutations of valid messages
// ---------------------------------------------------------------------------------------

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

/// A length or count field: where, how wide, and what it counts.
#[derive(Debug, Clone, Copy)]
struct Field {
    at: usize,
    width: usize,
}

/// Finds every length and count field of an emitted message by walking its structure
/// independently of the parser under test.
fn length_fields(msg: &[u8]) -> Vec<Field> {
    walk(msg).0
}

/// The offsets of the Payload Length fields of the generic payload headers.
fn payload_length_offsets(msg: &[u8]) -> Vec<usize> {
    walk(msg).1
}

fn walk(msg: &[u8]) -> (Vec<Field>, Vec<usize>) {
    let mut generic = Vec::new();
    let mut out = vec![Field { at: 24, width: 4 }];
    let mut ty = msg[16];
    let mut at = HEADER_LEN;
    while ty != 0 {
        let next = msg[at];
        let len = be16(msg, at + 2);
        out.push(Field {
            at: at + 2,
            width: 2,
        });
        generic.push(at + 2);
        let (body, end) = (at + 4, at + len);
        match PayloadType(ty) {
            PayloadType::SA => {
                let mut p = body;
                while p < end {
                    out.push(Field {
                        at: p + 2,
                        width: 2,
                    });
                    out.push(Field {
                        at: p + 6,
                        width: 1,
                    }); // SPI size
                    out.push(Field {
                        at: p + 7,
                        width: 1,
                    }); // Num Transforms
                    let p_end = p + be16(msg, p + 2);
                    let mut t = p + 8 + usize::from(msg[p + 6]);
                    while t < p_end {
                        out.push(Field {
                            at: t + 2,
                            width: 2,
                        });
                        let t_end = t + be16(msg, t + 2);
                        let mut a = t + 8;
                        while a < t_end {
                            if msg[a] & 0x80 != 0 {
                                a += 4;
                            } else {
                                out.push(Field {
                                    at: a + 2,
                                    width: 2,
                                });
                                a += 4 + be16(msg, a + 2);
                            }
                        }
                        t = t_end;
                    }
                    p = p_end;
                }
            }
            PayloadType::DELETE => {
                out.push(Field {
                    at: body + 1,
                    width: 1,
                });
                out.push(Field {
                    at: body + 2,
                    width: 2,
                });
            }
            PayloadType::TSi | PayloadType::TSr => {
                out.push(Field { at: body, width: 1 });
                let mut s = body + 4;
                while s < end {
                    out.push(Field {
                        at: s + 2,
                        width: 2,
                    });
                    s += be16(msg, s + 2);
                }
            }
            PayloadType::CP => {
                let mut a = body + 4;
                while a < end {
                    out.push(Field {
                        at: a + 2,
                        width: 2,
                    });
                    a += 4 + be16(msg, a + 2);
                }
            }
            PayloadType::EAP => out.push(Field {
                at: body + 2,
                width: 2,
            }),
            _ => {}
        }
        if matches!(PayloadType(ty), PayloadType::SK | PayloadType::SKF) {
            break;
        }
        ty = next;
        at = end;
    }
    (out, generic)
}

fn add_to_field(msg: &[u8], f: Field, delta: i64) -> Vec<u8> {
    let mut b = msg.to_vec();
    let slot = &mut b[f.at..f.at + f.width];
    let mut v = 0u64;
    for x in slot.iter() {
        v = v << 8 | u64::from(*x);
    }
    let v = (v as i64 + delta) as u64;
    for (i, x) in slot.iter_mut().enumerate() {
        *x = (v >> (8 * (f.width - 1 - i))) as u8;
    }
    b
}

fn with_header_length(msg: &[u8]) -> Vec<u8> {
    let mut b = msg.to_vec();
    let len = u32::try_from(b.len()).unwrap().to_be_bytes();
    b[24..28].copy_from_slice(&len);
    b
}

fn valid_messages() -> Vec<Vec<u8>> {
    vec![
        ike_sa_init_request_bytes(),
        kitchen_sink().emit().unwrap(),
        sk_message().emit().unwrap(),
    ]
}

fn sk_message() -> Message {
    let mut m = ike_sa_init_request();
    m.header.exchange = ExchangeType::IKE_AUTH;
    m.header.message_id = 1;
    m.payloads = vec![
        Payload::Notify(Notify::new(NotifyType::COOKIE, vec![1; 8])),
        Payload::Encrypted(Encrypted {
            first_payload: PayloadType::IDi,
            body: vec![0xe5; 48],
        }),
    ];
    m
}

#[test]
fn rfc7296_3_every_truncation_fails() {
    for msg in valid_messages() {
        for n in 0..msg.len() {
            assert!(Message::parse(&msg[..n]).is_err(), "prefix {n}");
            // With the header length made to agree, the payload chain itself must notice.
            if n >= HEADER_LEN {
                let t = with_header_length(&msg[..n]);
                let e = Message::parse(&t);
                assert!(e.is_err(), "payloads cut at {n} parsed: {e:?}");
            }
        }
    }
}

#[test]
fn rfc7296_3_every_length_field_off_by_one_fails() {
    for msg in valid_messages() {
        let fields = length_fields(&msg);
        assert!(fields.len() >= 3);
        for f in fields {
            for delta in [-1, 1] {
                let b = add_to_field(&msg, f, delta);
                let r = Message::parse(&b);
                assert!(r.is_err(), "{f:?} {delta:+}: {r:?}");
            }
        }
    }
}

#[test]
fn rfc7296_3_length_fields_are_found() {
    // SA, proposal, 4 transforms, then KE, Nonce and the two notifies.
    let offsets: Vec<usize> = length_fields(&ike_sa_init_request_bytes())
        .iter()
        .filter(|f| f.width != 1)
        .map(|f| f.at)
        .collect();
    assert_eq!(offsets, [24, 30, 34, 42, 54, 62, 70, 78, 150, 186, 214]);
    // Header, 13 payloads, SA (2 × 3 proposal fields, 4 transforms, 1 TLV), Delete 2,
    // TSi 1 + 3, TSr 1 + 1, CP 3, EAP 1.
    assert_eq!(length_fields(&kitchen_sink().emit().unwrap()).len(), 37);
}

#[test]
fn rfc7296_3_2_payload_length_below_4_fails_everywhere() {
    for msg in valid_messages() {
        let offsets = payload_length_offsets(&msg);
        assert!(offsets.len() >= 2);
        for at in offsets {
            for len in 0..4u8 {
                let mut b = msg.clone();
                b[at] = 0;
                b[at + 1] = len;
                let e = Message::parse(&b).unwrap_err();
                assert_eq!(e.kind, WireErrorKind::BadLength { length: len.into() });
                assert_eq!(e.offset, at);
            }
        }
    }
}

#[test]
fn rfc7296_3_14_sk_must_be_the_last_payload() {
    // Hand-built: header → SK (inner chain starts with IDi) → a Nonce after it.
    let mut b = vec![0u8; HEADER_LEN];
    b[16] = PayloadType::SK.0;
    b[17] = IKEV2_VERSION;
    b[18] = ExchangeType::IKE_AUTH.0;
    b.extend_from_slice(&[PayloadType::IDi.0, 0, 0, 8, 0xe5, 0xe5, 0xe5, 0xe5]);
    let sk_only = with_header_length(&b);
    let m = Message::parse(&sk_only).unwrap();
    assert_eq!(m.encrypted().unwrap().first_payload, PayloadType::IDi);
    b.extend_from_slice(&[0, 0, 0, 5, 0x11]);
    let e = Message::parse(&with_header_length(&b)).unwrap_err();
    assert_eq!(e.kind, WireErrorKind::TrailingData);
    assert_eq!(e.offset, HEADER_LEN + 8);

    let mut m = sk_message();
    m.payloads.swap(0, 1);
    assert_eq!(m.emit().unwrap_err().kind, WireErrorKind::BadValue);
}

#[test]
fn rfc7383_2_5_skf_must_be_the_last_payload() {
    let mut m = sk_message();
    m.payloads[1] = Payload::EncryptedFragment(EncryptedFragment {
        fragment_number: 2,
        total_fragments: 2,
        first_payload: PayloadType::NONE,
        body: vec![0; 16],
    });
    let bytes = m.emit().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().payloads, m.payloads);
    let mut after = bytes.clone();
    after.extend_from_slice(&[0, 0, 0, 4]);
    assert!(Message::parse(&with_header_length(&after)).is_err());
    m.payloads.swap(0, 1);
    assert!(m.emit().is_err());
}

#[test]
fn rfc7296_3_14_no_sk_inside_the_decrypted_chain() {
    let sk = Payload::Encrypted(Encrypted {
        first_payload: PayloadType::NONE,
        body: vec![],
    });
    assert!(emit_chain(&[sk], &mut Writer::new()).is_err());
    assert!(parse_chain(PayloadType::SK, &[0, 0, 0, 4]).is_err());
    assert!(parse_chain(PayloadType::SKF, &[0, 0, 0, 8, 0, 1, 0, 1]).is_err());
}

#[test]
fn rfc7296_3_14_decrypted_chain_round_trips() {
    let inner = kitchen_sink().payloads;
    let mut w = Writer::new();
    let first = emit_chain(&inner, &mut w).unwrap();
    assert_eq!(first, PayloadType::IDi);
    assert_eq!(parse_chain(first, &w.buf).unwrap(), inner);
    assert_eq!(parse_chain(PayloadType::NONE, &[]).unwrap(), []);
    // The chain must fill the plaintext exactly.
    let mut extra = w.buf.clone();
    extra.push(0);
    assert_eq!(
        parse_chain(first, &extra).unwrap_err().kind,
        WireErrorKind::TrailingData
    );
    assert!(parse_chain(first, &w.buf[..w.len() - 1]).is_err());
    assert!(parse_chain(PayloadType::NONE, &[0]).is_err());
}

#[test]
fn payload_count_is_bounded() {
    let mut m = ike_sa_init_request();
    m.payloads = vec![Payload::VendorId(VendorId { data: vec![] }); MAX_PAYLOADS];
    let bytes = m.emit().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().payloads.len(), MAX_PAYLOADS);
    m.payloads
        .push(Payload::VendorId(VendorId { data: vec![] }));
    assert_eq!(m.emit().unwrap_err().kind, WireErrorKind::TooMany);
    // The same chain built by hand: 513 empty Vendor IDs.
    let mut b = bytes[..HEADER_LEN].to_vec();
    for i in 0..=MAX_PAYLOADS {
        let next = if i == MAX_PAYLOADS { 0 } else { 43 };
        b.extend_from_slice(&[next, 0, 0, 4]);
    }
    let e = Message::parse(&with_header_length(&b)).unwrap_err();
    assert_eq!(e.kind, WireErrorKind::TooMany);
}

#[test]
fn oversized_structures_are_refused_not_truncated() {
    let mut m = ike_sa_init_request();
    m.payloads = vec![Payload::Nonce(Nonce {
        data: vec![0; 70_000],
    })];
    assert!(matches!(
        m.emit().unwrap_err().kind,
        WireErrorKind::TooLong { .. }
    ));
    m.payloads = vec![Payload::Notify(Notify {
        protocol_id: ProtocolId::ESP,
        spi: vec![0; 256],
        notify_type: NotifyType::REKEY_SA,
        data: vec![],
    })];
    assert!(matches!(
        m.emit().unwrap_err().kind,
        WireErrorKind::TooLong { .. }
    ));
    m.payloads = vec![Payload::TsI(Ts {
        selectors: vec![Selector::Ip(TrafficSelector::ipv4_any()); 256],
    })];
    assert_eq!(m.emit().unwrap_err().kind, WireErrorKind::TooMany);
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    let value = prop_oneof![
        any::<u16>().prop_map(AttributeValue::Tv),
        bytes(8).prop_map(AttributeValue::Tlv),
    ];
    (0u16..0x8000, value).prop_map(|(ty, value)| Attribute {
        ty: AttributeType(ty),
        value,
    })
}

fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(ty, id, attributes)| Transform {
        ty: TransformType(ty),
        id: TransformId(id),
        attributes,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), any::<u8>(), bytes(8), vec(transform(), 0..5)).prop_map(
        |(number, protocol, spi, transforms)| Proposal {
            number,
            protocol_id: ProtocolId(protocol),
            spi,
            transforms,
        },
    )
}

fn sa() -> impl Strategy<Value = Sa> {
    vec(proposal(), 1..4).prop_map(|proposals| Sa { proposals })
}

fn ke() -> impl Strategy<Value = Ke> {
    (any::<u16>(), bytes(64)).prop_map(|(g, data)| Ke {
        group: TransformId(g),
        data,
    })
}

fn id() -> impl Strategy<Value = Id> {
    (any::<u8>(), bytes(32)).prop_map(|(t, data)| Id {
        id_type: IdType(t),
        data,
    })
}

fn cert() -> impl Strategy<Value = Cert> {
    (any::<u8>(), bytes(64)).prop_map(|(e, data)| Cert {
        encoding: CertEncoding(e),
        data,
    })
}

fn certreq() -> impl Strategy<Value = CertReq> {
    (any::<u8>(), bytes(64)).prop_map(|(e, data)| CertReq {
        encoding: CertEncoding(e),
        data,
    })
}

fn auth() -> impl Strategy<Value = Auth> {
    (any::<u8>(), bytes(64)).prop_map(|(m, data)| Auth {
        method: AuthMethod(m),
        data,
    })
}

fn nonce() -> impl Strategy<Value = Nonce> {
    bytes(64).prop_map(|data| Nonce { data })
}

fn notify() -> impl Strategy<Value = Notify> {
    (any::<u8>(), bytes(8), any::<u16>(), bytes(32)).prop_map(|(p, spi, t, data)| Notify {
        protocol_id: ProtocolId(p),
        spi,
        notify_type: NotifyType(t),
        data,
    })
}

fn delete() -> impl Strategy<Value = Delete> {
    (any::<u8>(), 0u8..=8).prop_flat_map(|(protocol, size)| {
        let count = if size == 0 { 0..=0 } else { 0..=5 };
        vec(vec(any::<u8>(), usize::from(size)), count).prop_map(move |spis| Delete {
            protocol_id: ProtocolId(protocol),
            spi_size: size,
            spis,
        })
    })
}

fn vendor() -> impl Strategy<Value = VendorId> {
    bytes(32).prop_map(|data| VendorId { data })
}

fn selector() -> impl Strategy<Value = Selector> {
    let v4 = (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(ip_protocol, start_port, end_port, s, e)| {
            Selector::Ip(TrafficSelector {
                ip_protocol,
                start_port,
                end_port,
                start_addr: Ipv4Addr::from(s).into(),
                end_addr: Ipv4Addr::from(e).into(),
            })
        });
    let v6 = (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        any::<u128>(),
        any::<u128>(),
    )
        .prop_map(|(ip_protocol, start_port, end_port, s, e)| {
            Selector::Ip(TrafficSelector {
                ip_protocol,
                start_port,
                end_port,
                start_addr: Ipv6Addr::from(s).into(),
                end_addr: Ipv6Addr::from(e).into(),
            })
        });
    let opaque = (
        any::<u8>().prop_filter("not an address range", |t| *t != 7 && *t != 8),
        any::<u8>(),
        bytes(24),
    )
        .prop_map(|(t, ip_protocol, data)| Selector::Opaque {
            ts_type: TsType(t),
            ip_protocol,
            data,
        });
    prop_oneof![v4, v6, opaque]
}

fn ts() -> impl Strategy<Value = Ts> {
    vec(selector(), 0..5).prop_map(|selectors| Ts { selectors })
}

fn encrypted() -> impl Strategy<Value = Encrypted> {
    (any::<u8>(), bytes(64)).prop_map(|(first, body)| Encrypted {
        first_payload: PayloadType(first),
        body,
    })
}

fn encrypted_fragment() -> impl Strategy<Value = EncryptedFragment> {
    (1u16..=u16::MAX)
        .prop_flat_map(|total| (1..=total, Just(total), any::<u8>(), bytes(64)))
        .prop_map(|(n, total, first, body)| EncryptedFragment {
            fragment_number: n,
            total_fragments: total,
            first_payload: if n == 1 {
                PayloadType(first)
            } else {
                PayloadType::NONE
            },
            body,
        })
}

fn config() -> impl Strategy<Value = Config> {
    let attr = (0u16..0x8000, bytes(16)).prop_map(|(t, value)| CfgAttribute {
        ty: CfgAttributeType(t),
        value,
    });
    (any::<u8>(), vec(attr, 0..5)).prop_map(|(t, attributes)| Config {
        cfg_type: CfgType(t),
        attributes,
    })
}

fn eap() -> impl Strategy<Value = Eap> {
    (1u8..=4, any::<u8>(), bytes(32)).prop_map(|(code, identifier, rest)| {
        let len = u16::try_from(4 + rest.len()).unwrap().to_be_bytes();
        let mut message = vec![code, identifier, len[0], len[1]];
        message.extend(rest);
        Eap { message }
    })
}

fn unknown() -> impl Strategy<Value = Payload> {
    (
        any::<u8>().prop_filter("not a decoded type", |t| {
            !(*t == 0 || (33..=48).contains(t) || *t == 53)
        }),
        any::<bool>(),
        bytes(32),
    )
        .prop_map(|(t, critical, body)| Payload::Unknown {
            ty: PayloadType(t),
            critical,
            body,
        })
}

/// Any payload that may appear inside SK.
fn inner_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        ke().prop_map(Payload::Ke),
        id().prop_map(Payload::IdI),
        id().prop_map(Payload::IdR),
        cert().prop_map(Payload::Cert),
        certreq().prop_map(Payload::CertReq),
        auth().prop_map(Payload::Auth),
        nonce().prop_map(Payload::Nonce),
        notify().prop_map(Payload::Notify),
        delete().prop_map(Payload::Delete),
        vendor().prop_map(Payload::VendorId),
        ts().prop_map(Payload::TsI),
        ts().prop_map(Payload::TsR),
        config().prop_map(Payload::Config),
        eap().prop_map(Payload::Eap),
        unknown(),
    ]
}

fn last_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        encrypted().prop_map(Payload::Encrypted),
        encrypted_fragment().prop_map(Payload::EncryptedFragment),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        0x20u8..=0x2f,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(
            |(spi_i, spi_r, version, exchange, flags, message_id)| Header {
                spi_i,
                spi_r,
                next_payload: PayloadType::NONE,
                version,
                exchange: ExchangeType(exchange),
                flags: Flags(flags),
                message_id,
                length: 0,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        vec(inner_payload(), 0..8),
        proptest::option::of(last_payload()),
    )
        .prop_map(|(header, mut payloads, last)| {
            payloads.extend(last);
            Message { header, payloads }
        })
}

/// decode(encode(p)) == p, alone in a decrypted chain and inside a whole message (SK
/// and SKF only the latter, where they belong).
fn assert_payload_round_trips(p: Payload) {
    if !p.is_encrypted() {
        let mut w = Writer::new();
        let first = emit_chain(std::slice::from_ref(&p), &mut w).unwrap();
        assert_eq!(first, p.payload_type());
        assert_eq!(
            parse_chain(first, &w.buf).unwrap(),
            std::slice::from_ref(&p)
        );
    }
    let mut m = ike_sa_init_request();
    m.payloads = vec![p];
    let bytes = m.emit().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().payloads, m.payloads);
}

/// The message with the header fields that emit computes filled in.
fn as_emitted(m: &Message, len: usize) -> Message {
    let mut want = m.clone();
    want.header.length = u32::try_from(len).unwrap();
    want.header.next_payload = m
        .payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type);
    want
}

proptest! {
    #[test]
    fn rfc7296_3_3_sa_round_trips(p in sa()) {
        assert_payload_round_trips(Payload::Sa(p));
    }

    #[test]
    fn rfc7296_3_4_ke_round_trips(p in ke()) {
        assert_payload_round_trips(Payload::Ke(p));
    }

    #[test]
    fn rfc7296_3_5_idi_idr_round_trip(p in id()) {
        assert_payload_round_trips(Payload::IdI(p.clone()));
        assert_payload_round_trips(Payload::IdR(p));
    }

    #[test]
    fn rfc7296_3_6_cert_round_trips(p in cert()) {
        assert_payload_round_trips(Payload::Cert(p));
    }

    #[test]
    fn rfc7296_3_7_certreq_round_trips(p in certreq()) {
        assert_payload_round_trips(Payload::CertReq(p));
    }

    #[test]
    fn rfc7296_3_8_auth_round_trips(p in auth()) {
        assert_payload_round_trips(Payload::Auth(p));
    }

    #[test]
    fn rfc7296_3_9_nonce_round_trips(p in nonce()) {
        assert_payload_round_trips(Payload::Nonce(p));
    }

    #[test]
    fn rfc7296_3_10_notify_round_trips(p in notify()) {
        assert_payload_round_trips(Payload::Notify(p));
    }

    #[test]
    fn rfc7296_3_11_delete_round_trips(p in delete()) {
        assert_payload_round_trips(Payload::Delete(p));
    }

    #[test]
    fn rfc7296_3_12_vendor_id_round_trips(p in vendor()) {
        assert_payload_round_trips(Payload::VendorId(p));
    }

    #[test]
    fn rfc7296_3_13_tsi_tsr_round_trip(p in ts()) {
        assert_payload_round_trips(Payload::TsI(p.clone()));
        assert_payload_round_trips(Payload::TsR(p));
    }

    #[test]
    fn rfc7296_3_14_sk_round_trips(p in encrypted()) {
        assert_payload_round_trips(Payload::Encrypted(p));
    }

    #[test]
    fn rfc7383_2_5_skf_round_trips(p in encrypted_fragment()) {
        assert_payload_round_trips(Payload::EncryptedFragment(p));
    }

    #[test]
    fn rfc7296_3_15_cp_round_trips(p in config()) {
        assert_payload_round_trips(Payload::Config(p));
    }

    #[test]
    fn rfc7296_3_16_eap_round_trips(p in eap()) {
        assert_payload_round_trips(Payload::Eap(p));
    }

    #[test]
    fn rfc7296_2_5_unknown_payload_round_trips_with_critical_bit(p in unknown()) {
        assert_payload_round_trips(p);
    }

    #[test]
    fn rfc7296_3_message_round_trips(m in message()) {
        let bytes = m.emit().unwrap();
        let back = Message::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &as_emitted(&m, bytes.len()));
        prop_assert_eq!(back.emit().unwrap(), bytes);
        let _ = back.to_string();
    }

    #[test]
    fn rfc7296_3_14_decrypted_chain_round_trips_for_any_payloads(
        payloads in vec(inner_payload(), 0..12)
    ) {
        let mut w = Writer::new();
        let first = emit_chain(&payloads, &mut w).unwrap();
        prop_assert_eq!(parse_chain(first, &w.buf).unwrap(), payloads);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(b in vec(any::<u8>(), 0..2048)) {
        let _ = HeaderView::new_checked(&b[..]);
        if let Ok(m) = Message::parse(&b) {
            let _ = m.to_string();
        }
        let _ = parse_chain(PayloadType(b.first().copied().unwrap_or(0)), &b);
    }

    /// Random bytes behind a valid header reach the payload parsers; whatever parses
    /// must emit and parse back to itself.
    #[test]
    fn parse_never_panics_behind_a_valid_header(
        next in prop_oneof![33u8..=54, any::<u8>()],
        body in vec(any::<u8>(), 0..2048),
    ) {
        let mut b = ike_sa_init_request_bytes()[..HEADER_LEN].to_vec();
        b[16] = next;
        b.extend_from_slice(&body);
        let b = with_header_length(&b);
        if let Ok(m) = Message::parse(&b) {
            let again = m.emit().unwrap();
            prop_assert_eq!(Message::parse(&again).unwrap(), as_emitted(&m, again.len()));
        }
    }

    /// Byte flips in valid messages: never a panic, and anything that still parses
    /// round-trips.
    #[test]
    fn mutated_messages_fail_cleanly_or_round_trip(
        which in 0usize..3,
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut b = valid_messages().swap_remove(which);
        for (i, v) in flips {
            let at = i.index(b.len());
            b[at] = v;
        }
        if let Ok(m) = Message::parse(&b) {
            let again = m.emit().unwrap();
            prop_assert_eq!(Message::parse(&again).unwrap(), as_emitted(&m, again.len()));
        }
    }
}
