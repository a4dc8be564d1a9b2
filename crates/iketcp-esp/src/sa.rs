//! RFC 4303 §3.3 outbound and §3.4 inbound processing for one security association
//! (RFC 4301 §4.4.2 SAD entry).
//!
//! Each SA is one direction. IKE installs a pair per Child SA, with the SPIs and keys it
//! negotiated (RFC 7296 §2.17), and removes them on rekey or delete.

use iketcp_wire::esp::{EspPacket, HEADER_LEN, NEXT_HEADER_NONE, emit_header, parse_trailer};
use iketcp_wire::ike::TrafficSelector;

use crate::algorithm::Algorithm;
use crate::cipher::{OpenFailure, OpenKey, SealKey, SeqCtx};
use crate::error::EspError;
use crate::ip;
use crate::key::KeyMaterial;
use crate::lifetime::{Crossed, Lifetime, Usage};
use crate::random::RandomSource;
use crate::replay::{MAX_REPLAY_WINDOW, ReplayWindow};
use crate::selector::{InboundSelectors, Policy, Refused};
use crate::stats::SaStats;

/// RFC 4303 §3.4.3: a window of 64 packets SHOULD be the default.
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;

/// The window for an SA whose packets travel over a byte stream (TCP, TLS): the stream
/// neither loses nor reorders, so anything not newer than the last packet is a replay
/// (R-ESP-1, RFC 9329 §10).
pub const STREAM_REPLAY_WINDOW: u32 = 1;

/// Largest trailer the engine writes: 15 bytes of padding (AES block) plus the two
/// trailer bytes. No TFC padding is added.
const MAX_TRAILER: usize = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The whole IP packet is the payload (RFC 4303 §3.1.2).
    Tunnel,
    /// The payload is what follows the IP header, which the caller keeps (RFC 4303 §3.1.1).
    Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Everything needed to install one SA.
///
/// Construct with [`SaParams::new`] and adjust with the `with_*` methods; the defaults are
/// tunnel mode, no ESN, a window of [`DEFAULT_REPLAY_WINDOW`], no lifetime limits, a
/// first sequence number of 1, and no traffic selectors.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SaParams {
    pub spi: u32,
    pub algorithm: Algorithm,
    /// Encryption key (with the AEAD salt at its end), then integrity key.
    pub key: KeyMaterial,
    /// Extended (64-bit) Sequence Numbers (RFC 4303 §2.2.1), as negotiated by IKE.
    pub esn: bool,
    /// Anti-replay window in packets, inbound only; 0 disables the check. Pass
    /// [`STREAM_REPLAY_WINDOW`] (1) when the SA's packets travel over TCP or TLS (R-ESP-1).
    pub replay_window: u32,
    pub mode: Mode,
    pub lifetime: Lifetime,
    /// Outbound: the first sequence number sent. Inbound: the window starts as if every
    /// number below it had arrived. 1 for a new SA; other values serve tests and tools.
    pub initial_seq: u64,
    /// Inbound only: the traffic the SA may carry (RFC 4301 §5.2). `None` admits every
    /// authentic packet; an SA negotiated by IKE should always have its selectors set.
    /// Outbound SAs ignore it: choosing the SA for a packet is the caller's job.
    pub selectors: Option<InboundSelectors>,
}

impl SaParams {
    pub fn new(spi: u32, algorithm: Algorithm, key: impl Into<KeyMaterial>) -> Self {
        Self {
            spi,
            algorithm,
            key: key.into(),
            esn: false,
            replay_window: DEFAULT_REPLAY_WINDOW,
            mode: Mode::Tunnel,
            lifetime: Lifetime::UNLIMITED,
            initial_seq: 1,
            selectors: None,
        }
    }

    pub fn with_esn(mut self, esn: bool) -> Self {
        self.esn = esn;
        self
    }

    pub fn with_replay_window(mut self, window: u32) -> Self {
        self.replay_window = window;
        self
    }

    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    pub fn with_lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    pub fn with_initial_seq(mut self, seq: u64) -> Self {
        self.initial_seq = seq;
        self
    }

    /// Inbound: delivers only packets from `remote_ts` (the peer's side of the Child SA)
    /// to `local_ts` (ours), as negotiated in TSi and TSr (RFC 7296 §2.9); see
    /// [`InboundSelectors`] and [`crate::selector`] for the matching rules.
    pub fn with_selectors(
        mut self,
        local_ts: Vec<TrafficSelector>,
        remote_ts: Vec<TrafficSelector>,
    ) -> Self {
        self.selectors = Some(InboundSelectors::new(local_ts, remote_ts));
        self
    }

    /// The last usable sequence number: RFC 4303 §3.3.3, the counter never cycles.
    pub fn max_seq(&self) -> u64 {
        if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EspError> {
        if self.spi == 0 {
            return Err(EspError::ZeroSpi);
        }
        let expected = self.algorithm.key_material_len();
        if self.key.len() != expected {
            return Err(EspError::KeyLength {
                algorithm: self.algorithm,
                expected,
                got: self.key.len(),
            });
        }
        if self.replay_window > MAX_REPLAY_WINDOW {
            return Err(EspError::ReplayWindowTooLarge {
                window: self.replay_window,
                max: MAX_REPLAY_WINDOW,
            });
        }
        if self.initial_seq == 0 || self.initial_seq > self.max_seq() {
            return Err(EspError::InvalidInitialSeq {
                seq: self.initial_seq,
            });
        }
        Ok(())
    }
}

/// The result of encapsulating one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Encapsulated {
    /// Length of the ESP packet written at the start of the output buffer.
    pub len: usize,
    /// Transport mode: the length of the IP header at the start of the input packet, which
    /// the ESP packet does not contain. To send raw ESP the caller puts these bytes in
    /// front of the ESP packet with protocol (IPv4) or Next Header (IPv6) set to 50 and
    /// the lengths and IPv4 checksum fixed; over UDP (RFC 3948) or a stream (RFC 9329) the
    /// ESP packet goes alone. 0 in tunnel mode.
    pub ip_header_len: usize,
    /// The packet's sequence number; with ESN the header carries only its low 32 bits.
    pub seq: u64,
}

/// The result of decapsulating one authenticated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Decapsulated {
    /// Tunnel mode: the output buffer starts with the inner IP packet of `len` bytes.
    Tunnel { spi: u32, len: usize },
    /// Transport mode: the output buffer starts with `len` bytes of upper-layer data; the
    /// caller rebuilds the IP packet from the outer header with `protocol` as its
    /// protocol (IPv4) or Next Header (IPv6).
    Transport { spi: u32, len: usize, protocol: u8 },
    /// A dummy packet (Next Header 59, RFC 4303 §2.6): authentic, counted, nothing to
    /// deliver.
    Dummy { spi: u32 },
}

impl Decapsulated {
    pub fn spi(&self) -> u32 {
        match *self {
            Self::Tunnel { spi, .. } | Self::Transport { spi, .. } | Self::Dummy { spi } => spi,
        }
    }

    /// Bytes to deliver from the start of the output buffer.
    pub fn len(&self) -> usize {
        match *self {
            Self::Tunnel { len, .. } | Self::Transport { len, .. } => len,
            Self::Dummy { .. } => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes RFC 4303 §2.4 default padding (1, 2, 3, …), Pad Length and Next Header.
fn write_trailer(buf: &mut [u8; MAX_TRAILER], pad: usize, next_header: u8) -> Option<&[u8]> {
    let len = pad + 2;
    let t = buf.get_mut(..len)?;
    for (i, b) in t.iter_mut().take(pad).enumerate() {
        *b = (i + 1) as u8;
    }
    *t.get_mut(pad)? = pad as u8;
    *t.get_mut(pad + 1)? = next_header;
    Some(t)
}

pub(crate) struct OutboundSa {
    spi: u32,
    algorithm: Algorithm,
    esn: bool,
    mode: Mode,
    key: SealKey,
    next_seq: u64,
    max_seq: u64,
    /// From this number on, a soft event asks for a rekey: 1/16 of the space is left.
    soft_seq: u64,
    exhausted: bool,
    pub(crate) usage: Usage,
}

/// What an outbound packet crossed, for the engine to turn into events.
#[derive(Debug, Default)]
pub(crate) struct OutboundCrossed {
    pub lifetime: Crossed,
    pub seq_soft: bool,
    pub seq_hard: bool,
}

impl OutboundSa {
    pub(crate) fn new(p: &SaParams) -> Result<Self, EspError> {
        p.validate()?;
        let max_seq = p.max_seq();
        Ok(Self {
            spi: p.spi,
            algorithm: p.algorithm,
            esn: p.esn,
            mode: p.mode,
            key: SealKey::new(p.algorithm, &p.key)?,
            next_seq: p.initial_seq,
            max_seq,
            soft_seq: max_seq - max_seq / 16,
            exhausted: false,
            usage: Usage::new(&p.lifetime),
        })
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn encapsulate(
        &mut self,
        ip_packet: &[u8],
        out: &mut [u8],
        rng: &mut dyn RandomSource,
    ) -> Result<(Encapsulated, OutboundCrossed), EspError> {
        let spi = self.spi;
        if self.usage.expired() {
            return Err(EspError::LifetimeExpired { spi });
        }
        // RFC 4303 §3.3.3: the sender never lets the counter cycle.
        if self.exhausted {
            return Err(EspError::SequenceExhausted { spi });
        }
        let (ip_header_len, next_header) = match self.mode {
            Mode::Tunnel => (0, ip::tunnel_next_header(ip_packet)?),
            Mode::Transport => ip::transport_split(ip_packet)?,
        };
        let payload = ip_packet
            .get(ip_header_len..)
            .ok_or(EspError::InvalidIpPacket)?;
        let total = self.algorithm.esp_len(payload.len());
        let available = out.len();
        let out = out.get_mut(..total).ok_or(EspError::BufferTooSmall {
            needed: total,
            available,
        })?;
        let mut trailer_buf = [0u8; MAX_TRAILER];
        let pad = self.algorithm.pad_len(payload.len());
        let trailer = write_trailer(&mut trailer_buf, pad, next_header).ok_or(EspError::Crypto)?;

        let seq = self.next_seq;
        let (header, body) = out
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(EspError::Crypto)?;
        // The low 32 bits go on the wire; with ESN the high half is implicit (§2.2.1).
        emit_header(header, spi, seq as u32).map_err(|_| EspError::Crypto)?;
        let ctx = SeqCtx {
            spi,
            seq,
            esn: self.esn,
        };
        self.key.seal(&ctx, payload, trailer, body, rng)?;

        let mut crossed = OutboundCrossed {
            lifetime: self.usage.record(payload.len()),
            ..Default::default()
        };
        if seq == self.max_seq {
            self.exhausted = true;
            crossed.seq_hard = self.usage.take_hard();
        } else {
            self.next_seq = seq + 1;
        }
        if seq >= self.soft_seq {
            crossed.seq_soft = self.usage.take_soft();
        }
        Ok((
            Encapsulated {
                len: total,
                ip_header_len,
                seq,
            },
            crossed,
        ))
    }
}

pub(crate) struct InboundSa {
    spi: u32,
    algorithm: Algorithm,
    esn: bool,
    mode: Mode,
    key: OpenKey,
    window: ReplayWindow,
    policy: Option<Policy>,
    pub(crate) usage: Usage,
    pub(crate) stats: SaStats,
}

impl InboundSa {
    pub(crate) fn set_replay_window(&mut self, window: u32) {
        self.window.resize(window.min(MAX_REPLAY_WINDOW));
    }

    pub(crate) fn new(p: &SaParams) -> Result<Self, EspError> {
        p.validate()?;
        Ok(Self {
            spi: p.spi,
            algorithm: p.algorithm,
            esn: p.esn,
            mode: p.mode,
            key: OpenKey::new(p.algorithm, &p.key)?,
            window: ReplayWindow::new(p.replay_window, p.esn, p.initial_seq),
            policy: p.selectors.as_ref().map(Policy::new).transpose()?,
            usage: Usage::new(&p.lifetime),
            stats: SaStats::default(),
        })
    }

    /// RFC 4303 §3.4: lengths, then the replay window (§3.4.3), then the ICV and decryption
    /// (§3.4.4), then the window update, then the trailer, then the selectors (RFC 4301
    /// §5.2). Drops are counted per SA here.
    pub(crate) fn decapsulate(
        &mut self,
        packet: &EspPacket<&[u8]>,
        out: &mut [u8],
    ) -> Result<(Decapsulated, Crossed), EspError> {
        let r = self.process(packet, out);
        if let Err(e) = &r {
            self.stats.count_drop(e);
        }
        r
    }

    fn process(
        &mut self,
        packet: &EspPacket<&[u8]>,
        out: &mut [u8],
    ) -> Result<(Decapsulated, Crossed), EspError> {
        let spi = self.spi;
        if self.usage.expired() {
            return Err(EspError::LifetimeExpired { spi });
        }
        let alg = self.algorithm;
        let body = packet.body();
        let ct_len = body
            .len()
            .checked_sub(alg.iv_len() + alg.icv_len())
            .filter(|&n| n >= alg.min_ciphertext_len())
            .ok_or(EspError::Truncated { spi })?;
        if !alg.is_aead() && !ct_len.is_multiple_of(alg.alignment()) {
            return Err(EspError::Truncated { spi });
        }

        let seq_low = packet.seq();
        let seq = self.window.infer(seq_low).ok_or(EspError::Replayed {
            spi,
            seq: u64::from(seq_low),
        })?;
        // RFC 4303 §3.4.3: the cheap check comes before any cryptography.
        if self.window.check(seq).is_err() {
            return Err(EspError::Replayed { spi, seq });
        }
        if out.len() < ct_len {
            return Err(EspError::BufferTooSmall {
                needed: ct_len,
                available: out.len(),
            });
        }

        self.stats.icv_checks += 1;
        let ctx = SeqCtx {
            spi,
            seq,
            esn: self.esn,
        };
        match self.key.open(&ctx, body, out) {
            Ok(_) => {}
            Err(OpenFailure::Forged) => return Err(EspError::AuthenticationFailed { spi }),
            Err(OpenFailure::Malformed) => return Err(EspError::Truncated { spi }),
        }
        // RFC 4303 §3.4.3: the window moves only for a packet whose ICV verified.
        self.window.mark(seq);

        let plaintext = out.get(..ct_len).ok_or(EspError::Truncated { spi })?;
        let trailer = parse_trailer(plaintext).map_err(|_| EspError::BadPadding { spi })?;
        let len = trailer.payload_len;
        if trailer.next_header == NEXT_HEADER_NONE {
            // RFC 4303 §2.6: a dummy packet is discarded, silently.
            self.stats.dummy += 1;
            return Ok((Decapsulated::Dummy { spi }, self.usage.record(0)));
        }
        let d = match self.mode {
            Mode::Tunnel => {
                let inner = plaintext.get(..len).ok_or(EspError::Truncated { spi })?;
                if !ip::inner_matches(trailer.next_header, inner) {
                    return Err(EspError::BadInnerPacket {
                        spi,
                        next_header: trailer.next_header,
                    });
                }
                if let Some(policy) = &self.policy {
                    policy
                        .check_tunnel(inner)
                        .map_err(|r| refused(spi, seq, r))?;
                }
                Decapsulated::Tunnel { spi, len }
            }
            Mode::Transport => {
                if let Some(policy) = &self.policy {
                    let data = plaintext.get(..len).ok_or(EspError::Truncated { spi })?;
                    policy
                        .check_transport(trailer.next_header, data)
                        .map_err(|r| refused(spi, seq, r))?;
                }
                Decapsulated::Transport {
                    spi,
                    len,
                    protocol: trailer.next_header,
                }
            }
        };
        Ok((d, self.usage.record(len)))
    }
}

/// RFC 4301 §5.2: the refusal is an auditable event. The window update above stands: the
/// packet was authentic, and letting it be replayed would only repeat the refusal.
#[cold]
fn refused(spi: u32, seq: u64, r: Refused) -> EspError {
    tracing::debug!(
        spi = format_args!("{spi:#010x}"),
        seq,
        src = ?r.src(),
        dst = ?r.dst(),
        protocol = ?r.protocol(),
        ports = ?r.ports(),
        "inbound packet outside the SA's traffic selectors"
    );
    EspError::SelectorMismatch { spi, seq }
}
