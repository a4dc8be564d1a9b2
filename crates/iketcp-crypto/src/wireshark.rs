//! Key export for Wireshark's IKEv2 decryption table, so test captures can be decrypted
//! and their ICVs verified by a dissector that shares no code with this crate.
//!
//! **This writes secrets.** A row holds SK_ei, SK_er, SK_ai and SK_ar in the clear;
//! anyone holding it can read and forge every message of that IKE SA. It exists for
//! test captures and debugging and must stay opt-in in any program that offers it.
//!
//! Row format of Wireshark 4.0's `ikev2_decryption_table` file (one SA per line):
//!
//! ```text
//! SPIi,SPIr,SK_ei,SK_er,"<encr>",SK_ai,SK_ar,"<integ>"
//! ```
//!
//! Byte fields are unquoted lowercase hex. Under AES-GCM, SK_e includes the salt, the
//! SK_a fields are empty and the integrity name is `NONE [RFC4306]`. Wireshark 4.0 cannot
//! decrypt ChaCha20-Poly1305 (RFC 7634), so no row is written for it.

use core::fmt::Write;

use crate::error::CryptoError;
use crate::keymat::IkeKeys;
use crate::transform::{Encr, Integ};

/// Wireshark's name for an encryption transform, if it can decrypt it.
#[must_use]
pub fn encr_name(encr: Encr) -> Option<&'static str> {
    match encr {
        Encr::AesCbc { key_bits: 128 } => Some("AES-CBC-128 [RFC3602]"),
        Encr::AesCbc { key_bits: 256 } => Some("AES-CBC-256 [RFC3602]"),
        Encr::AesGcm16 { key_bits: 128 } => Some("AES-GCM-128 with 16 octet ICV [RFC5282]"),
        Encr::AesGcm16 { key_bits: 256 } => Some("AES-GCM-256 with 16 octet ICV [RFC5282]"),
        _ => None,
    }
}

/// Wireshark's name for an integrity transform; `None` (an AEAD) is `NONE [RFC4306]`.
#[must_use]
pub fn integ_name(integ: Option<Integ>) -> &'static str {
    match integ {
        None => "NONE [RFC4306]",
        Some(Integ::HmacSha256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(Integ::HmacSha384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(Integ::HmacSha512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    }
}

/// One `ikev2_decryption_table` line for an IKE SA, without the line break.
///
/// # Errors
/// [`CryptoError::UnsupportedAlgorithm`] for a transform Wireshark 4.0 cannot decrypt.
pub fn ikev2_decryption_row(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    keys: &IkeKeys,
) -> Result<String, CryptoError> {
    let encr = encr_name(keys.encr).ok_or(CryptoError::UnsupportedAlgorithm)?;
    let integ = integ_name(keys.integ);
    let mut row = String::new();
    for field in [
        spi_i.as_slice(),
        spi_r,
        keys.sk_ei.expose(),
        keys.sk_er.expose(),
    ] {
        push_hex(&mut row, field);
        row.push(',');
    }
    let _ = write!(row, "\"{encr}\",");
    push_hex(&mut row, keys.sk_ai.expose());
    row.push(',');
    push_hex(&mut row, keys.sk_ar.expose());
    let _ = write!(row, ",\"{integ}\"");
    Ok(row)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;
    use crate::transform::Prf;

    fn keys(encr: Encr, integ: Option<Integ>) -> IkeKeys {
        let a_len = integ.map_or(0, Integ::key_len);
        IkeKeys {
            prf: Prf::HmacSha256,
            encr,
            integ,
            sk_d: SecretBytes::zeroed(32),
            sk_ai: SecretBytes::new(vec![0xa1; a_len]),
            sk_ar: SecretBytes::new(vec![0xa2; a_len]),
            sk_ei: SecretBytes::new(vec![0xe1; encr.key_len()]),
            sk_er: SecretBytes::new(vec![0xe2; encr.key_len()]),
            sk_pi: SecretBytes::zeroed(32),
            sk_pr: SecretBytes::zeroed(32),
        }
    }

    #[test]
    fn gcm_row_has_salted_keys_and_no_integrity() {
        let row = ikev2_decryption_row(
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[0xf0; 8],
            &keys(Encr::AesGcm16 { key_bits: 128 }, None),
        )
        .unwrap();
        let e1 = "e1".repeat(20);
        let e2 = "e2".repeat(20);
        assert_eq!(
            row,
            format!(
                "0102030405060708,f0f0f0f0f0f0f0f0,{e1},{e2},\
                 \"AES-GCM-128 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\""
            )
        );
    }

    #[test]
    fn cbc_row_names_the_integrity_transform() {
        let row = ikev2_decryption_row(
            &[0; 8],
            &[0; 8],
            &keys(Encr::AesCbc { key_bits: 256 }, Some(Integ::HmacSha384_192)),
        )
        .unwrap();
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 8);
        assert_eq!(fields[4], "\"AES-CBC-256 [RFC3602]\"");
        assert_eq!(fields[5], "a1".repeat(48));
        assert_eq!(fields[6], "a2".repeat(48));
        assert_eq!(fields[7], "\"HMAC_SHA2_384_192 [RFC4868]\"");
    }

    #[test]
    fn chacha_is_not_exported() {
        assert_eq!(
            ikev2_decryption_row(&[0; 8], &[0; 8], &keys(Encr::ChaCha20Poly1305, None))
                .unwrap_err(),
            CryptoError::UnsupportedAlgorithm
        );
    }
}
