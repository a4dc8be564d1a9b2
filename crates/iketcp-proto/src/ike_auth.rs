//! RFC 7296 §1.2 and §2.15: the IKE_AUTH exchange and the first Child SA it creates.
//!
//! This module moves the payloads: IDi, CERT, CERTREQ, IDr and AUTH from the initiator;
//! IDr, CERT and AUTH back. What proves an identity, a pre-shared key or a certificate
//! and a signature (RFC 7427), is in `auth`.

use iketcp_wire::ike::{ExchangeType, Notify, NotifyType, Payload, ProtocolId, Sa};
use tracing::info;

use crate::auth::{self, AuthError};
use crate::child::{self, ChildRequest, Nonces};
use crate::config::{Mode, PeerConfig};
use crate::error::{ProtocolError, Refusal};
use crate::events::{DownReason, Event};
use crate::ike_sa::{Active, Cx, IkeSa, State, error_notify};
use crate::payloads::Payloads;
use crate::proposal;
use crate::ts;

pub(crate) struct AuthRequest {
    pub child: Option<ChildRequest>,
}

impl IkeSa {
    /// The initiator sends IKE_AUTH right after IKE_SA_INIT.
    pub(crate) fn start_auth(&mut self, cx: &mut Cx<'_>) {
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        let proof = match self.prove(&cfg.auth, &cfg.local_id) {
            Ok(p) => p,
            Err(e) => {
                info!(ike = %self.id, "cannot authenticate ourselves: {e}");
                self.die(cx, DownReason::AuthFailed);
                return;
            }
        };
        // RFC 7296 §1.2: IDi, [CERT,] [CERTREQ,] [IDr,] AUTH.
        let mut payloads = vec![Payload::IdI(cfg.local_id.clone())];
        payloads.extend(proof.certs);
        payloads.extend(auth::certreq(&cfg.auth));
        payloads.push(Payload::IdR(cfg.remote_id.clone()));
        payloads.push(proof.auth);
        payloads.extend(self.mobike_notify(cx));
        payloads.extend(self.vip_request(cx));
        let mut child_req = None;
        if let Some(ci) = self.first_child
            && let Some(ccfg) = cfg.children.get(ci)
        {
            let spi_in = cx.new_child_spi();
            if ccfg.mode == Mode::Transport {
                payloads.push(Payload::Notify(Notify::new(
                    NotifyType::USE_TRANSPORT_MODE,
                    vec![],
                )));
            }
            payloads.push(Payload::Sa(Sa {
                proposals: proposal::offer(
                    &ccfg.esp_proposals,
                    ProtocolId::ESP,
                    &spi_in.to_be_bytes(),
                    true,
                ),
            }));
            payloads.push(Payload::TsI(ts::to_wire(&ccfg.local_ts)));
            payloads.push(Payload::TsR(ts::to_wire(&ccfg.remote_ts)));
            child_req = Some(ChildRequest {
                cfg: ci,
                spi_in,
                nonce: Vec::new(),
                ke: None,
                rekey_of: None,
                local_ts: ccfg.local_ts.clone(),
                remote_ts: ccfg.remote_ts.clone(),
            });
        }
        self.state = State::AuthSent;
        self.send_request(
            cx,
            ExchangeType::IKE_AUTH,
            payloads,
            Active::Auth(AuthRequest { child: child_req }),
        );
    }

    /// The responder's handling of IKE_AUTH.
    pub(crate) fn process_auth_request(
        &mut self,
        cx: &mut Cx<'_>,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let idi = payloads.id_i();
        let idr = payloads.id_r();
        let auth = payloads.auth();
        let (Some(idi), Some(auth)) = (idi, auth) else {
            self.send_error(
                cx,
                ExchangeType::IKE_AUTH,
                mid,
                &ProtocolError::InvalidSyntax,
            );
            self.die(cx, DownReason::Protocol(ProtocolError::InvalidSyntax));
            return;
        };
        // The peer configuration is the one whose identities match (RFC 7296 §2.15),
        // for the address the peer reached, and that allows the IKE proposal agreed in
        // IKE_SA_INIT, which was picked from every configuration's proposals at once.
        let local_ip = self.path.local.ip();
        let peers = cx.peers;
        let by_id = |p: &PeerConfig| {
            p.remote_id == *idi
                && idr.is_none_or(|r| *r == p.local_id)
                && (p.local.ip().is_unspecified() || p.local.ip() == local_ip)
        };
        let chosen = self.chosen.as_ref();
        let retired = cx.retired;
        let live = |i: &usize| !retired.contains(i);
        let proven = peers
            .iter()
            .enumerate()
            .position(|(i, p)| {
                live(&i)
                    && by_id(p)
                    && chosen.is_some_and(|c| proposal::permits(&p.ike_proposals, c))
            })
            .ok_or(
                if peers.iter().enumerate().any(|(i, p)| live(&i) && by_id(p)) {
                    AuthError::ProposalNotAllowed
                } else {
                    AuthError::NoConfig
                },
            )
            .and_then(|i| {
                let cfg = &peers[i];
                self.verify_peer(&cfg.auth, idi, auth, &payloads, &cx.config.wall_clock)?;
                Ok((i, cfg, self.prove(&cfg.auth, &cfg.local_id)?))
            });
        let (peer, cfg, proof) = match proven {
            Ok(p) => p,
            Err(e) => {
                info!(ike = %self.id, "authentication of {:?} failed: {e}", String::from_utf8_lossy(&idi.data));
                self.send_error(
                    cx,
                    ExchangeType::IKE_AUTH,
                    mid,
                    &ProtocolError::AuthenticationFailed,
                );
                self.die(cx, DownReason::AuthFailed);
                return;
            }
        };
        self.peer = Some(peer);
        self.peer_fragmentation &= cfg.fragmentation;
        // RFC 7296 §1.2: IDr, [CERT,] AUTH.
        let mut resp = vec![Payload::IdR(cfg.local_id.clone())];
        resp.extend(proof.certs);
        resp.push(proof.auth);
        if IkeSa::peer_announced_mobike(&payloads)
            && let Some(n) = self.mobike_notify(cx)
        {
            // RFC 4555 §3.1: both announced; only the initiator moves the SA.
            self.mobike = true;
            resp.push(n);
        }
        let mut made = None;
        let mut wants_child = payloads.iter().any(|p| matches!(p, Payload::Sa(_)));
        match self.lease_vips(cx, &payloads) {
            Ok(reply) => resp.extend(reply),
            Err(e) => {
                // RFC 7296 §3.10.1: the IKE SA is made, the first Child SA is not.
                resp.push(error_notify(&e));
                wants_child = false;
            }
        }
        if wants_child {
            let nonces = Nonces {
                ni: self.ni.clone(),
                nr: self.nr.clone(),
            };
            match child::respond(self, cx, peer, &payloads, None, nonces, true) {
                Ok((child_payloads, child)) => {
                    resp.extend(child_payloads);
                    made = Some(child);
                }
                Err(e) => {
                    info!(ike = %self.id, "first Child SA refused: {e}");
                    resp.push(error_notify(&e));
                }
            }
        }
        self.send_response(cx, ExchangeType::IKE_AUTH, mid, resp);
        self.established(cx);
        if let Some(c) = made {
            self.install_child(cx, c);
        }
    }

    /// The initiator's handling of the IKE_AUTH response.
    pub(crate) fn process_auth_response(
        &mut self,
        cx: &mut Cx<'_>,
        req: AuthRequest,
        payloads: Vec<Payload>,
    ) {
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        // The SPI reserved for the first Child SA, free again if the IKE SA fails.
        let reserved = req.child.as_ref().map(|c| c.spi_in);
        let release = |cx: &mut Cx<'_>| {
            if let Some(spi) = reserved {
                cx.child_spis.remove(&spi);
            }
        };
        if payloads.iter().any(|p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED)) {
            release(cx);
            self.die(
                cx,
                DownReason::Refused(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED)),
            );
            return;
        }
        let idr = payloads.id_r();
        let auth = payloads.auth();
        let verified = match (idr, auth) {
            (Some(idr), Some(auth)) if *idr == cfg.remote_id => {
                self.verify_peer(&cfg.auth, idr, auth, &payloads, &cx.config.wall_clock)
            }
            (Some(idr), Some(_)) => Err(AuthError::UnexpectedId(
                String::from_utf8_lossy(&idr.data).into_owned(),
            )),
            _ => Err(AuthError::Missing("IDr or AUTH")),
        };
        if let Err(e) = verified {
            info!(ike = %self.id, "responder failed authentication: {e}");
            release(cx);
            self.die(cx, DownReason::AuthFailed);
            return;
        }
        if cfg.mobike && IkeSa::peer_announced_mobike(&payloads) {
            self.mobike = true;
            self.mobile = true;
        }
        self.established(cx);
        self.learn_vips(cx, &payloads);
        if let Some(creq) = req.child {
            let nonces = Nonces {
                ni: self.ni.clone(),
                nr: self.nr.clone(),
            };
            match child::accept(self, cx, creq, &payloads, nonces, true) {
                Ok(c) => self.install_child(cx, c),
                Err((name, e)) => {
                    info!(ike = %self.id, "first Child SA not created: {e}");
                    cx.event(Event::ChildFailed {
                        ike: self.id,
                        name,
                        reason: DownReason::Refused(e),
                    });
                }
            }
        }
    }
}
