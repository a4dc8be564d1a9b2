//! RFC 7296 §2.19 and §3.15: virtual IP addresses, asked for and handed out in IKE_AUTH
//! with the Configuration payload.
//!
//! An initiator configured with `vips` sends a CFG_REQUEST with one INTERNAL_IP4_ADDRESS
//! or INTERNAL_IP6_ADDRESS per address it wants (empty, or the address it would like);
//! a responder with `pools` leases one address of each family asked for, answers with a
//! CFG_REPLY, and narrows the initiator's traffic selectors to the leased addresses. An
//! address stays leased while any IKE SA of the family that leased it lives (rekeys
//! keep it), and is free again when the last one goes.
//!
//! Each side keeps what was agreed on its IKE SA: its own virtual addresses (assigned by
//! the peer) restrict its local selectors, the addresses it leased restrict the remote
//! ones, for every Child SA the IKE SA makes later.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use iketcp_wire::ike::{
    CfgAttribute, CfgAttributeType, CfgType, Config, NotifyType, Payload, TrafficSelector,
};
use thiserror::Error;
use tracing::{info, warn};

use crate::error::ProtocolError;
use crate::events::{Event, IkeSaId};
use crate::ike_sa::{Cx, IkeSa};
use crate::ts;

/// A range of addresses a responder hands out, first to last, one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    first: IpAddr,
    last: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    #[error("{0} and {1} are not of the same IP version")]
    Family(IpAddr, IpAddr),
    #[error("{0} comes after {1}")]
    Order(IpAddr, IpAddr),
    #[error("prefix /{0} is too long for {1}")]
    Prefix(u8, IpAddr),
    #[error("/{0} leaves no address to hand out")]
    Empty(u8),
}

fn key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn addr(v6: bool, k: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(k))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(k).unwrap_or(u32::MAX)))
    }
}

impl AddressPool {
    /// Every address from `first` to `last`.
    pub fn range(first: IpAddr, last: IpAddr) -> Result<Self, PoolError> {
        if first.is_ipv4() != last.is_ipv4() {
            return Err(PoolError::Family(first, last));
        }
        if key(first) > key(last) {
            return Err(PoolError::Order(first, last));
        }
        Ok(Self { first, last })
    }

    /// The addresses of a subnet, as strongSwan hands them out: without the subnet's
    /// own address and, for IPv4, its broadcast address (except for /31 and /32).
    pub fn subnet(net: IpAddr, prefix: u8) -> Result<Self, PoolError> {
        let bits: u8 = if net.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(PoolError::Prefix(prefix, net));
        }
        let host_bits = u32::from(bits - prefix);
        let size_mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let start = key(net) & !size_mask;
        let end = start | size_mask;
        let (first, last) = match host_bits {
            0 | 1 => (start, end),
            _ if net.is_ipv4() => (start + 1, end - 1),
            _ => (start + 1, end),
        };
        if first > last {
            return Err(PoolError::Empty(prefix));
        }
        let v6 = net.is_ipv6();
        Ok(Self {
            first: addr(v6, first),
            last: addr(v6, last),
        })
    }

    pub fn first(&self) -> IpAddr {
        self.first
    }

    pub fn last(&self) -> IpAddr {
        self.last
    }

    pub fn is_ipv6(&self) -> bool {
        self.first.is_ipv6()
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv6() == self.is_ipv6() && (key(self.first)..=key(self.last)).contains(&key(a))
    }

    /// The pool as a traffic selector: what a gateway routes to its clients.
    pub fn selector(&self) -> TrafficSelector {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: self.first,
            end_addr: self.last,
        }
    }
}

/// The addresses leased from every pool of the endpoint, each with the IKE SA family
/// holding it.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: HashMap<IpAddr, IkeSaId>,
}

impl Leases {
    /// One address of `pools` of the family of `wanted` for `family`: `wanted` itself
    /// if it is in a pool and free, else the lowest free one. The scan passes at most
    /// one address per lease held, so it costs no more than the leases do.
    fn lease(&mut self, pools: &[AddressPool], wanted: IpAddr, family: IkeSaId) -> Option<IpAddr> {
        let v6 = wanted.is_ipv6();
        let mut pick = None;
        if !wanted.is_unspecified()
            && pools.iter().any(|p| p.contains(wanted))
            && self.held.get(&wanted).is_none_or(|f| *f == family)
        {
            pick = Some(wanted);
        }
        for p in pools.iter().filter(|p| p.is_ipv6() == v6) {
            if pick.is_some() {
                break;
            }
            let mut k = key(p.first);
            loop {
                let a = addr(v6, k);
                if !self.held.contains_key(&a) {
                    pick = Some(a);
                    break;
                }
                if k >= key(p.last) {
                    break;
                }
                k += 1;
            }
        }
        let a = pick?;
        self.held.insert(a, family);
        Some(a)
    }

    /// Frees every address `family` holds.
    pub fn release(&mut self, family: IkeSaId) -> Vec<IpAddr> {
        let gone: Vec<IpAddr> = self
            .held
            .iter()
            .filter(|(_, f)| **f == family)
            .map(|(a, _)| *a)
            .collect();
        for a in &gone {
            self.held.remove(a);
        }
        gone
    }

    pub fn holds(&self, family: IkeSaId) -> bool {
        self.held.values().any(|f| *f == family)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.len()
    }
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// One INTERNAL_IP4_ADDRESS or INTERNAL_IP6_ADDRESS attribute: in a request, empty asks
/// for any address (§3.15.1: a zero-length value).
fn attribute(a: IpAddr, request: bool) -> CfgAttribute {
    match a {
        IpAddr::V4(v4) => CfgAttribute {
            ty: CfgAttributeType::INTERNAL_IP4_ADDRESS,
            value: if request && v4.is_unspecified() {
                Vec::new()
            } else {
                v4.octets().to_vec()
            },
        },
        IpAddr::V6(v6) => CfgAttribute {
            ty: CfgAttributeType::INTERNAL_IP6_ADDRESS,
            value: if request && v6.is_unspecified() {
                Vec::new()
            } else {
                // §3.15.1: the address, then its prefix length.
                let mut v = v6.octets().to_vec();
                v.push(128);
                v
            },
        },
    }
}

/// The addresses named by a CP payload's address attributes: the unspecified address
/// for an empty value; malformed values are skipped.
fn addresses(cp: &Config) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for a in &cp.attributes {
        let got = match (a.ty, a.value.len()) {
            (CfgAttributeType::INTERNAL_IP4_ADDRESS, 0) => Some(unspecified(false)),
            (CfgAttributeType::INTERNAL_IP6_ADDRESS, 0) => Some(unspecified(true)),
            (CfgAttributeType::INTERNAL_IP4_ADDRESS, 4) => <[u8; 4]>::try_from(a.value.as_slice())
                .ok()
                .map(IpAddr::from),
            (CfgAttributeType::INTERNAL_IP6_ADDRESS, 17) => {
                <[u8; 16]>::try_from(&a.value[..16]).ok().map(IpAddr::from)
            }
            _ => None,
        };
        out.extend(got);
    }
    out
}

fn cp(payloads: &[Payload], ty: CfgType) -> Option<&Config> {
    payloads.iter().find_map(|p| match p {
        Payload::Config(c) if c.cfg_type == ty => Some(c),
        _ => None,
    })
}

/// `policy` restricted to the hosts of `vips` (unchanged without any).
pub(crate) fn restrict(policy: &[TrafficSelector], vips: &[IpAddr]) -> Vec<TrafficSelector> {
    if vips.is_empty() {
        return policy.to_vec();
    }
    let mut out = Vec::new();
    for p in policy {
        for v in vips {
            let host = TrafficSelector {
                ip_protocol: 0,
                start_port: 0,
                end_port: u16::MAX,
                start_addr: *v,
                end_addr: *v,
            };
            out.extend(ts::intersect(p, &host));
        }
    }
    out
}

impl IkeSa {
    /// The initiator's CFG_REQUEST for its configured virtual addresses, if any.
    pub(crate) fn vip_request(&self, cx: &Cx<'_>) -> Option<Payload> {
        let cfg = self.peer_config(cx)?;
        if cfg.vips.is_empty() {
            return None;
        }
        Some(Payload::Config(Config {
            cfg_type: CfgType::REQUEST,
            attributes: cfg.vips.iter().map(|a| attribute(*a, true)).collect(),
        }))
    }

    /// The responder's answer to a CFG_REQUEST in IKE_AUTH: one lease per family asked
    /// for from the pools of the configuration, in a CFG_REPLY. No request, or no pools,
    /// is no answer; a request the pools cannot meet is INTERNAL_ADDRESS_FAILURE, and the
    /// first Child SA is not made (RFC 7296 §3.10.1).
    pub(crate) fn lease_vips(
        &mut self,
        cx: &mut Cx<'_>,
        payloads: &[Payload],
    ) -> Result<Option<Payload>, ProtocolError> {
        let Some(req) = cp(payloads, CfgType::REQUEST) else {
            return Ok(None);
        };
        let Some(cfg) = self.peer_config(cx) else {
            return Ok(None);
        };
        if cfg.pools.is_empty() {
            info!(ike = %self.id, "virtual IP asked for, but no pools are configured");
            return Ok(None);
        }
        let asked = addresses(req);
        let mut leased: Vec<IpAddr> = Vec::new();
        for want in asked.iter().copied() {
            // One per family: a second request of the same family gets nothing more.
            if leased.iter().any(|l| l.is_ipv6() == want.is_ipv6()) {
                continue;
            }
            if let Some(a) = cx.leases.lease(&cfg.pools, want, self.family) {
                leased.push(a);
            }
        }
        if leased.is_empty() {
            warn!(ike = %self.id, "no virtual IP to hand out for {asked:?}: pools exhausted or of another IP version");
            return Err(ProtocolError::InternalAddressFailure);
        }
        info!(ike = %self.id, "virtual IP leased: {leased:?}");
        self.leased = leased.clone();
        Ok(Some(Payload::Config(Config {
            cfg_type: CfgType::REPLY,
            attributes: leased.iter().map(|a| attribute(*a, false)).collect(),
        })))
    }

    /// The initiator's reading of the CFG_REPLY in the IKE_AUTH response: the addresses
    /// it may use from now on, announced before its first Child SA is installed, so that
    /// the host holds them before routes name them.
    pub(crate) fn learn_vips(&mut self, cx: &mut Cx<'_>, payloads: &[Payload]) {
        let asked = self.peer_config(cx).is_some_and(|c| !c.vips.is_empty());
        if !asked {
            return;
        }
        let got: Vec<IpAddr> = cp(payloads, CfgType::REPLY)
            .map(addresses)
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.is_unspecified())
            .collect();
        if got.is_empty() {
            if payloads.iter().any(|p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::INTERNAL_ADDRESS_FAILURE)) {
                warn!(ike = %self.id, "the peer had no virtual IP to give (INTERNAL_ADDRESS_FAILURE)");
            } else {
                warn!(ike = %self.id, "virtual IP asked for, none given");
            }
            return;
        }
        info!(ike = %self.id, "virtual IP assigned: {got:?}");
        self.own_vips = got.clone();
        cx.event(Event::VirtualIps {
            ike: self.id,
            addresses: got,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_leave_out_network_and_broadcast() {
        let p = AddressPool::subnet(ip("10.3.0.77"), 24).unwrap();
        assert_eq!((p.first(), p.last()), (ip("10.3.0.1"), ip("10.3.0.254")));
        let p = AddressPool::subnet(ip("10.3.0.8"), 31).unwrap();
        assert_eq!((p.first(), p.last()), (ip("10.3.0.8"), ip("10.3.0.9")));
        let p = AddressPool::subnet(ip("fd00::"), 120).unwrap();
        assert_eq!((p.first(), p.last()), (ip("fd00::1"), ip("fd00::ff")));
        assert!(AddressPool::subnet(ip("10.0.0.0"), 33).is_err());
        assert!(AddressPool::range(ip("10.0.0.9"), ip("10.0.0.1")).is_err());
        assert!(AddressPool::range(ip("10.0.0.1"), ip("fd00::1")).is_err());
    }

    #[test]
    fn leases_are_unique_until_released_and_bounded_by_the_pool() {
        let pools = [AddressPool::range(ip("10.3.0.1"), ip("10.3.0.2")).unwrap()];
        let mut l = Leases::default();
        let any = unspecified(false);
        assert_eq!(l.lease(&pools, any, IkeSaId(1)), Some(ip("10.3.0.1")));
        assert_eq!(l.lease(&pools, any, IkeSaId(2)), Some(ip("10.3.0.2")));
        assert_eq!(l.lease(&pools, any, IkeSaId(3)), None);
        assert_eq!(l.lease(&pools, unspecified(true), IkeSaId(3)), None);
        assert_eq!(l.release(IkeSaId(1)), vec![ip("10.3.0.1")]);
        // A wish is granted when free and in a pool.
        assert_eq!(
            l.lease(&pools, ip("10.3.0.1"), IkeSaId(3)),
            Some(ip("10.3.0.1"))
        );
        assert_eq!(l.len(), 2);
        assert!(!l.holds(IkeSaId(1)));
    }

    #[test]
    fn request_and_reply_attributes_round_trip() {
        let req = Config {
            cfg_type: CfgType::REQUEST,
            attributes: vec![
                attribute(unspecified(false), true),
                attribute(ip("fd00::5"), true),
            ],
        };
        assert!(req.attributes[0].value.is_empty());
        assert_eq!(req.attributes[1].value.len(), 17);
        assert_eq!(addresses(&req), vec![unspecified(false), ip("fd00::5")]);
        let bad = Config {
            cfg_type: CfgType::REPLY,
            attributes: vec![CfgAttribute {
                ty: CfgAttributeType::INTERNAL_IP4_ADDRESS,
                value: vec![1, 2, 3],
            }],
        };
        assert!(addresses(&bad).is_empty());
    }
}
