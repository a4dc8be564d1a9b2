//! RFC 7296 §2.7 and §3.3.6: proposals, and choosing one.
//!
//! A configured [`ProposalSpec`] lists acceptable transforms per type; on the wire it is
//! one proposal whose alternatives of the same type are ORed. The responder chooses the
//! first of the initiator's proposals (the initiator's order expresses its preference)
//! that one of its own specs accepts, and answers with exactly one transform per type.

use iketcp_wire::ike::{Proposal, ProtocolId, Transform, TransformId, TransformType};

/// One configured proposal: for each transform type, the acceptable transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSpec {
    pub transforms: Vec<Transform>,
}

/// A proposal the two sides agreed on: one transform per type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub number: u8,
    pub protocol_id: ProtocolId,
    pub spi: Vec<u8>,
    pub encr: Transform,
    pub prf: Option<Transform>,
    pub integ: Option<Transform>,
    pub ke: Option<Transform>,
    pub esn: bool,
}

impl Chosen {
    /// The single-transform-per-type proposal the responder sends back.
    pub fn to_wire(&self, spi: Vec<u8>) -> Proposal {
        let mut transforms = vec![self.encr.clone()];
        transforms.extend(self.prf.clone());
        transforms.extend(self.integ.clone());
        transforms.extend(self.ke.clone());
        if self.protocol_id != ProtocolId::IKE {
            let esn = if self.esn {
                TransformId::ESN_YES
            } else {
                TransformId::ESN_NO
            };
            transforms.push(Transform::new(TransformType::ESN, esn));
        }
        Proposal {
            number: self.number,
            protocol_id: self.protocol_id,
            spi,
            transforms,
        }
    }

    pub fn ke_group(&self) -> Option<TransformId> {
        self.ke.as_ref().map(|t| t.id)
    }
}

impl ProposalSpec {
    pub fn to_wire(&self, number: u8, protocol_id: ProtocolId, spi: Vec<u8>) -> Proposal {
        Proposal {
            number,
            protocol_id,
            spi,
            transforms: self.transforms.clone(),
        }
    }

    /// The key-exchange groups offered, in order of preference.
    pub fn ke_groups(&self) -> impl Iterator<Item = TransformId> + '_ {
        self.of(TransformType::KE).map(|t| t.id)
    }

    /// This spec without key-exchange transforms: RFC 7296 §1.2, the Child SA created
    /// by IKE_AUTH takes its keys from the IKE SA, so KE transforms play no part there.
    pub fn without_ke(&self) -> ProposalSpec {
        ProposalSpec {
            transforms: self
                .transforms
                .iter()
                .filter(|t| !t.ty.is_key_exchange())
                .cloned()
                .collect(),
        }
    }

    fn of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> + '_ {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }

    fn has(&self, ty: TransformType) -> bool {
        self.of(ty).next().is_some()
    }

    /// Picks from `offered` one transform of each type, all acceptable to this spec.
    fn accept(&self, offered: &Proposal, ignore_ke: bool) -> Option<Chosen> {
        let pick = |ty: TransformType| -> Result<Option<Transform>, ()> {
            let theirs: Vec<&Transform> =
                offered.transforms.iter().filter(|t| t.ty == ty).collect();
            if !self.has(ty) {
                // We do not want this type: fine if they did not offer it, or offered
                // "none" among the alternatives.
                let none_ok = theirs.is_empty()
                    || theirs
                        .iter()
                        .any(|t| t.id == TransformId(0) && t.attributes.is_empty());
                return if none_ok { Ok(None) } else { Err(()) };
            }
            // Our order of preference among what they offer.
            self.of(ty)
                .find(|ours| theirs.iter().any(|t| t == ours))
                .cloned()
                .map(Some)
                .ok_or(())
        };
        let encr = pick(TransformType::ENCR).ok()??;
        let prf = pick(TransformType::PRF).ok()?;
        let integ = pick(TransformType::INTEG).ok()?;
        let ke = if ignore_ke {
            None
        } else {
            pick(TransformType::KE).ok()?
        };
        if offered
            .transforms
            .iter()
            .any(|t| t.ty.0 > TransformType::ESN.0 && !ignore_ke)
        {
            // Additional key exchanges (RFC 9370) are not negotiated here.
            return None;
        }
        let esn = if offered.protocol_id == ProtocolId::IKE {
            false
        } else {
            let theirs: Vec<TransformId> = offered
                .transforms
                .iter()
                .filter(|t| t.ty == TransformType::ESN)
                .map(|t| t.id)
                .collect();
            let want: Vec<TransformId> = if self.has(TransformType::ESN) {
                self.of(TransformType::ESN).map(|t| t.id).collect()
            } else {
                vec![TransformId::ESN_NO]
            };
            // RFC 7296 §3.3.2: an absent ESN transform means no ESN.
            let theirs = if theirs.is_empty() {
                vec![TransformId::ESN_NO]
            } else {
                theirs
            };
            *want.iter().find(|w| theirs.contains(w))? == TransformId::ESN_YES
        };
        Some(Chosen {
            number: offered.number,
            protocol_id: offered.protocol_id,
            spi: offered.spi.clone(),
            encr,
            prf,
            integ,
            ke,
            esn,
        })
    }
}

/// RFC 7296 §2.7: the first of the peer's proposals (for `protocol`) that one of ours
/// accepts. `ignore_ke` drops key-exchange transforms from the comparison (IKE_AUTH).
pub fn select(
    offered: &[Proposal],
    ours: &[ProposalSpec],
    protocol: ProtocolId,
    ignore_ke: bool,
) -> Option<Chosen> {
    offered
        .iter()
        .filter(|p| p.protocol_id == protocol)
        .find_map(|p| ours.iter().find_map(|spec| spec.accept(p, ignore_ke)))
}

/// Whether `chosen`, agreed earlier, is one of the proposals `ours` accept: a responder
/// picks the IKE proposal in IKE_SA_INIT before IKE_AUTH tells which configuration
/// applies, and checks it against that configuration once it knows.
pub fn permits(ours: &[ProposalSpec], chosen: &Chosen) -> bool {
    select(
        &[chosen.to_wire(chosen.spi.clone())],
        ours,
        chosen.protocol_id,
        false,
    )
    .is_some()
}

/// Wire proposals for our specs, numbered from 1.
pub fn offer(
    ours: &[ProposalSpec],
    protocol: ProtocolId,
    spi: &[u8],
    ignore_ke: bool,
) -> Vec<Proposal> {
    ours.iter()
        .enumerate()
        .map(|(i, spec)| {
            let spec = if ignore_ke {
                spec.without_ke()
            } else {
                spec.clone()
            };
            spec.to_wire((i + 1).min(255) as u8, protocol, spi.to_vec())
        })
        .collect()
}

/// Checks that a responder's answer is one transform per type from what we offered.
pub fn check_answer(
    answer: &[Proposal],
    ours: &[ProposalSpec],
    protocol: ProtocolId,
    ignore_ke: bool,
) -> Option<Chosen> {
    let [one] = answer else { return None };
    // One transform per type in the answer.
    let mut seen = Vec::new();
    for t in &one.transforms {
        if seen.contains(&t.ty) {
            return None;
        }
        seen.push(t.ty);
    }
    select(answer, ours, protocol, ignore_ke)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ts: &[(TransformType, TransformId, Option<u16>)]) -> ProposalSpec {
        ProposalSpec {
            transforms: ts
                .iter()
                .map(|&(ty, id, kl)| match kl {
                    Some(k) => Transform::with_key_length(ty, id, k),
                    None => Transform::new(ty, id),
                })
                .collect(),
        }
    }

    fn gcm_ike() -> ProposalSpec {
        spec(&[
            (TransformType::ENCR, TransformId::ENCR_AES_GCM_16, Some(128)),
            (TransformType::PRF, TransformId::PRF_HMAC_SHA2_256, None),
            (TransformType::KE, TransformId::KE_ECP_256, None),
            (TransformType::KE, TransformId::KE_CURVE25519, None),
        ])
    }

    #[test]
    fn rfc7296_2_7_first_acceptable_of_their_proposals() {
        let cbc = spec(&[
            (TransformType::ENCR, TransformId::ENCR_AES_CBC, Some(256)),
            (TransformType::PRF, TransformId::PRF_HMAC_SHA2_256, None),
            (
                TransformType::INTEG,
                TransformId::INTEG_HMAC_SHA2_256_128,
                None,
            ),
            (TransformType::KE, TransformId::KE_MODP_2048, None),
        ]);
        let theirs = offer(&[cbc.clone(), gcm_ike()], ProtocolId::IKE, &[], false);
        let c = select(&theirs, &[gcm_ike()], ProtocolId::IKE, false).unwrap();
        assert_eq!(c.number, 2);
        assert_eq!(c.ke_group(), Some(TransformId::KE_ECP_256));
        let back = c.to_wire(vec![]);
        assert_eq!(back.transforms.len(), 3);
        assert!(check_answer(&[back], &[gcm_ike()], ProtocolId::IKE, false).is_some());
        // A key length we do not accept is no match.
        let gcm256 = spec(&[
            (TransformType::ENCR, TransformId::ENCR_AES_GCM_16, Some(256)),
            (TransformType::PRF, TransformId::PRF_HMAC_SHA2_256, None),
            (TransformType::KE, TransformId::KE_ECP_256, None),
        ]);
        assert!(
            select(
                &offer(&[gcm256], ProtocolId::IKE, &[], false),
                &[gcm_ike()],
                ProtocolId::IKE,
                false
            )
            .is_none()
        );
    }

    #[test]
    fn esp_pfs_and_esn_rules() {
        let esp = spec(&[(TransformType::ENCR, TransformId::ENCR_AES_GCM_16, Some(128))]);
        let with_pfs = spec(&[
            (TransformType::ENCR, TransformId::ENCR_AES_GCM_16, Some(128)),
            (TransformType::KE, TransformId::KE_ECP_256, None),
            (TransformType::ESN, TransformId::ESN_NO, None),
        ]);
        let theirs = offer(
            std::slice::from_ref(&with_pfs),
            ProtocolId::ESP,
            &[1, 2, 3, 4],
            false,
        );
        // Without PFS configured, a PFS-only offer is refused outside IKE_AUTH...
        assert!(select(&theirs, std::slice::from_ref(&esp), ProtocolId::ESP, false).is_none());
        // ...and accepted in IKE_AUTH, where KE transforms do not count.
        let c = select(&theirs, std::slice::from_ref(&esp), ProtocolId::ESP, true).unwrap();
        assert_eq!(c.spi, vec![1, 2, 3, 4]);
        assert!(!c.esn);
        assert_eq!(c.to_wire(vec![9; 4]).transforms.len(), 2);
        // ESN only when both want it.
        let esn_yes = spec(&[
            (TransformType::ENCR, TransformId::ENCR_AES_GCM_16, Some(128)),
            (TransformType::ESN, TransformId::ESN_YES, None),
        ]);
        assert!(
            select(
                &theirs,
                std::slice::from_ref(&esn_yes),
                ProtocolId::ESP,
                true
            )
            .is_none()
        );
        let c = select(
            &offer(
                std::slice::from_ref(&esn_yes),
                ProtocolId::ESP,
                &[1; 4],
                false,
            ),
            &[esn_yes],
            ProtocolId::ESP,
            false,
        )
        .unwrap();
        assert!(c.esn);
    }
}
