//! How IKE and ESP share one transport: UDP port 4500 (RFC 3948) or a byte stream
//! (RFC 9329).

pub mod stream;
pub mod udp;
