//! RFC 7296 §1.4: the INFORMATIONAL exchange: deleting SAs (§1.4.1) and liveness checks
//! (§2.4).
//!
//! R-DPD-1: liveness is this exchange and nothing else; a TCP or TLS keepalive proves
//! only that the connection is up, not that the peer's IKE SA is.

use iketcp_wire::ike::{Delete, ExchangeType, Payload, ProtocolId};
use tracing::{debug, info};

use crate::events::DownReason;
use crate::ike_sa::{Active, Cx, IkeSa};

impl IkeSa {
    pub(crate) fn start_delete_child(&mut self, cx: &mut Cx<'_>, spis_in: Vec<u32>) {
        let payloads = vec![Payload::Delete(Delete::child(ProtocolId::ESP, &spis_in))];
        self.send_request(
            cx,
            ExchangeType::INFORMATIONAL,
            payloads,
            Active::DeleteChild { spis_in },
        );
    }

    pub(crate) fn start_delete_ike(&mut self, cx: &mut Cx<'_>) {
        self.send_request(
            cx,
            ExchangeType::INFORMATIONAL,
            vec![Payload::Delete(Delete::ike())],
            Active::DeleteIke,
        );
    }

    pub(crate) fn start_liveness(&mut self, cx: &mut Cx<'_>) {
        debug!(ike = %self.id, "liveness check");
        self.send_request(cx, ExchangeType::INFORMATIONAL, vec![], Active::Liveness);
    }

    pub(crate) fn process_delete_child_response(
        &mut self,
        cx: &mut Cx<'_>,
        spis_in: Vec<u32>,
        _payloads: Vec<Payload>,
    ) {
        // RFC 7296 §1.4.1: the response's Delete lists the peer's inbound SPIs of the same
        // pairs; ours are gone either way.
        for spi in spis_in {
            if self.children.iter().any(|c| c.spi_in == spi) {
                self.remove_child(cx, spi, DownReason::Local);
            } else if self.superseded {
                // The Child SA moved to the successor IKE SA while this DELETE was in
                // flight; finish there (the peer answers an unknown SPI with nothing).
                self.queue
                    .push_back(crate::ike_sa::Task::DeleteChild { spi_in: spi });
            } else {
                // It moved to another IKE SA of this peer after a rekey collision; the
                // peer has deleted it, so it goes wherever it is now.
                cx.fx.removals.push(spi);
            }
        }
    }

    pub(crate) fn process_informational_request(
        &mut self,
        cx: &mut Cx<'_>,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let moved = self.take_update(cx, &payloads);
        let mut ours = Vec::new();
        let mut delete_ike = false;
        for p in &payloads {
            if let Payload::Delete(d) = p {
                match d.protocol_id {
                    ProtocolId::IKE => delete_ike = true,
                    ProtocolId::ESP => {
                        for spi in d.spis_u32() {
                            // Their inbound SPI is our outbound one.
                            if let Some(c) = self.children.iter().find(|c| c.spi_out == spi) {
                                ours.push(c.spi_in);
                            } else {
                                // After a rekey collision the Child SA may live on the
                                // sibling IKE SA of this peer.
                                cx.fx.removals_out.push(spi);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if delete_ike {
            info!(ike = %self.id, "peer deleted the IKE SA");
            self.send_response(cx, ExchangeType::INFORMATIONAL, mid, vec![]);
            if self.successor.is_none()
                && let Some(old) = self.predecessor
            {
                // RFC 7296 §2.8.2: the peer deletes a new IKE SA that lost a rekey
                // collision we have not resolved yet; its Child SAs, and the Child SA
                // work queued or in flight on it (a DELETE of a rekeyed Child SA, say),
                // go back to the old IKE SA, whose own rekey carries them to the
                // survivor. An SA already folded into another IKE SA hands its work
                // there instead.
                self.successor = Some(old);
            }
            let reason = if self.superseded {
                DownReason::Rekeyed
            } else {
                DownReason::PeerDeleted
            };
            self.die(cx, reason);
            return;
        }
        let mut resp = moved;
        if !ours.is_empty() {
            resp.push(Payload::Delete(Delete::child(ProtocolId::ESP, &ours)));
        }
        self.send_response(cx, ExchangeType::INFORMATIONAL, mid, resp);
        for spi in ours {
            self.remove_child(cx, spi, DownReason::PeerDeleted);
        }
    }
}
