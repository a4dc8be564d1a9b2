//! RFC 7296 §1.2 and §2.15: the IKE_AUTH exchange, with pre-shared keys, and the first
//! Child SA it creates.

use iketcp_crypto::{keymat, psk_auth, verify_psk_auth};
use iketcp_wire::codec::Writer;
use iketcp_wire::ike::{
    Auth, AuthMethod, ExchangeType, Id, Notify, NotifyType, Payload, ProtocolId, Sa,
};
use tracing::info;

use crate::child::{self, ChildRequest, Nonces};
use crate::config::{AuthConfig, Mode};
use crate::error::ProtocolError;
use crate::events::{DownReason, Event};
use crate::ike_sa::{Active, Cx, IkeSa, State, error_notify};
use crate::proposal;
use crate::ts;

pub(crate) struct AuthRequest {
    pub child: Option<ChildRequest>,
}

fn id_body(id: &Id) -> Vec<u8> {
    let mut w = Writer::new();
    // Id::emit cannot fail; an empty body would only make AUTH fail.
    let _ = id.emit(&mut w);
    w.into_vec()
}

fn find<T>(payloads: &[Payload], f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
    payloads.iter().find_map(f)
}

impl IkeSa {
    /// Our AUTH payload data: RFC 7296 §2.15, prf(prf(Shared Secret, "Key Pad for
    /// IKEv2"), <SignedOctets>).
    fn our_auth(&self, psk: &[u8], id: &Id) -> Option<Vec<u8>> {
        let keys = self.keys.as_ref()?;
        let (msg, nonce, sk_p) = if self.initiator {
            (&self.init_request, &self.nr, &keys.ike.sk_pi)
        } else {
            (&self.init_response, &self.ni, &keys.ike.sk_pr)
        };
        let octets = keymat::signed_octets(keys.ike.prf, msg, nonce, sk_p, &id_body(id));
        Some(psk_auth(keys.ike.prf, psk, &octets))
    }

    /// Checks the peer's AUTH payload against what its side of the exchange must sign.
    fn check_peer_auth(&self, psk: &[u8], id: &Id, auth: &Auth) -> bool {
        let Some(keys) = self.keys.as_ref() else {
            return false;
        };
        if auth.method != AuthMethod::SHARED_KEY_MIC {
            return false;
        }
        let (msg, nonce, sk_p) = if self.initiator {
            (&self.init_response, &self.ni, &keys.ike.sk_pr)
        } else {
            (&self.init_request, &self.nr, &keys.ike.sk_pi)
        };
        let octets = keymat::signed_octets(keys.ike.prf, msg, nonce, sk_p, &id_body(id));
        verify_psk_auth(keys.ike.prf, psk, &octets, &auth.data).is_ok()
    }

    /// The initiator sends IKE_AUTH right after IKE_SA_INIT.
    pub(crate) fn start_auth(&mut self, cx: &mut Cx<'_>) {
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        let AuthConfig::Psk(psk) = &cfg.auth;
        let Some(auth) = self.our_auth(psk.expose(), &cfg.local_id) else {
            return;
        };
        let mut payloads = vec![
            Payload::IdI(cfg.local_id.clone()),
            Payload::IdR(cfg.remote_id.clone()),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
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
        let idi = find(&payloads, |p| {
            if let Payload::IdI(i) = p {
                Some(i)
            } else {
                None
            }
        });
        let idr = find(&payloads, |p| {
            if let Payload::IdR(i) = p {
                Some(i)
            } else {
                None
            }
        });
        let auth = find(&payloads, |p| {
            if let Payload::Auth(a) = p {
                Some(a)
            } else {
                None
            }
        });
        let (Some(idi), Some(auth)) = (idi, auth) else {
            self.send_response(
                cx,
                ExchangeType::IKE_AUTH,
                mid,
                vec![error_notify(&ProtocolError::InvalidSyntax)],
            );
            self.die(
                cx,
                DownReason::Protocol("IKE_AUTH without IDi or AUTH".into()),
            );
            return;
        };
        // The peer configuration is the one whose identities match (RFC 7296 §2.15).
        let peer = cx
            .peers
            .iter()
            .position(|p| p.remote_id == *idi && idr.is_none_or(|r| *r == p.local_id));
        let verified = peer.and_then(|i| {
            let cfg = cx.peers.get(i)?;
            let AuthConfig::Psk(psk) = &cfg.auth;
            self.check_peer_auth(psk.expose(), idi, auth).then_some(i)
        });
        let Some(peer) = verified else {
            info!(ike = %self.id, "authentication of {:?} failed", String::from_utf8_lossy(&idi.data));
            self.send_response(
                cx,
                ExchangeType::IKE_AUTH,
                mid,
                vec![error_notify(&ProtocolError::AuthenticationFailed)],
            );
            self.die(cx, DownReason::AuthFailed);
            return;
        };
        self.peer = Some(peer);
        let Some(cfg) = cx.peers.get(peer) else {
            return;
        };
        let AuthConfig::Psk(psk) = &cfg.auth;
        let Some(our_auth) = self.our_auth(psk.expose(), &cfg.local_id) else {
            return;
        };
        self.peer_fragmentation &= cfg.fragmentation;
        let mut resp = vec![
            Payload::IdR(cfg.local_id.clone()),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: our_auth,
            }),
        ];
        let mut made = None;
        if payloads.iter().any(|p| matches!(p, Payload::Sa(_))) {
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
        let AuthConfig::Psk(psk) = &cfg.auth;
        if payloads.iter().any(|p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED)) {
            self.die(cx, DownReason::PeerError("AUTHENTICATION_FAILED".into()));
            return;
        }
        let idr = find(&payloads, |p| {
            if let Payload::IdR(i) = p {
                Some(i)
            } else {
                None
            }
        });
        let auth = find(&payloads, |p| {
            if let Payload::Auth(a) = p {
                Some(a)
            } else {
                None
            }
        });
        let ok = match (idr, auth) {
            (Some(idr), Some(auth)) => {
                *idr == cfg.remote_id && self.check_peer_auth(psk.expose(), idr, auth)
            }
            _ => false,
        };
        if !ok {
            info!(ike = %self.id, "responder failed authentication");
            self.die(cx, DownReason::AuthFailed);
            return;
        }
        self.established(cx);
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
                        reason: DownReason::PeerError(e),
                    });
                }
            }
        }
    }
}
