//! What the engine is told: endpoint-wide settings and one [`PeerConfig`] per connection.

use core::net::SocketAddr;
use core::time::Duration;
use std::sync::Arc;
use std::time::SystemTime;

use iketcp_crypto::SecretBytes;
use iketcp_wire::ike::{Id, NotifyType, TrafficSelector, Transform, TransformId, TransformType};

use crate::proposal::ProposalSpec;

// What an `AuthConfig::Pubkey` is made of, and the mapping between `Identity` and the ID
// payload, so that a caller configures certificates without naming `iketcp-pki`.
pub use crate::auth::{id_from_identity, identity_from_id};
pub use iketcp_pki::{Certificate, Identity, PkiError, PrivateKey, RsaPadding, TrustStore};

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
    /// How long one cookie secret is used (RFC 7296 §2.6: change it frequently); a
    /// cookie made with the previous secret stays valid for one more period.
    pub cookie_secret_lifetime: Duration,
    /// Most half-open IKE SAs in all. A cookie proves only that its sender receives at
    /// its address; beyond this, IKE_SA_INIT requests are dropped, cookie or not.
    pub half_open_limit: usize,
    /// Most half-open IKE SAs from one IP address; its further IKE_SA_INIT requests are
    /// dropped until some complete or time out.
    pub half_open_per_source: usize,
    /// The largest IKE_SA_INIT request answered: a half-open SA keeps it for the AUTH
    /// payload. strongSwan sends at most 10000 bytes in any IKE message.
    pub max_init_request: usize,
    /// Most Child SAs one IKE SA carries; a request for another is answered with
    /// NO_ADDITIONAL_SAS (RFC 7296 §1.3). Rekeys are always allowed.
    pub max_children: usize,
    /// RFC 7383: the largest IKE datagram sent before fragmenting (over UDP only).
    pub fragment_size: usize,
    /// Most fragments accepted for one message (RFC 7383 §2.6 leaves the bound to us).
    pub max_fragments: u16,
    /// R-SEP-1: SEPARATE_TRANSPORTS has no IANA number yet.
    pub separate_transports_notify: NotifyType,
    /// Calendar time for certificate validity; see [`WallClock`].
    pub wall_clock: WallClock,
    /// The data plane can carry ESP as IP protocol 50 (RFC 4303 without RFC 3948): NAT
    /// detection is honest and ESP over UDP paths goes raw where no NAT is seen. Off, our
    /// NAT_DETECTION_SOURCE_IP is faked so that both sides always UDP-encapsulate ESP,
    /// as a data plane that owns only UDP sockets needs.
    pub raw_esp: bool,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            retransmit: Retransmit::default(),
            stream_response_timeout: None,
            half_open_timeout: Duration::from_secs(30),
            cookie_threshold: 1000,
            cookie_secret_lifetime: Duration::from_secs(60),
            half_open_limit: 10_000,
            half_open_per_source: 32,
            max_init_request: 10_000,
            max_children: 128,
            fragment_size: 1280,
            max_fragments: 64,
            separate_transports_notify: NotifyType::SEPARATE_TRANSPORTS_DEFAULT,
            wall_clock: WallClock::system(),
            raw_esp: false,
        }
    }
}

impl EndpointConfig {
    pub fn stream_response_timeout(&self) -> Duration {
        self.stream_response_timeout
            .unwrap_or_else(|| self.retransmit.total())
    }
}

/// Where the engine gets calendar time, which only certificate validation needs (RFC
/// 5280 §6.1.3: every certificate of the path must be valid at the time of checking).
///
/// The engine reads no clock of its own: timers run on the monotonic `now` of each input,
/// and this source is asked once per certificate chain a peer presents in IKE_AUTH. The
/// default is the system clock; tests inject a fixed time ([`WallClock::fixed`]).
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl WallClock {
    /// The operating system's clock, [`SystemTime::now`].
    pub fn system() -> Self {
        Self(Arc::new(SystemTime::now))
    }

    /// Always `at`.
    pub fn fixed(at: SystemTime) -> Self {
        Self(Arc::new(move || at))
    }

    /// Any source, e.g. a clock a simulation advances.
    pub fn from_fn(f: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The current calendar time by this source.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl core::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("WallClock")
    }
}

/// How we prove our identity in IKE_AUTH and how the peer must prove its own (RFC 7296
/// §2.15). Both sides use the same method.
#[derive(Clone)]
pub enum AuthConfig {
    /// RFC 7296 §2.15 shared key message integrity code.
    Psk(SecretBytes),
    /// RFC 7296 §2.15 signatures with X.509 certificates: RFC 7427 Digital Signature
    /// (method 14) when the peer announced SIGNATURE_HASH_ALGORITHMS, else the RFC 4754
    /// ECDSA methods (RSA and Ed25519 keys need RFC 7427).
    Pubkey {
        /// Our private key, shared between clones of the configuration; its `Debug`
        /// names the algorithm only.
        key: Arc<PrivateKey>,
        /// Our certificate first, then intermediates, each sent in a CERT payload
        /// (X509_SIGNATURE).
        cert_chain: Vec<Certificate>,
        /// The CAs that may certify the peer; named in our CERTREQ (RFC 7296 §3.7).
        trust: TrustStore,
        /// The RSA scheme we sign with in method 14; ignored for other keys. Any scheme
        /// the peer signs with is accepted.
        rsa_padding: RsaPadding,
    },
}

impl AuthConfig {
    /// A certificate configuration signing RSA with PKCS#1 v1.5. Refuses an empty chain
    /// and a key that is not the one in the first certificate.
    pub fn pubkey(
        key: PrivateKey,
        cert_chain: Vec<Certificate>,
        trust: TrustStore,
    ) -> Result<Self, PkiError> {
        if !cert_chain
            .first()
            .is_some_and(|c| key.matches_certificate(c))
        {
            return Err(PkiError::KeyMismatch);
        }
        Ok(AuthConfig::Pubkey {
            key: Arc::new(key),
            cert_chain,
            trust,
            rsa_padding: RsaPadding::Pkcs1,
        })
    }

    /// The same configuration signing RSA with `padding` (no change for a PSK).
    #[must_use]
    pub fn with_rsa_padding(mut self, padding: RsaPadding) -> Self {
        if let AuthConfig::Pubkey { rsa_padding, .. } = &mut self {
            *rsa_padding = padding;
        }
        self
    }

    /// Whether this is a signature configuration (and so announces
    /// SIGNATURE_HASH_ALGORITHMS).
    pub fn is_pubkey(&self) -> bool {
        matches!(self, AuthConfig::Pubkey { .. })
    }
}

impl core::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AuthConfig::Psk(_) => f.write_str("Psk(<redacted>)"),
            AuthConfig::Pubkey {
                key,
                cert_chain,
                trust,
                rsa_padding,
            } => f
                .debug_struct("Pubkey")
                .field("key", &key.algorithm())
                .field("cert_chain", cert_chain)
                .field("trust", trust)
                .field("rsa_padding", rsa_padding)
                .finish(),
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

/// R-CFG-1: whether IKE and ESP travel over TCP (RFC 9329). Configured, never
/// negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpMode {
    /// UDP only.
    #[default]
    No,
    /// TCP only: for networks known to block UDP (R-FB-3).
    Yes,
    /// UDP first; TCP after `fallback_delay` without an answer (R-FB-1), by a new
    /// IKE_SA_INIT with a new SPI (R-FB-2).
    Fallback,
}

/// How a peer is reached over TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    pub mode: TcpMode,
    /// The peer's TCP port (RFC 9329 §2: 4500 unless configured).
    pub remote_port: u16,
    /// With [`TcpMode::Fallback`]: how long IKE_SA_INIT over UDP may go unanswered. The
    /// first UDP retransmission comes at half of it, so at least one is always sent
    /// before TCP (R-FB-1).
    pub fallback_delay: Duration,
    /// With [`TcpMode::Fallback`] and MOBIKE: while the IKE SA runs over TCP, how often
    /// the initiator asks over UDP whether UDP works again (R-FB-4). Each unanswered
    /// probe doubles the wait, up to eight times this.
    pub udp_probe_interval: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            mode: TcpMode::No,
            remote_port: 4500,
            fallback_delay: Duration::from_secs(1),
            udp_probe_interval: Duration::from_secs(30),
        }
    }
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
    /// RFC 9329: UDP, TCP, or UDP then TCP.
    pub tcp: TcpConfig,
    /// RFC 4555: announce MOBIKE. With it the initiator moves the IKE SA and its Child
    /// SAs to new addresses and between UDP and TCP, and back to UDP (R-FB-4).
    pub mobike: bool,
    /// Initiator: virtual addresses to ask for in IKE_AUTH (RFC 7296 §2.19), one per IP
    /// version; the unspecified address asks for any. What the peer assigns restricts
    /// our side of every Child SA.
    pub vips: Vec<core::net::IpAddr>,
    /// Responder: where the addresses asked for come from; a lease restricts the peer's
    /// side of every Child SA to it.
    pub pools: Vec<crate::vip::AddressPool>,
}

/// Proposals as strongSwan writes them, for configuration and tests.
pub mod suites {
    use super::*;

    /// The default IKE proposal: one proposal of AEADs, strong PRFs and elliptic-curve
    /// groups, X25519 first, and a second with MODP-2048 and AES-CBC for older peers.
    pub fn default_ike() -> Vec<ProposalSpec> {
        vec![
            ProposalSpec {
                transforms: vec![
                    Transform::with_key_length(
                        TransformType::ENCR,
                        TransformId::ENCR_AES_GCM_16,
                        256,
                    ),
                    Transform::with_key_length(
                        TransformType::ENCR,
                        TransformId::ENCR_AES_GCM_16,
                        128,
                    ),
                    t(TransformType::ENCR, TransformId::ENCR_CHACHA20_POLY1305),
                    t(TransformType::PRF, TransformId::PRF_HMAC_SHA2_384),
                    t(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                    t(TransformType::PRF, TransformId::PRF_HMAC_SHA2_512),
                    t(TransformType::KE, TransformId::KE_CURVE25519),
                    t(TransformType::KE, TransformId::KE_ECP_256),
                    t(TransformType::KE, TransformId::KE_ECP_384),
                ],
            },
            ike_aes256_sha256_modp2048(),
        ]
    }

    /// The default ESP proposal: AES-GCM or ChaCha20-Poly1305, PFS with the IKE defaults'
    /// groups, no ESN; then AES-CBC with HMAC-SHA-256.
    pub fn default_esp() -> Vec<ProposalSpec> {
        vec![
            ProposalSpec {
                transforms: vec![
                    Transform::with_key_length(
                        TransformType::ENCR,
                        TransformId::ENCR_AES_GCM_16,
                        256,
                    ),
                    Transform::with_key_length(
                        TransformType::ENCR,
                        TransformId::ENCR_AES_GCM_16,
                        128,
                    ),
                    t(TransformType::ENCR, TransformId::ENCR_CHACHA20_POLY1305),
                    t(TransformType::KE, TransformId::KE_CURVE25519),
                    t(TransformType::KE, TransformId::KE_ECP_256),
                    t(TransformType::ESN, TransformId::ESN_NO),
                ],
            },
            esp_aes128_sha256(Some(TransformId::KE_ECP_256)),
        ]
    }

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

    /// `aes256-sha256` for ESP, with an optional PFS group: AES-CBC-256 with
    /// HMAC-SHA2-256-128, libreswan's `esp=aes256-sha2_256` (`aes256-sha256-modp2048`
    /// with MODP-2048, the group its Child rekeys use with `pfs=yes`).
    pub fn esp_aes256_sha256(pfs: Option<TransformId>) -> ProposalSpec {
        let mut transforms = vec![
            Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_CBC, 256),
            t(TransformType::INTEG, TransformId::INTEG_HMAC_SHA2_256_128),
        ];
        transforms.extend(pfs.map(|g| t(TransformType::KE, g)));
        transforms.push(t(TransformType::ESN, TransformId::ESN_NO));
        ProposalSpec { transforms }
    }
}
