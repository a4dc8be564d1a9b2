//! RFC 7296 §1.2 and §2.6–2.7: the IKE_SA_INIT exchange, cookies and INVALID_KE_PAYLOAD.
//!
//! Transport rules (RFC 9329 §7–8): over a stream an error notify in the response ends
//! the attempt at once (R-ERR-1), while over UDP it may be forged and the initiator keeps
//! waiting for a real answer; a cookie is asked for only under load and never depends on
//! the port, and over a stream that connection is then closed (R-COOKIE-1); the NAT
//! hashes use the path's own ports, and a NAT seen on a stream moves nothing (R-NAT-1).

use std::time::Instant;

use iketcp_crypto::{ActiveKe, Encr, IkeKeys, Integ, KeGroup, Prf};
use iketcp_wire::ike::{
    ExchangeType, Flags, Header, IKEV2_VERSION, Ke, Message, Nonce, Notify, NotifyType, Payload,
    PayloadType, ProtocolId, Sa, TransformId,
};
use tracing::{debug, info};

use crate::auth;
use crate::config::PeerConfig;
use crate::cookie::Cookies;
use crate::error::{ApiError, ProtocolError, Refusal};
use crate::events::{DownReason, IkeSaId, Output, Transmit};
use crate::ike_sa::{Active, Cx, IkeSa, State};
use crate::natd;
use crate::path::Path;
use crate::payloads::Payloads;
use crate::proposal::{self, Chosen};
use crate::protect::Keys;

const NONCE_LEN: usize = 32;
/// How often a responder may send us back with COOKIE or INVALID_KE_PAYLOAD.
const MAX_INIT_RETRIES: u8 = 3;

pub(crate) struct InitRequest {
    pub ke: Box<dyn ActiveKe>,
    pub cookie: Option<Vec<u8>>,
    pub retries: u8,
}

/// The transforms of a chosen IKE proposal, as the crypto layer names them.
pub(crate) fn ike_algorithms(c: &Chosen) -> Option<(Prf, Encr, Option<Integ>)> {
    let encr = Encr::from_iana(c.encr.id.0, c.encr.key_length())?;
    let prf = Prf::from_iana(c.prf.as_ref()?.id.0)?;
    let integ = match &c.integ {
        Some(t) if t.id.0 != 0 => Some(Integ::from_iana(t.id.0)?),
        _ => None,
    };
    if encr.is_aead() != integ.is_none() || !encr.is_supported() {
        return None;
    }
    Some((prf, encr, integ))
}

fn ke_payload(ke: &dyn ActiveKe) -> Payload {
    Payload::Ke(Ke {
        group: TransformId(ke.group().iana()),
        data: ke.public_value().to_vec(),
    })
}

/// Whether our NAT-D source hash is faked: a data plane without raw ESP wants UDP
/// encapsulation always, and on a stream there is nothing to encapsulate (R-NAT-1).
pub(crate) fn fake_nat(cx: &Cx<'_>, path: &Path) -> bool {
    !cx.config.raw_esp && !path.is_stream()
}

/// Whether ESP on `path` is UDP-encapsulated after a NAT detection that found `nat`:
/// when a NAT is there, or when we faked one (RFC 7296 §2.23: the peer encapsulates
/// because of our hash; we do as well). A peer without NAT traversal gets raw ESP.
pub(crate) fn encapsulates(cx: &Cx<'_>, path: &Path, nat: &natd::Detected) -> bool {
    nat.any() || (nat.supported && fake_nat(cx, path))
}

impl IkeSa {
    /// What the peer's NAT detection notifies in a message that came over `path` say
    /// (RFC 7296 §2.23; again on every move, RFC 4555 §3.5): whether ESP on it is
    /// UDP-encapsulated from now on. A stream's addresses say nothing about ESP's
    /// (R-NAT-1): over one, nothing changes.
    pub(crate) fn learn_nat(
        &mut self,
        cx: &Cx<'_>,
        path: &Path,
        payloads: &[Payload],
    ) -> natd::Detected {
        let nat = natd::detect(payloads, self.spi_i, self.spi_r, path.local, path.remote);
        if !path.is_stream() {
            self.encap = encapsulates(cx, path, &nat);
        }
        nat
    }
}

fn notify_data(payloads: &[Payload], ty: NotifyType) -> Option<&[u8]> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == ty => Some(n.data.as_slice()),
        _ => None,
    })
}

impl IkeSa {
    /// Starts an IKE SA as initiator: sends IKE_SA_INIT on `path`.
    pub fn initiate(
        cx: &mut Cx<'_>,
        id: IkeSaId,
        peer: usize,
        path: Path,
        first_child: Option<usize>,
    ) -> Result<IkeSa, ApiError> {
        let mut sa = IkeSa::fresh_initiator(cx, id, peer, path, first_child, State::InitSent)?;
        sa.start_init(cx)?;
        Ok(sa)
    }

    /// A new initiator IKE SA with a fresh SPI and nonce (RFC 7296 §2.10), nothing sent.
    pub(crate) fn fresh_initiator(
        cx: &mut Cx<'_>,
        id: IkeSaId,
        peer: usize,
        path: Path,
        first_child: Option<usize>,
        state: State,
    ) -> Result<IkeSa, ApiError> {
        if cx.peers.get(peer).is_none() {
            return Err(ApiError::UnknownPeer(String::new()));
        }
        let spi_i = cx.new_ike_spi();
        Ok(IkeSa {
            peer: Some(peer),
            ni: cx.random_bytes(NONCE_LEN),
            first_child,
            ..IkeSa::new(id, true, spi_i, 0, state, path)
        })
    }

    /// Sends the first IKE_SA_INIT request, with the first group we propose.
    pub(crate) fn start_init(&mut self, cx: &mut Cx<'_>) -> Result<(), ApiError> {
        let cfg = self
            .peer_config(cx)
            .ok_or(ApiError::UnknownPeer(String::new()))?;
        let group = cfg
            .ike_proposals
            .first()
            .and_then(|p| p.ke_groups().next())
            .and_then(|g| KeGroup::from_iana(g.0))
            .ok_or(ApiError::Unsupported)?;
        let ke = group.start(cx.rng).map_err(|_| ApiError::Unsupported)?;
        self.state = State::InitSent;
        self.send_init_request(
            cx,
            InitRequest {
                ke,
                cookie: None,
                retries: 0,
            },
        );
        Ok(())
    }

    fn send_init_request(&mut self, cx: &mut Cx<'_>, req: InitRequest) {
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        let mut payloads = Vec::new();
        if let Some(c) = &req.cookie {
            // RFC 7296 §2.6: the cookie goes first.
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
        }
        payloads.push(Payload::Sa(Sa {
            proposals: proposal::offer(&cfg.ike_proposals, ProtocolId::IKE, &[], false),
        }));
        payloads.push(ke_payload(req.ke.as_ref()));
        payloads.push(Payload::Nonce(Nonce {
            data: self.ni.clone(),
        }));
        payloads.extend(natd::notifies(
            self.spi_i,
            0,
            self.path.local,
            self.path.remote,
            fake_nat(cx, &self.path),
        ));
        // R-FRAG-1: announced over every transport, used only over UDP.
        if cfg.fragmentation {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )));
        }
        // RFC 7427 §4: the hashes we accept in signature AUTH payloads.
        if cfg.auth.is_pubkey() {
            payloads.push(auth::hash_algorithms_notify());
        }
        let msg = Message {
            header: Header {
                next_payload: PayloadType::NONE,
                ..self.header(ExchangeType::IKE_SA_INIT, false, 0)
            },
            payloads,
        };
        let Ok(bytes) = msg.emit() else {
            return;
        };
        debug!(ike = %self.id, "sending {msg}");
        self.init_request = bytes.clone();
        self.next_mid = 1;
        self.transmit_request(cx, 0, vec![bytes], Active::Init(req));
    }

    /// The initiator's handling of the IKE_SA_INIT response.
    pub(crate) fn process_init_response(
        &mut self,
        cx: &mut Cx<'_>,
        path: Path,
        raw: &[u8],
        msg: Message,
    ) {
        let payloads = msg.payloads;
        // RFC 7296 §2.6: asked for a cookie: send the same request again with it.
        if let Some(cookie) = notify_data(&payloads, NotifyType::COOKIE) {
            let cookie = cookie.to_vec();
            if let Some(out) = self.outstanding.take()
                && let Active::Init(mut req) = out.active
                && req.retries < MAX_INIT_RETRIES
                && !cookie.is_empty()
                && cookie.len() <= 64
            {
                debug!(ike = %self.id, "responder asked for a cookie");
                req.retries += 1;
                req.cookie = Some(cookie);
                self.send_init_request(cx, req);
            }
            return;
        }
        // RFC 7296 §1.2: the responder wants another group.
        if let Some(data) = notify_data(&payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = (data.len() == 2).then(|| u16::from_be_bytes([data[0], data[1]]));
            let offered = self.peer_config(cx).is_some_and(|c| {
                c.ike_proposals
                    .iter()
                    .any(|p| p.ke_groups().any(|g| Some(g.0) == wanted))
            });
            let group = wanted.and_then(KeGroup::from_iana);
            if let (true, Some(group)) = (offered, group)
                && let Some(out) = self.outstanding.take()
                && let Active::Init(req) = out.active
                && req.retries < MAX_INIT_RETRIES
                && req.ke.group() != group
            {
                info!(ike = %self.id, "responder wants key exchange group {}", group.iana());
                let Ok(ke) = group.start(cx.rng) else {
                    return;
                };
                self.ni = cx.random_bytes(NONCE_LEN);
                self.send_init_request(
                    cx,
                    InitRequest {
                        ke,
                        cookie: req.cookie,
                        retries: req.retries + 1,
                    },
                );
                return;
            }
            self.init_error(cx, Refusal::Notify(NotifyType::INVALID_KE_PAYLOAD));
            return;
        }
        if let Some(err) = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
            _ => None,
        }) {
            self.init_error(cx, Refusal::Notify(err));
            return;
        }
        let (Some(sa), Some(ke), Some(nonce)) = (payloads.sa(), payloads.ke(), payloads.nonce())
        else {
            debug!(ike = %self.id, "IKE_SA_INIT response lacks SA, KE or Nonce");
            return;
        };
        let Some(cfg) = self.peer_config(cx) else {
            return;
        };
        let chosen =
            proposal::check_answer(&sa.proposals, &cfg.ike_proposals, ProtocolId::IKE, false);
        let (Some(chosen), Some(algs)) = (chosen.clone(), chosen.as_ref().and_then(ike_algorithms))
        else {
            self.init_error(cx, Refusal::Proposal);
            return;
        };
        if msg.header.spi_r == 0 || !nonce.has_valid_len() {
            return;
        }
        let Some(out) = self.outstanding.take() else {
            return;
        };
        let Active::Init(req) = out.active else {
            return;
        };
        if chosen.ke_group() != Some(TransformId(req.ke.group().iana()))
            || ke.group != chosen.ke_group().unwrap_or_default()
        {
            self.init_error(cx, Refusal::KeyExchange);
            return;
        }
        let Ok(shared) = req.ke.complete(&ke.data) else {
            self.init_error(cx, Refusal::KeyExchange);
            return;
        };
        self.spi_r = msg.header.spi_r;
        self.nr = nonce.data.clone();
        let (prf, encr, integ) = algs;
        let keys = IkeKeys::derive(
            prf,
            encr,
            integ,
            shared.expose(),
            &self.ni,
            &self.nr,
            &self.spi_i.to_be_bytes(),
            &self.spi_r.to_be_bytes(),
        )
        .ok()
        .and_then(|k| Keys::new(k, true).ok());
        let Some(keys) = keys else {
            self.init_error(cx, Refusal::KeyDerivation);
            return;
        };
        self.keys = Some(keys);
        self.chosen = Some(chosen);
        self.init_response = raw.to_vec();
        self.peer_fragmentation =
            notify_data(&payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        let nat = self.learn_nat(cx, &path, &payloads);
        // RFC 7296 §2.23: with a NAT, IKE continues on port 4500 (not on a stream: R-NAT-1).
        if self.encap && !self.path.is_stream() {
            self.path = self.path.to_natt();
        }
        debug!(ike = %self.id, ?nat, "IKE_SA_INIT done, path {}", self.path);
        self.start_auth(cx);
    }

    /// An error answer to IKE_SA_INIT. R-ERR-1: over a stream it is authentic enough to
    /// act on at once; over UDP anyone could have sent it, so keep waiting and report it
    /// only if no real answer comes.
    fn init_error(&mut self, cx: &mut Cx<'_>, err: Refusal) {
        if self.path.is_stream() {
            info!(ike = %self.id, "IKE_SA_INIT refused: {err}");
            self.die(cx, DownReason::Refused(err));
        } else if let Some(o) = self.outstanding.as_mut() {
            debug!(ike = %self.id, "IKE_SA_INIT error {err} over UDP, still waiting");
            o.seen_error = Some(err);
        } else {
            self.die(cx, DownReason::Refused(err));
        }
    }
}

/// A reply sent without creating state (RFC 7296 §2.6, §2.21.1).
fn stateless_reply(cx: &mut Cx<'_>, path: Path, req: &Header, notify: Notify) {
    let msg = Message {
        header: Header {
            spi_i: req.spi_i,
            spi_r: 0,
            next_payload: PayloadType::NONE,
            version: IKEV2_VERSION,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::RESPONSE,
            message_id: 0,
            length: 0,
        },
        payloads: vec![Payload::Notify(notify)],
    };
    debug!("sending stateless {msg}");
    if let Ok(message) = msg.emit() {
        cx.out
            .push_back(Output::Transmit(Transmit { path, message }));
    }
}

fn error_reply(cx: &mut Cx<'_>, path: Path, req: &Header, e: ProtocolError) {
    stateless_reply(cx, path, req, Notify::new(e.notify(), e.data()));
}

/// What a responder needs beyond the message to answer IKE_SA_INIT.
pub(crate) struct Responder<'a> {
    pub id: IkeSaId,
    /// Under load: the cookies an initiator must present (RFC 7296 §2.6).
    pub cookies: Option<&'a Cookies>,
    pub half_open_until: Instant,
}

/// The responder's handling of an IKE_SA_INIT request: a half-open IKE SA, or a
/// stateless reply and `None`.
pub(crate) fn respond(
    cx: &mut Cx<'_>,
    r: Responder<'_>,
    path: Path,
    raw: &[u8],
    msg: Message,
) -> Option<IkeSa> {
    let header = msg.header;
    let payloads = msg.payloads;
    let (Some(sa), Some(ke), Some(nonce)) = (payloads.sa(), payloads.ke(), payloads.nonce()) else {
        error_reply(cx, path, &header, ProtocolError::InvalidSyntax);
        return None;
    };
    if !nonce.has_valid_len() {
        error_reply(cx, path, &header, ProtocolError::InvalidSyntax);
        return None;
    }
    if let Some(cookies) = r.cookies {
        // R-COOKIE-1: only under load; the cookie binds Ni, the address and SPIi, never
        // the port, so a new connection from another port can present it.
        let ip = path.remote.ip();
        let presented = match payloads.first() {
            Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => Some(&n.data),
            _ => None,
        };
        if !presented.is_some_and(|c| cookies.verify(c, &nonce.data, ip, header.spi_i)) {
            let want = cookies.issue(&nonce.data, ip, header.spi_i);
            stateless_reply(cx, path, &header, Notify::new(NotifyType::COOKIE, want));
            if let Some(s) = path.stream() {
                cx.out.push_back(Output::CloseStream(s));
            }
            return None;
        }
    }
    let specs: Vec<_> = cx
        .peers
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            cx.live(*i) && (p.local.ip().is_unspecified() || p.local.ip() == path.local.ip())
        })
        .flat_map(|(_, p): (usize, &PeerConfig)| p.ike_proposals.iter().cloned())
        .collect();
    let chosen = proposal::select(&sa.proposals, &specs, ProtocolId::IKE, false);
    let Some((chosen, (prf, encr, integ))) =
        chosen.and_then(|c| ike_algorithms(&c).map(|a| (c, a)))
    else {
        info!("no acceptable IKE proposal from {}", path.remote);
        error_reply(cx, path, &header, ProtocolError::NoProposalChosen);
        return None;
    };
    let Some(group_id) = chosen.ke_group() else {
        error_reply(cx, path, &header, ProtocolError::NoProposalChosen);
        return None;
    };
    if ke.group != group_id {
        // RFC 7296 §1.2: tell the initiator which group we want.
        error_reply(cx, path, &header, ProtocolError::InvalidKe(group_id.0));
        return None;
    }
    let group = KeGroup::from_iana(group_id.0)?;
    let ours = group.start(cx.rng).ok()?;
    let our_public = ke_payload(ours.as_ref());
    let Ok(shared) = ours.complete(&ke.data) else {
        error_reply(cx, path, &header, ProtocolError::InvalidSyntax);
        return None;
    };
    let spi_r = cx.new_ike_spi();
    let nr = cx.random_bytes(NONCE_LEN);
    let keys = IkeKeys::derive(
        prf,
        encr,
        integ,
        shared.expose(),
        &nonce.data,
        &nr,
        &header.spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
    )
    .ok()
    .and_then(|k| Keys::new(k, false).ok())?;
    let fragmentation_ok = cx
        .peers
        .iter()
        .enumerate()
        .any(|(i, p)| cx.live(i) && p.fragmentation);
    let peer_fragmentation =
        notify_data(&payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
    let nat = natd::detect(&payloads, header.spi_i, 0, path.local, path.remote);
    let mut resp = vec![
        Payload::Sa(Sa {
            proposals: vec![chosen.to_wire(vec![])],
        }),
        our_public,
        Payload::Nonce(Nonce { data: nr.clone() }),
    ];
    if nat.supported {
        resp.extend(natd::notifies(
            header.spi_i,
            spi_r,
            path.local,
            path.remote,
            fake_nat(cx, &path),
        ));
    }
    if fragmentation_ok && peer_fragmentation {
        resp.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            vec![],
        )));
    }
    // RFC 7427 §4: which configuration IKE_AUTH selects is not known yet; announce if
    // any configuration for this address signs.
    if cx.peers.iter().enumerate().any(|(i, p)| {
        cx.live(i)
            && p.auth.is_pubkey()
            && (p.local.ip().is_unspecified() || p.local.ip() == path.local.ip())
    }) {
        resp.push(auth::hash_algorithms_notify());
    }
    let mut sa = IkeSa {
        chosen: Some(chosen),
        keys: Some(keys),
        ni: nonce.data.clone(),
        nr,
        init_request: raw.to_vec(),
        peer_fragmentation: fragmentation_ok && peer_fragmentation,
        expected_mid: 1,
        half_open_until: Some(r.half_open_until),
        init_from: Some(path.remote),
        encap: encapsulates(cx, &path, &nat),
        ..IkeSa::new(r.id, false, header.spi_i, spi_r, State::HalfOpen, path)
    };
    let reply = Message {
        header: sa.header(ExchangeType::IKE_SA_INIT, true, 0),
        payloads: resp,
    };
    let bytes = reply.emit().ok()?;
    debug!(ike = %sa.id, "sending {reply}");
    sa.init_response = bytes.clone();
    sa.transmit(cx, bytes.clone());
    sa.cached_response = Some((0, vec![bytes]));
    sa.request_digests = vec![iketcp_crypto::sha256(raw)];
    Some(sa)
}
