//! Why a message was not acted on, and how failures map to the wire (RFC 7296 §2.21).

use iketcp_wire::WireError;
use iketcp_wire::ike::NotifyType;
use thiserror::Error;

/// A received message that was dropped, and why. Logged at debug level, never answered
/// unless [`Drop::answer`] says so.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Drop {
    #[error("malformed before authentication")]
    Malformed,
    #[error("wire error: {0}")]
    Wire(WireError),
    #[error("integrity check failed")]
    Integrity,
    #[error("syntax error in an authenticated message: {0}")]
    SyntaxAuthenticated(WireError),
    #[error("expected an encrypted payload")]
    Unprotected,
    #[error("no IKE SA for this message")]
    UnknownSa,
    #[error("message ID {got} outside the window (expected {expected})")]
    MessageId { got: u32, expected: u32 },
    #[error("response to no request")]
    UnexpectedResponse,
    #[error("exchange not acceptable now")]
    UnexpectedExchange,
    #[error("the peer has not authenticated yet")]
    NotAuthenticated,
    #[error("internal: {0}")]
    Internal(&'static str),
}

/// A rule the peer broke in an authenticated request, answered with an error notify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("invalid syntax")]
    InvalidSyntax,
    #[error("no acceptable proposal")]
    NoProposalChosen,
    #[error("unacceptable traffic selectors")]
    TsUnacceptable,
    #[error("authentication failed")]
    AuthenticationFailed,
    #[error("unsupported critical payload {0}")]
    UnsupportedCriticalPayload(u8),
    #[error("Child SA not found")]
    ChildSaNotFound,
    #[error("temporary failure")]
    TemporaryFailure,
    #[error("invalid KE payload, group {0} wanted")]
    InvalidKe(u16),
    #[error("no additional SAs accepted on this IKE SA")]
    NoAdditionalSas,
    #[error("no internal address to assign")]
    InternalAddressFailure,
}

impl ProtocolError {
    /// RFC 7296 §3.10.1: the error notify that answers this failure.
    pub fn notify(&self) -> NotifyType {
        match self {
            ProtocolError::InvalidSyntax => NotifyType::INVALID_SYNTAX,
            ProtocolError::NoProposalChosen => NotifyType::NO_PROPOSAL_CHOSEN,
            ProtocolError::TsUnacceptable => NotifyType::TS_UNACCEPTABLE,
            ProtocolError::AuthenticationFailed => NotifyType::AUTHENTICATION_FAILED,
            ProtocolError::UnsupportedCriticalPayload(_) => {
                NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
            }
            ProtocolError::ChildSaNotFound => NotifyType::CHILD_SA_NOT_FOUND,
            ProtocolError::TemporaryFailure => NotifyType::TEMPORARY_FAILURE,
            ProtocolError::InvalidKe(_) => NotifyType::INVALID_KE_PAYLOAD,
            ProtocolError::NoAdditionalSas => NotifyType::NO_ADDITIONAL_SAS,
            ProtocolError::InternalAddressFailure => NotifyType::INTERNAL_ADDRESS_FAILURE,
        }
    }

    /// The notification data: the offending payload type, or the group wanted.
    pub fn data(&self) -> Vec<u8> {
        match self {
            ProtocolError::UnsupportedCriticalPayload(t) => vec![*t],
            ProtocolError::InvalidKe(g) => g.to_be_bytes().to_vec(),
            _ => Vec::new(),
        }
    }
}

/// Why the peer's answer to a request of ours could not be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The peer answered with this error notify (RFC 7296 §3.10.1).
    #[error("{0}")]
    Notify(NotifyType),
    #[error("no proposal of ours in the answer")]
    Proposal,
    #[error("traffic selectors not within ours")]
    TrafficSelectors,
    #[error("the answer lacks {0}")]
    Missing(&'static str),
    #[error("key exchange group or value not acceptable")]
    KeyExchange,
    #[error("transforms the ESP engine does not implement")]
    Transforms,
    #[error("malformed SPI")]
    Spi,
    #[error("key derivation failed")]
    KeyDerivation,
}

/// Misuse of the engine's API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("no peer configuration named {0:?}")]
    UnknownPeer(String),
    #[error("no child configuration named {0:?}")]
    UnknownChild(String),
    #[error("no IKE SA {0}")]
    UnknownSa(crate::events::IkeSaId),
    #[error("no Child SA with inbound SPI {0:08x}")]
    UnknownChildSa(u32),
    #[error("IKE SA not established")]
    NotEstablished,
    #[error("key exchange group unsupported")]
    Unsupported,
}
