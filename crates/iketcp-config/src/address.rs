//! Addresses, ports and traffic selectors as written in the file.

use core::fmt;
use core::net::IpAddr;

use iketcp_proto::AddressPool;
use iketcp_wire::ike::TrafficSelector;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// An IP address. Host names are refused with their own message: resolving them needs a
/// policy (when, how often, which family) that the daemon does not have yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Address(pub IpAddr);

pub(crate) fn parse_address(text: &str) -> Result<IpAddr, String> {
    let t = text.trim();
    if let Ok(a) = t.parse::<IpAddr>() {
        return Ok(a);
    }
    let name_like = !t.is_empty()
        && t.chars().any(|c| c.is_ascii_alphabetic())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !name_like {
        return Err(format!("\"{t}\" is not an IP address"));
    }
    // A host name is resolved when the file is read (at start and at every reload);
    // the first address the resolver gives is the one used.
    use std::net::ToSocketAddrs;
    match (t, 0).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("\"{t}\" has no address")),
        Err(e) => Err(format!("\"{t}\" cannot be resolved: {e}")),
    }
}

/// A port to listen on or connect to; 0 is neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Checked inside the visitor, so that toml gives the error the value's own span
        // (an element's, in a list) rather than the enclosing one.
        struct V;
        impl Visitor<'_> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port from 1 to 65535")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
                match u16::try_from(v) {
                    Ok(0) => Err(E::custom("port 0: give a port from 1 to 65535")),
                    Ok(p) => Ok(Port(p)),
                    Err(_) => Err(E::custom(format!("{v} is not a port: give 1 to 65535"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
        }
        d.deserialize_i64(V)
    }
}

/// A DiffServ code point: six bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dscp(pub u8);

impl<'de> Deserialize<'de> for Dscp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dscp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a DSCP from 0 to 63")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dscp, E> {
                match u8::try_from(v) {
                    Ok(v) if v <= 63 => Ok(Dscp(v)),
                    _ => Err(E::custom(format!(
                        "{v} is not a DSCP: give 0 to 63 (e.g. 46 for EF, 10 for AF11)"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dscp, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_i64(V)
    }
}

/// A subnet in CIDR notation, or one address, as a traffic selector of any protocol and
/// port (RFC 7296 §3.13.1).
pub(crate) fn parse_selector(text: &str) -> Result<TrafficSelector, String> {
    let t = text.trim();
    let (addr, prefix) = match t.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (t, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("\"{t}\" is not a subnet such as \"10.1.0.0/16\""))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.trim().parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => return Err(format!("\"{t}\": prefix length must be 0 to {max}")),
        },
    };
    let ts = iketcp_proto::ts::subnet(addr, prefix);
    // A typo in the address part would otherwise silently become a different subnet.
    if ts.start_addr != addr {
        return Err(format!(
            "\"{t}\" has host bits set: did you mean \"{}/{prefix}\"?",
            ts.start_addr
        ));
    }
    Ok(ts)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector(pub TrafficSelector);

/// A virtual address to ask for: an IP address, or `0.0.0.0` / `::` for any of its
/// version.
pub(crate) fn parse_vip(text: &str) -> Result<IpAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("\"{text}\" is not an IP address: give one, or \"0.0.0.0\" or \"::\" for any")
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vip(pub IpAddr);

/// An address pool: a subnet (`10.3.0.0/24`: its addresses but the subnet's own and,
/// for IPv4, its broadcast) or a range (`10.3.0.10-10.3.0.99`).
pub(crate) fn parse_pool(text: &str) -> Result<AddressPool, String> {
    let t = text.trim();
    if let Some((a, b)) = t.split_once('-') {
        let bad = || format!("\"{t}\" is not a range such as \"10.3.0.10-10.3.0.99\"");
        let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
        return AddressPool::range(a, b).map_err(|e| format!("\"{t}\": {e}"));
    }
    let ts = parse_selector(t)?;
    let prefix = t
        .split_once('/')
        .and_then(|(_, p)| p.trim().parse::<u8>().ok())
        .unwrap_or(if ts.start_addr.is_ipv4() { 32 } else { 128 });
    AddressPool::subnet(ts.start_addr, prefix).map_err(|e| format!("\"{t}\": {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pool(pub AddressPool);

/// Strings read with `parse`, errors reported at the string's span.
macro_rules! from_str_visitor {
    ($ty:ident, $expecting:literal, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        $parse(s).map($ty).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use from_str_visitor;

from_str_visitor!(Address, "an IP address", parse_address);
from_str_visitor!(Selector, "a subnet such as \"10.1.0.0/16\"", parse_selector);
from_str_visitor!(Vip, "an IP address", parse_vip);
from_str_visitor!(
    Pool,
    "a subnet such as \"10.3.0.0/24\" or a range such as \"10.3.0.10-10.3.0.99\"",
    parse_pool
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let ts = parse_selector("10.1.0.0/16").unwrap();
        assert_eq!(ts.start_addr, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(ts.end_addr, "10.1.255.255".parse::<IpAddr>().unwrap());
        let one = parse_selector("192.0.2.7").unwrap();
        assert_eq!(one.start_addr, one.end_addr);
        assert!(parse_selector("2001:db8::/32").is_ok());
        assert!(
            parse_selector("10.1.0.1/16")
                .unwrap_err()
                .contains("10.1.0.0/16")
        );
        assert!(parse_selector("10.1.0.0/33").is_err());
        assert!(parse_selector("office").is_err());
    }

    #[test]
    fn pools() {
        let p = parse_pool("10.3.0.0/24").unwrap();
        assert_eq!(p.first().to_string(), "10.3.0.1");
        assert_eq!(p.last().to_string(), "10.3.0.254");
        let r = parse_pool("10.3.0.10 - 10.3.0.20").unwrap();
        assert_eq!(r.last().to_string(), "10.3.0.20");
        assert!(
            parse_pool("10.3.0.20-10.3.0.10")
                .unwrap_err()
                .contains("after")
        );
        assert!(parse_pool("10.3.0.1/24").unwrap_err().contains("host bits"));
        assert!(parse_pool("fd03::/120").is_ok());
        assert!(parse_vip("::").is_ok());
        assert!(parse_vip("any").is_err());
    }

    #[test]
    fn addresses() {
        assert!(parse_address("192.0.2.1").is_ok());
        assert!(parse_address("::1").is_ok());
        assert!(
            parse_address("no-such-host.invalid")
                .unwrap_err()
                .contains("cannot be resolved")
        );
        assert!(
            parse_address("1.2.3")
                .unwrap_err()
                .contains("not an IP address")
        );
    }
}
