//! Child SAs as the data plane sees them: the ESP engine's SAs made from the keys IKE
//! negotiated (RFC 7296 §2.17), and where each one's packets go.

use core::net::IpAddr;

use iketcp_crypto::SecretBytes;
use iketcp_esp::{AesKeySize, Algorithm, Integrity, Mode as EspMode, SaParams};
use iketcp_proto::{ChildSaKeys, IkeSaId, Mode, Path};
use iketcp_wire::ike::{TrafficSelector, TransformId};

/// Where a Child SA's outbound packets go, and what they may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRoute {
    pub ike: IkeSaId,
    pub spi_in: u32,
    pub spi_out: u32,
    /// The path of its IKE SA: UDP-encapsulated to its remote, or over its stream.
    pub path: Path,
    /// ESP goes as IP protocol 50 between the path's addresses, not in UDP.
    pub raw: bool,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Transport mode: packets go between the two hosts' own addresses.
    pub transport: bool,
    /// Order of installation: after a rekey the newer SA carries the traffic while the
    /// old one drains (RFC 7296 §2.8).
    pub installed: u64,
}

impl ChildRoute {
    pub fn new(k: &ChildSaKeys, installed: u64) -> Self {
        Self {
            installed,
            ike: k.ike,
            spi_in: k.spi_in,
            spi_out: k.spi_out,
            path: k.path,
            raw: k.raw,
            local_ts: k.local_ts.clone(),
            remote_ts: k.remote_ts.clone(),
            transport: k.mode == Mode::Transport,
        }
    }

    /// In transport mode, the addresses the host knows the peer and itself by: the
    /// peer's where the SA reaches it, ours from our selector when it is one address.
    pub fn hosts(&self) -> (IpAddr, IpAddr) {
        let one = |ts: &[TrafficSelector]| match ts {
            [t] if t.start_addr == t.end_addr => Some(t.start_addr),
            _ => None,
        };
        let ours = one(&self.local_ts)
            .filter(|a| !a.is_unspecified())
            .unwrap_or(self.path.local.ip());
        (self.path.remote.ip(), ours)
    }

    /// Whether a packet from `src` to `dst` belongs to this Child SA (RFC 4301 §5.1:
    /// outbound, the packet's selectors pick the SA).
    pub fn carries(&self, src: IpAddr, dst: IpAddr, protocol: u8) -> bool {
        iketcp_proto::ts::matches(&self.local_ts, src, protocol, 0)
            && iketcp_proto::ts::matches(&self.remote_ts, dst, protocol, 0)
    }
}

/// The ESP engine's algorithm for a negotiated Child SA.
fn algorithm(k: &ChildSaKeys) -> Option<Algorithm> {
    Some(match (k.encr, k.encr_key_bits, k.integ) {
        (TransformId::ENCR_AES_GCM_16, Some(128), None) => Algorithm::AesGcm16_128,
        (TransformId::ENCR_AES_GCM_16, Some(256), None) => Algorithm::AesGcm16_256,
        (TransformId::ENCR_CHACHA20_POLY1305, _, None) => Algorithm::ChaCha20Poly1305,
        (TransformId::ENCR_AES_CBC, bits, Some(integ)) => Algorithm::AesCbc {
            key: match bits {
                Some(128) => AesKeySize::Aes128,
                Some(256) => AesKeySize::Aes256,
                // AES-192 and anything else: not implemented, so not installed, never
                // run as another key size.
                _ => return None,
            },
            integrity: match integ {
                TransformId::INTEG_HMAC_SHA2_256_128 => Integrity::HmacSha256_128,
                TransformId::INTEG_HMAC_SHA2_384_192 => Integrity::HmacSha384_192,
                TransformId::INTEG_HMAC_SHA2_512_256 => Integrity::HmacSha512_256,
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// The ESP engine's inbound and outbound SAs for a negotiated Child SA; `None` when the
/// ESP engine does not implement the transforms.
pub fn sa_params(k: &ChildSaKeys) -> Option<(SaParams, SaParams)> {
    let alg = algorithm(k)?;
    let mode = match k.mode {
        Mode::Tunnel => EspMode::Tunnel,
        Mode::Transport => EspMode::Transport,
    };
    let key = |e: &SecretBytes, i: &SecretBytes| {
        let mut v = e.expose().to_vec();
        v.extend_from_slice(i.expose());
        v
    };
    // RFC 4301 §5.2: inbound packets must fall inside the negotiated selectors.
    let inbound = SaParams::new(k.spi_in, alg, key(&k.encr_in, &k.integ_in))
        .with_esn(k.esn)
        .with_mode(mode)
        .with_replay_window(k.replay_window)
        .with_selectors(k.local_ts.clone(), k.remote_ts.clone());
    let outbound = SaParams::new(k.spi_out, alg, key(&k.encr_out, &k.integ_out))
        .with_esn(k.esn)
        .with_mode(mode);
    Some((inbound, outbound))
}

/// The two rows of Wireshark's `esp_sa` for a Child SA, inbound (from the peer's outer
/// address to ours) then outbound. Secrets in the clear: for key export only.
pub fn esp_sa_rows(k: &ChildSaKeys) -> Result<String, String> {
    let (ours, theirs) = (k.path.local.ip(), k.path.remote.ip());
    let (inbound, outbound) = sa_params(k).ok_or("unsupported ESP transforms")?;
    let row = |p: &SaParams, src, dst| {
        iketcp_esp::wireshark::esp_sa_row(p, src, dst).map_err(|e| e.to_string())
    };
    Ok(format!(
        "{}\n{}",
        row(&inbound, theirs, ours)?,
        row(&outbound, ours, theirs)?
    ))
}

/// Source, destination and protocol of an IPv4 or IPv6 packet.
pub(crate) fn ip_selectors(packet: &[u8]) -> Option<(IpAddr, IpAddr, u8)> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => {
            let a = |i: usize| {
                <[u8; 4]>::try_from(&packet[i..i + 4])
                    .ok()
                    .map(IpAddr::from)
            };
            Some((a(12)?, a(16)?, packet[9]))
        }
        6 if packet.len() >= 40 => {
            let a = |i: usize| {
                <[u8; 16]>::try_from(&packet[i..i + 16])
                    .ok()
                    .map(IpAddr::from)
            };
            Some((a(8)?, a(24)?, packet[6]))
        }
        _ => None,
    }
}
