//! The async I/O layer of iketcp: moves bytes between sockets and the sans-IO cores.
//!
//! [`stream`] carries RFC 9329 framing over any tokio byte stream, so a plain TCP
//! connection, a TLS session and an HTTP CONNECT tunnel share one implementation.

pub mod stream;
