//! Trusted CAs, chain validation (RFC 4945 §5) and CERTREQ hashes (RFC 7296 §3.7).
//!
//! Validation is rustls-webpki's path building with an IKE policy for extended key usage
//! (RFC 4945 §5.1.3.12): a certificate without the extension is accepted, and one with it
//! must list id-kp-ipsecIKE, serverAuth, clientAuth or anyExtendedKeyUsage. The last three
//! are there because CAs that know nothing of IKE issue them, and strongSwan accepts them
//! too. The check applies to every certificate of the path, as webpki does for TLS.
//!
//! The validation time is a parameter: this crate never reads a clock.
//!
//! What this does not do: revocation (CRL, OCSP) and name constraints on IKE identities.
//! webpki applies name constraints to the SAN DNS names and IP addresses only.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter};

use crate::PkiError;
use crate::cert::Certificate;

/// Most intermediate certificates accepted from a peer. IKE sends each in its own CERT
/// payload, and real chains have one or two; the bound keeps path building cheap for
/// certificates nobody vouched for yet.
pub const MAX_INTERMEDIATES: usize = 6;

/// Length of one CA hash in a CERTREQ (SHA-1, RFC 7296 §3.7).
pub const CERTREQ_HASH_LEN: usize = 20;

/// id-kp-ipsecIKE (RFC 4945 §5.1.3.12), id-kp-serverAuth, id-kp-clientAuth (RFC 5280
/// §4.2.1.12) and anyExtendedKeyUsage, as OID contents.
const ACCEPTED_EKUS: &[&[u8]] = &[
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x11],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    &[0x55, 0x1d, 0x25, 0x00],
];

/// The IKE extended key usage policy.
struct IkeEkuPolicy;

impl ExtendedKeyUsageValidator for IkeEkuPolicy {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut any_present = false;
        for purpose in iter {
            let purpose = purpose?;
            any_present = true;
            if ACCEPTED_EKUS
                .iter()
                .any(|oid| KeyPurposeId::new(oid) == purpose)
            {
                return Ok(());
            }
        }
        if any_present {
            // The context variant cannot be built outside webpki; the error is mapped to
            // PkiError::ExtendedKeyUsage either way.
            #[allow(deprecated)]
            Err(webpki::Error::RequiredEkuNotFound)
        } else {
            Ok(())
        }
    }
}

/// The CAs trusted to certify peers.
#[derive(Clone, Default)]
pub struct TrustStore {
    cas: Vec<Certificate>,
    anchors: Vec<TrustAnchor<'static>>,
}

impl TrustStore {
    /// An empty store, which trusts nobody.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A store with every certificate of the given PEM texts.
    pub fn from_pem<'a>(pems: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, PkiError> {
        let mut store = Self::new();
        for pem in pems {
            for cert in Certificate::all_from_pem(pem)? {
                store.add(cert)?;
            }
        }
        Ok(store)
    }

    /// Adds a CA certificate.
    pub fn add(&mut self, ca: Certificate) -> Result<(), PkiError> {
        let der = CertificateDer::from(ca.der());
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|_| PkiError::MalformedCertificate)?
            .to_owned();
        self.anchors.push(anchor);
        self.cas.push(ca);
        Ok(())
    }

    /// The trusted CA certificates.
    #[must_use]
    pub fn cas(&self) -> &[Certificate] {
        &self.cas
    }

    /// Number of trusted CAs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cas.len()
    }

    /// Whether no CA is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cas.is_empty()
    }

    /// Validates `end_entity` at time `at`, building a path through `intermediates` (in
    /// any order) to one of the trusted CAs.
    ///
    /// Signatures in the path may use any algorithm webpki verifies with aws-lc-rs
    /// (ECDSA P-256/P-384/P-521, Ed25519, RSA PKCS#1 v1.5 and PSS of 2048 bits or more).
    pub fn validate(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        at: SystemTime,
    ) -> Result<(), PkiError> {
        if intermediates.len() > MAX_INTERMEDIATES {
            return Err(PkiError::ChainTooLong);
        }
        let since_epoch = at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| PkiError::InvalidTime)?;
        let time = UnixTime::since_unix_epoch(since_epoch);
        let ee_der = CertificateDer::from(end_entity.der());
        let ee = EndEntityCert::try_from(&ee_der).map_err(map_webpki_error)?;
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|cert| CertificateDer::from(cert.der()))
            .collect();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.anchors,
            &intermediates,
            time,
            IkeEkuPolicy,
            None,
            None,
        )
        .map(|_| ())
        .map_err(map_webpki_error)
    }

    /// The CERTREQ Certification Authority hashes for the trusted CAs (RFC 7296 §3.7).
    #[must_use]
    pub fn certreq_hashes(&self) -> Vec<[u8; CERTREQ_HASH_LEN]> {
        self.cas.iter().map(Certificate::spki_sha1).collect()
    }

    /// The body of a CERTREQ payload naming every trusted CA (encoding 4, X.509
    /// signature), the hashes concatenated.
    #[must_use]
    pub fn certreq_data(&self) -> Vec<u8> {
        self.certreq_hashes().concat()
    }

    /// Whether a hash from a peer's CERTREQ names one of the trusted CAs.
    #[must_use]
    pub fn ca_matches(&self, hash: &[u8]) -> bool {
        self.cas.iter().any(|ca| ca.spki_sha1() == hash)
    }
}

impl core::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TrustStore")
            .field("cas", &self.cas)
            .finish()
    }
}

/// Splits a received CERTREQ Certification Authority field into SHA-1 hashes.
pub fn parse_certreq_hashes(data: &[u8]) -> Result<Vec<[u8; CERTREQ_HASH_LEN]>, PkiError> {
    let chunks = data.chunks_exact(CERTREQ_HASH_LEN);
    if !chunks.remainder().is_empty() {
        return Err(PkiError::MalformedCertReq);
    }
    Ok(chunks
        .map(|chunk| {
            let mut hash = [0u8; CERTREQ_HASH_LEN];
            hash.copy_from_slice(chunk);
            hash
        })
        .collect())
}

fn map_webpki_error(error: webpki::Error) -> PkiError {
    #[allow(deprecated)]
    match error {
        webpki::Error::UnknownIssuer => PkiError::UnknownIssuer,
        webpki::Error::CertExpired { .. } => PkiError::Expired,
        webpki::Error::CertNotValidYet { .. } => PkiError::NotYetValid,
        webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
            PkiError::ExtendedKeyUsage
        }
        webpki::Error::MaximumPathDepthExceeded
        | webpki::Error::MaximumPathBuildCallsExceeded
        | webpki::Error::MaximumSignatureChecksExceeded => PkiError::ChainTooLong,
        other => PkiError::InvalidChain(format!("{other:?}")),
    }
}
