//! Proposals in strongSwan's syntax (`ike =`, `esp =`), e.g. `aes256gcm16-prfsha384-x25519`.
//!
//! A proposal is algorithm keywords joined by `-`; several keywords of one transform type
//! are alternatives, in order of preference (RFC 7296 §3.3.6: one proposal, transforms of
//! a type ORed). As in strongSwan:
//! - in IKE, an integrity keyword (`sha256`) also gives the PRF of the same hash when no
//!   `prf…` keyword is present; an AEAD (`aes256gcm16`, `chacha20poly1305`) needs one;
//! - in ESP, a key exchange keyword asks for PFS in CREATE_CHILD_SA, and without `esn`
//!   or `noesn` the proposal carries "no ESN".
//!
//! The keyword table knows more than iketcp implements (`aes192`, `aes128gcm12`, `sha1`,
//! `modp3072`, …) so that such a proposal is reported as "not implemented" rather than
//! as a typo; [`check_implemented`] is the second step.

use core::fmt;

use iketcp_crypto::{Encr, Integ, KeGroup, Prf};
use iketcp_proto::proposal::ProposalSpec;
use iketcp_wire::ike::{Transform, TransformId, TransformType};
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Whether a proposal is for the IKE SA or for Child SAs (ESP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ike,
    Esp,
}

/// What one keyword stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Encr {
        id: TransformId,
        key_bits: Option<u16>,
        aead: bool,
    },
    /// An integrity algorithm and the PRF of the same hash (for IKE without `prf…`).
    Integ {
        id: TransformId,
        prf: TransformId,
    },
    Prf(TransformId),
    Ke(TransformId),
    Esn(TransformId),
}

fn keyword(token: &str) -> Option<Keyword> {
    use TransformId as T;
    let encr = |id, key_bits, aead| Keyword::Encr { id, key_bits, aead };
    let integ = |id, prf| Keyword::Integ { id, prf };
    // AES-GCM: strongSwan names the ICV length in bytes (gcm16) or in bits (gcm128).
    if let Some(rest) = token.strip_prefix("aes")
        && let Some((bits, icv)) = rest.split_once("gcm")
    {
        let bits = match bits {
            "128" => 128,
            "192" => 192,
            "256" => 256,
            _ => return None,
        };
        let id = match icv {
            "16" | "128" => T::ENCR_AES_GCM_16,
            "12" | "96" => T::ENCR_AES_GCM_12,
            "8" | "64" => T::ENCR_AES_GCM_8,
            _ => return None,
        };
        return Some(encr(id, Some(bits), true));
    }
    Some(match token {
        "aes" | "aes128" => encr(T::ENCR_AES_CBC, Some(128), false),
        "aes192" => encr(T::ENCR_AES_CBC, Some(192), false),
        "aes256" => encr(T::ENCR_AES_CBC, Some(256), false),
        "3des" => encr(T::ENCR_3DES, None, false),
        "chacha20poly1305" => encr(T::ENCR_CHACHA20_POLY1305, None, true),
        "sha256" | "sha2_256" => integ(T::INTEG_HMAC_SHA2_256_128, T::PRF_HMAC_SHA2_256),
        "sha384" | "sha2_384" => integ(T::INTEG_HMAC_SHA2_384_192, T::PRF_HMAC_SHA2_384),
        "sha512" | "sha2_512" => integ(T::INTEG_HMAC_SHA2_512_256, T::PRF_HMAC_SHA2_512),
        "sha1" | "sha" => integ(T::INTEG_HMAC_SHA1_96, T::PRF_HMAC_SHA1),
        "md5" => integ(T::INTEG_HMAC_MD5_96, T::PRF_HMAC_MD5),
        "prfsha256" => Keyword::Prf(T::PRF_HMAC_SHA2_256),
        "prfsha384" => Keyword::Prf(T::PRF_HMAC_SHA2_384),
        "prfsha512" => Keyword::Prf(T::PRF_HMAC_SHA2_512),
        "prfsha1" => Keyword::Prf(T::PRF_HMAC_SHA1),
        "prfmd5" => Keyword::Prf(T::PRF_HMAC_MD5),
        "modp1024" => Keyword::Ke(T::KE_MODP_1024),
        "modp1536" => Keyword::Ke(T::KE_MODP_1536),
        "modp2048" => Keyword::Ke(T::KE_MODP_2048),
        "modp3072" => Keyword::Ke(T::KE_MODP_3072),
        "modp4096" => Keyword::Ke(T::KE_MODP_4096),
        "modp6144" => Keyword::Ke(T::KE_MODP_6144),
        "modp8192" => Keyword::Ke(T::KE_MODP_8192),
        "ecp256" => Keyword::Ke(T::KE_ECP_256),
        "ecp384" => Keyword::Ke(T::KE_ECP_384),
        "ecp521" => Keyword::Ke(T::KE_ECP_521),
        "x25519" | "curve25519" => Keyword::Ke(T::KE_CURVE25519),
        "x448" | "curve448" => Keyword::Ke(T::KE_CURVE448),
        "esn" => Keyword::Esn(T::ESN_YES),
        "noesn" => Keyword::Esn(T::ESN_NO),
        _ => return None,
    })
}

fn tokens(text: &str) -> Result<Vec<(&str, Keyword)>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty proposal".into());
    }
    let mut out: Vec<(&str, Keyword)> = Vec::new();
    for token in text.split('-') {
        let token = token.trim();
        if token.is_empty() {
            return Err(format!("\"{text}\": empty algorithm between two '-'"));
        }
        let lower = token.to_ascii_lowercase();
        let k = keyword(&lower).ok_or_else(|| format!("unknown algorithm \"{token}\""))?;
        if out.iter().any(|(_, seen)| *seen == k) {
            return Err(format!("\"{token}\" is listed twice"));
        }
        out.push((token, k));
    }
    Ok(out)
}

/// Parses one proposal of `protocol` into the engine's form: transforms grouped by type
/// (encryption, PRF, integrity, key exchange, ESN), each group in the order written.
pub fn parse(text: &str, protocol: Protocol) -> Result<ProposalSpec, String> {
    let toks = tokens(text)?;
    let mut encr = Vec::new();
    let mut prf = Vec::new();
    let mut integ = Vec::new();
    let mut implied_prf = Vec::new();
    let mut ke = Vec::new();
    let mut esn = Vec::new();
    let (mut aead, mut classic) = (None, None);
    for &(token, k) in &toks {
        match k {
            Keyword::Encr {
                id,
                key_bits,
                aead: is_aead,
            } => {
                *(if is_aead { &mut aead } else { &mut classic }) = Some(token);
                encr.push(match key_bits {
                    Some(bits) => Transform::with_key_length(TransformType::ENCR, id, bits),
                    None => Transform::new(TransformType::ENCR, id),
                });
            }
            Keyword::Integ { id, prf } => {
                integ.push(Transform::new(TransformType::INTEG, id));
                implied_prf.push(Transform::new(TransformType::PRF, prf));
            }
            Keyword::Prf(id) => {
                if protocol == Protocol::Esp {
                    return Err(format!(
                        "\"{token}\" is a PRF, which ESP proposals have none of"
                    ));
                }
                prf.push(Transform::new(TransformType::PRF, id));
            }
            Keyword::Ke(id) => ke.push(Transform::new(TransformType::KE, id)),
            Keyword::Esn(id) => {
                if protocol == Protocol::Ike {
                    return Err(format!("\"{token}\" applies to ESP proposals only"));
                }
                esn.push(Transform::new(TransformType::ESN, id));
            }
        }
    }
    match (aead, classic) {
        (None, None) => return Err(format!("\"{text}\": no encryption algorithm")),
        // RFC 5282 §8, RFC 7296 §3.3: AEADs and classic ciphers go in separate proposals.
        (Some(a), Some(c)) => {
            return Err(format!(
                "\"{a}\" (an AEAD) and \"{c}\" cannot share a proposal: write two proposals"
            ));
        }
        (Some(a), None) if !integ.is_empty() => {
            return Err(format!(
                "\"{a}\" is an AEAD and takes no integrity algorithm: remove it, or use prf… for the IKE PRF"
            ));
        }
        (None, Some(c)) if integ.is_empty() => {
            return Err(format!(
                "\"{c}\" needs an integrity algorithm (sha256, sha384 or sha512)"
            ));
        }
        _ => {}
    }
    if protocol == Protocol::Ike {
        if prf.is_empty() {
            if implied_prf.is_empty() {
                return Err(format!(
                    "\"{text}\": an IKE proposal with an AEAD needs a PRF (prfsha256, prfsha384 or prfsha512)"
                ));
            }
            prf = implied_prf;
        }
        if ke.is_empty() {
            return Err(format!(
                "\"{text}\": an IKE proposal needs a key exchange method (x25519, ecp256, ecp384, modp2048)"
            ));
        }
    } else if esn.is_empty() {
        esn.push(Transform::new(TransformType::ESN, TransformId::ESN_NO));
    }
    let mut transforms = encr;
    transforms.extend(prf);
    transforms.extend(integ);
    transforms.extend(ke);
    transforms.extend(esn);
    Ok(ProposalSpec { transforms })
}

/// Refuses a proposal naming an algorithm iketcp does not implement: offered, it could
/// be chosen by the peer, and the SA would then fail after negotiation.
pub fn check_implemented(text: &str) -> Result<(), String> {
    for (token, k) in tokens(text)? {
        let ok = match k {
            Keyword::Encr { id, key_bits, .. } => Encr::from_iana(id.0, key_bits).is_some(),
            Keyword::Integ { id, .. } => Integ::from_iana(id.0).is_some(),
            Keyword::Prf(id) => Prf::from_iana(id.0).is_some(),
            Keyword::Ke(id) => KeGroup::from_iana(id.0).is_some(),
            Keyword::Esn(_) => true,
        };
        if !ok {
            return Err(format!(
                "\"{token}\" is not implemented by iketcp (it has aes128, aes256, aes128gcm16, aes256gcm16, chacha20poly1305, sha256, sha384, sha512, prfsha256, prfsha384, prfsha512, modp2048, ecp256, ecp384, x25519)"
            ));
        }
    }
    Ok(())
}

/// A proposal read from TOML: parsed, then checked against what is implemented.
fn deserialize_proposal<'de, D: Deserializer<'de>>(
    d: D,
    protocol: Protocol,
) -> Result<ProposalSpec, D::Error> {
    struct V(Protocol);
    impl Visitor<'_> for V {
        type Value = ProposalSpec;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a proposal such as \"aes256gcm16-prfsha384-x25519\"")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<ProposalSpec, E> {
            let spec = parse(s, self.0).map_err(E::custom)?;
            check_implemented(s).map_err(E::custom)?;
            Ok(spec)
        }
    }
    d.deserialize_str(V(protocol))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IkeProposal(pub ProposalSpec);

impl<'de> Deserialize<'de> for IkeProposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_proposal(d, Protocol::Ike).map(IkeProposal)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EspProposal(pub ProposalSpec);

impl<'de> Deserialize<'de> for EspProposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_proposal(d, Protocol::Esp).map(EspProposal)
    }
}
