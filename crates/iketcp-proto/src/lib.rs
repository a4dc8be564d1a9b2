//! The sans-IO IKEv2 engine of iketcp (RFC 7296), with the transport rules of RFC 9329.
//!
//! An [`Endpoint`] takes whole IKE messages with the [`Path`] they came on (addresses,
//! ports, and whether UDP or which stream), commands, and `now`; it returns
//! [`Output`]s: messages to send on a path, Child SA keys for the ESP engine, events,
//! and the next deadline through [`Endpoint::poll_timeout`]. It owns no socket, no
//! clock and no thread, and takes all randomness from an injected [`iketcp_crypto::Rng`],
//! so a test drives it deterministically on a virtual clock.
//!
//! Each exchange has its module: [`ike_init`](crate::ike_init) (IKE_SA_INIT, cookies,
//! NAT detection), `ike_auth`, `child` (CREATE_CHILD_SA and Child SA rekeying),
//! `ike_rekey`, `informational` (DELETE, liveness); `ike_sa` holds the message-ID
//! window, retransmission and response cache; `protect` the SK payload and IKE
//! fragmentation.

mod auth;
mod child;
pub mod config;
mod cookie;
mod endpoint;
pub mod error;
mod events;
mod ike_auth;
mod ike_init;
mod ike_rekey;
mod ike_sa;
mod informational;
mod mobike;
mod natd;
pub mod path;
mod payloads;
pub mod proposal;
mod protect;
mod transitions;
mod transport;
pub mod ts;
mod vip;

pub use config::{
    AuthConfig, ChildConfig, EndpointConfig, Lifetime, Mode, PeerConfig, Retransmit, TcpConfig,
    TcpMode,
};
pub use endpoint::{ChildSaInfo, Endpoint, EndpointStats, IkeKeyExport, IkeSaInfo, Reconfigured};
pub use error::{ApiError, Drop, ProtocolError, Refusal};
pub use events::{ChildSaKeys, DownReason, Event, IkeSaId, MoveReason, Output, Transmit};
pub use path::{Path, StreamId, Transport};
pub use vip::{AddressPool, PoolError};
