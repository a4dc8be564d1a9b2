//! RFC 7296 §3 IKEv2 message format, and RFC 7383 §2.5 IKE fragments.
//!
//! - [`header`]: the fixed 28-octet header, owned ([`Header`]) or viewed in place
//!   ([`HeaderView`], for routing a message to its SA before decryption).
//! - [`payload`]: the generic payload header and one module per payload type, joined in
//!   the [`Payload`] enum.
//! - [`message`]: a whole [`Message`], and [`parse_chain`] / [`emit_chain`] for the
//!   payloads inside an SK payload once decrypted.
//! - [`registry`]: the IANA code points as newtypes that keep unknown values.
//!
//! Parsing checks every length against its container and never panics; emitting
//! computes every length, count and Next Payload field, and refuses what does not fit
//! rather than truncating. Cryptography (SK bodies, AUTH data) stays opaque here.

pub mod header;
pub mod message;
pub mod payload;
pub mod registry;

#[cfg(test)]
mod tests;

pub use header::{Flags, HEADER_LEN, Header, HeaderView, IKEV2_VERSION};
pub use message::{MAX_PAYLOADS, Message, emit_chain, parse_chain};
pub use payload::{
    Attribute, AttributeValue, Auth, Cert, CertReq, CfgAttribute, Config, Delete, Eap, Encrypted,
    EncryptedFragment, GENERIC_HEADER_LEN, Id, Ke, Nonce, Notify, Payload, Proposal, Sa, Selector,
    TrafficSelector, Transform, Ts, VendorId,
};
pub use registry::{
    AttributeType, AuthMethod, CertEncoding, CfgAttributeType, CfgType, ExchangeType, IdType,
    NotifyType, PayloadType, ProtocolId, TransformId, TransformType, TsType,
};
