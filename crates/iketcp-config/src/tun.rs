//! `[tun]`: the tunnel device that carries the Child SAs' inner packets to and from the
//! host. Without this section the daemon has no device (the SAs come up, and carry only
//! what is handed to the node).

use std::net::IpAddr;

use iketcp_wire::ike::TrafficSelector;
use serde::Deserialize;
use toml::Spanned;

use crate::address::Selector;
use crate::error::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tun {
    pub name: Option<Spanned<String>>,
    pub address: Option<Spanned<Addresses>>,
    pub mtu: Option<Spanned<u16>>,
    pub routes: Option<Vec<Selector>>,
}

/// `address = "10.1.0.1/24"`, or a list: an IPv4 and an IPv6 address on one device.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Addresses {
    One(String),
    Many(Vec<String>),
}

/// The device as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunSettings {
    pub name: String,
    /// Our inner addresses on the device, each with its prefix length: at most one of
    /// each IP version. None: the device holds only the virtual IPs assigned to us.
    pub addresses: Vec<(IpAddr, u8)>,
    /// The inner MTU over UDP (the device's MTU unless streams allow more).
    pub mtu: u16,
    /// Subnets always routed into the device; by default the `remote_ts` of the
    /// connections started on demand. Each Child SA adds its own while it lives.
    pub routes: Vec<TrafficSelector>,
}

impl Tun {
    pub(crate) fn check(
        self,
        src: &Source<'_>,
        remote_ts: Vec<TrafficSelector>,
    ) -> Result<TunSettings, ConfigError> {
        let name = self
            .name
            .map_or_else(|| "iketcp0".to_string(), Spanned::into_inner);
        // Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/' or white space.
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
            return Err(src.error(None, format!("tun: name {name:?} is not an interface name")));
        }
        // Without an address the device gets the virtual IPs the peers assign, if any.
        let span = self.address.as_ref().map(Spanned::span).unwrap_or_default();
        let given = self.address.is_some();
        let texts = match self.address.map(Spanned::into_inner) {
            None => Vec::new(),
            Some(Addresses::One(t)) => vec![t],
            Some(Addresses::Many(v)) => v,
        };
        let mut addresses: Vec<(IpAddr, u8)> = Vec::new();
        for text in texts {
            let bad = || {
                src.error(
                    Some(span.clone()),
                    format!(
                        "tun: address {text:?} is not an address and prefix such as \"10.1.0.1/24\""
                    ),
                )
            };
            let (a, p) = text.split_once('/').ok_or_else(bad)?;
            let address: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix = p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?;
            if addresses
                .iter()
                .any(|(x, _)| x.is_ipv4() == address.is_ipv4())
            {
                return Err(src.error(
                    Some(span.clone()),
                    "tun: at most one IPv4 and one IPv6 address".to_string(),
                ));
            }
            addresses.push((address, prefix));
        }
        if given && addresses.is_empty() {
            return Err(src.error(Some(span), "tun: address is empty".to_string()));
        }
        let mtu = match self.mtu {
            None => 1400,
            Some(m) if (576..=65_535).contains(m.get_ref()) => m.into_inner(),
            Some(m) => {
                return Err(src.error(Some(m.span()), "tun: mtu must be 576 to 65535".to_string()));
            }
        };
        let routes = match self.routes {
            Some(r) => r.into_iter().map(|s| s.0).collect(),
            None => remote_ts,
        };
        Ok(TunSettings {
            name,
            addresses,
            mtu,
            routes,
        })
    }
}
