//! X.509 certificates as IKEv2 carries them in CERT payloads (RFC 7296 §3.6, encoding 4),
//! and the binding of an IKE identity to a certificate (RFC 4945 §3.1).
//!
//! A [`Certificate`] is parsed once, when it is made, and keeps the fields IKE needs as
//! owned values, so its accessors cannot fail later. The identity rules:
//! - ID_FQDN, ID_RFC822_ADDR, ID_IPV4_ADDR and ID_IPV6_ADDR must equal a subjectAltName
//!   of the same kind; DNS names and e-mail addresses compare without regard to ASCII
//!   case, as strongSwan's `equals_strcasecmp` does. The subject CN is never consulted:
//!   RFC 4945 puts these identities in subjectAltName, and strongSwan does not fall
//!   back to the CN either.
//! - ID_DER_ASN1_DN must equal the subject, compared attribute by attribute
//!   ([`dn_equal`]).
//! - ID_KEY_ID has no standard binding; like strongSwan, it matches the
//!   subjectKeyIdentifier or the SHA-1 of the SubjectPublicKeyInfo or of the key.

use std::net::IpAddr;

use aws_lc_rs::digest;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::PkiError;
use crate::identity::{Identity, dn_equal};
use crate::key::{EcCurve, PublicKeyAlgorithm};

/// Named-curve OID contents (RFC 5480 §2.1.1.1).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// A parsed X.509 certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    spki: Vec<u8>,
    public_key: Vec<u8>,
    algorithm: PublicKeyAlgorithm,
    dns_names: Vec<String>,
    rfc822_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    subject_key_id: Option<Vec<u8>>,
    signing_allowed: bool,
}

impl Certificate {
    /// Parses a DER certificate; trailing bytes are refused.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, PkiError> {
        let der = der.into();
        let parsed = match X509Certificate::from_der(&der) {
            Ok(([], cert)) => Fields::read(&cert)?,
            _ => return Err(PkiError::MalformedCertificate),
        };
        Ok(Self {
            der,
            subject: parsed.subject,
            issuer: parsed.issuer,
            spki: parsed.spki,
            public_key: parsed.public_key,
            algorithm: parsed.algorithm,
            dns_names: parsed.dns_names,
            rfc822_names: parsed.rfc822_names,
            ip_addresses: parsed.ip_addresses,
            subject_key_id: parsed.subject_key_id,
            signing_allowed: parsed.signing_allowed,
        })
    }

    /// The first certificate in PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, PkiError> {
        let der = CertificateDer::from_pem_slice(pem).map_err(|_| PkiError::Pem("certificate"))?;
        Self::from_der(der.as_ref())
    }

    /// Every certificate in PEM text, in order; at least one must be present.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, PkiError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .map(|der| {
                der.map_err(|_| PkiError::Pem("certificate"))
                    .and_then(|der| Self::from_der(der.as_ref()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(PkiError::Pem("certificate"));
        }
        Ok(certs)
    }

    /// The DER encoding, as a CERT payload carries it.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject Name as DER (the ID_DER_ASN1_DN form).
    #[must_use]
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The issuer Name as DER.
    #[must_use]
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The subject as an identity, for sending ID_DER_ASN1_DN.
    #[must_use]
    pub fn subject_identity(&self) -> Identity {
        Identity::Dn(self.subject.clone())
    }

    /// The DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-1 of the SubjectPublicKeyInfo: how a CERTREQ names this certificate when it is
    /// a CA (RFC 7296 §3.7).
    #[must_use]
    pub fn spki_sha1(&self) -> [u8; 20] {
        sha1(&self.spki)
    }

    /// The subjectPublicKey contents (uncompressed point, raw Ed25519 key or DER
    /// `RSAPublicKey`).
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The public key's algorithm.
    #[must_use]
    pub fn public_key_algorithm(&self) -> PublicKeyAlgorithm {
        self.algorithm.clone()
    }

    /// The dNSName subjectAltNames.
    #[must_use]
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The rfc822Name subjectAltNames.
    #[must_use]
    pub fn rfc822_names(&self) -> &[String] {
        &self.rfc822_names
    }

    /// The iPAddress subjectAltNames (entries of other lengths are skipped).
    #[must_use]
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }

    /// Whether keyUsage, if present, allows signing (digitalSignature or
    /// nonRepudiation, RFC 4945 §5.1.3.2, as strongSwan's `X509_IKE_COMPLIANT`).
    #[must_use]
    pub fn signing_allowed(&self) -> bool {
        self.signing_allowed
    }

    /// Whether `identity` names this certificate's subject (see the module documentation).
    #[must_use]
    pub fn matches_identity(&self, identity: &Identity) -> bool {
        match identity {
            Identity::Fqdn(name) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                self.dns_names.iter().any(|san| {
                    san.strip_suffix('.')
                        .unwrap_or(san)
                        .eq_ignore_ascii_case(name)
                })
            }
            Identity::Rfc822(address) => self
                .rfc822_names
                .iter()
                .any(|san| san.eq_ignore_ascii_case(address)),
            Identity::Ipv4(addr) => self.ip_addresses.contains(&IpAddr::V4(*addr)),
            Identity::Ipv6(addr) => self.ip_addresses.contains(&IpAddr::V6(*addr)),
            Identity::Dn(der) => dn_equal(der, &self.subject),
            Identity::KeyId(key_id) => {
                self.subject_key_id.as_deref() == Some(key_id.as_slice())
                    || key_id.as_slice() == self.spki_sha1()
                    || key_id.as_slice() == sha1(&self.public_key)
            }
        }
    }
}

impl core::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &Identity::Dn(self.subject.clone()).to_string())
            .field("algorithm", &self.algorithm)
            .field("dns_names", &self.dns_names)
            .finish_non_exhaustive()
    }
}

pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let digest = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The owned fields of a certificate, read while x509-parser's borrowed view is alive.
struct Fields {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    spki: Vec<u8>,
    public_key: Vec<u8>,
    algorithm: PublicKeyAlgorithm,
    dns_names: Vec<String>,
    rfc822_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    subject_key_id: Option<Vec<u8>>,
    signing_allowed: bool,
}

impl Fields {
    fn read(cert: &X509Certificate<'_>) -> Result<Self, PkiError> {
        let spki = cert.public_key();
        let algorithm = key_algorithm(cert)?;
        let mut dns_names = Vec::new();
        let mut rfc822_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|_| PkiError::MalformedCertificate)?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                GeneralName::RFC822Name(address) => rfc822_names.push((*address).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ip_addresses.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ip_addresses.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
        let signing_allowed = cert
            .key_usage()
            .map_err(|_| PkiError::MalformedCertificate)?
            .is_none_or(|ku| ku.value.digital_signature() || ku.value.non_repudiation());
        let subject_key_id =
            cert.extensions()
                .iter()
                .find_map(|ext| match ext.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                    _ => None,
                });
        Ok(Self {
            subject: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            spki: spki.raw.to_vec(),
            public_key: spki.subject_public_key.data.to_vec(),
            algorithm,
            dns_names,
            rfc822_names,
            ip_addresses,
            subject_key_id,
            signing_allowed,
        })
    }
}

fn key_algorithm(cert: &X509Certificate<'_>) -> Result<PublicKeyAlgorithm, PkiError> {
    let spki = cert.public_key();
    let oid = &spki.algorithm.algorithm;
    if *oid == OID_PKCS1_RSAENCRYPTION {
        return match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => Ok(PublicKeyAlgorithm::Rsa {
                // key_size() is bits of a modulus that fits in a certificate.
                bits: u32::try_from(rsa.key_size()).map_err(|_| PkiError::MalformedCertificate)?,
            }),
            _ => Err(PkiError::MalformedCertificate),
        };
    }
    if *oid == OID_SIG_ED25519 {
        return Ok(PublicKeyAlgorithm::Ed25519);
    }
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|params| params.as_oid().ok());
        return Ok(match curve.as_ref().map(|c| c.as_bytes()) {
            Some(OID_P256) => PublicKeyAlgorithm::Ecdsa(EcCurve::P256),
            Some(OID_P384) => PublicKeyAlgorithm::Ecdsa(EcCurve::P384),
            Some(OID_P521) => PublicKeyAlgorithm::Ecdsa(EcCurve::P521),
            Some(_) | None => PublicKeyAlgorithm::Other(match curve {
                Some(curve) => format!("{oid} {curve}"),
                None => oid.to_id_string(),
            }),
        });
    }
    Ok(PublicKeyAlgorithm::Other(oid.to_id_string()))
}
