//! RFC 7296 §3.14 (Encrypted payload) and RFC 7383 (IKE fragmentation): turning payloads
//! into protected messages and back.
//!
//! The SK or SKF payload is always last, so its associated data is exactly the bytes of
//! the message before its body; building a message with a placeholder body of the final
//! length gives the header and lengths the cipher must authenticate.

use iketcp_crypto::{IkeKeys, Rng, SkCipher};
use iketcp_wire::codec::Writer;
use iketcp_wire::ike::{
    Encrypted, EncryptedFragment, HEADER_LEN, Header, Message, Payload, PayloadType, emit_chain,
    parse_chain,
};

use crate::error::Drop;

/// The keys of an established IKE SA, split by direction.
pub(crate) struct Keys {
    pub ike: IkeKeys,
    pub send: SkCipher,
    pub recv: SkCipher,
}

impl Keys {
    pub fn new(ike: IkeKeys, original_initiator: bool) -> Result<Self, Drop> {
        let (send, recv) = ike
            .sk_ciphers(original_initiator)
            .map_err(|_| Drop::Internal("SK cipher setup"))?;
        Ok(Self { ike, send, recv })
    }
}

/// SKF payload header: generic header plus Fragment Number and Total Fragments.
const SKF_OVERHEAD: usize = 4 + 4;
const SK_OVERHEAD: usize = 4;

/// Seals `payloads` into one message, or into RFC 7383 fragments of at most
/// `fragment_size` bytes each when that is given and the whole would be larger.
pub(crate) fn seal(
    mut header: Header,
    payloads: &[Payload],
    cipher: &mut SkCipher,
    rng: &mut dyn Rng,
    fragment_size: Option<usize>,
) -> Result<Vec<Vec<u8>>, Drop> {
    let mut w = Writer::new();
    let first = emit_chain(payloads, &mut w).map_err(Drop::Wire)?;
    let plaintext = w.into_vec();
    let whole = HEADER_LEN + SK_OVERHEAD + cipher.body_len(plaintext.len());
    match fragment_size {
        Some(size) if whole > size => {
            // The largest chunk whose fragment fits `size`.
            let room = size.saturating_sub(HEADER_LEN + SKF_OVERHEAD);
            let mut chunk = room;
            while chunk > 0 && cipher.body_len(chunk) > room {
                chunk -= 1;
            }
            if chunk == 0 {
                return Err(Drop::Internal("fragment size too small"));
            }
            let total = plaintext.len().div_ceil(chunk);
            let total = u16::try_from(total).map_err(|_| Drop::Internal("too many fragments"))?;
            let mut out = Vec::with_capacity(total as usize);
            header.next_payload = PayloadType::SKF;
            for (i, part) in plaintext.chunks(chunk).enumerate() {
                let number = i as u16 + 1;
                let frag = |body| {
                    Payload::EncryptedFragment(EncryptedFragment {
                        fragment_number: number,
                        total_fragments: total,
                        first_payload: if number == 1 {
                            first
                        } else {
                            PayloadType::NONE
                        },
                        body,
                    })
                };
                out.push(seal_one(&header, part, cipher, rng, frag)?);
            }
            Ok(out)
        }
        _ => {
            header.next_payload = PayloadType::SK;
            let sk = |body| {
                Payload::Encrypted(Encrypted {
                    first_payload: first,
                    body,
                })
            };
            Ok(vec![seal_one(&header, &plaintext, cipher, rng, sk)?])
        }
    }
}

fn seal_one(
    header: &Header,
    plaintext: &[u8],
    cipher: &mut SkCipher,
    rng: &mut dyn Rng,
    wrap: impl Fn(Vec<u8>) -> Payload,
) -> Result<Vec<u8>, Drop> {
    let body_len = cipher.body_len(plaintext.len());
    let msg = Message {
        header: *header,
        payloads: vec![wrap(vec![0; body_len])],
    };
    let mut bytes = msg.emit().map_err(Drop::Wire)?;
    let aad_len = bytes.len() - body_len;
    let body = cipher
        .encrypt(&bytes[..aad_len], plaintext, rng)
        .map_err(|_| Drop::Internal("encryption failed"))?;
    bytes.truncate(aad_len);
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// What a protected message held.
pub(crate) enum Opened {
    Whole(Vec<Payload>),
    Fragment {
        number: u16,
        total: u16,
        first_payload: PayloadType,
        plaintext: Vec<u8>,
    },
}

/// Verifies and decrypts the SK or SKF payload of `msg`, whose bytes are `raw`.
///
/// RFC 7296 §2.21.2: a message that fails integrity is dropped without a response; the
/// caller does exactly that on `Err`.
pub(crate) fn open(raw: &[u8], msg: &Message, cipher: &SkCipher) -> Result<Opened, Drop> {
    if let Some(sk) = msg.encrypted() {
        let aad = raw
            .get(..raw.len().saturating_sub(sk.body.len()))
            .ok_or(Drop::Malformed)?;
        let plaintext = cipher.decrypt(aad, &sk.body).map_err(|_| Drop::Integrity)?;
        let inner = parse_chain(sk.first_payload, &plaintext).map_err(Drop::SyntaxAuthenticated)?;
        let mut all: Vec<Payload> = msg
            .payloads
            .iter()
            .filter(|p| !p.is_encrypted())
            .cloned()
            .collect();
        all.extend(inner);
        return Ok(Opened::Whole(all));
    }
    if let Some(f) = msg.encrypted_fragment() {
        let aad = raw
            .get(..raw.len().saturating_sub(f.body.len()))
            .ok_or(Drop::Malformed)?;
        let plaintext = cipher.decrypt(aad, &f.body).map_err(|_| Drop::Integrity)?;
        return Ok(Opened::Fragment {
            number: f.fragment_number,
            total: f.total_fragments,
            first_payload: f.first_payload,
            plaintext,
        });
    }
    Err(Drop::Unprotected)
}

/// RFC 7383 §2.6.2: fragments of one message, collected until all are in.
#[derive(Debug)]
pub(crate) struct Reassembly {
    pub message_id: u32,
    total: u16,
    first_payload: PayloadType,
    parts: Vec<Option<Vec<u8>>>,
    bytes: usize,
}

/// The most reassembled plaintext kept for one message.
const MAX_REASSEMBLY_BYTES: usize = 256 * 1024;

impl Reassembly {
    pub fn new(message_id: u32, total: u16, max: u16) -> Result<Self, Drop> {
        if total == 0 || total > max {
            return Err(Drop::Malformed);
        }
        Ok(Self {
            message_id,
            total,
            first_payload: PayloadType::NONE,
            parts: vec![None; total as usize],
            bytes: 0,
        })
    }

    pub fn total(&self) -> u16 {
        self.total
    }

    /// Adds one verified fragment; returns the whole payload chain once complete.
    pub fn add(
        &mut self,
        number: u16,
        first_payload: PayloadType,
        plaintext: Vec<u8>,
    ) -> Result<Option<Vec<Payload>>, Drop> {
        let slot = self
            .parts
            .get_mut(usize::from(number).wrapping_sub(1))
            .ok_or(Drop::Malformed)?;
        if slot.is_some() {
            return Ok(None);
        }
        self.bytes += plaintext.len();
        if self.bytes > MAX_REASSEMBLY_BYTES {
            return Err(Drop::Malformed);
        }
        if number == 1 {
            self.first_payload = first_payload;
        }
        *slot = Some(plaintext);
        if self.parts.iter().any(Option::is_none) {
            return Ok(None);
        }
        let whole: Vec<u8> = self.parts.iter().flatten().flatten().copied().collect();
        parse_chain(self.first_payload, &whole)
            .map(Some)
            .map_err(Drop::SyntaxAuthenticated)
    }
}
