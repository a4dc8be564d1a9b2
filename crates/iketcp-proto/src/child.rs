//! Child SAs: RFC 7296 §1.3.1 (CREATE_CHILD_SA for a new Child SA), §1.3.3 (rekeying
//! one), §2.9 (traffic selectors) and §2.17 (their keys).

use std::time::Instant;

use iketcp_crypto::{ActiveKe, Encr, Integ, KeGroup, keymat};
use iketcp_wire::ike::{
    ExchangeType, Ke, Nonce, Notify, NotifyType, Payload, ProtocolId, Sa, TrafficSelector,
    TransformId,
};
use tracing::{debug, info};

use crate::config::Mode;
use crate::error::{ProtocolError, Refusal};
use crate::events::{ChildSaKeys, DownReason, Event, Output};
use crate::ike_sa::{Active, Cx, IkeSa, Task};
use crate::payloads::Payloads;
use crate::proposal::{self, Chosen};
use crate::ts;
use crate::vip;

const NONCE_LEN: usize = 32;

/// An established Child SA, as the IKE SA keeps it (the keys went to the ESP engine).
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    pub cfg: usize,
    pub name: String,
    pub spi_in: u32,
    pub spi_out: u32,
    pub chosen: Chosen,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Mode,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    /// Where this SA stands in a rekey (RFC 7296 §1.3.3, §2.8.1).
    pub rekey: RekeyState,
}

/// The rekey bookkeeping of one Child SA; all empty while no rekey touched it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RekeyState {
    /// Replaced by a rekey; kept until its DELETE completes.
    pub replaced: bool,
    /// The Child SA that replaced this one in a rekey the peer started, which we
    /// answered.
    pub for_peer: Option<u32>,
    /// The Child SA our own rekey of this one made, while it stands.
    pub by_us: Option<u32>,
    /// The peer's rekey of this SA crossed ours: the lower of that exchange's two
    /// nonces decides which new SA is redundant.
    pub collision_nonce: Option<Vec<u8>>,
}

/// A Child SA being negotiated, with the keys to install once it is.
pub(crate) struct NewChild {
    pub sa: ChildSa,
    pub keys_in: keymat::DirectionKeys,
    pub keys_out: keymat::DirectionKeys,
    pub replaces: Option<u32>,
}

/// The initiator's state for a CREATE_CHILD_SA (or IKE_AUTH) child request.
pub(crate) struct ChildRequest {
    pub cfg: usize,
    pub spi_in: u32,
    /// Ni of a CREATE_CHILD_SA exchange; empty in IKE_AUTH.
    pub nonce: Vec<u8>,
    pub ke: Option<Box<dyn ActiveKe>>,
    pub rekey_of: Option<u32>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// The nonces that key a Child SA: IKE_SA_INIT's for the first one, the exchange's own
/// for CREATE_CHILD_SA.
pub(crate) struct Nonces {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
}

/// ESP key sizes for a chosen ESP proposal (RFC 4106 §8.1 and RFC 7634 §2 add a 4-byte
/// salt to AEAD keys).
fn esp_sizes(c: &Chosen) -> Option<keymat::ChildKeySizes> {
    let encr = Encr::from_iana(c.encr.id.0, c.encr.key_length())?;
    let integ = match &c.integ {
        Some(t) if t.id.0 != 0 => Some(Integ::from_iana(t.id.0)?),
        _ => None,
    };
    if encr.is_aead() != integ.is_none() {
        return None;
    }
    Some(keymat::ChildKeySizes {
        encr: encr.key_len(),
        integ: integ.map_or(0, Integ::key_len),
    })
}

/// Derives both directions' keys. `we_initiated` is whether we initiated the exchange
/// that creates the Child SA (RFC 7296 §2.17: the first keys are the initiator's).
fn derive(
    ike: &IkeSa,
    chosen: &Chosen,
    g_ir: Option<&[u8]>,
    n: &Nonces,
    we_initiated: bool,
) -> Option<(keymat::DirectionKeys, keymat::DirectionKeys)> {
    let keys = ike.keys.as_ref()?;
    let sizes = esp_sizes(chosen)?;
    let k = keymat::child_sa_keys(keys.ike.prf, &keys.ike.sk_d, g_ir, &n.ni, &n.nr, sizes).ok()?;
    Some(if we_initiated {
        (k.responder_to_initiator, k.initiator_to_responder)
    } else {
        (k.initiator_to_responder, k.responder_to_initiator)
    })
}

/// The responder side of a Child SA negotiation (IKE_AUTH or CREATE_CHILD_SA): picks a
/// child config, proposal and selectors; returns the response payloads.
pub(crate) fn respond(
    ike: &mut IkeSa,
    cx: &mut Cx<'_>,
    peer: usize,
    payloads: &[Payload],
    rekey_of: Option<&ChildSa>,
    mut nonces: Nonces,
    in_ike_auth: bool,
) -> Result<(Vec<Payload>, NewChild), ProtocolError> {
    let cfg = cx.peers.get(peer).ok_or(ProtocolError::TemporaryFailure)?;
    let sa = payloads.sa().ok_or(ProtocolError::InvalidSyntax)?;
    let tsi = payloads.ts_i().ok_or(ProtocolError::InvalidSyntax)?;
    let tsr = payloads.ts_r().ok_or(ProtocolError::InvalidSyntax)?;
    let transport = payloads.has_notify(NotifyType::USE_TRANSPORT_MODE);
    let mut proposal_ok = false;
    let mut picked = None;
    for (i, ccfg) in cfg.children.iter().enumerate() {
        if rekey_of.is_some_and(|old| old.cfg != i) {
            continue;
        }
        let Some(chosen) = proposal::select(
            &sa.proposals,
            &ccfg.esp_proposals,
            ProtocolId::ESP,
            in_ike_auth,
        ) else {
            continue;
        };
        proposal_ok = true;
        if (ccfg.mode == Mode::Transport) != transport {
            continue;
        }
        // TSi is the initiator's side: our remote. Virtual addresses agreed in IKE_AUTH
        // narrow each side to them (RFC 7296 §2.19).
        let remote = ts::narrow(tsi, &vip::restrict(&ccfg.remote_ts, &ike.leased));
        let local = ts::narrow(tsr, &vip::restrict(&ccfg.local_ts, &ike.own_vips));
        if remote.is_empty() || local.is_empty() {
            continue;
        }
        picked = Some((i, chosen, local, remote));
        break;
    }
    let Some((ci, chosen, local_ts, remote_ts)) = picked else {
        return Err(if proposal_ok {
            ProtocolError::TsUnacceptable
        } else {
            ProtocolError::NoProposalChosen
        });
    };
    let spi_out = <[u8; 4]>::try_from(chosen.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| ProtocolError::InvalidSyntax)?;
    let mut g_ir = None;
    let mut ke_out = None;
    if let Some(group) = chosen.ke_group() {
        let ke = payloads.ke();
        match ke {
            Some(k) if k.group == group => {
                let g = KeGroup::from_iana(group.0).ok_or(ProtocolError::NoProposalChosen)?;
                let ours = g
                    .start(cx.rng)
                    .map_err(|_| ProtocolError::TemporaryFailure)?;
                ke_out = Some(Payload::Ke(Ke {
                    group,
                    data: ours.public_value().to_vec(),
                }));
                g_ir = Some(
                    ours.complete(&k.data)
                        .map_err(|_| ProtocolError::InvalidSyntax)?,
                );
            }
            _ => return Err(ProtocolError::InvalidKe(group.0)),
        }
    }
    let mut resp = Vec::new();
    if !in_ike_auth {
        nonces.nr = cx.random_bytes(NONCE_LEN);
        resp.push(Payload::Nonce(Nonce {
            data: nonces.nr.clone(),
        }));
    }
    let (keys_in, keys_out) = derive(
        ike,
        &chosen,
        g_ir.as_ref().map(|s| s.expose()),
        &nonces,
        false,
    )
    .ok_or(ProtocolError::NoProposalChosen)?;
    let ccfg = cfg
        .children
        .get(ci)
        .ok_or(ProtocolError::TemporaryFailure)?;
    // Reserved last: nothing after this fails, so no SPI stays reserved for nothing.
    let spi_in = cx.new_child_spi();
    if transport {
        resp.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            vec![],
        )));
    }
    resp.push(Payload::Sa(Sa {
        proposals: vec![chosen.to_wire(spi_in.to_be_bytes().to_vec())],
    }));
    resp.extend(ke_out);
    resp.push(Payload::TsI(ts::to_wire(&remote_ts)));
    resp.push(Payload::TsR(ts::to_wire(&local_ts)));
    Ok((
        resp,
        NewChild {
            sa: ChildSa {
                cfg: ci,
                name: ccfg.name.clone(),
                spi_in,
                spi_out,
                chosen,
                local_ts,
                remote_ts,
                mode: ccfg.mode,
                rekey_at: None,
                expire_at: None,
                rekey: RekeyState::default(),
            },
            keys_in,
            keys_out,
            replaces: rekey_of.map(|c| c.spi_in),
        },
    ))
}

/// The initiator's check of a Child SA answer (IKE_AUTH or CREATE_CHILD_SA). On failure
/// the inbound SPI reserved for the request is free again.
pub(crate) fn accept(
    ike: &mut IkeSa,
    cx: &mut Cx<'_>,
    req: ChildRequest,
    payloads: &[Payload],
    nonces: Nonces,
    in_ike_auth: bool,
) -> Result<NewChild, (String, Refusal)> {
    let spi_in = req.spi_in;
    let r = check_answer(ike, cx, req, payloads, nonces, in_ike_auth);
    if r.is_err() {
        cx.child_spis.remove(&spi_in);
    }
    r
}

fn check_answer(
    ike: &mut IkeSa,
    cx: &mut Cx<'_>,
    req: ChildRequest,
    payloads: &[Payload],
    mut nonces: Nonces,
    in_ike_auth: bool,
) -> Result<NewChild, (String, Refusal)> {
    let cfg = ike
        .peer_config(cx)
        .and_then(|p| p.children.get(req.cfg))
        .ok_or((String::new(), Refusal::Proposal))?;
    let name = cfg.name.clone();
    let fail = |e: Refusal| (name.clone(), e);
    if let Some(err) = payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    }) {
        return Err(fail(Refusal::Notify(err)));
    }
    let sa = payloads.sa();
    let tsi = payloads.ts_i();
    let tsr = payloads.ts_r();
    let (Some(sa), Some(tsi), Some(tsr)) = (sa, tsi, tsr) else {
        return Err(fail(Refusal::Missing("SA or TS")));
    };
    let chosen = proposal::check_answer(
        &sa.proposals,
        &cfg.esp_proposals,
        ProtocolId::ESP,
        in_ike_auth,
    )
    .ok_or_else(|| fail(Refusal::Proposal))?;
    let local_ts =
        ts::check_narrowed(tsi, &req.local_ts).ok_or_else(|| fail(Refusal::TrafficSelectors))?;
    let remote_ts =
        ts::check_narrowed(tsr, &req.remote_ts).ok_or_else(|| fail(Refusal::TrafficSelectors))?;
    let spi_out = <[u8; 4]>::try_from(chosen.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| fail(Refusal::Spi))?;
    let mut g_ir = None;
    if !in_ike_auth {
        let nr = payloads
            .nonce()
            .filter(|n| n.has_valid_len())
            .ok_or_else(|| fail(Refusal::Missing("Nonce")))?;
        nonces.nr = nr.data.clone();
        match (chosen.ke_group(), req.ke) {
            (None, _) => {}
            (Some(g), Some(ke)) if TransformId(ke.group().iana()) == g => {
                let kr = payloads
                    .ke()
                    .filter(|k| k.group == g)
                    .ok_or_else(|| fail(Refusal::Missing("KE")))?;
                g_ir = Some(
                    ke.complete(&kr.data)
                        .map_err(|_| fail(Refusal::KeyExchange))?,
                );
            }
            _ => return Err(fail(Refusal::KeyExchange)),
        }
    }
    let (keys_in, keys_out) = derive(
        ike,
        &chosen,
        g_ir.as_ref().map(|s| s.expose()),
        &nonces,
        true,
    )
    .ok_or_else(|| fail(Refusal::Transforms))?;
    Ok(NewChild {
        sa: ChildSa {
            cfg: req.cfg,
            name: cfg.name.clone(),
            spi_in: req.spi_in,
            spi_out,
            chosen,
            local_ts,
            remote_ts,
            mode: cfg.mode,
            rekey_at: None,
            expire_at: None,
            rekey: RekeyState::default(),
        },
        keys_in,
        keys_out,
        replaces: req.rekey_of,
    })
}

/// A Child SA whose configuration is gone (a reload) keeps the usual window over UDP.
const DEFAULT_REPLAY_WINDOW: u32 = 64;

impl IkeSa {
    /// Hands a negotiated Child SA to the ESP engine and starts its lifetime.
    pub(crate) fn install_child(&mut self, cx: &mut Cx<'_>, new: NewChild) {
        self.install_child_as(cx, new, false);
    }

    /// `for_peer`: the rekey this completes was the peer's (we answered it).
    pub(crate) fn install_child_as(&mut self, cx: &mut Cx<'_>, new: NewChild, for_peer: bool) {
        let NewChild {
            mut sa,
            keys_in,
            keys_out,
            replaces,
        } = new;
        let Some(ccfg) = self.peer_config(cx).and_then(|p| p.children.get(sa.cfg)) else {
            cx.child_spis.remove(&sa.spi_in);
            return;
        };
        let lt = ccfg.lifetime;
        let window = self.replay_window(Some(ccfg));
        let jitter = cx.jitter(lt.jitter);
        sa.rekey_at = Some(cx.now + lt.rekey.saturating_sub(jitter));
        sa.expire_at = Some(cx.now + lt.hard);
        cx.out.push_back(Output::InstallChild(Box::new(ChildSaKeys {
            ike: self.id,
            name: sa.name.clone(),
            spi_in: sa.spi_in,
            spi_out: sa.spi_out,
            encr: sa.chosen.encr.id,
            encr_key_bits: sa.chosen.encr.key_length(),
            integ: sa.chosen.integ.as_ref().map(|t| t.id).filter(|t| t.0 != 0),
            esn: sa.chosen.esn,
            mode: sa.mode,
            encr_in: keys_in.encr,
            integ_in: keys_in.integ,
            encr_out: keys_out.encr,
            integ_out: keys_out.integ,
            local_ts: sa.local_ts.clone(),
            remote_ts: sa.remote_ts.clone(),
            path: self.path,
            raw: self.esp_raw(),
            // R-ESP-1: a window of 1 over a stream.
            replay_window: window,
        })));
        info!(ike = %self.id, "Child SA {} up, SPIs {:08x}_i {:08x}_o", sa.name, sa.spi_in, sa.spi_out);
        match replaces {
            Some(old) => {
                if let Some(o) = self.children.iter_mut().find(|c| c.spi_in == old) {
                    o.rekey.replaced = true;
                    o.rekey_at = None;
                    if for_peer {
                        o.rekey.for_peer = Some(sa.spi_in);
                    } else {
                        o.rekey.by_us = Some(sa.spi_in);
                    }
                }
                cx.event(Event::ChildRekeyed {
                    ike: self.id,
                    old_spi_in: old,
                    new_spi_in: sa.spi_in,
                });
            }
            None => cx.event(Event::ChildUp {
                ike: self.id,
                name: sa.name.clone(),
                spi_in: sa.spi_in,
                spi_out: sa.spi_out,
            }),
        }
        self.children.push(sa);
    }

    /// Removes a Child SA from the ESP engine.
    pub(crate) fn remove_child(&mut self, cx: &mut Cx<'_>, spi_in: u32, reason: DownReason) {
        if let Some(i) = self.children.iter().position(|c| c.spi_in == spi_in) {
            let c = self.children.remove(i);
            cx.child_spis.remove(&c.spi_in);
            cx.out.push_back(Output::RemoveChild {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
            let reason = if c.rekey.replaced {
                DownReason::Rekeyed
            } else {
                reason
            };
            cx.event(Event::ChildDown {
                ike: self.id,
                spi_in: c.spi_in,
                reason,
            });
        }
    }

    /// After the IKE SA's path changed, the Child SAs' ESP follows it.
    pub(crate) fn update_child_paths(&mut self, cx: &mut Cx<'_>) {
        let children = self.peer_config(cx).map(|p| &p.children[..]).unwrap_or(&[]);
        for c in &self.children {
            cx.out.push_back(Output::ChildPath {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                path: self.path,
                raw: self.esp_raw(),
                replay_window: self.replay_window(children.get(c.cfg)),
            });
        }
    }

    /// ESP goes as IP protocol 50 between the path's addresses: a UDP path where no NAT
    /// was detected and none was faked ([`EndpointConfig::raw_esp`]).
    ///
    /// [`EndpointConfig::raw_esp`]: crate::EndpointConfig::raw_esp
    pub(crate) fn esp_raw(&self) -> bool {
        !self.path.is_stream() && !self.encap
    }

    /// R-ESP-1: a window of 1 over a stream, the configured one over UDP.
    pub(crate) fn replay_window(&self, cfg: Option<&crate::config::ChildConfig>) -> u32 {
        if self.path.is_stream() {
            1
        } else {
            cfg.map_or(DEFAULT_REPLAY_WINDOW, |c| c.replay_window)
        }
    }

    /// Sends CREATE_CHILD_SA for a new Child SA, or to rekey `rekey_of`.
    pub(crate) fn start_create_child(
        &mut self,
        cx: &mut Cx<'_>,
        cfg: usize,
        rekey_of: Option<u32>,
    ) {
        let Some(ccfg) = self.peer_config(cx).and_then(|p| p.children.get(cfg)) else {
            return;
        };
        let (local_ts, remote_ts) =
            match rekey_of.and_then(|s| self.children.iter().find(|c| c.spi_in == s)) {
                Some(old) => (old.local_ts.clone(), old.remote_ts.clone()),
                None => (
                    vip::restrict(&ccfg.local_ts, &self.own_vips),
                    vip::restrict(&ccfg.remote_ts, &self.leased),
                ),
            };
        let group = ccfg
            .esp_proposals
            .first()
            .and_then(|p| p.ke_groups().next())
            .and_then(|g| KeGroup::from_iana(g.0));
        let ke = match group.map(|g| g.start(cx.rng)) {
            Some(Ok(k)) => Some(k),
            Some(Err(_)) => return,
            None => None,
        };
        let spi_in = cx.new_child_spi();
        let nonce = cx.random_bytes(NONCE_LEN);
        let mut payloads = Vec::new();
        if let Some(old) = rekey_of {
            // RFC 7296 §1.3.3: the SPI we receive the old SA's packets on.
            payloads.push(Payload::Notify(Notify {
                protocol_id: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: vec![],
            }));
        }
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
                false,
            ),
        }));
        payloads.push(Payload::Nonce(Nonce {
            data: nonce.clone(),
        }));
        if let Some(k) = &ke {
            payloads.push(Payload::Ke(Ke {
                group: TransformId(k.group().iana()),
                data: k.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(ts::to_wire(&local_ts)));
        payloads.push(Payload::TsR(ts::to_wire(&remote_ts)));
        let req = ChildRequest {
            cfg,
            spi_in,
            nonce,
            ke,
            rekey_of,
            local_ts,
            remote_ts,
        };
        self.send_request(
            cx,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            Active::Child(req),
        );
    }

    pub(crate) fn process_child_response(
        &mut self,
        cx: &mut Cx<'_>,
        req: ChildRequest,
        payloads: Vec<Payload>,
    ) {
        let nonces = Nonces {
            ni: req.nonce.clone(),
            nr: Vec::new(),
        };
        let rekey_of = req.rekey_of;
        let cfg = req.cfg;
        let ni = req.nonce.clone();
        let nr = payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data.clone()),
            _ => None,
        });
        let collided = rekey_of
            .and_then(|old| self.children.iter().find(|c| c.spi_in == old))
            .and_then(|c| c.rekey.collision_nonce.clone());
        // The peer deleted the SA we rekeyed: only the winner of a collision does that,
        // so the SA this exchange makes is the redundant one.
        let old_gone = !self.superseded
            && rekey_of.is_some_and(|old| !self.children.iter().any(|c| c.spi_in == old));
        match accept(self, cx, req, &payloads, nonces, false) {
            Ok(new) if cx.deleted_by_peer(self.family, new.sa.spi_out) => {
                // A late answer (a cached response to a retransmission, say) for a Child
                // SA the peer has already deleted: the peer won this rekey.
                info!(ike = %self.id, "Child SA {:08x} deleted by the peer before its answer came", new.sa.spi_out);
                cx.child_spis.remove(&new.sa.spi_in);
            }
            Ok(new) => {
                let ours = new.sa.spi_in;
                self.install_child(cx, new);
                let Some(old) = rekey_of else { return };
                // RFC 7296 §2.8.1: the SA made by the exchange with the lowest nonce is
                // redundant and deleted by its initiator; the initiator of the other one
                // deletes the old SA.
                let lost = old_gone
                    || match (&collided, &nr) {
                        (Some(theirs), Some(nr)) => {
                            ni.as_slice().min(nr.as_slice()) < theirs.as_slice()
                        }
                        _ => false,
                    };
                if lost {
                    info!(ike = %self.id, "Child SA rekey collision lost: deleting {ours:08x}");
                    if let Some(o) = self.children.iter_mut().find(|c| c.spi_in == old) {
                        o.rekey.by_us = None;
                    }
                    self.enqueue(cx, Task::DeleteChild { spi_in: ours });
                } else {
                    let redundant = collided.is_some().then(|| {
                        self.children
                            .iter()
                            .find(|c| c.spi_in == old)
                            .and_then(|c| c.rekey.for_peer)
                    });
                    if collided.is_some() {
                        info!(ike = %self.id, "Child SA rekey collision won");
                    }
                    self.enqueue(cx, Task::DeleteChild { spi_in: old });
                    if let Some(Some(theirs)) = redundant {
                        // RFC 7296 §2.8.1: the peer's new SA is redundant and its deletion
                        // is the peer's to send; but if our answer to its rekey was lost,
                        // the peer never knew it, and nobody would. A DELETE from both
                        // sides is harmless (§1.4.1).
                        self.enqueue(cx, Task::DeleteChild { spi_in: theirs });
                    }
                }
            }
            Err((name, e)) => {
                info!(ike = %self.id, "CREATE_CHILD_SA for {name} failed: {e}");
                if let Some(old) = rekey_of {
                    if self.superseded {
                        // The IKE SA was rekeyed meanwhile: try again on its successor.
                        self.queue.push_back(Task::RekeyChild { spi_in: old });
                    } else if let Some(c) = self
                        .children
                        .iter_mut()
                        .find(|c| c.spi_in == old && !c.rekey.replaced)
                    {
                        // Try again soon rather than let the SA expire.
                        c.rekey_at = Some(cx.now + core::time::Duration::from_secs(10));
                    }
                }
                let _ = cfg;
                cx.event(Event::ChildFailed {
                    ike: self.id,
                    name,
                    reason: DownReason::Refused(e),
                });
            }
        }
    }

    /// CREATE_CHILD_SA from the peer: an IKE rekey, a Child rekey, or a new Child SA.
    pub(crate) fn process_create_child_request(
        &mut self,
        cx: &mut Cx<'_>,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let is_ike = payloads.iter().any(|p| {
            matches!(p, Payload::Sa(s) if s.proposals.iter().any(|pr| pr.protocol_id == ProtocolId::IKE))
        });
        if is_ike {
            self.process_rekey_ike_request(cx, mid, payloads);
            return;
        }
        let Some(peer) = self.peer else {
            return;
        };
        if self.superseded {
            // RFC 7296 §2.25: this IKE SA is being replaced; the peer retries on the new one.
            self.send_error(
                cx,
                ExchangeType::CREATE_CHILD_SA,
                mid,
                &ProtocolError::TemporaryFailure,
            );
            return;
        }
        let rekey_spi = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => {
                <[u8; 4]>::try_from(n.spi.as_slice())
                    .ok()
                    .map(u32::from_be_bytes)
            }
            _ => None,
        });
        let old = match rekey_spi {
            Some(spi) => match self.children.iter().find(|c| c.spi_out == spi).cloned() {
                Some(c) if !c.rekey.replaced => Some(c),
                Some(c) if c.rekey.for_peer.is_some() => {
                    // The peer asks again to rekey an SA we already rekeyed for it: it
                    // never saw our answer (lost, or its IKE SA was replaced meanwhile).
                    // The successor we made is known only to us: drop it.
                    if let Some(orphan) = c.rekey.for_peer {
                        info!(ike = %self.id, "peer repeats the rekey of {spi:08x}; dropping {orphan:08x}");
                        self.remove_child(cx, orphan, DownReason::Local);
                    }
                    if let Some(o) = self.children.iter_mut().find(|o| o.spi_out == spi) {
                        o.rekey.for_peer = None;
                        o.rekey.collision_nonce = None;
                        o.rekey.replaced = o.rekey.by_us.is_some();
                    }
                    if c.rekey.by_us.is_some() {
                        // Our own replacement stands and we delete the old SA: the
                        // peer's rekey is no longer needed (RFC 7296 §2.25).
                        self.send_error(
                            cx,
                            ExchangeType::CREATE_CHILD_SA,
                            mid,
                            &ProtocolError::TemporaryFailure,
                        );
                        return;
                    }
                    Some(ChildSa {
                        rekey: RekeyState::default(),
                        ..c
                    })
                }
                Some(_) => {
                    // RFC 7296 §2.25: we are replacing this SA ourselves.
                    self.send_error(
                        cx,
                        ExchangeType::CREATE_CHILD_SA,
                        mid,
                        &ProtocolError::TemporaryFailure,
                    );
                    return;
                }
                None => {
                    debug!(ike = %self.id, "rekey of unknown Child SA {spi:08x}");
                    self.send_error(
                        cx,
                        ExchangeType::CREATE_CHILD_SA,
                        mid,
                        &ProtocolError::ChildSaNotFound,
                    );
                    return;
                }
            },
            None => None,
        };
        let live = self.children.iter().filter(|c| !c.rekey.replaced).count();
        if old.is_none() && live >= cx.config.max_children {
            info!(ike = %self.id, "refused a Child SA beyond {live}");
            self.send_error(
                cx,
                ExchangeType::CREATE_CHILD_SA,
                mid,
                &ProtocolError::NoAdditionalSas,
            );
            return;
        }
        let Some(ni) = payloads.nonce().filter(|n| n.has_valid_len()) else {
            self.send_error(
                cx,
                ExchangeType::CREATE_CHILD_SA,
                mid,
                &ProtocolError::InvalidSyntax,
            );
            return;
        };
        let nonces = Nonces {
            ni: ni.data.clone(),
            nr: Vec::new(),
        };
        let ni = nonces.ni.clone();
        match respond(self, cx, peer, &payloads, old.as_ref(), nonces, false) {
            Ok((resp, new)) => {
                let nr = resp.iter().find_map(|p| match p {
                    Payload::Nonce(n) => Some(n.data.clone()),
                    _ => None,
                });
                self.send_response(cx, ExchangeType::CREATE_CHILD_SA, mid, resp);
                let ours_in_flight = matches!(
                    self.outstanding.as_ref().map(|o| &o.active),
                    Some(Active::Child(r)) if r.rekey_of.is_some() && r.rekey_of == old.as_ref().map(|c| c.spi_in)
                );
                if let (true, Some(old), Some(nr)) = (ours_in_flight, old.as_ref(), nr)
                    && let Some(o) = self.children.iter_mut().find(|c| c.spi_in == old.spi_in)
                {
                    debug!(ike = %self.id, "Child SA rekey collision on {:08x}", old.spi_in);
                    o.rekey.collision_nonce = Some(ni.min(nr));
                }
                self.install_child_as(cx, new, true);
            }
            Err(e) => {
                info!(ike = %self.id, "CREATE_CHILD_SA refused: {e}");
                self.send_error(cx, ExchangeType::CREATE_CHILD_SA, mid, &e);
            }
        }
    }
}
