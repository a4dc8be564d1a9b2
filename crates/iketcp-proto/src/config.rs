//! What the engine is told: endpoint-wide settings and one [`PeerConfig`] per connection.

use core::net::SocketAddr;
use core::time::Duration;

use iketcp_crypto::SecretBytes;
use iketcp_wire::ike::{Id, NotifyType, TrafficSelector, Transform, TransformId, TransformType};

use crate::proposal::ProposalSpec;

/// RFC 7296 §2.1 retransmission over UDP: `initial`, then each wait `factor` times the
/// last, `tries` retransmissions; the exchange fails after the last wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Retransmit {
    pub initial: Duration,
    pub factor: f64,
    pub tries: u32,
}

impl Retransmit {
    /// The wait before retransmission `n` (0 = after the first send).
    pub fn wait(&self, n: u32) -> Duration {
        self.initial.mul_f64(self.factor.powi(n as i32))
    }

    /// How long an exchange may take in all: the sum of every wait.
    pub fn total(&self) -> Duration {
        (0..=self.tries).map(|n| self.wait(n)).sum()
    }
}

impl Default for Retransmit {
    /// strongSwan's defaults: 4 s, 1.8×, 5 retransmissions (about 165 s in all).
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(4),
            factor: 1.8,
            tries: 5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub retransmit: Retransmit,
    /// R-RETX-1: over a stream requests are not retransmitted; an exchange with no
    /// response after this long deletes the IKE SA. Defaults to the UDP schedule's total.
    pub stream_response_timeout: Option<Duration>,
    /// A responder's half-open IKE SA is dropped after this long without IKE_AUTH.
    pub half_open_timeout: Duration,
    /// RFC 7296 §2.6: above this many half-open SAs the responder asks for cookies.
    /// R-COOKIE-1: this is the only reason a cookie is asked for, on any transport.
    pub cookie_threshold: usize,
    /// RFC 7383: the largest IKE datagram sent before fragmenting (over UDP only).
    pub fragment_size: usize,
    /// Most fragments accepted for one message (RFC 7383 §2.6 leaves the bound to us).
    pub max_fragments: u16,
    /// R-SEP-1: SEPARATE_TRANSPORTS has no IANA number yet.
    pub separate_transports_notify: NotifyType,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            retransmit: Retransmit::default(),
            stream_response_timeout: None,
            half_open_timeout: Duration::from_secs(30),
            cookie_threshold: 1000,
            fragment_size: 1280,
            max_fragments: 64,
            separate_transports_notify: NotifyType::SEPARATE_TRANSPORTS_DEFAULT,
        }
    }
}

impl EndpointConfig {
    pub fn stream_response_timeout(&self) -> Duration {
        self.stream_response_timeout
            .unwrap_or_else(|| self.retransmit.total())
    }
}

#[derive(Clone)]
pub enum AuthConfig {
    /// RFC 7296 §2.15 shared key message integrity code.
    Psk(SecretBytes),
}

impl core::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AuthConfig::Psk(_) => f.write_str("Psk(<redacted>)"),
        }
    }
}

/// Soft and hard lifetimes: rekey at `rekey` minus a random part of `jitter`, give up at
/// `hard` (RFC 7296 §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub rekey: Duration,
    pub jitter: Duration,
    pub hard: Duration,
}

impl Lifetime {
    pub const IKE_DEFAULT: Lifetime = Lifetime {
        rekey: Duration::from_secs(4 * 3600),
        jitter: Duration::from_secs(360),
        hard: Duration::from_secs(4 * 3600 + 600),
    };
    pub const CHILD_DEFAULT: Lifetime = Lifetime {
        rekey: Duration::from_secs(3600),
        jitter: Duration::from_secs(360),
        hard: Duration::from_secs(3600 + 600),
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tunnel,
    /// RFC 7296 §1.3.1 USE_TRANSPORT_MODE.
    Transport,
}

#[derive(Debug, Clone)]
pub struct ChildConfig {
    pub name: String,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub esp_proposals: Vec<ProposalSpec>,
    pub mode: Mode,
    pub lifetime: Lifetime,
    /// Child SA byte and packet soft limits come from the ESP engine, which counts them.
    pub replay_window: u32,
}

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub name: String,
    /// Where to send IKE_SA_INIT when we initiate (usually port 500).
    pub remote: SocketAddr,
    /// Our address for this peer.
    pub local: SocketAddr,
    pub local_id: Id,
    /// The identity the peer must prove; also how a responder picks this config.
    pub remote_id: Id,
    pub auth: AuthConfig,
    pub ike_proposals: Vec<ProposalSpec>,
    pub children: Vec<ChildConfig>,
    pub ike_lifetime: Lifetime,
    /// RFC 7296 §2.4 liveness check after this long without hearing from the peer.
    pub dpd: Option<Duration>,
    /// RFC 7383: announce and use IKE fragmentation.
    pub fragmentation: bool,
}

/// Proposals as strongSwan writes them, for configuration and tests.
pub mod suites {
    use super::*;

    fn t(ty: TransformType, id: TransformId) -> Transform {
        Transform::new(ty, id)
    }

    /// `aes128gcm16-prfsha256-ecp256`
    pub fn ike_aes128gcm16_prfsha256_ecp256() -> ProposalSpec {
        ProposalSpec {
            transforms: vec![
                Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_GCM_16, 128),
                t(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                t(TransformType::KE, TransformId::KE_ECP_256),
            ],
        }
    }

    /// `aes256gcm16-prfsha384-x25519`
    pub fn ike_aes256gcm16_prfsha384_x25519() -> ProposalSpec {
        ProposalSpec {
            transforms: vec![
                Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_GCM_16, 256),
                t(TransformType::PRF, TransformId::PRF_HMAC_SHA2_384),
                t(TransformType::KE, TransformId::KE_CURVE25519),
            ],
        }
    }

    /// `aes256-sha256-modp2048`
    pub fn ike_aes256_sha256_modp2048() -> ProposalSpec {
        ProposalSpec {
            transforms: vec![
                Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_CBC, 256),
                t(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                t(TransformType::INTEG, TransformId::INTEG_HMAC_SHA2_256_128),
                t(TransformType::KE, TransformId::KE_MODP_2048),
            ],
        }
    }

    /// `aes128gcm16` for ESP, with an optional PFS group.
    pub fn esp_aes128gcm16(pfs: Option<TransformId>) -> ProposalSpec {
        let mut transforms = vec![Transform::with_key_length(
            TransformType::ENCR,
            TransformId::ENCR_AES_GCM_16,
            128,
        )];
        transforms.extend(pfs.map(|g| t(TransformType::KE, g)));
        transforms.push(t(TransformType::ESN, TransformId::ESN_NO));
        ProposalSpec { transforms }
    }

    /// `aes128-sha256` for ESP, with an optional PFS group.
    pub fn esp_aes128_sha256(pfs: Option<TransformId>) -> ProposalSpec {
        let mut transforms = vec![
            Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_CBC, 128),
            t(TransformType::INTEG, TransformId::INTEG_HMAC_SHA2_256_128),
        ];
        transforms.extend(pfs.map(|g| t(TransformType::KE, g)));
        transforms.push(t(TransformType::ESN, TransformId::ESN_NO));
        ProposalSpec { transforms }
    }
}
