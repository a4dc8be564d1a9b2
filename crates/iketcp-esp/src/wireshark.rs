//! Wireshark 4.0 `esp_sa` rows, so a capture can be decrypted and its ICVs checked by a
//! dissector that shares no code with this crate.
//!
//! **This writes secret key material in clear.** It exists for test captures and
//! debugging; call it only when the operator has asked for key export, and never for
//! SAs that protect real traffic.
//!
//! Wireshark 4.0 has no ChaCha20-Poly1305 for ESP and no ESN in this table: such SAs are
//! refused with [`EspError::Unsupported`].

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::algorithm::{Algorithm, Integrity};
use crate::error::EspError;
use crate::sa::SaParams;

fn names(algorithm: Algorithm) -> Result<(&'static str, &'static str), EspError> {
    let integ = |i: Integrity| match i {
        Integrity::HmacSha256_128 => "HMAC-SHA-256-128 [RFC4868]",
        Integrity::HmacSha384_192 => "HMAC-SHA-384-192 [RFC4868]",
        Integrity::HmacSha512_256 => "HMAC-SHA-512-256 [RFC4868]",
    };
    match algorithm {
        Algorithm::AesGcm16_128 | Algorithm::AesGcm16_256 => {
            Ok(("AES-GCM with 16 octet ICV [RFC4106]", "NULL"))
        }
        Algorithm::AesCbc { integrity, .. } => Ok(("AES-CBC [RFC3602]", integ(integrity))),
        other => Err(EspError::Unsupported { algorithm: other }),
    }
}

fn hex(out: &mut String, bytes: &[u8]) {
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// One `esp_sa` line (without a newline) for the SA `params`, whose packets travel from
/// `src` to `dst`. The GCM key includes its salt; the CBC rows carry the HMAC key.
///
/// **Exports key material**: see the module documentation.
pub fn esp_sa_row(params: &SaParams, src: IpAddr, dst: IpAddr) -> Result<String, EspError> {
    if params.esn {
        return Err(EspError::Unsupported {
            algorithm: params.algorithm,
        });
    }
    let family = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "IPv4",
        (IpAddr::V6(_), IpAddr::V6(_)) => "IPv6",
        _ => return Err(EspError::InvalidIpPacket),
    };
    let (encr, auth) = names(params.algorithm)?;
    let key = params.key.expose_secret();
    let (encr_key, auth_key) = match params.algorithm {
        Algorithm::AesCbc { key: aes, .. } => key.split_at_checked(aes.key_len()),
        _ => Some((key, &[][..])),
    }
    .ok_or(EspError::KeyLength {
        algorithm: params.algorithm,
        expected: params.algorithm.key_material_len(),
        got: key.len(),
    })?;

    let mut row = String::with_capacity(64 + 2 * key.len());
    let _ = write!(
        row,
        "\"{family}\",\"{src}\",\"{dst}\",\"0x{:08x}\",\"{encr}\",\"",
        params.spi
    );
    hex(&mut row, encr_key);
    let _ = write!(row, "\",\"{auth}\",\"");
    hex(&mut row, auth_key);
    row.push('"');
    Ok(row)
}
