//! RFC 9329 §3 (TCP-Encapsulated Data Formats) and §4 (TCP-Encapsulated Stream Prefix).
//!
//! ```text
//!  TCP Originator                                         TCP Responder
//!  "IKETCP" (once, first)  ---------------------------------->
//!  +-------------------------------+-------------------------------+
//!  |            Length             |        Non-ESP Marker         |  IKE: Length counts
//!  +-------------------------------+-------------------------------+  itself, the marker
//!  |  Non-ESP Marker (cont.)       |        IKE header ...         |  and the message
//!  +-------------------------------+-------------------------------+
//!  |            Length             |        ESP SPI (non-zero) ... |  ESP: no marker
//!  +-------------------------------+-------------------------------+
//! ```
//!
//! A sans-IO codec: the [`Framer`] produces frame headers for whole messages, the
//! [`Deframer`] is fed arbitrary chunks of a stream and yields whole messages as
//! [`Bytes`] slices of its own buffer, without copying them again. Both work over any
//! byte stream (TCP, TLS, an HTTP CONNECT tunnel: R-FRAME-9) because neither knows what
//! carries the bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut, buf::Limit};
use thiserror::Error;

use crate::NON_ESP_MARKER;
use crate::esp;

/// RFC 9329 §4: the stream prefix the TCP Originator sends first.
pub const PREFIX: [u8; 6] = *b"IKETCP";

/// The Length field, which counts itself (RFC 9329 §3).
pub const LENGTH_FIELD: usize = 2;

/// The largest message body (marker included) a 16-bit Length can describe.
pub const MAX_BODY: usize = u16::MAX as usize - LENGTH_FIELD;

/// A prefix, a Length and a non-ESP marker: the most a frame header ever holds.
const MAX_HEADER: usize = PREFIX.len() + LENGTH_FIELD + NON_ESP_MARKER.len();

/// Which end of the stream this codec serves (RFC 9329 §1.1 terminology).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opened the stream: sends the prefix, never expects one.
    Originator,
    /// Accepted the stream: expects the prefix, never sends one.
    Responder,
}

/// Message size bounds (RFC 9329 §3: "implementations SHOULD limit message lengths to
/// typical UDP datagram ESP payload lengths"; R-FRAME-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest ESP packet sent or accepted. It is the effective MTU of the ESP layer, so
    /// it bounds the inner MTU (R-ESP-5).
    pub max_esp_len: usize,
    /// Largest IKE message (without the marker) sent or accepted. IKE is never fragmented
    /// over a stream (R-FRAG-1), so this defaults to what the Length field allows.
    pub max_ike_len: usize,
}

impl Limits {
    /// A UDP datagram's payload on a 1500-byte IPv4 path: 1500 - 20 - 8.
    pub const DEFAULT_MAX_ESP_LEN: usize = 1472;
    pub const DEFAULT_MAX_IKE_LEN: usize = MAX_BODY - NON_ESP_MARKER.len();

    fn max_body(&self) -> usize {
        self.max_esp_len
            .max(self.max_ike_len.saturating_add(NON_ESP_MARKER.len()))
            .min(MAX_BODY)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_esp_len: Self::DEFAULT_MAX_ESP_LEN,
            max_ike_len: Self::DEFAULT_MAX_IKE_LEN,
        }
    }
}

/// One message taken off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// An IKE message, the non-ESP marker stripped.
    Ike(Bytes),
    /// An ESP packet, from its SPI on.
    Esp(Bytes),
}

/// A message to put on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// An IKE message, without marker.
    Ike(&'a [u8]),
    /// An ESP packet, from its SPI on.
    Esp(&'a [u8]),
}

impl<'a> Outgoing<'a> {
    /// Picks the frame kind from the IP protocol number of an IPsec packet.
    ///
    /// RFC 9329 §3: only IKE and ESP are carried; AH (51) is refused (R-FRAME-8), as is
    /// anything that is not ESP (50).
    pub fn from_ip_protocol(protocol: u8, packet: &'a [u8]) -> Result<Self, EncodeError> {
        match protocol {
            50 => Ok(Outgoing::Esp(packet)),
            51 => Err(EncodeError::AhNotCarried),
            p => Err(EncodeError::NotIpsec(p)),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Outgoing::Ike(m) => NON_ESP_MARKER.len() + m.len(),
            Outgoing::Esp(p) => p.len(),
        }
    }
}

/// Why a message was not framed. Nothing was written and the framer's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("message of {len} bytes does not fit the 16-bit Length after framing (at most {max})")]
    TooLongForLength { len: usize, max: usize },
    #[error("{kind} message of {len} bytes exceeds the configured maximum of {max}")]
    OverLimit {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("ESP packet with SPI 0 is never sent (it would read as a non-ESP marker)")]
    ZeroSpi,
    #[error("ESP packet of {0} bytes is shorter than SPI and sequence number")]
    ShortEsp(usize),
    #[error("empty IKE message")]
    EmptyIke,
    #[error("AH is not carried over a stream (RFC 9329 §3)")]
    AhNotCarried,
    #[error("IP protocol {0} is not carried over a stream")]
    NotIpsec(u8),
}

/// The bytes that go in front of a message body: the prefix on the Originator's first
/// frame, the Length, and for IKE the non-ESP marker.
#[derive(Clone, Copy)]
pub struct FrameHeader {
    bytes: [u8; MAX_HEADER],
    len: u8,
}

impl FrameHeader {
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl std::fmt::Debug for FrameHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameHeader({:02x?})", self.as_slice())
    }
}

/// The sending half: frames whole messages.
#[derive(Debug, Clone)]
pub struct Framer {
    prefix_pending: bool,
    limits: Limits,
}

impl Framer {
    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            // R-FRAME-1: only the Originator sends the prefix, once, before anything else.
            prefix_pending: role == Role::Originator,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the next header will carry the stream prefix.
    pub fn prefix_pending(&self) -> bool {
        self.prefix_pending
    }

    /// The header to write before `msg`'s body. The body itself is written by the caller
    /// straight from its own buffer (e.g. with a vectored write), so it is never copied
    /// here.
    pub fn header(&mut self, msg: Outgoing<'_>) -> Result<FrameHeader, EncodeError> {
        let header = self.check_and_build(msg)?;
        self.prefix_pending = false;
        Ok(header)
    }

    /// Appends header and body to `out`: a convenience for callers that batch into one
    /// buffer.
    pub fn encode(&mut self, msg: Outgoing<'_>, out: &mut impl BufMut) -> Result<(), EncodeError> {
        let header = self.header(msg)?;
        out.put_slice(header.as_slice());
        match msg {
            Outgoing::Ike(m) | Outgoing::Esp(m) => out.put_slice(m),
        }
        Ok(())
    }

    fn check_and_build(&self, msg: Outgoing<'_>) -> Result<FrameHeader, EncodeError> {
        let (kind, len, max) = match msg {
            Outgoing::Ike(m) => {
                if m.is_empty() {
                    return Err(EncodeError::EmptyIke);
                }
                ("IKE", m.len(), self.limits.max_ike_len)
            }
            Outgoing::Esp(p) => {
                // R-FRAME-3: an ESP SPI of zero is never produced; R-FRAME-6: a lone 0xFF
                // keepalive is shorter than an ESP header, so keepalives never go out.
                if p.len() < esp::HEADER_LEN {
                    return Err(EncodeError::ShortEsp(p.len()));
                }
                if p[..4] == [0; 4] {
                    return Err(EncodeError::ZeroSpi);
                }
                ("ESP", p.len(), self.limits.max_esp_len)
            }
        };
        // R-FRAME-4: refused, never truncated, when the Length cannot describe it.
        let body = msg.body_len();
        if body > MAX_BODY {
            let overhead = body - len;
            return Err(EncodeError::TooLongForLength {
                len,
                max: MAX_BODY - overhead,
            });
        }
        // R-FRAME-5: the configured maximum bounds what we send.
        if len > max {
            return Err(EncodeError::OverLimit { kind, len, max });
        }
        let mut bytes = [0u8; MAX_HEADER];
        let mut at = 0;
        if self.prefix_pending {
            bytes[..PREFIX.len()].copy_from_slice(&PREFIX);
            at = PREFIX.len();
        }
        // `body <= MAX_BODY` was checked above, so this fits 16 bits.
        let length = (body + LENGTH_FIELD) as u16;
        bytes[at..at + LENGTH_FIELD].copy_from_slice(&length.to_be_bytes());
        at += LENGTH_FIELD;
        if let Outgoing::Ike(_) = msg {
            bytes[at..at + NON_ESP_MARKER.len()].copy_from_slice(&NON_ESP_MARKER);
            at += NON_ESP_MARKER.len();
        }
        Ok(FrameHeader {
            bytes,
            len: at as u8,
        })
    }
}

/// What went wrong on the receiving side.
///
/// Fatal errors ([`StreamError::is_fatal`]) mean the connection must be closed: the byte
/// stream can no longer be trusted to be framed. The others concern one message, which
/// has been skipped; the stream goes on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("stream does not start with the IKETCP prefix (got {got:02x?})")]
    BadPrefix { got: Vec<u8> },
    #[error("Length field {0} is below its own size")]
    BadLength(u16),
    #[error("{kind} message of {len} bytes exceeds the configured maximum of {max}; skipped")]
    OverLimit {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("message of {len} bytes is neither IKE, ESP nor a keepalive; skipped")]
    Malformed { len: usize },
}

impl StreamError {
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StreamError::BadPrefix { .. } | StreamError::BadLength(_)
        )
    }
}

/// What the deframer has seen, for counters and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeframerStats {
    pub ike: u64,
    pub esp: u64,
    pub keepalives: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// What was thrown away when the stream ended (R-FRAME-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// Bytes of a message (or of the prefix) that never completed.
    pub partial_bytes: usize,
    pub stats: DeframerStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Prefix,
    Frames,
    /// Dropping the rest of a refused message without buffering it.
    Skip(usize),
    Failed,
}

/// The receiving half: fed a stream in arbitrary chunks, yields whole messages.
///
/// Memory is bounded: the buffer never holds more than one maximal message plus one
/// [`Deframer::READ_CHUNK`]; [`Deframer::feed`] takes only what fits, and a message above
/// the limits is skipped as it streams past instead of being buffered.
#[derive(Debug)]
pub struct Deframer {
    buf: BytesMut,
    state: State,
    limits: Limits,
    stats: DeframerStats,
    failure: Option<StreamError>,
}

impl Deframer {
    /// The most a single read may add beyond one maximal message.
    pub const READ_CHUNK: usize = 64 * 1024;

    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            buf: BytesMut::new(),
            // R-FRAME-1: the Responder waits for the whole prefix before parsing.
            state: match role {
                Role::Responder => State::Prefix,
                Role::Originator => State::Frames,
            },
            limits,
            stats: DeframerStats::default(),
            failure: None,
        }
    }

    pub fn stats(&self) -> DeframerStats {
        self.stats
    }

    /// Whether the prefix is still awaited.
    pub fn awaiting_prefix(&self) -> bool {
        self.state == State::Prefix
    }

    fn capacity_limit(&self) -> usize {
        LENGTH_FIELD + self.limits.max_body() + Self::READ_CHUNK
    }

    /// How many more bytes [`Deframer::feed`] or [`Deframer::read_buf`] accept now.
    pub fn space(&self) -> usize {
        self.capacity_limit().saturating_sub(self.buf.len())
    }

    /// Appends as much of `data` as fits and returns how much that was. Drain
    /// [`Deframer::next_frame`] before feeding the rest.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.space());
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// A buffer to read into directly (e.g. with tokio's `read_buf`), so received bytes
    /// are copied once, from the kernel, and frames are then slices of it.
    pub fn read_buf(&mut self) -> Limit<&mut BytesMut> {
        let space = self.space();
        let want = space.min(Self::READ_CHUNK);
        self.buf.reserve(want);
        (&mut self.buf).limit(want)
    }

    /// The next whole message, or `None` if more bytes are needed. NAT keepalives are
    /// dropped here (R-FRAME-6). After a fatal error every call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        loop {
            match self.state {
                State::Failed => {
                    return Err(self.failure.clone().unwrap_or(StreamError::BadLength(0)));
                }
                State::Prefix => {
                    let n = self.buf.len().min(PREFIX.len());
                    // Refuse as soon as a byte differs rather than waiting for six.
                    if self.buf[..n] != PREFIX[..n] {
                        let got = self.buf[..n].to_vec();
                        return Err(self.fail(StreamError::BadPrefix { got }));
                    }
                    if n < PREFIX.len() {
                        return Ok(None);
                    }
                    self.buf.advance(PREFIX.len());
                    self.state = State::Frames;
                }
                State::Skip(remaining) => {
                    let n = remaining.min(self.buf.len());
                    self.buf.advance(n);
                    if n < remaining {
                        self.state = State::Skip(remaining - n);
                        return Ok(None);
                    }
                    self.state = State::Frames;
                }
                State::Frames => {
                    if self.buf.len() < LENGTH_FIELD {
                        return Ok(None);
                    }
                    let length = u16::from_be_bytes([self.buf[0], self.buf[1]]);
                    // R-FRAME-2: Length 0 or 1 is fatal.
                    if (length as usize) < LENGTH_FIELD {
                        return Err(self.fail(StreamError::BadLength(length)));
                    }
                    let body = length as usize - LENGTH_FIELD;
                    if let Some(err) = self.refuse_early(body) {
                        self.stats.skipped += 1;
                        self.state = State::Skip(length as usize);
                        return Err(err);
                    }
                    if self.buf.len() < length as usize {
                        return Ok(None);
                    }
                    let mut msg = self.buf.split_to(length as usize).freeze();
                    msg.advance(LENGTH_FIELD);
                    self.stats.bytes += u64::from(length);
                    match classify(msg) {
                        Classified::Keepalive => self.stats.keepalives += 1,
                        Classified::Frame(f) => {
                            match f {
                                Frame::Ike(_) => self.stats.ike += 1,
                                Frame::Esp(_) => self.stats.esp += 1,
                            }
                            return Ok(Some(f));
                        }
                        Classified::Refused(e) => {
                            self.stats.skipped += 1;
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// Refuses a message over the limits as soon as its kind is known (at most four
    /// bytes in), before buffering it (R-FRAME-5).
    fn refuse_early(&self, body: usize) -> Option<StreamError> {
        let head = self
            .buf
            .get(LENGTH_FIELD..LENGTH_FIELD + NON_ESP_MARKER.len().min(body))?;
        let (kind, len, max) = if head == NON_ESP_MARKER {
            ("IKE", body - NON_ESP_MARKER.len(), self.limits.max_ike_len)
        } else {
            ("ESP", body, self.limits.max_esp_len)
        };
        (len > max).then_some(StreamError::OverLimit { kind, len, max })
    }

    /// Ends the stream: a partially received message is discarded (R-FRAME-7), never
    /// delivered, and nothing carries over to another connection.
    pub fn close(self) -> Closed {
        let partial_bytes = match self.state {
            State::Failed | State::Skip(_) => 0,
            _ => self.buf.len(),
        };
        Closed {
            partial_bytes,
            stats: self.stats,
        }
    }

    fn fail(&mut self, err: StreamError) -> StreamError {
        self.state = State::Failed;
        self.buf = BytesMut::new();
        self.failure = Some(err.clone());
        err
    }
}

enum Classified {
    Frame(Frame),
    Keepalive,
    Refused(StreamError),
}

/// R-FRAME-3: four zero bytes first mean IKE, anything else ESP; a lone 0xFF is a
/// keepalive. Limits were checked before the message was buffered.
fn classify(mut msg: Bytes) -> Classified {
    let len = msg.len();
    if msg[..] == [0xff] {
        return Classified::Keepalive;
    }
    if msg.starts_with(&NON_ESP_MARKER) {
        msg.advance(NON_ESP_MARKER.len());
        if msg.is_empty() {
            return Classified::Refused(StreamError::Malformed { len });
        }
        return Classified::Frame(Frame::Ike(msg));
    }
    if len < esp::HEADER_LEN {
        return Classified::Refused(StreamError::Malformed { len });
    }
    Classified::Frame(Frame::Esp(msg))
}
