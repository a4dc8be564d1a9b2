//! Secrets come from a file only its owner can read, or from the environment; never from
//! the configuration file itself, which is read by more tools and people than a secret
//! should be.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use iketcp_crypto::SecretBytes;
use zeroize::Zeroizing;

/// Where environment variables are read from; the process environment by default, a
/// function in tests (changing the process environment is `unsafe` in Rust 2024).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Reads a secret file, refusing one that its group or others may read or write.
pub(crate) fn read_private_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is open to its group or others (mode {mode:04o}): a secret must be mode 0600 or stricter (chmod 600 {})",
            path.display(),
            path.display()
        ));
    }
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A pre-shared key from a file's or a variable's bytes: line ends at the end are not
/// part of it, and `0x…` is hexadecimal (as in strongSwan's secrets).
pub(crate) fn psk_from_bytes(raw: &[u8]) -> Result<SecretBytes, String> {
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let text = &raw[..end];
    if text.is_empty() {
        return Err("the pre-shared key is empty".into());
    }
    if let Some(hex) = text.strip_prefix(b"0x") {
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err("a 0x… pre-shared key needs an even number of hex digits".into());
        }
        let mut out = SecretBytes::zeroed(hex.len() / 2);
        for (o, pair) in out.expose_mut().iter_mut().zip(hex.chunks(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => *o = (h * 16 + l) as u8,
                _ => return Err("a 0x… pre-shared key must be hex digits only".into()),
            }
        }
        return Ok(out);
    }
    Ok(SecretBytes::from_slice(text))
}

/// The pre-shared key in environment variable `name`.
pub(crate) fn psk_from_env(name: &str, env: EnvLookup<'_>) -> Result<SecretBytes, String> {
    let value = env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
    let bytes = Zeroizing::new(value.into_vec());
    psk_from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_forms() {
        assert_eq!(psk_from_bytes(b"secret\n").unwrap().expose(), b"secret");
        assert_eq!(psk_from_bytes(b"secret\r\n").unwrap().expose(), b"secret");
        assert_eq!(psk_from_bytes(b"0x0aFf").unwrap().expose(), &[0x0a, 0xff]);
        assert!(psk_from_bytes(b"0xabc").is_err());
        assert!(psk_from_bytes(b"0xzz").is_err());
        assert!(psk_from_bytes(b"\n").is_err());
    }
}
