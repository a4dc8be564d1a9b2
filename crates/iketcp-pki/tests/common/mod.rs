//! Test PKI made with rcgen: CAs, intermediates and end-entity certificates of every key
//! type the crate handles.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iketcp_pki::{Certificate, PrivateKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, RsaKeySize, SanType,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    P256,
    P384,
    P521,
    Ed25519,
    Rsa2048,
    Rsa3072,
}

impl Alg {
    pub const ALL: [Alg; 6] = [
        Alg::P256,
        Alg::P384,
        Alg::P521,
        Alg::Ed25519,
        Alg::Rsa2048,
        Alg::Rsa3072,
    ];

    fn generate(self) -> KeyPair {
        match self {
            Alg::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Alg::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            Alg::P521 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
            Alg::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
            Alg::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
            Alg::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
        }
        .expect("key generation")
    }

    /// Key number `slot` of this type, shared by the tests of one binary: RSA key
    /// generation is slow in debug builds.
    pub fn key(self, slot: u8) -> KeyPair {
        static KEYS: OnceLock<Mutex<HashMap<(Alg, u8), String>>> = OnceLock::new();
        let keys = KEYS.get_or_init(Default::default);
        let pem = keys
            .lock()
            .unwrap()
            .entry((self, slot))
            .or_insert_with(|| self.generate().serialize_pem())
            .clone();
        KeyPair::from_pem(&pem).expect("cached key")
    }
}

/// January 1st of `year`, 00:00 UTC.
pub fn at(year: i32) -> SystemTime {
    let secs = rcgen::date_time_ymd(year, 1, 1).unix_timestamp();
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

pub struct Ca {
    pub cert: Certificate,
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(cn: &str, alg: Alg) -> Ca {
        Self::build(cn, alg, None)
    }

    /// A CA certified by this one.
    pub fn intermediate(&self, cn: &str, alg: Alg) -> Ca {
        Self::build(cn, alg, Some(self))
    }

    fn build(cn: &str, alg: Alg, parent: Option<&Ca>) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let key = alg.key(200);
        let cert = match parent {
            Some(parent) => params.signed_by(&key, &parent.issuer),
            None => params.self_signed(&key),
        }
        .expect("CA certificate");
        Ca {
            cert: Certificate::from_der(cert.der().to_vec()).expect("parse CA"),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn issue(&self, spec: &EeSpec) -> Issued {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&spec.cn);
        params.subject_alt_names = spec
            .dns
            .iter()
            .map(|name| SanType::DnsName(name.as_str().try_into().unwrap()))
            .chain(
                spec.emails
                    .iter()
                    .map(|mail| SanType::Rfc822Name(mail.as_str().try_into().unwrap())),
            )
            .chain(spec.ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        params.key_usages = spec.key_usages.clone();
        params.extended_key_usages = spec.ekus.clone();
        params.not_before = rcgen::date_time_ymd(spec.not_before, 1, 1);
        params.not_after = rcgen::date_time_ymd(spec.not_after, 1, 1);
        let key = spec.alg.key(spec.key_slot);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("end-entity certificate");
        let key_pem = key.serialize_pem();
        Issued {
            cert: Certificate::from_der(cert.der().to_vec()).expect("parse end entity"),
            key: PrivateKey::from_pem(key_pem.as_bytes()).expect("load key"),
            pem: cert.pem(),
            key_pem,
        }
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CH");
    dn.push(DnType::OrganizationName, "iketcp-test");
    dn.push(DnType::CommonName, cn);
    dn
}

#[derive(Clone)]
pub struct EeSpec {
    pub alg: Alg,
    pub key_slot: u8,
    pub cn: String,
    pub dns: Vec<String>,
    pub emails: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub ekus: Vec<ExtendedKeyUsagePurpose>,
    pub not_before: i32,
    pub not_after: i32,
}

impl EeSpec {
    /// A certificate valid 2020–2030 with one DNS SAN, digitalSignature and no EKU.
    pub fn new(alg: Alg, dns: &str) -> EeSpec {
        EeSpec {
            alg,
            key_slot: 0,
            cn: dns.to_owned(),
            dns: vec![dns.to_owned()],
            emails: Vec::new(),
            ips: Vec::new(),
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            ekus: Vec::new(),
            not_before: 2020,
            not_after: 2030,
        }
    }
}

pub struct Issued {
    pub cert: Certificate,
    pub key: PrivateKey,
    pub pem: String,
    pub key_pem: String,
}
