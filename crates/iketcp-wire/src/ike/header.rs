//! RFC 7296 §3.1 The IKE Header
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Flags:  +-+-+-+-+-+-+-+-+
//!         |X|X|R|V|I|X|X|X|
//!         +-+-+-+-+-+-+-+-+
//! ```
//!
//! Two forms, as for ESP: [`HeaderView`] reads the fixed fields in place, which is all
//! the engine needs to find the IKE SA before it decrypts anything; [`Header`] is the
//! owned form that [`Message`](crate::ike::Message) parses and emits.

use core::fmt;
use core::ops::{BitOr, BitOrAssign};

use crate::codec::{Reader, Writer};
use crate::error::{WireError, WireErrorKind};
use crate::ike::registry::{ExchangeType, PayloadType};

/// Length of the fixed IKE header.
pub const HEADER_LEN: usize = 28;

/// Version octet of IKEv2 as sent: major 2, minor 0.
pub const IKEV2_VERSION: u8 = 0x20;

/// The only major version this crate parses.
const MAJOR_VERSION: u8 = 2;

const VERSION_OFFSET: usize = 17;
const LENGTH_OFFSET: usize = 24;

/// The header's Flags octet. Bits other than I, V and R are kept as received, so a
/// message round-trips unchanged, but RFC 7296 §3.1 says they are to be ignored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// I: set by the original initiator of the IKE SA, in requests and responses alike.
    pub const INITIATOR: Self = Self(0x08);
    /// V: the sender can speak a higher major version (never set by IKEv2 itself).
    pub const VERSION: Self = Self(0x10);
    /// R: this message is a response to the request with the same message ID.
    pub const RESPONSE: Self = Self(0x20);

    pub const fn empty() -> Self {
        Self(0)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn is_response(self) -> bool {
        self.contains(Self::RESPONSE)
    }

    pub const fn is_initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }
}

impl BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

/// Prints the set flags as `I|R`, other bits as hex, and nothing set as `-`.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = [
            (Self::INITIATOR, "I"),
            (Self::VERSION, "V"),
            (Self::RESPONSE, "R"),
        ];
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let r = if first { Ok(()) } else { f.write_str("|") };
            first = false;
            r
        };
        for (flag, name) in named {
            if self.contains(flag) {
                sep(f)?;
                f.write_str(name)?;
            }
        }
        let other = self.0 & !(Self::INITIATOR.0 | Self::VERSION.0 | Self::RESPONSE.0);
        if other != 0 {
            sep(f)?;
            write!(f, "{other:#04x}")?;
        }
        if self.0 == 0 {
            f.write_str("-")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

/// The IKE header, owned.
///
/// [`Message::emit`](crate::ike::Message::emit) computes `next_payload` and `length`
/// from the payloads, so a header built for sending may leave them zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub spi_i: u64,
    /// Zero in the first IKE_SA_INIT request.
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// `major << 4 | minor`; see [`IKEV2_VERSION`]. RFC 7296 §2.5: the minor version
    /// of a received message is ignored, so any minor version parses and is kept.
    pub version: u8,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
    /// Total length of the message, header included.
    pub length: u32,
}

impl Header {
    /// Parses the header at the start of `msg`, which must be the whole message.
    ///
    /// Refuses a major version other than 2 (`BadVersion`; RFC 7296 §2.5 has the
    /// receiver answer INVALID_MAJOR_VERSION, which [`HeaderView::new_any_version`]
    /// makes possible) and a Length field that differs from `msg.len()` (`BadLength`).
    pub fn parse(msg: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(msg);
        let header = Self::read(&mut r)?;
        if header.version >> 4 != MAJOR_VERSION {
            return Err(WireError::new(
                WireErrorKind::BadVersion(header.version),
                VERSION_OFFSET,
            ));
        }
        check_length(header.length, msg.len())?;
        Ok(header)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            spi_i: r.u64()?,
            spi_r: r.u64()?,
            next_payload: PayloadType(r.u8()?),
            version: r.u8()?,
            exchange: ExchangeType(r.u8()?),
            flags: Flags(r.u8()?),
            message_id: r.u32()?,
            length: r.u32()?,
        })
    }

    /// Writes the 28 header octets exactly as they are in `self`.
    pub fn emit(&self, w: &mut Writer) {
        w.u64(self.spi_i);
        w.u64(self.spi_r);
        w.u8(self.next_payload.0);
        w.u8(self.version);
        w.u8(self.exchange.0);
        w.u8(self.flags.0);
        w.u32(self.message_id);
        w.u32(self.length);
    }

    pub const fn is_response(&self) -> bool {
        self.flags.is_response()
    }

    pub const fn is_initiator(&self) -> bool {
        self.flags.is_initiator()
    }
}

fn check_length(field: u32, actual: usize) -> Result<(), WireError> {
    let field = usize::try_from(field).unwrap_or(usize::MAX);
    if field == actual {
        Ok(())
    } else {
        Err(WireError::new(
            WireErrorKind::BadLength { length: field },
            LENGTH_OFFSET,
        ))
    }
}

/// A zero-copy view of the fixed header of a received message: enough to route it to
/// its IKE SA (SPIs, exchange, flags, message ID) before any payload is parsed or
/// decrypted.
#[derive(Debug, Clone, Copy)]
pub struct HeaderView<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> HeaderView<T> {
    /// Checks that `buf` holds a whole IKEv2 message as far as the header can tell: at
    /// least 28 octets, major version 2, and a Length field equal to `buf`'s length.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let view = Self::new_any_version(buf)?;
        let version = view.version();
        if version >> 4 != MAJOR_VERSION {
            return Err(WireError::new(
                WireErrorKind::BadVersion(version),
                VERSION_OFFSET,
            ));
        }
        Ok(view)
    }

    /// Like [`HeaderView::new_checked`] but accepting any version, for the one use that
    /// needs it: RFC 7296 §2.5 answers a higher major version with an unauthenticated
    /// INVALID_MAJOR_VERSION notify, which needs the SPIs and message ID.
    pub fn new_any_version(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::new(
                WireErrorKind::Truncated {
                    needed: HEADER_LEN - b.len(),
                },
                b.len(),
            ));
        }
        let view = Self { buf };
        check_length(view.length(), view.buf.as_ref().len())?;
        Ok(view)
    }

    /// Copies `N` octets at `at`. The constructors checked the length, so the zero
    /// fallback is never taken for a well-behaved `T`; it only keeps a misbehaving
    /// `AsRef` from causing a panic.
    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        if let Some(s) = self.buf.as_ref().get(at..at + N) {
            a.copy_from_slice(s);
        }
        a
    }

    pub fn spi_i(&self) -> u64 {
        u64::from_be_bytes(self.field(0))
    }

    pub fn spi_r(&self) -> u64 {
        u64::from_be_bytes(self.field(8))
    }

    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.field::<1>(16)[0])
    }

    pub fn version(&self) -> u8 {
        self.field::<1>(VERSION_OFFSET)[0]
    }

    pub fn exchange(&self) -> ExchangeType {
        ExchangeType(self.field::<1>(18)[0])
    }

    pub fn flags(&self) -> Flags {
        Flags(self.field::<1>(19)[0])
    }

    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.field(20))
    }

    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.field(LENGTH_OFFSET))
    }

    pub fn is_response(&self) -> bool {
        self.flags().is_response()
    }

    pub fn is_initiator(&self) -> bool {
        self.flags().is_initiator()
    }

    /// The header as an owned value.
    pub fn header(&self) -> Header {
        Header {
            spi_i: self.spi_i(),
            spi_r: self.spi_r(),
            next_payload: self.next_payload(),
            version: self.version(),
            exchange: self.exchange(),
            flags: self.flags(),
            message_id: self.message_id(),
            length: self.length(),
        }
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn into_inner(self) -> T {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IKE_AUTH request from the initiator, message ID 1, 28 octets long.
    const GOLDEN: [u8; HEADER_LEN] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // SPIi
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, // SPIr
        0x2e, // next payload: SK
        0x20, // version 2.0
        0x23, // IKE_AUTH
        0x08, // flags: I
        0x00, 0x00, 0x00, 0x01, // message ID
        0x00, 0x00, 0x00, 0x1c, // length 28
    ];

    fn golden_header() -> Header {
        Header {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0x1112_1314_1516_1718,
            next_payload: PayloadType::SK,
            version: IKEV2_VERSION,
            exchange: ExchangeType::IKE_AUTH,
            flags: Flags::INITIATOR,
            message_id: 1,
            length: 28,
        }
    }

    #[test]
    fn rfc7296_3_1_header_golden_bytes() {
        let mut w = Writer::new();
        golden_header().emit(&mut w);
        assert_eq!(w.buf, GOLDEN);
        assert_eq!(Header::parse(&GOLDEN).unwrap(), golden_header());
    }

    #[test]
    fn rfc7296_3_1_view_routes_without_parsing_payloads() {
        let v = HeaderView::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(v.spi_i(), 0x0102_0304_0506_0708);
        assert_eq!(v.spi_r(), 0x1112_1314_1516_1718);
        assert_eq!(v.exchange(), ExchangeType::IKE_AUTH);
        assert!(v.is_initiator() && !v.is_response());
        assert_eq!(v.message_id(), 1);
        assert_eq!(v.next_payload(), PayloadType::SK);
        assert_eq!(v.header(), golden_header());
    }

    #[test]
    fn rfc7296_2_5_major_version_other_than_2_is_refused() {
        let mut b = GOLDEN;
        b[17] = 0x30;
        let e = Header::parse(&b).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::BadVersion(0x30));
        assert_eq!(e.offset, 17);
        assert!(HeaderView::new_checked(&b[..]).is_err());
        // Still routable, to answer INVALID_MAJOR_VERSION.
        assert_eq!(HeaderView::new_any_version(&b[..]).unwrap().version(), 0x30);
    }

    #[test]
    fn rfc7296_2_5_minor_version_is_ignored() {
        let mut b = GOLDEN;
        b[17] = 0x21;
        assert_eq!(Header::parse(&b).unwrap().version, 0x21);
    }

    #[test]
    fn rfc7296_3_1_length_must_equal_the_message() {
        let mut b = GOLDEN.to_vec();
        b.push(0);
        let e = Header::parse(&b).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::BadLength { length: 28 });
        assert_eq!(e.offset, 24);
        assert!(HeaderView::new_checked(&b[..]).is_err());
        for n in 0..HEADER_LEN {
            assert!(Header::parse(&GOLDEN[..n]).is_err());
            assert!(HeaderView::new_checked(&GOLDEN[..n]).is_err());
        }
    }

    #[test]
    fn rfc7296_3_1_flags_display() {
        assert_eq!(Flags::INITIATOR.to_string(), "I");
        assert_eq!((Flags::INITIATOR | Flags::RESPONSE).to_string(), "I|R");
        assert_eq!(Flags(0x21).to_string(), "R|0x01");
        assert_eq!(Flags(0).to_string(), "-");
    }
}
