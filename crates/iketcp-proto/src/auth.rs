//! RFC 7296 §2.15, RFC 7427: what goes into an AUTH payload and how the peer's is checked.
//!
//! - A pre-shared key MACs the signed octets (Auth Method 2).
//! - A private key signs them: RFC 7427 Digital Signature (method 14) when the peer
//!   announced SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT (RFC 7427 §4), else the RFC 4754
//!   ECDSA method of the key ([`iketcp_pki::PrivateKey::choose_scheme`] decides). Our
//!   certificate and its intermediates go in CERT payloads (§3.6, X509_SIGNATURE, end
//!   entity first); the initiator's CERTREQ (§3.7) names our CAs by the SHA-1 of their
//!   SubjectPublicKeyInfo.
//! - The peer's chain is validated against our trusted CAs at the [`WallClock`] time, its
//!   end-entity certificate must carry the ID the peer sent (RFC 4945 §3.1; that ID
//!   already equals the configured remote ID), a method 14 signature must use a hash we
//!   announced, and the certificate's key must verify the AUTH data.
//!
//! Every failure becomes AUTHENTICATION_FAILED on the wire and tells the peer nothing
//! more (RFC 7296 §2.21.2); [`AuthError`] is what the log says.
//!
//! The peer's SIGNATURE_HASH_ALGORITHMS is read back from its IKE_SA_INIT message, which
//! the SA keeps for the signed octets anyway. This module also holds the one mapping
//! between the wire's ID payload (§3.5) and `iketcp_pki::Identity`.

use iketcp_crypto::{keymat, psk_auth, verify_psk_auth};
use iketcp_pki::{
    Certificate, DigitalSignature, HashAlgorithm, Identity, MAX_INTERMEDIATES, PkiError,
    auth_method, encode_hash_algorithms, parse_hash_algorithms, verify_auth,
};
use iketcp_wire::codec::Writer;
use iketcp_wire::ike::{
    Auth, AuthMethod, Cert, CertEncoding, CertReq, Id, IdType, Message, Notify, NotifyType, Payload,
};
use thiserror::Error;

use crate::config::{AuthConfig, WallClock};
use crate::ike_sa::IkeSa;

/// The hashes we announce and accept in method 14: SHA2-256, SHA2-384, SHA2-512, and
/// Identity, which Ed25519 needs (RFC 8420 §2).
const ANNOUNCED: &[HashAlgorithm] = HashAlgorithm::SUPPORTED;

/// RFC 7427 §4: the SIGNATURE_HASH_ALGORITHMS notify of IKE_SA_INIT.
pub(crate) fn hash_algorithms_notify() -> Payload {
    Payload::Notify(Notify::new(
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        encode_hash_algorithms(ANNOUNCED),
    ))
}

/// The identity an ID payload names; fails on malformed data or an ID type
/// `iketcp-pki` does not handle (DER_ASN1_GN, FC_NAME, NULL).
pub fn identity_from_id(id: &Id) -> Result<Identity, PkiError> {
    Identity::from_wire(id.id_type.0, &id.data)
}

/// The ID payload naming `identity`, e.g. one parsed from strongSwan's syntax with
/// [`Identity::parse`].
pub fn id_from_identity(identity: &Identity) -> Id {
    Id {
        id_type: IdType(identity.id_type()),
        data: identity.data(),
    }
}

/// Why our AUTH could not be made or the peer's was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum AuthError {
    #[error("IKE SA keys not derived")]
    NoKeys,
    #[error("no peer configuration for these identities")]
    NoConfig,
    #[error("the peer's ID {0:?} is not the configured remote ID")]
    UnexpectedId(String),
    #[error("no {0} payload")]
    Missing(&'static str),
    #[error("auth method {0} does not fit the configured authentication")]
    Method(AuthMethod),
    #[error("shared key MIC does not verify")]
    BadMic,
    #[error("no X.509 certificate")]
    NoCertificate,
    #[error("ID payload: {0}")]
    Id(PkiError),
    #[error("the certificate does not carry the ID {0}")]
    IdMismatch(String),
    #[error("signature hash {0} was not announced")]
    HashNotAnnounced(HashAlgorithm),
    #[error("RSA with SHA-1 (auth method 1) after both sides announced RFC 7427 hashes")]
    Sha1AfterAnnouncement,
    #[error("the IKE proposal agreed in IKE_SA_INIT is not allowed for this identity")]
    ProposalNotAllowed,
    #[error("{0}")]
    Pki(#[from] PkiError),
}

/// Our side's proof in IKE_AUTH: CERT payloads (empty with a PSK) and the AUTH payload.
pub(crate) struct Proof {
    pub certs: Vec<Payload>,
    pub auth: Payload,
}

/// The ID payload body as the signed octets take it: ID Type, RESERVED, data.
fn id_body(id: &Id) -> Vec<u8> {
    let mut w = Writer::new();
    // Id::emit cannot fail; an empty body would only make AUTH fail.
    let _ = id.emit(&mut w);
    w.into_vec()
}

/// The initiator's CERTREQ: one X509_SIGNATURE request naming every CA we trust. None
/// with a PSK or an empty trust store.
pub(crate) fn certreq(auth: &AuthConfig) -> Option<Payload> {
    match auth {
        AuthConfig::Pubkey { trust, .. } if !trust.is_empty() => Some(Payload::CertReq(CertReq {
            encoding: CertEncoding::X509_SIGNATURE,
            data: trust.certreq_data(),
        })),
        _ => None,
    }
}

/// The X.509 certificates of the CERT payloads, end entity first (RFC 7296 §3.6: the
/// first one carries the key that verifies AUTH). Other encodings are skipped.
fn peer_chain(payloads: &[Payload]) -> Result<(Certificate, Vec<Certificate>), AuthError> {
    let ders: Vec<&[u8]> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(c) if c.encoding == CertEncoding::X509_SIGNATURE => {
                Some(c.data.as_slice())
            }
            _ => None,
        })
        .collect();
    // Bound the parsing work before any of it is done.
    if ders.len() > 1 + MAX_INTERMEDIATES {
        return Err(PkiError::ChainTooLong.into());
    }
    let mut certs = ders
        .into_iter()
        .map(Certificate::from_der)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let ee = certs.next().ok_or(AuthError::NoCertificate)?;
    Ok((ee, certs.collect()))
}

impl IkeSa {
    /// The octets the initiator (`of_initiator`) or the responder signs or MACs (RFC 7296
    /// §2.15): its IKE_SA_INIT message, the other side's nonce, prf(SK_px, its ID body).
    fn signed_octets(&self, of_initiator: bool, id: &Id) -> Result<Vec<u8>, AuthError> {
        let keys = self.keys.as_ref().ok_or(AuthError::NoKeys)?;
        let (msg, nonce, sk_p) = if of_initiator {
            (&self.init_request, &self.nr, &keys.ike.sk_pi)
        } else {
            (&self.init_response, &self.ni, &keys.ike.sk_pr)
        };
        Ok(keymat::signed_octets(
            keys.ike.prf,
            msg,
            nonce,
            sk_p,
            &id_body(id),
        ))
    }

    /// What the peer announced in SIGNATURE_HASH_ALGORITHMS, `None` if it sent no such
    /// notify. A malformed body counts as an empty list.
    fn peer_hash_algorithms(&self) -> Option<Vec<HashAlgorithm>> {
        let theirs = if self.initiator {
            &self.init_response
        } else {
            &self.init_request
        };
        let msg = Message::parse(theirs).ok()?;
        msg.payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS => {
                Some(parse_hash_algorithms(&n.data).unwrap_or_default())
            }
            _ => None,
        })
    }

    /// Whether both IKE_SA_INIT messages carried SIGNATURE_HASH_ALGORITHMS.
    fn both_announced_hashes(&self) -> bool {
        let ours = if self.initiator {
            &self.init_request
        } else {
            &self.init_response
        };
        let announced = Message::parse(ours).is_ok_and(|m| {
            m.payloads.iter().any(|p| {
                matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS)
            })
        });
        announced && self.peer_hash_algorithms().is_some()
    }

    /// Our CERT and AUTH payloads, `id` being our ID as sent.
    pub(crate) fn prove(&self, auth: &AuthConfig, id: &Id) -> Result<Proof, AuthError> {
        let octets = self.signed_octets(self.initiator, id)?;
        match auth {
            AuthConfig::Psk(psk) => {
                let prf = self.keys.as_ref().ok_or(AuthError::NoKeys)?.ike.prf;
                Ok(Proof {
                    certs: Vec::new(),
                    auth: Payload::Auth(Auth {
                        method: AuthMethod::SHARED_KEY_MIC,
                        data: psk_auth(prf, psk.expose(), &octets),
                    }),
                })
            }
            AuthConfig::Pubkey {
                key,
                cert_chain,
                rsa_padding,
                ..
            } => {
                if cert_chain.is_empty() {
                    return Err(AuthError::NoCertificate);
                }
                let peer_hashes = self.peer_hash_algorithms();
                let scheme = key.choose_scheme(peer_hashes.as_deref(), *rsa_padding)?;
                let (method, data) = key.sign_auth(scheme, &octets)?;
                Ok(Proof {
                    certs: cert_chain
                        .iter()
                        .map(|c| {
                            Payload::Cert(Cert {
                                encoding: CertEncoding::X509_SIGNATURE,
                                data: c.der().to_vec(),
                            })
                        })
                        .collect(),
                    auth: Payload::Auth(Auth {
                        method: AuthMethod(method),
                        data,
                    }),
                })
            }
        }
    }

    /// Checks the peer's AUTH payload, with its ID payload `id` (already found equal to
    /// the configured remote ID) and, for signatures, the CERT payloads among `payloads`.
    /// `clock` is asked for the time only when there is a chain to validate.
    pub(crate) fn verify_peer(
        &self,
        auth: &AuthConfig,
        id: &Id,
        their_auth: &Auth,
        payloads: &[Payload],
        clock: &WallClock,
    ) -> Result<(), AuthError> {
        match auth {
            AuthConfig::Psk(psk) => {
                if their_auth.method != AuthMethod::SHARED_KEY_MIC {
                    return Err(AuthError::Method(their_auth.method));
                }
                let octets = self.signed_octets(!self.initiator, id)?;
                let prf = self.keys.as_ref().ok_or(AuthError::NoKeys)?.ike.prf;
                verify_psk_auth(prf, psk.expose(), &octets, &their_auth.data)
                    .map_err(|_| AuthError::BadMic)
            }
            AuthConfig::Pubkey { trust, .. } => {
                if their_auth.method == AuthMethod::SHARED_KEY_MIC {
                    return Err(AuthError::Method(their_auth.method));
                }
                // RFC 7427 §1 and RFC 8247 §3.2: once both sides announced the hashes
                // they take, a signature over SHA-1 is a downgrade, not a fallback.
                if their_auth.method.0 == auth_method::RSA_DIGITAL_SIGNATURE
                    && self.both_announced_hashes()
                {
                    return Err(AuthError::Sha1AfterAnnouncement);
                }
                let octets = self.signed_octets(!self.initiator, id)?;
                let identity = identity_from_id(id).map_err(AuthError::Id)?;
                let (ee, intermediates) = peer_chain(payloads)?;
                trust.validate(&ee, &intermediates, clock.now())?;
                if !ee.matches_identity(&identity) {
                    return Err(AuthError::IdMismatch(identity.to_string()));
                }
                if their_auth.method.0 == auth_method::DIGITAL_SIGNATURE {
                    let hash = DigitalSignature::parse(&their_auth.data)?
                        .algorithm
                        .hash_algorithm();
                    if !ANNOUNCED.contains(&hash) {
                        return Err(AuthError::HashNotAnnounced(hash));
                    }
                }
                verify_auth(&ee, their_auth.method.0, &their_auth.data, &octets)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use iketcp_pki::{PrivateKey, RsaPadding, TrustStore};
    use iketcp_wire::ike::{ExchangeType, Flags, Header, IKEV2_VERSION, IdType, PayloadType};

    use super::*;
    use crate::events::IkeSaId;
    use crate::ike_sa::State;
    use crate::path::Path;

    fn init_message(announce: bool, response: bool) -> Vec<u8> {
        let mut payloads = vec![Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            vec![0; 20],
        ))];
        if announce {
            payloads.push(hash_algorithms_notify());
        }
        Message {
            header: Header {
                spi_i: 1,
                spi_r: 2,
                next_payload: PayloadType::NONE,
                version: IKEV2_VERSION,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: if response {
                    Flags::RESPONSE
                } else {
                    Flags::INITIATOR
                },
                message_id: 0,
                length: 0,
            },
            payloads,
        }
        .emit()
        .unwrap()
    }

    fn pubkey() -> AuthConfig {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        AuthConfig::Pubkey {
            key: Arc::new(PrivateKey::from_pem(kp.serialize_pem().as_bytes()).unwrap()),
            cert_chain: vec![Certificate::from_der(cert.der().to_vec()).unwrap()],
            trust: TrustStore::new(),
            rsa_padding: RsaPadding::Pkcs1,
        }
    }

    /// RFC 7427 §1 with RFC 8247 §3.2: RSA over SHA-1 (method 1) is refused once both
    /// IKE_SA_INIT messages announced SIGNATURE_HASH_ALGORITHMS, before any signature
    /// work; without the peer's announcement it goes on to the signature check.
    #[test]
    fn rfc7427_sha1_method_refused_after_both_announced() {
        let path = Path::udp(
            "10.0.0.2:500".parse().unwrap(),
            "10.0.0.1:500".parse().unwrap(),
        );
        let id = Id {
            id_type: IdType::FQDN,
            data: b"a.test".to_vec(),
        };
        let sha1 = Auth {
            method: AuthMethod(auth_method::RSA_DIGITAL_SIGNATURE),
            data: vec![0x5a; 256],
        };
        let cfg = pubkey();
        for peer_announced in [true, false] {
            let mut sa = IkeSa::new(IkeSaId(1), false, 1, 2, State::HalfOpen, path);
            sa.init_request = init_message(peer_announced, false);
            sa.init_response = init_message(true, true);
            let r = sa.verify_peer(&cfg, &id, &sha1, &[], &WallClock::system());
            if peer_announced {
                assert_eq!(r, Err(AuthError::Sha1AfterAnnouncement));
            } else {
                assert!(r.is_err());
                assert_ne!(r, Err(AuthError::Sha1AfterAnnouncement));
            }
        }
    }
}
