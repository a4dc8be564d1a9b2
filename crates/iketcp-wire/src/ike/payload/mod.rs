//! RFC 7296 §3.2 Generic Payload Header
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Every payload starts with this header, and it is read and written here only; the
//! payload modules see just their body. A payload's type is not in its own header but
//! in the Next Payload field before it (the IKE header's for the first), so parsing a
//! payload takes its type as an argument and returns the type of the next one.
//!
//! The critical bit C matters only for payload types the receiver does not know
//! (§2.5): it is ignored on the known ones, and an unknown payload keeps it, with its
//! body, in [`Payload::Unknown`], so the engine can answer UNSUPPORTED_CRITICAL_PAYLOAD
//! or skip the payload.

use core::fmt;

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::PayloadType;

pub mod auth;
pub mod cert;
pub mod certreq;
pub mod cp;
pub mod delete;
pub mod eap;
pub mod id;
pub mod ke;
pub mod nonce;
pub mod notify;
pub mod sa;
pub mod sk;
pub mod skf;
pub mod ts;
pub mod vendor;

pub use auth::Auth;
pub use cert::Cert;
pub use certreq::CertReq;
pub use cp::{CfgAttribute, Config};
pub use delete::Delete;
pub use eap::Eap;
pub use id::Id;
pub use ke::Ke;
pub use nonce::Nonce;
pub use notify::Notify;
pub use sa::{Attribute, AttributeValue, Proposal, Sa, Transform};
pub use sk::Encrypted;
pub use skf::EncryptedFragment;
pub use ts::{Selector, TrafficSelector, Ts};
pub use vendor::VendorId;

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// The critical bit in the second octet of the generic header.
const CRITICAL: u8 = 0x80;

/// One IKE payload, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    Sa(Sa),
    Ke(Ke),
    IdI(Id),
    IdR(Id),
    Cert(Cert),
    CertReq(CertReq),
    Auth(Auth),
    Nonce(Nonce),
    Notify(Notify),
    Delete(Delete),
    VendorId(VendorId),
    TsI(Ts),
    TsR(Ts),
    /// SK: always the last payload of a message.
    Encrypted(Encrypted),
    /// SKF (RFC 7383): always the last payload of a message.
    EncryptedFragment(EncryptedFragment),
    Config(Config),
    Eap(Eap),
    /// A payload type this crate does not decode, kept as received.
    ///
    /// `ty` is never one of the decoded types above, nor NONE: [`Payload::emit`]
    /// refuses those, so that what is emitted parses back to the same value.
    Unknown {
        ty: PayloadType,
        critical: bool,
        body: Vec<u8>,
    },
}

impl Payload {
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::IdI(_) => PayloadType::IDi,
            Self::IdR(_) => PayloadType::IDr,
            Self::Cert(_) => PayloadType::CERT,
            Self::CertReq(_) => PayloadType::CERTREQ,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::TsI(_) => PayloadType::TSi,
            Self::TsR(_) => PayloadType::TSr,
            Self::Encrypted(_) => PayloadType::SK,
            Self::EncryptedFragment(_) => PayloadType::SKF,
            Self::Config(_) => PayloadType::CP,
            Self::Eap(_) => PayloadType::EAP,
            Self::Unknown { ty, .. } => *ty,
        }
    }

    /// Whether this is SK or SKF, which must end a message.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Self::Encrypted(_) | Self::EncryptedFragment(_))
    }

    /// The critical bit as it is sent: set only on an unknown payload received with it.
    pub fn is_critical(&self) -> bool {
        matches!(self, Self::Unknown { critical: true, .. })
    }

    /// Reads one payload of type `ty` (from the previous Next Payload field): its
    /// generic header and exactly `Payload Length - 4` octets of body.
    ///
    /// Returns the payload and the type of the one after it. For SK and SKF the Next
    /// Payload field names the first *inner* payload, which goes into the payload
    /// itself, and the returned next type is NONE: nothing may follow them.
    pub fn parse(ty: PayloadType, r: &mut Reader<'_>) -> Result<(Self, PayloadType), WireError> {
        let next = PayloadType(r.u8()?);
        let critical = r.u8()? & CRITICAL != 0;
        let len_offset = r.offset();
        let len = usize::from(r.u16()?);
        if len < GENERIC_HEADER_LEN || len - GENERIC_HEADER_LEN > r.remaining() {
            return Err(WireError::new(
                WireErrorKind::BadLength { length: len },
                len_offset,
            ));
        }
        let mut body = r.sub(len - GENERIC_HEADER_LEN)?;
        let b = &mut body;
        let (payload, next) = match ty {
            PayloadType::SA => (Self::Sa(Sa::parse(b)?), next),
            PayloadType::KE => (Self::Ke(Ke::parse(b)?), next),
            PayloadType::IDi => (Self::IdI(Id::parse(b)?), next),
            PayloadType::IDr => (Self::IdR(Id::parse(b)?), next),
            PayloadType::CERT => (Self::Cert(Cert::parse(b)?), next),
            PayloadType::CERTREQ => (Self::CertReq(CertReq::parse(b)?), next),
            PayloadType::AUTH => (Self::Auth(Auth::parse(b)?), next),
            PayloadType::NONCE => (Self::Nonce(Nonce::parse(b)?), next),
            PayloadType::NOTIFY => (Self::Notify(Notify::parse(b)?), next),
            PayloadType::DELETE => (Self::Delete(Delete::parse(b)?), next),
            PayloadType::VENDOR_ID => (Self::VendorId(VendorId::parse(b)?), next),
            PayloadType::TSi => (Self::TsI(Ts::parse(b)?), next),
            PayloadType::TSr => (Self::TsR(Ts::parse(b)?), next),
            PayloadType::SK => (
                Self::Encrypted(Encrypted::parse(next, b)?),
                PayloadType::NONE,
            ),
            PayloadType::SKF => (
                Self::EncryptedFragment(EncryptedFragment::parse(next, b)?),
                PayloadType::NONE,
            ),
            PayloadType::CP => (Self::Config(Config::parse(b)?), next),
            PayloadType::EAP => (Self::Eap(Eap::parse(b)?), next),
            _ => (
                Self::Unknown {
                    ty,
                    critical,
                    body: b.rest().to_vec(),
                },
                next,
            ),
        };
        body.finish()?;
        Ok((payload, next))
    }

    /// Writes the generic header and body; `next` is the type of the payload that
    /// follows (NONE for the last). SK and SKF write their first inner payload type
    /// instead, so `next` must be NONE for them.
    pub fn emit(&self, next: PayloadType, w: &mut Writer) -> Result<(), WireError> {
        let start = w.len();
        let (next, critical) = match self {
            Self::Encrypted(_) | Self::EncryptedFragment(_) if next != PayloadType::NONE => {
                return Err(WireError::new(WireErrorKind::BadValue, start));
            }
            Self::Encrypted(sk) => (sk.first_payload, false),
            Self::EncryptedFragment(skf) => (skf.first_payload, false),
            Self::Unknown { ty, critical, .. } => {
                if *ty == PayloadType::NONE || is_decoded(*ty) {
                    return Err(WireError::new(WireErrorKind::BadValue, start));
                }
                (next, *critical)
            }
            _ => (next, false),
        };
        w.u8(next.0);
        w.u8(if critical { CRITICAL } else { 0 });
        let at = w.placeholder_u16();
        match self {
            Self::Sa(p) => p.emit(w)?,
            Self::Ke(p) => p.emit(w)?,
            Self::IdI(p) | Self::IdR(p) => p.emit(w)?,
            Self::Cert(p) => p.emit(w)?,
            Self::CertReq(p) => p.emit(w)?,
            Self::Auth(p) => p.emit(w)?,
            Self::Nonce(p) => p.emit(w)?,
            Self::Notify(p) => p.emit(w)?,
            Self::Delete(p) => p.emit(w)?,
            Self::VendorId(p) => p.emit(w)?,
            Self::TsI(p) | Self::TsR(p) => p.emit(w)?,
            Self::Encrypted(p) => p.emit(w)?,
            Self::EncryptedFragment(p) => p.emit(w)?,
            Self::Config(p) => p.emit(w)?,
            Self::Eap(p) => p.emit(w)?,
            Self::Unknown { body, .. } => w.bytes(body),
        }
        w.patch_u16_len(at, start)
    }
}

/// Whether [`Payload::parse`] decodes this type into its own variant.
fn is_decoded(ty: PayloadType) -> bool {
    matches!(ty.0, 33..=48 | 53)
}

/// The strongSwan-style abbreviation: `SA`, `KE`, `IDi`, `No`, `N(COOKIE)` (`N(0x9c41)`
/// for an unnamed type), `SK`,
/// `SKF(1/3)`, `CP(REQUEST)`, `U(GSPM)` for a payload kept undecoded (`U!(..)` if
/// critical).
impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Notify(n) => match n.notify_type.short_name() {
                Some(name) => write!(f, "N({name})"),
                None => write!(f, "N({:#06x})", n.notify_type.0),
            },
            Self::EncryptedFragment(skf) => {
                write!(f, "SKF({}/{})", skf.fragment_number, skf.total_fragments)
            }
            Self::Config(cp) => write!(f, "CP({})", cp.cfg_type),
            Self::Unknown { ty, critical, .. } => {
                let bang = if *critical { "!" } else { "" };
                write!(f, "U{bang}({ty})")
            }
            p => f.write_str(p.payload_type().short_name().unwrap_or("?")),
        }
    }
}

/// An 8-bit size field for `len` octets, refused (never truncated) above 255.
pub(crate) fn u8_len(len: usize, offset: usize) -> Result<u8, WireError> {
    u8::try_from(len).map_err(|_| {
        WireError::new(
            WireErrorKind::TooLong {
                len,
                max: u8::MAX.into(),
            },
            offset,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::registry::NotifyType;

    fn parse_one(ty: PayloadType, b: &[u8]) -> Result<(Payload, PayloadType), WireError> {
        let mut r = Reader::new(b);
        let p = Payload::parse(ty, &mut r)?;
        r.finish()?;
        Ok(p)
    }

    #[test]
    fn rfc7296_2_5_critical_bit_of_known_payloads_is_ignored() {
        let b = [0, CRITICAL, 0, 6, 0xaa, 0xbb];
        let (p, next) = parse_one(PayloadType::NONCE, &b).unwrap();
        assert_eq!(next, PayloadType::NONE);
        assert_eq!(
            p,
            Payload::Nonce(Nonce {
                data: vec![0xaa, 0xbb]
            })
        );
        assert!(!p.is_critical());
        let mut w = Writer::new();
        p.emit(PayloadType::NONE, &mut w).unwrap();
        assert_eq!(w.buf, [0, 0, 0, 6, 0xaa, 0xbb]);
    }

    #[test]
    fn rfc7296_2_5_unknown_payload_keeps_critical_bit_and_body() {
        let b = [41, CRITICAL | 0x01, 0, 5, 0x77];
        let (p, next) = parse_one(PayloadType(200), &b).unwrap();
        assert_eq!(next, PayloadType::NOTIFY);
        assert_eq!(
            p,
            Payload::Unknown {
                ty: PayloadType(200),
                critical: true,
                body: vec![0x77],
            }
        );
        assert_eq!(p.to_string(), "U!(PayloadType(0xc8))");
        let mut w = Writer::new();
        p.emit(PayloadType::NOTIFY, &mut w).unwrap();
        // The reserved bits are not kept: they are sent as zero.
        assert_eq!(w.buf, [41, CRITICAL, 0, 5, 0x77]);
    }

    #[test]
    fn rfc7296_3_2_payload_length_below_4_or_beyond_the_message_fails() {
        for len in 0..4u8 {
            let b = [0, 0, 0, len, 0, 0, 0, 0];
            let e = parse_one(PayloadType::NONCE, &b).unwrap_err();
            assert_eq!(e.kind, WireErrorKind::BadLength { length: len.into() });
            assert_eq!(e.offset, 2);
        }
        assert!(parse_one(PayloadType::NONCE, &[0, 0, 0, 9, 1, 2, 3, 4]).is_err());
        assert!(parse_one(PayloadType::NONCE, &[0, 0, 0]).is_err());
    }

    #[test]
    fn rfc7296_3_2_payload_body_must_be_consumed_exactly() {
        // A notify whose SPI size runs past its payload length.
        assert!(parse_one(PayloadType::NOTIFY, &[0, 0, 0, 8, 3, 4, 0x40, 0x09]).is_err());
    }

    #[test]
    fn unknown_payload_of_a_decoded_type_is_not_emitted() {
        for ty in [PayloadType::NONE, PayloadType::SA, PayloadType::SKF] {
            let p = Payload::Unknown {
                ty,
                critical: false,
                body: vec![],
            };
            assert!(p.emit(PayloadType::NONE, &mut Writer::new()).is_err());
        }
    }

    #[test]
    fn payload_summary_names() {
        let n = Payload::Notify(Notify::new(NotifyType::COOKIE, vec![1]));
        assert_eq!(n.to_string(), "N(COOKIE)");
        let n = Payload::Notify(Notify::new(NotifyType(40001), vec![]));
        assert_eq!(n.to_string(), "N(0x9c41)");
        let id = Payload::IdI(Id {
            id_type: crate::ike::registry::IdType::FQDN,
            data: vec![],
        });
        assert_eq!(id.to_string(), "IDi");
        assert_eq!(Payload::Nonce(Nonce { data: vec![] }).to_string(), "No");
    }
}
