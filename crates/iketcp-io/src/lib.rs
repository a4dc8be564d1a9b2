//! The async I/O layer of iketcp: moves bytes between sockets and the sans-IO cores.
//!
//! [`driver`] runs an [`iketcp_node::Node`] over UDP sockets, TCP listeners and the
//! connections the node asks for. [`stream`] carries RFC 9329 framing over any tokio
//! byte stream, so a plain TCP connection, a TLS session and an HTTP CONNECT tunnel
//! share one implementation.

mod addresses;
pub mod driver;
mod packets;
pub mod proxy;
pub mod raw;
pub mod routes;
pub mod stream;
pub mod tls;
pub mod tun;
pub mod wrap;

pub use driver::{Driver, DriverConfig, Handle, Report};
