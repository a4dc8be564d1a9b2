//! The sans-IO node of iketcp: the IKE engine ([`iketcp_proto::Endpoint`]), the ESP
//! engine ([`iketcp_esp::Engine`]) and the RFC 9329 streams that carry both, behind one
//! [`Input`] and one [`Output`].
//!
//! The node owns the stream table (per connection: its role, the prefix deadline, the
//! idle deadline, the count of unparsable messages), frames and deframes every message,
//! hands Child SA keys from IKE to ESP and ESP lifetime events back to IKE, and routes
//! ESP by the path of its Child SA. It reads no clock, opens no socket and spawns
//! nothing: the I/O layer opens the connections and sends the datagrams it is told to.
//!
//! The ESP state sits in a [`DataPath`] the node shares: an I/O layer may protect and
//! unprotect packets on it from other threads, in parallel with the node (IKE).
//!
//! Contract (as for the engines): after every [`Node::handle`], [`Node::handle_timeout`]
//! or command, drain [`Node::poll_output`] until it returns `None`, then wait for input
//! or [`Node::poll_timeout`]. `now` never goes backwards.

mod child;
mod datapath;
mod node;
mod streams;
pub mod transport_mode;

pub use child::{ChildRoute, esp_sa_rows, sa_params};
pub use datapath::{DataPath, Protected};
pub use node::{CloseReason, Input, Node, NodeConfig, Output};
pub use streams::StreamRole;
