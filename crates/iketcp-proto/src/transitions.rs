//! Which message an IKE SA acts on in which state: the one table every received message
//! goes through before any handler runs.
//!
//! RFC 7296 ties each exchange to a point in an IKE SA's life: IKE_AUTH follows
//! IKE_SA_INIT once (§1.2), and CREATE_CHILD_SA and INFORMATIONAL come only after it
//! (§1.3, §1.4); a response answers the one request outstanding (§2.3). Before the peer's
//! AUTH is verified, whoever answered IKE_SA_INIT holds the SK keys without having proven
//! anything (§2.15), so nothing it asks for may be done. The handlers never check the
//! state themselves: if [`lookup`] names one, the message belongs there.

use iketcp_wire::ike::ExchangeType;

use crate::error::{Drop, ProtocolError};
use crate::ike_sa::State;

/// Our side of the IKE SA: whether we were its original initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Initiator,
    Responder,
}

/// The request we wait on an answer for, as far as the table cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    None,
    Init,
    Auth,
    Child,
    RekeyIke,
    DeleteChild,
    DeleteIke,
    Liveness,
    /// RFC 4555 §3.5: UPDATE_SA_ADDRESSES.
    UpdateAddresses,
}

impl Pending {
    /// The exchange whose response answers this request.
    pub fn exchange(self) -> Option<ExchangeType> {
        Some(match self {
            Pending::None => return None,
            Pending::Init => ExchangeType::IKE_SA_INIT,
            Pending::Auth => ExchangeType::IKE_AUTH,
            Pending::Child | Pending::RekeyIke => ExchangeType::CREATE_CHILD_SA,
            Pending::DeleteChild
            | Pending::DeleteIke
            | Pending::Liveness
            | Pending::UpdateAddresses => ExchangeType::INFORMATIONAL,
        })
    }
}

/// A received message: a request, or a response while `Pending` is outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    Request,
    Response(Pending),
}

/// The code that may process a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handler {
    InitResponse,
    AuthRequest,
    AuthResponse,
    CreateChildRequest,
    ChildResponse,
    RekeyIkeResponse,
    InformationalRequest,
    DeleteChildResponse,
    DeleteIkeResponse,
    LivenessResponse,
    UpdateAddressesResponse,
}

/// What becomes of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Run(Handler),
    /// Dropped unanswered, before decryption: it changes nothing and costs nothing.
    Drop(Drop),
    /// An authenticated request that means nothing in this state: answered with this
    /// error once it decrypts (the peer's window moves on), and nothing else happens.
    Refuse(ProtocolError),
}

/// The transition table. Every combination of role, state, exchange and direction has
/// one entry; `tests::every_combination` walks them all.
pub(crate) fn lookup(role: Role, state: State, exchange: ExchangeType, rx: Received) -> Verdict {
    use ExchangeType as X;
    use Handler as H;
    use Role::{Initiator as I, Responder as R};
    use State as S;
    match (role, state, rx) {
        // Roles a state cannot have: nothing is trusted.
        (R, S::Connecting | S::InitSent | S::AuthSent, _) | (I, S::HalfOpen, _) => {
            Verdict::Drop(Drop::Internal("state does not exist in this role"))
        }
        (_, S::Dead, _) => Verdict::Drop(Drop::UnknownSa),
        // Nothing sent yet: nothing can be answered.
        (I, S::Connecting, _) => Verdict::Drop(Drop::UnexpectedResponse),

        // Initiator before the responder's AUTH verified (§2.15): the peer is anyone who
        // answered IKE_SA_INIT. Its requests are ignored, not answered: answering would
        // consume a message ID of an SA that may never exist.
        (I, S::InitSent | S::AuthSent, Received::Request) => Verdict::Drop(Drop::NotAuthenticated),
        (I, S::InitSent, Received::Response(Pending::Init)) if exchange == X::IKE_SA_INIT => {
            Verdict::Run(H::InitResponse)
        }
        (I, S::AuthSent, Received::Response(Pending::Auth)) if exchange == X::IKE_AUTH => {
            Verdict::Run(H::AuthResponse)
        }
        (I, S::InitSent | S::AuthSent, Received::Response(_)) => {
            Verdict::Drop(Drop::UnexpectedResponse)
        }

        // Responder between IKE_SA_INIT and IKE_AUTH: only IKE_AUTH, and it never sends
        // a request of its own, so no response is awaited.
        (R, S::HalfOpen, Received::Request) if exchange == X::IKE_AUTH => {
            Verdict::Run(H::AuthRequest)
        }
        (R, S::HalfOpen, Received::Request) => Verdict::Drop(Drop::UnexpectedExchange),
        (R, S::HalfOpen, Received::Response(_)) => Verdict::Drop(Drop::UnexpectedResponse),

        // Established, either role.
        (_, S::Established, Received::Request) => match exchange {
            X::CREATE_CHILD_SA => Verdict::Run(H::CreateChildRequest),
            X::INFORMATIONAL => Verdict::Run(H::InformationalRequest),
            // A second IKE_AUTH would make a Child SA from IKE_SA_INIT's nonces again:
            // the same ESP keys as the first (§2.17), and a second identity check.
            X::IKE_AUTH => Verdict::Refuse(ProtocolError::InvalidSyntax),
            // IKE_SA_INIT for an existing SA is a retransmission the response cache
            // answers; anything else reaching here is stray.
            X::IKE_SA_INIT => Verdict::Drop(Drop::UnexpectedExchange),
            _ => Verdict::Refuse(ProtocolError::InvalidSyntax),
        },
        (_, S::Established, Received::Response(pending)) => {
            // §2.3: a response answers the request outstanding, of the same exchange.
            if pending.exchange() != Some(exchange) {
                return Verdict::Drop(Drop::UnexpectedResponse);
            }
            match pending {
                Pending::Child => Verdict::Run(H::ChildResponse),
                Pending::RekeyIke => Verdict::Run(H::RekeyIkeResponse),
                Pending::DeleteChild => Verdict::Run(H::DeleteChildResponse),
                Pending::DeleteIke => Verdict::Run(H::DeleteIkeResponse),
                Pending::Liveness => Verdict::Run(H::LivenessResponse),
                Pending::UpdateAddresses => Verdict::Run(H::UpdateAddressesResponse),
                // IKE_SA_INIT and IKE_AUTH are never outstanding once established.
                Pending::None | Pending::Init | Pending::Auth => {
                    Verdict::Drop(Drop::UnexpectedResponse)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [Role; 2] = [Role::Initiator, Role::Responder];
    const STATES: [State; 6] = [
        State::Connecting,
        State::InitSent,
        State::HalfOpen,
        State::AuthSent,
        State::Established,
        State::Dead,
    ];
    const EXCHANGES: [ExchangeType; 6] = [
        ExchangeType::IKE_SA_INIT,
        ExchangeType::IKE_AUTH,
        ExchangeType::CREATE_CHILD_SA,
        ExchangeType::INFORMATIONAL,
        ExchangeType(43), // IKE_INTERMEDIATE: not spoken here
        ExchangeType(250),
    ];
    const PENDING: [Pending; 9] = [
        Pending::None,
        Pending::Init,
        Pending::Auth,
        Pending::Child,
        Pending::RekeyIke,
        Pending::DeleteChild,
        Pending::DeleteIke,
        Pending::Liveness,
        Pending::UpdateAddresses,
    ];

    fn all() -> impl Iterator<Item = (Role, State, ExchangeType, Received, Verdict)> {
        ROLES.into_iter().flat_map(|role| {
            STATES.into_iter().flat_map(move |state| {
                EXCHANGES.into_iter().flat_map(move |x| {
                    std::iter::once(Received::Request)
                        .chain(PENDING.into_iter().map(Received::Response))
                        .map(move |rx| (role, state, x, rx, lookup(role, state, x, rx)))
                })
            })
        })
    }

    /// Every combination, and the exact set of those that run a handler: anything else
    /// added to the table shows up here.
    #[test]
    fn every_combination() {
        use Handler as H;
        let mut runs = Vec::new();
        let mut n = 0;
        for (role, state, x, rx, v) in all() {
            n += 1;
            if let Verdict::Run(h) = v {
                runs.push((role, state, x, rx, h));
            }
        }
        assert_eq!(n, 2 * 6 * 6 * 10);
        let x = |e| e;
        let mut expected = vec![
            (
                Role::Initiator,
                State::InitSent,
                x(ExchangeType::IKE_SA_INIT),
                Received::Response(Pending::Init),
                H::InitResponse,
            ),
            (
                Role::Initiator,
                State::AuthSent,
                ExchangeType::IKE_AUTH,
                Received::Response(Pending::Auth),
                H::AuthResponse,
            ),
            (
                Role::Responder,
                State::HalfOpen,
                ExchangeType::IKE_AUTH,
                Received::Request,
                H::AuthRequest,
            ),
        ];
        for role in ROLES {
            let e = State::Established;
            expected.extend([
                (
                    role,
                    e,
                    ExchangeType::CREATE_CHILD_SA,
                    Received::Request,
                    H::CreateChildRequest,
                ),
                (
                    role,
                    e,
                    ExchangeType::CREATE_CHILD_SA,
                    Received::Response(Pending::Child),
                    H::ChildResponse,
                ),
                (
                    role,
                    e,
                    ExchangeType::CREATE_CHILD_SA,
                    Received::Response(Pending::RekeyIke),
                    H::RekeyIkeResponse,
                ),
                (
                    role,
                    e,
                    ExchangeType::INFORMATIONAL,
                    Received::Request,
                    H::InformationalRequest,
                ),
                (
                    role,
                    e,
                    ExchangeType::INFORMATIONAL,
                    Received::Response(Pending::DeleteChild),
                    H::DeleteChildResponse,
                ),
                (
                    role,
                    e,
                    ExchangeType::INFORMATIONAL,
                    Received::Response(Pending::DeleteIke),
                    H::DeleteIkeResponse,
                ),
                (
                    role,
                    e,
                    ExchangeType::INFORMATIONAL,
                    Received::Response(Pending::Liveness),
                    H::LivenessResponse,
                ),
                (
                    role,
                    e,
                    ExchangeType::INFORMATIONAL,
                    Received::Response(Pending::UpdateAddresses),
                    H::UpdateAddressesResponse,
                ),
            ]);
        }
        let key = |r: &(Role, State, ExchangeType, Received, Handler)| format!("{r:?}");
        runs.sort_by_key(key);
        expected.sort_by_key(key);
        assert_eq!(runs, expected);
    }

    /// RFC 7296 §2.15: until the responder's AUTH is verified, no request of the peer
    /// is processed or even answered.
    #[test]
    fn rfc7296_2_15_initiator_ignores_requests_before_auth() {
        for (role, state, _, rx, v) in all() {
            if role == Role::Initiator
                && matches!(state, State::InitSent | State::AuthSent)
                && rx == Received::Request
            {
                assert_eq!(v, Verdict::Drop(Drop::NotAuthenticated));
            }
        }
    }

    /// IKE_AUTH runs once per IKE SA: as a request only half-open, as a response only
    /// while it is the request outstanding.
    #[test]
    fn rfc7296_1_2_ike_auth_only_once() {
        for (role, state, x, rx, v) in all() {
            if x != ExchangeType::IKE_AUTH {
                continue;
            }
            let allowed = matches!(
                (role, state, rx),
                (Role::Responder, State::HalfOpen, Received::Request)
                    | (
                        Role::Initiator,
                        State::AuthSent,
                        Received::Response(Pending::Auth)
                    )
            );
            assert_eq!(
                matches!(v, Verdict::Run(_)),
                allowed,
                "{role:?} {state:?} {rx:?}"
            );
        }
    }

    /// RFC 7296 §2.3: a response of another exchange than the request's is not its
    /// answer; a response with nothing outstanding is stray; a dead SA takes nothing.
    #[test]
    fn rfc7296_2_3_responses_match_their_request() {
        for (_, state, x, rx, v) in all() {
            if let (Received::Response(p), Verdict::Run(_)) = (rx, &v) {
                assert_eq!(p.exchange(), Some(x));
            }
            if rx == Received::Response(Pending::None) || state == State::Dead {
                assert!(matches!(v, Verdict::Drop(_)), "{state:?} {x:?} {rx:?}");
            }
        }
    }
}
