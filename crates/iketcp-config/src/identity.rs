//! IKE identities (`local_id`, `remote_id`) in strongSwan's syntax: `@fqdn` or `fqdn`,
//! `user@fqdn`, an IPv4 or IPv6 literal, a distinguished name `C=CH, O=…, CN=…`, or a
//! typed form such as `keyid:#0102`. The rules are `iketcp_pki::Identity::parse`'s, so a
//! string means the same identity here as in swanctl.conf.

use core::fmt;

use iketcp_proto::config::Identity;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::address::from_str_visitor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdentityValue(pub Identity);

fn parse_identity(text: &str) -> Result<Identity, String> {
    Identity::parse(text).map_err(|e| format!("\"{}\": {e}", text.trim()))
}

from_str_visitor!(
    IdentityValue,
    "an identity such as \"vpn.example.net\", \"user@example.net\" or \"192.0.2.1\"",
    parse_identity
);
