//! RFC 7296 §1.3.2 and §2.18: rekeying the IKE SA with CREATE_CHILD_SA.
//!
//! The new IKE SA takes over the Child SAs; its original initiator is whoever started
//! the rekey, and its message IDs start from zero. The old IKE SA is deleted by the
//! rekey's initiator once the new one stands.

use iketcp_crypto::{ActiveKe, IkeKeys, KeGroup};
use iketcp_wire::ike::{ExchangeType, Ke, Nonce, Payload, ProtocolId, Sa, TransformId};
use tracing::info;

use crate::error::ProtocolError;
use crate::events::Event;
use crate::ike_init::ike_algorithms;
use crate::ike_sa::{Active, Cx, IkeSa, State, Task};
use crate::payloads::Payloads;
use crate::proposal::{self, Chosen};
use crate::protect::Keys;

const NONCE_LEN: usize = 32;

/// The new IKE SA's parameters (RFC 7296 §2.18).
struct Successor {
    initiator: bool,
    spi_i: u64,
    spi_r: u64,
    chosen: Chosen,
    keys: Keys,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

pub(crate) struct IkeRekeyRequest {
    pub spi: u64,
    pub nonce: Vec<u8>,
    pub ke: Box<dyn ActiveKe>,
}

impl IkeSa {
    pub(crate) fn start_rekey_ike(&mut self, cx: &mut Cx<'_>) {
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        // Keep the group in use: the peer accepted it once.
        let group = self
            .chosen
            .as_ref()
            .and_then(Chosen::ke_group)
            .and_then(|g| KeGroup::from_iana(g.0));
        let Some(Ok(ke)) = group.map(|g| g.start(cx.rng)) else {
            return;
        };
        let spi = cx.new_ike_spi();
        let nonce = cx.random_bytes(NONCE_LEN);
        let payloads = vec![
            Payload::Sa(Sa {
                proposals: proposal::offer(
                    &cfg.ike_proposals,
                    ProtocolId::IKE,
                    &spi.to_be_bytes(),
                    false,
                ),
            }),
            Payload::Nonce(Nonce {
                data: nonce.clone(),
            }),
            Payload::Ke(Ke {
                group: TransformId(ke.group().iana()),
                data: ke.public_value().to_vec(),
            }),
        ];
        self.send_request(
            cx,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            Active::RekeyIke(IkeRekeyRequest { spi, nonce, ke }),
        );
    }

    /// Builds the IKE SA that replaces this one and moves the Child SAs to it.
    fn successor(&mut self, cx: &mut Cx<'_>, n: Successor) {
        let Successor {
            initiator,
            spi_i,
            spi_r,
            chosen,
            keys,
            ni,
            nr,
        } = n;
        let id = cx.new_sa_id();
        let mut new = IkeSa {
            family: self.family,
            // R-CONN-2: the TCP Originator stays so, whoever started the rekey.
            tcp_originator: self.tcp_originator,
            mobike: self.mobike,
            mobile: self.mobile,
            udp_probes_failed: self.udp_probes_failed,
            encap: self.encap,
            own_vips: self.own_vips.clone(),
            leased: self.leased.clone(),
            peer: self.peer,
            chosen: Some(chosen),
            keys: Some(keys),
            ni,
            nr,
            peer_fragmentation: self.peer_fragmentation,
            children: std::mem::take(&mut self.children),
            announced: true,
            ..IkeSa::new(id, initiator, spi_i, spi_r, State::Established, self.path)
        };
        // Work queued on the old SA continues on the new one; a queued IKE rekey is
        // what just happened.
        new.queue = std::mem::take(&mut self.queue);
        new.queue.retain(|t| *t != Task::RekeyIke);
        new.established(cx);
        new.predecessor = Some(self.local_spi());
        let nonce = new.ni.clone().min(new.nr.clone());
        let new_spi = new.local_spi();
        match (self.successor, self.successor_nonce.take()) {
            // RFC 7296 §2.8.2: both sides rekeyed at once. The new IKE SA made by the
            // exchange with the lowest nonce is redundant: its Child SAs go to the
            // other, and its initiator deletes it.
            (Some(prev), Some(prev_nonce)) if nonce < prev_nonce => {
                info!(old = %self.id, redundant = %new.id, "IKE SA rekey collision: new SA redundant");
                new.superseded = true;
                new.successor = Some(prev);
                // Its initiator deletes it (RFC 7296 §2.8.2); we do too when we only
                // answered: the initiator may never have seen our answer, and a
                // delete from both sides is harmless.
                new.queue.push_back(Task::DeleteIke);
                self.successor_nonce = Some(prev_nonce);
            }
            (Some(prev), Some(_)) => {
                info!(old = %self.id, new = %new.id, "IKE SA rekey collision: earlier successor redundant");
                cx.fx.merges.push(crate::ike_sa::Merge {
                    from: prev,
                    to: new_spi,
                });
                self.successor = Some(new_spi);
                self.successor_nonce = Some(nonce);
            }
            _ => {
                self.successor = Some(new_spi);
                self.successor_nonce = Some(nonce);
            }
        }
        info!(old = %self.id, new = %new.id, "IKE SA rekeyed");
        cx.event(Event::IkeRekeyed {
            old: self.id,
            new: new.id,
        });
        self.superseded = true;
        self.rekey_at = None;
        self.dpd_at = None;
        cx.fx.new_sas.push(new);
    }

    pub(crate) fn process_rekey_ike_response(
        &mut self,
        cx: &mut Cx<'_>,
        req: IkeRekeyRequest,
        payloads: Vec<Payload>,
    ) {
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        let sa = payloads.sa();
        // RFC 7296 §2.10: a nonce of at least 16 bytes.
        let nr = payloads.nonce().filter(|n| n.has_valid_len());
        let ke = payloads.ke();
        let chosen = sa.and_then(|s| {
            proposal::check_answer(&s.proposals, &cfg.ike_proposals, ProtocolId::IKE, false)
        });
        let (Some(chosen), Some(nr), Some(ke)) = (chosen, nr, ke) else {
            info!(ike = %self.id, "IKE rekey refused or malformed; retrying later");
            self.rekey_at = Some(cx.now + core::time::Duration::from_secs(30));
            return;
        };
        let peer_spi = <[u8; 8]>::try_from(chosen.spi.as_slice()).map(u64::from_be_bytes);
        let (Ok(peer_spi), Some(algs), Some(old)) =
            (peer_spi, ike_algorithms(&chosen), self.keys.as_ref())
        else {
            return;
        };
        if chosen.ke_group() != Some(ke.group) || ke.group.0 != req.ke.group().iana() {
            return;
        }
        let Ok(shared) = req.ke.complete(&ke.data) else {
            return;
        };
        let (prf, encr, integ) = algs;
        // RFC 7296 §2.18: the rekey's initiator is the new SA's initiator.
        let keys = IkeKeys::derive_rekey(
            old.ike.prf,
            &old.ike.sk_d,
            prf,
            encr,
            integ,
            shared.expose(),
            &req.nonce,
            &nr.data,
            &req.spi.to_be_bytes(),
            &peer_spi.to_be_bytes(),
        )
        .ok()
        .and_then(|k| Keys::new(k, true).ok());
        let Some(keys) = keys else {
            return;
        };
        let n = Successor {
            initiator: true,
            spi_i: req.spi,
            spi_r: peer_spi,
            chosen,
            keys,
            ni: req.nonce,
            nr: nr.data.clone(),
        };
        self.successor(cx, n);
        self.queue.clear();
        if self.successor == Some(req.spi) {
            // RFC 7296 §2.8.2: the initiator of the surviving rekey deletes the old SA.
            self.rekeyed_by_us = true;
            self.enqueue(cx, Task::DeleteIke);
        } else {
            // Ours was the redundant one in a collision: the peer deletes the old SA, and
            // our new one goes (its deletion is queued on it).
            info!(ike = %self.id, "IKE SA rekey collision lost; the peer deletes the old SA");
        }
    }

    pub(crate) fn process_rekey_ike_request(
        &mut self,
        cx: &mut Cx<'_>,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        if self.superseded && self.queue.contains(&Task::DeleteIke) || self.rekeyed_by_us {
            // RFC 7296 §2.25: our own rekey of this IKE SA already completed and we are
            // deleting it; a crossing rekey from the peer is refused, and it keeps ours.
            self.send_error(
                cx,
                ExchangeType::CREATE_CHILD_SA,
                mid,
                &ProtocolError::TemporaryFailure,
            );
            return;
        }
        let reply_err = |sa: &mut IkeSa, cx: &mut Cx<'_>, e: ProtocolError| {
            sa.send_error(cx, ExchangeType::CREATE_CHILD_SA, mid, &e);
        };
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        let sa = payloads.sa();
        // RFC 7296 §2.10: a nonce of at least 16 bytes.
        let ni = payloads.nonce().filter(|n| n.has_valid_len());
        let ke = payloads.ke();
        let (Some(sa), Some(ni), Some(ke)) = (sa, ni, ke) else {
            reply_err(self, cx, ProtocolError::InvalidSyntax);
            return;
        };
        let Some(chosen) =
            proposal::select(&sa.proposals, &cfg.ike_proposals, ProtocolId::IKE, false)
        else {
            reply_err(self, cx, ProtocolError::NoProposalChosen);
            return;
        };
        let (Some(group), Some((prf, encr, integ))) = (chosen.ke_group(), ike_algorithms(&chosen))
        else {
            reply_err(self, cx, ProtocolError::NoProposalChosen);
            return;
        };
        if ke.group != group {
            reply_err(self, cx, ProtocolError::InvalidKe(group.0));
            return;
        }
        let Ok(peer_spi) = <[u8; 8]>::try_from(chosen.spi.as_slice()).map(u64::from_be_bytes)
        else {
            reply_err(self, cx, ProtocolError::InvalidSyntax);
            return;
        };
        let Some(Ok(ours)) = KeGroup::from_iana(group.0).map(|g| g.start(cx.rng)) else {
            reply_err(self, cx, ProtocolError::NoProposalChosen);
            return;
        };
        let our_ke = Payload::Ke(Ke {
            group,
            data: ours.public_value().to_vec(),
        });
        let Ok(shared) = ours.complete(&ke.data) else {
            reply_err(self, cx, ProtocolError::InvalidSyntax);
            return;
        };
        let Some(old) = self.keys.as_ref() else {
            return;
        };
        let spi = cx.new_ike_spi();
        let nr = cx.random_bytes(NONCE_LEN);
        let keys = IkeKeys::derive_rekey(
            old.ike.prf,
            &old.ike.sk_d,
            prf,
            encr,
            integ,
            shared.expose(),
            &ni.data,
            &nr,
            &peer_spi.to_be_bytes(),
            &spi.to_be_bytes(),
        )
        .ok()
        .and_then(|k| Keys::new(k, false).ok());
        let Some(keys) = keys else {
            reply_err(self, cx, ProtocolError::TemporaryFailure);
            return;
        };
        let resp = vec![
            Payload::Sa(Sa {
                proposals: vec![chosen.to_wire(spi.to_be_bytes().to_vec())],
            }),
            Payload::Nonce(Nonce { data: nr.clone() }),
            our_ke,
        ];
        self.send_response(cx, ExchangeType::CREATE_CHILD_SA, mid, resp);
        let ni = ni.data.clone();
        let n = Successor {
            initiator: false,
            spi_i: peer_spi,
            spi_r: spi,
            chosen,
            keys,
            ni,
            nr,
        };
        self.successor(cx, n);
    }
}
