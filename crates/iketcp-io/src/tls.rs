//! RFC 9329 Appendix A and draft-ietf-ipsecme-tcp-encaps-05 Appendix B: the stream,
//! prefix first, inside TLS, so that IKE and ESP pass where only HTTPS does (R-TLS-1).
//!
//! - IKE authenticates the peers, so TLS only has to look like HTTPS and keep the
//!   stream private: the server asks for no client certificate, and the client checks
//!   the server's certificate as configured (a CA, a pinned SHA-256 fingerprint, or not
//!   at all).
//! - TLS 1.3, or 1.2 as well when configured; the aws-lc-rs provider.
//! - A client keeps its session tickets per peer, so a reconnect after a reset resumes
//!   the session instead of a full handshake (R-TLS-3).

use std::io;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn};

/// How much sealed TLS a connection may hold beyond what its socket took: records are
/// sealed ahead while the socket drains, not only once it has room.
const SEAL_AHEAD: usize = 1 << 20;

/// Why TLS settings could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{file}: {source}")]
    File { file: String, source: io::Error },
    #[error("{file}: no PEM {what} in it")]
    Pem { file: String, what: &'static str },
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("server name {0:?} is neither a DNS name nor an address")]
    ServerName(String),
    #[error("certificate generation: {0}")]
    Generate(String),
}

/// How a client checks the TLS server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Chains to one of these CA certificates and names the server.
    Ca(Vec<CertificateDer<'static>>),
    /// Its SHA-256 is this (of the end-entity certificate's DER).
    Pin([u8; 32]),
    /// Anything: IKE authenticates the peer; TLS only hides the stream.
    None,
}

/// Which TLS versions are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    #[default]
    Tls13,
    Tls12,
}

impl MinVersion {
    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static BOTH: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        match self {
            MinVersion::Tls13 => &TLS13,
            MinVersion::Tls12 => &BOTH,
        }
    }
}

/// aws-lc-rs with AES-128-GCM preferred: IKE and ESP inside already protect what the
/// stream carries, TLS only makes it look like HTTPS, so its cheapest strong cipher is
/// the right one (each byte goes through it once more in each direction).
fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    let rank = |s: &rustls::SupportedCipherSuite| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 1,
        _ => 2,
    };
    p.cipher_suites.sort_by_key(rank);
    Arc::new(p)
}

/// A TLS client for one peer: its configuration (and so its session cache, kept across
/// reconnects) and the name it asks for.
#[derive(Clone)]
pub struct ClientSettings {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    verify: &'static str,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("server_name", &self.server_name)
            .field("verify", &self.verify)
            .field("alpn", &self.config.alpn_protocols)
            .finish()
    }
}

impl ClientSettings {
    /// `server_name` is sent as SNI when it is a DNS name; without one the peer's address
    /// names the server (no SNI is sent for an address).
    pub fn new(
        verify: Verify,
        server_name: Option<&str>,
        peer: std::net::IpAddr,
        alpn: &[String],
        min: MinVersion,
    ) -> Result<ClientSettings, TlsError> {
        let server_name = match server_name {
            Some(n) => ServerName::try_from(n.to_string())
                .map_err(|_| TlsError::ServerName(n.to_string()))?,
            None => ServerName::IpAddress(peer.into()),
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(min.versions())?;
        let algs = provider().signature_verification_algorithms;
        let (builder, what) = match verify {
            Verify::Ca(cas) => {
                let mut roots = RootCertStore::empty();
                for c in cas {
                    roots.add(c)?;
                }
                (builder.with_root_certificates(roots), "ca")
            }
            Verify::Pin(sha256) => (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Pinned {
                        sha256: Some(sha256),
                        algs,
                    })),
                "pin",
            ),
            Verify::None => (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Pinned { sha256: None, algs })),
                "none",
            ),
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(ClientSettings {
            config: Arc::new(config),
            server_name,
            verify: what,
        })
    }

    /// Runs the handshake over `io`. Logs whether the session was resumed.
    pub async fn connect<S>(&self, io: S) -> io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if self.verify == "none" {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                warn!("TLS server certificates are not checked (tls_verify = \"none\"): IKE authenticates the peer, TLS only hides the stream");
            });
        }
        let mut s = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(self.server_name.clone(), io)
            .await?;
        s.get_mut().1.set_buffer_limit(Some(SEAL_AHEAD));
        let c = s.get_ref().1;
        let resumed = c.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        info!(
            "TLS {:?} with {}: {}",
            c.protocol_version()
                .map_or("?".into(), |v| format!("{v:?}")),
            self.server_name.to_str(),
            if resumed {
                "session resumed"
            } else {
                "full handshake"
            }
        );
        Ok(s)
    }
}

/// A pinned (or unchecked) server certificate. Handshake signatures are still verified:
/// the server proves it holds the certificate's key.
#[derive(Debug)]
struct Pinned {
    sha256: Option<[u8; 32]>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.sha256 {
            None => Ok(ServerCertVerified::assertion()),
            Some(pin) => {
                let got = digest(&SHA256, end_entity);
                verify_slices_are_equal(got.as_ref(), pin)
                    .map(|()| ServerCertVerified::assertion())
                    .map_err(|_| {
                        rustls::Error::InvalidCertificate(
                            rustls::CertificateError::ApplicationVerificationFailure,
                        )
                    })
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The TLS server of the listening ports: one certificate, no client authentication.
#[derive(Clone)]
pub struct ServerSettings {
    config: Arc<ServerConfig>,
    /// SHA-256 of the certificate: what a client pins.
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("fingerprint", &hex(&self.fingerprint))
            .field("alpn", &self.config.alpn_protocols)
            .finish()
    }
}

impl PartialEq for ServerSettings {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ServerSettings {}

impl ServerSettings {
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        alpn: &[String],
        min: MinVersion,
    ) -> Result<ServerSettings, TlsError> {
        let fingerprint = chain.first().map_or([0; 32], |c| sha256(c));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(min.versions())?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(ServerSettings {
            config: Arc::new(config),
            fingerprint,
        })
    }

    /// Reads the certificate chain and key at `cert` and `key`; when neither exists,
    /// makes a self-signed certificate for `names` and keeps it there (the key readable
    /// by its owner only), so clients can pin it across restarts.
    pub fn load_or_generate(
        cert: &Path,
        key: &Path,
        names: &[String],
        alpn: &[String],
        min: MinVersion,
    ) -> Result<ServerSettings, TlsError> {
        if !cert.exists() && !key.exists() {
            generate(cert, key, names)?;
            info!("made a self-signed TLS certificate: {}", cert.display());
        }
        let file = |p: &Path| p.display().to_string();
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem_error(cert, e, "CERTIFICATE"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(cert, e, "CERTIFICATE"))?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                file: file(cert),
                what: "CERTIFICATE",
            });
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e, "PRIVATE KEY"))?;
        let s = ServerSettings::new(chain, key, alpn, min)?;
        info!("TLS certificate sha256:{}", hex(&s.fingerprint));
        Ok(s)
    }

    /// Runs the server side of the handshake over `io`.
    pub async fn accept<S>(&self, io: S) -> io::Result<tokio_rustls::server::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut s = tokio_rustls::TlsAcceptor::from(self.config.clone())
            .accept(io)
            .await?;
        s.get_mut().1.set_buffer_limit(Some(SEAL_AHEAD));
        Ok(s)
    }
}

fn pem_error(p: &Path, e: rustls::pki_types::pem::Error, what: &'static str) -> TlsError {
    match e {
        rustls::pki_types::pem::Error::Io(source) => TlsError::File {
            file: p.display().to_string(),
            source,
        },
        _ => TlsError::Pem {
            file: p.display().to_string(),
            what,
        },
    }
}

fn generate(cert: &Path, key: &Path, names: &[String]) -> Result<(), TlsError> {
    let g = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let write = |p: &Path, text: String, mode: u32| -> Result<(), TlsError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let err = |source| TlsError::File {
            file: p.display().to_string(),
            source,
        };
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(p)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(err)
    };
    write(key, g.signing_key.serialize_pem(), 0o600)?;
    write(cert, g.cert.pem(), 0o644)
}

/// SHA-256 of a certificate's DER, as pinned.
pub fn sha256(cert: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, cert).as_ref());
    out
}

/// Lower-case hex, as fingerprints are written in the configuration.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the first byte of a stream opens a TLS handshake (a TLS record of type
/// handshake, 22): how a port that takes both tells TLS from the RFC 9329 prefix,
/// whose first byte is `I`.
pub fn looks_like_tls(first: u8) -> bool {
    first == 0x16
}
