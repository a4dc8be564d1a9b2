//! The strongSwan interop fixture's test PKI (shared/interop/strongswan/gen-certs.sh),
//! made by OpenSSL: its certificates validate, its IDs match, its keys load, and
//! signatures cross between this crate and OpenSSL in both directions.
//!
//! Needs `openssl` and the shared folder beside the repository. Without them the test is
//! skipped with a printed reason, except under CI=true, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use iketcp_pki::{
    AuthScheme, Certificate, DigitalSignature, Identity, PkiError, PrivateKey, PssParams,
    SignatureAlgorithm, SignatureHash, TrustStore, auth_method, verify_auth,
};

const OCTETS: &[u8] = b"RealMessage1 | NonceRData | MACedIDForI";

/// Skips (or fails under CI=true) with a reason.
fn skip(test: &str, reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run under CI: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

fn script() -> PathBuf {
    match std::env::var_os("IKETCP_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
    .join("interop/strongswan/gen-certs.sh")
}

/// A fresh directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        // Short: the fixture refuses run folders longer than 90 characters.
        let path = PathBuf::from(format!(
            "/tmp/iketcp-pki-{}-{nanos}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn strongswan_pki() {
    let script = script();
    if !script.is_file() {
        return skip("strongswan_pki", &format!("{} not found", script.display()));
    }
    if !openssl(&["version"]) {
        return skip("strongswan_pki", "openssl is not installed");
    }
    let run = TempDir::new();
    let status = Command::new("bash")
        .arg(&script)
        .env("IKETCP_INTEROP_RUN", &run.0)
        .output()
        .expect("run gen-certs.sh");
    assert!(
        status.status.success(),
        "gen-certs.sh failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let pki = run.0.join("strongswan/pki");
    let read = |name: &str| std::fs::read(pki.join(name)).unwrap();
    let cert = |name: &str| Certificate::from_pem(&read(name)).unwrap();
    let key = |name: &str| PrivateKey::from_pem(&read(name)).unwrap();

    let trust = TrustStore::from_pem([&read("ca-ecdsa.pem")[..], &read("ca-rsa.pem")[..]]).unwrap();
    let ecdsa_only = TrustStore::from_pem([&read("ca-ecdsa.pem")[..]]).unwrap();
    let now = SystemTime::now();

    let a_ecdsa = cert("a-ecdsa.pem");
    let a_rsa = cert("a-rsa.pem");
    trust.validate(&a_ecdsa, &[], now).unwrap();
    trust.validate(&a_rsa, &[], now).unwrap();
    trust.validate(&cert("b-ecdsa.pem"), &[], now).unwrap();
    assert_eq!(
        ecdsa_only.validate(&a_rsa, &[], now),
        Err(PkiError::UnknownIssuer)
    );

    let id = |text: &str| Identity::parse(text).unwrap();
    assert!(a_ecdsa.matches_identity(&id("a.ecdsa.ss.test")));
    assert!(a_rsa.matches_identity(&id("a.rsa.ss.test")));
    assert!(a_rsa.matches_identity(&id("a.rsapss.ss.test")));
    assert!(a_rsa.matches_identity(&id("O=iketcp-test, CN=a.rsa.ss.test")));
    assert!(!a_rsa.matches_identity(&id("b.rsa.ss.test")));
    assert!(!a_ecdsa.matches_identity(&id("a.rsa.ss.test")));
    assert_eq!(
        a_ecdsa.public_key_algorithm(),
        iketcp_pki::PublicKeyAlgorithm::Ecdsa(iketcp_pki::EcCurve::P256)
    );
    assert_eq!(
        a_rsa.public_key_algorithm(),
        iketcp_pki::PublicKeyAlgorithm::Rsa { bits: 3072 }
    );

    // strongSwan names its CAs in CERTREQ by SHA-1 of the SubjectPublicKeyInfo.
    for ca in ["ca-ecdsa.pem", "ca-rsa.pem"] {
        assert!(trust.ca_matches(&spki_sha1_by_openssl(&pki, ca)), "{ca}");
    }

    let ecdsa_key = key("a-ecdsa.key");
    let rsa_key = key("a-rsa.key");
    assert!(ecdsa_key.matches_certificate(&a_ecdsa));
    assert!(rsa_key.matches_certificate(&a_rsa));

    let work = TempDir::new();
    let octets_file = work.0.join("octets");
    std::fs::write(&octets_file, OCTETS).unwrap();

    // Ours, checked by OpenSSL.
    let ours = [
        (
            &ecdsa_key,
            "a-ecdsa.pem",
            SignatureAlgorithm::Ecdsa(SignatureHash::Sha256),
            &[][..],
        ),
        (
            &rsa_key,
            "a-rsa.pem",
            SignatureAlgorithm::RsaPkcs1(SignatureHash::Sha256),
            &[][..],
        ),
        (
            &rsa_key,
            "a-rsa.pem",
            SignatureAlgorithm::RsaPss(PssParams::new(SignatureHash::Sha256)),
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ][..],
        ),
    ];
    for (key, cert_file, algorithm, sigopts) in ours {
        let (method, data) = key
            .sign_auth(AuthScheme::DigitalSignature(algorithm), OCTETS)
            .unwrap();
        assert_eq!(method, auth_method::DIGITAL_SIGNATURE);
        let parsed = DigitalSignature::parse(&data).unwrap();
        let signature_file = work.0.join("ours.sig");
        std::fs::write(&signature_file, parsed.signature).unwrap();
        let public_file = public_key(&pki, cert_file, &work.0);
        let mut args = vec![
            "dgst",
            "-sha256",
            "-verify",
            path(&public_file),
            "-signature",
            path(&signature_file),
        ];
        args.extend_from_slice(sigopts);
        args.push(path(&octets_file));
        assert!(openssl(&args), "OpenSSL refused our {algorithm:?}");
    }

    // OpenSSL's, checked by us.
    let theirs = [
        (
            "a-ecdsa.key",
            &a_ecdsa,
            "-sha256",
            &[][..],
            Some(SignatureAlgorithm::Ecdsa(SignatureHash::Sha256)),
        ),
        (
            "a-rsa.key",
            &a_rsa,
            "-sha256",
            &[][..],
            Some(SignatureAlgorithm::RsaPkcs1(SignatureHash::Sha256)),
        ),
        (
            "a-rsa.key",
            &a_rsa,
            "-sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ][..],
            Some(SignatureAlgorithm::RsaPss(PssParams::new(
                SignatureHash::Sha256,
            ))),
        ),
        (
            "a-rsa.key",
            &a_rsa,
            "-sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:20",
            ][..],
            Some(SignatureAlgorithm::RsaPss(PssParams {
                salt_len: 20,
                ..PssParams::new(SignatureHash::Sha256)
            })),
        ),
        // RFC 7296 §3.8 method 1: PKCS#1 v1.5 with SHA-1.
        ("a-rsa.key", &a_rsa, "-sha1", &[][..], None),
    ];
    for (key_file, cert, digest, sigopts, algorithm) in theirs {
        let signature_file = work.0.join("theirs.sig");
        let key_path = pki.join(key_file);
        let mut args = vec![
            "dgst",
            digest,
            "-sign",
            path(&key_path),
            "-out",
            path(&signature_file),
        ];
        args.extend_from_slice(sigopts);
        args.push(path(&octets_file));
        assert!(openssl(&args), "openssl could not sign {algorithm:?}");
        let signature = std::fs::read(&signature_file).unwrap();
        let (method, data) = match algorithm {
            Some(algorithm) => (
                auth_method::DIGITAL_SIGNATURE,
                DigitalSignature::encode(&algorithm, &signature),
            ),
            None => (auth_method::RSA_DIGITAL_SIGNATURE, signature),
        };
        verify_auth(cert, method, &data, OCTETS)
            .unwrap_or_else(|e| panic!("{key_file} {algorithm:?}: {e}"));
        assert_eq!(
            verify_auth(cert, method, &data, b"other octets"),
            Err(PkiError::BadSignature)
        );
    }
}

/// RSA below 2048 bits is refused by name, for keys and for certificates.
#[test]
fn small_rsa_is_refused() {
    if !openssl(&["version"]) {
        return skip("small_rsa_is_refused", "openssl is not installed");
    }
    let work = TempDir::new();
    let (key_file, cert_file) = (work.0.join("rsa1024.key"), work.0.join("rsa1024.pem"));
    assert!(openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-noenc",
        "-subj",
        "/CN=small.test",
        "-addext",
        "subjectAltName=DNS:small.test",
        "-days",
        "2",
        "-keyout",
        path(&key_file),
        "-out",
        path(&cert_file),
    ]));
    let cert = Certificate::from_pem(&std::fs::read(&cert_file).unwrap()).unwrap();
    assert_eq!(
        cert.public_key_algorithm(),
        iketcp_pki::PublicKeyAlgorithm::Rsa { bits: 1024 }
    );
    let data = DigitalSignature::encode(
        &SignatureAlgorithm::RsaPkcs1(SignatureHash::Sha256),
        &[0; 128],
    );
    assert_eq!(
        verify_auth(&cert, auth_method::DIGITAL_SIGNATURE, &data, OCTETS),
        Err(PkiError::UnsupportedPublicKey("RSA-1024".into()))
    );
    assert_eq!(
        PrivateKey::from_pem(&std::fs::read(&key_file).unwrap()).unwrap_err(),
        PkiError::UnsupportedKey
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The certificate's public key as a PEM file, extracted by OpenSSL.
fn public_key(pki: &Path, cert_file: &str, dir: &Path) -> PathBuf {
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            path(&pki.join(cert_file)),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = dir.join(format!("{cert_file}.pub"));
    std::fs::write(&file, out.stdout).unwrap();
    file
}

/// SHA-1 of the DER SubjectPublicKeyInfo, computed by OpenSSL.
fn spki_sha1_by_openssl(pki: &Path, cert_file: &str) -> Vec<u8> {
    let pubkey = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            path(&pki.join(cert_file)),
        ])
        .output()
        .unwrap()
        .stdout;
    let mut child = Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&pubkey).unwrap();
    }
    let der = child.wait_with_output().unwrap().stdout;
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
        .as_ref()
        .to_vec()
}
