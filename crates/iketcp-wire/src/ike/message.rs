//! RFC 7296 §3 IKE Message: the header followed by a chain of payloads
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~           IKE header (§3.1), Next Payload = type of P1        ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next = P2     |C|  RESERVED   |     Payload Length of P1      |
//! ~                           P1 body                             ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                              ...                              ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next = 0 or   |C|  RESERVED   |     Payload Length of Pn      |
//! | first inner   |                                               |
//! ~          Pn body (Pn is SK or SKF if there is one)            ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The header's Length must equal the message, the chain must fill it exactly, and an
//! SK (or SKF) payload ends it: its Next Payload field starts the chain inside the
//! ciphertext, read after decryption with [`parse_chain`].

use core::fmt;

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::header::{HEADER_LEN, Header, IKEV2_VERSION};
use crate::ike::payload::{Encrypted, EncryptedFragment, Notify, Payload};
use crate::ike::registry::{NotifyType, PayloadType};

/// The most payloads one message (or one decrypted SK content) may hold.
///
/// Far above what any exchange needs (an IKE_AUTH with a certificate chain and every
/// notify has a few dozen), and it keeps the decoded form within a constant factor of
/// the input however small the peer makes its payloads.
pub const MAX_PAYLOADS: usize = 512;

const VERSION_OFFSET: usize = 17;
const LENGTH_OFFSET: usize = 24;

/// A whole IKE message, decoded as far as it is in cleartext.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    pub header: Header,
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a whole message: `msg` is exactly one IKE message, without the non-ESP
    /// marker or stream framing.
    ///
    /// Fails on anything malformed: a header Length other than `msg.len()`
    /// (`BadLength`), a payload length below 4 or beyond the message (`BadLength`), a
    /// chain that ends early (`Truncated`) or leaves bytes over (`TrailingData`, which is
    /// also what a payload after SK or SKF gets), a payload body that does not match its
    /// own fields, or more than [`MAX_PAYLOADS`] payloads (`TooMany`). Never panics.
    pub fn parse(msg: &[u8]) -> Result<Self, WireError> {
        let header = Header::parse(msg)?;
        let mut r = Reader::new(msg);
        r.take(HEADER_LEN)?;
        let payloads = parse_payloads(header.next_payload, &mut r, Position::Outer)?;
        Ok(Self { header, payloads })
    }

    /// Emits the message. The header's `next_payload` and `length` are computed from
    /// the payloads, as are every payload's Next Payload and Payload Length; all other
    /// header fields are written as they are.
    ///
    /// Refuses, never truncates, anything that does not fit its field (`TooLong`,
    /// `TooMany`), and refuses what would not parse back: a major version other than 2
    /// (`BadVersion`), SK or SKF anywhere but last (`BadValue`), an `Unknown` payload of
    /// a decoded type, inconsistent counts.
    ///
    /// For any `m` that [`Message::parse`] returned, `Message::parse(&m.emit()?)` gives
    /// `m` back; the bytes may differ from the original only in RESERVED fields, the
    /// critical bit of known payloads and the reserved bits of attribute types.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        if self.header.version >> 4 != IKEV2_VERSION >> 4 {
            return Err(WireError::new(
                WireErrorKind::BadVersion(self.header.version),
                VERSION_OFFSET,
            ));
        }
        let mut w = Writer::with_capacity(HEADER_LEN + 64 * self.payloads.len());
        let header = Header {
            next_payload: first_type(&self.payloads),
            length: 0,
            ..self.header
        };
        header.emit(&mut w);
        emit_payloads(&self.payloads, &mut w, Position::Outer)?;
        let len = w.len();
        let len32 = u32::try_from(len).map_err(|_| {
            WireError::new(
                WireErrorKind::TooLong {
                    len,
                    max: u32::MAX as usize,
                },
                0,
            )
        })?;
        if let Some(field) = w.buf.get_mut(LENGTH_OFFSET..LENGTH_OFFSET + 4) {
            field.copy_from_slice(&len32.to_be_bytes());
        }
        Ok(w.into_vec())
    }

    pub fn is_response(&self) -> bool {
        self.header.is_response()
    }

    /// The SK payload, if the message has one.
    pub fn encrypted(&self) -> Option<&Encrypted> {
        match self.payloads.last() {
            Some(Payload::Encrypted(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The SKF payload, if the message is an IKE fragment.
    pub fn encrypted_fragment(&self) -> Option<&EncryptedFragment> {
        match self.payloads.last() {
            Some(Payload::EncryptedFragment(skf)) => Some(skf),
            _ => None,
        }
    }

    /// The cleartext notifies, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first cleartext notify of type `ty`.
    pub fn notify(&self, ty: NotifyType) -> Option<&Notify> {
        self.notifies().find(|n| n.notify_type == ty)
    }
}

/// One line for logs, as strongSwan prints it:
/// `IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]`.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = if self.is_response() {
            "response"
        } else {
            "request"
        };
        write!(
            f,
            "{} {} {} [",
            self.header.exchange, role, self.header.message_id
        )?;
        for p in &self.payloads {
            write!(f, " {p}")?;
        }
        f.write_str(" ]")
    }
}

/// Parses the payload chain decrypted from an SK payload (or reassembled from SKF
/// fragments): `bytes` is the plaintext without padding and Pad Length, and `first` is
/// [`Encrypted::first_payload`]. Error offsets are relative to `bytes`.
///
/// The chain must fill `bytes` exactly; SK and SKF cannot appear inside it (`BadValue`).
pub fn parse_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    parse_payloads(first, &mut Reader::new(bytes), Position::Inner)
}

/// Writes a payload chain to be encrypted into an SK payload, and returns the type of
/// its first payload, for [`Encrypted::first_payload`] (NONE for an empty chain).
/// SK and SKF cannot be nested (`BadValue`).
pub fn emit_chain(payloads: &[Payload], w: &mut Writer) -> Result<PayloadType, WireError> {
    emit_payloads(payloads, w, Position::Inner)
}

/// Where a chain is: in the cleartext of a message, which may end with SK or SKF, or
/// inside the ciphertext, which may not contain them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Outer,
    Inner,
}

fn parse_payloads(
    first: PayloadType,
    r: &mut Reader<'_>,
    position: Position,
) -> Result<Vec<Payload>, WireError> {
    let mut payloads = Vec::new();
    let mut next = first;
    while next != PayloadType::NONE {
        if payloads.len() == MAX_PAYLOADS {
            return Err(r.err(WireErrorKind::TooMany));
        }
        if position == Position::Inner && matches!(next, PayloadType::SK | PayloadType::SKF) {
            return Err(r.err(WireErrorKind::BadValue));
        }
        let (payload, following) = Payload::parse(next, r)?;
        payloads.push(payload);
        next = following;
    }
    // RFC 7296 §3.14: SK is the last payload, so after it (NONE as the next type) the
    // message must end, as after any last payload.
    r.finish()?;
    Ok(payloads)
}

fn emit_payloads(
    payloads: &[Payload],
    w: &mut Writer,
    position: Position,
) -> Result<PayloadType, WireError> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(WireError::new(WireErrorKind::TooMany, w.len()));
    }
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1);
        if p.is_encrypted() && (position == Position::Inner || next.is_some()) {
            return Err(WireError::new(WireErrorKind::BadValue, w.len()));
        }
        p.emit(next.map_or(PayloadType::NONE, Payload::payload_type), w)?;
    }
    Ok(first_type(payloads))
}

fn first_type(payloads: &[Payload]) -> PayloadType {
    payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type)
}
