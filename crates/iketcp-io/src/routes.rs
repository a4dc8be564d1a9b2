//! Routes into the tunnel device, through rtnetlink: one per subnet of each Child SA's
//! remote traffic selectors while the SA exists, with the inner MTU of its transport
//! (R-ESP-5: from the maximum message length over a stream, from the path over UDP), and
//! the static ones (`[tun] routes`, or the selectors of connections started on demand,
//! so that their first packet reaches the daemon).
//!
//! The kernel removes every route through the device when the device goes, which it does
//! when its descriptor closes, on any exit, a crash included: nothing is left behind.
//!
//! A subnet that holds the peer's own address (a full tunnel, `0.0.0.0/0`) would route
//! the outer packets into their own tunnel. Such routes go into table [`TABLE`] instead,
//! with two rules, as wg-quick does: the main table first, but not its default route
//! (`suppress_prefixlength 0`), then table [`TABLE`] for every packet not marked
//! [`FWMARK`]; the daemon marks its own sockets, so IKE and the outer ESP keep the main
//! table. The rules outlive a crash, harmlessly (the table empties with the device), and
//! are replaced at the next start.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use futures_util::TryStreamExt;
use iketcp_node::ChildRoute;
use iketcp_proto::IkeSaId;
use iketcp_wire::ike::TrafficSelector;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMetric};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags};
use tracing::{debug, info, warn};

/// A subnet: address and prefix length.
pub type Cidr = (IpAddr, u8);

/// The mark on the daemon's own sockets (`SO_MARK`): their packets never enter the
/// tunnel's table.
pub const FWMARK: u32 = 0x4500;
/// The routing table of subnets that hold a peer's address.
pub const TABLE: u32 = 4500;
/// Priorities of the rules: each subnet of [`TABLE`] narrower than a default route
/// ahead of main (a peer on the local network, transport mode), then main without its
/// default route, then [`TABLE`].
const RULE_TO: u32 = 4497;
const RULE_MAIN: u32 = 4498;
const RULE_TABLE: u32 = 4499;

/// What a route carries besides its subnet: its MTU and, in transport mode, the source
/// address the host must pick (its own outer address, the SA's selector).
type RouteWant = (u32, Option<IpAddr>);

/// The subnets that exactly cover the addresses of `ts` (a range needs not be one
/// subnet: 10.0.0.1 to 10.0.0.6 is four of them).
pub fn cidrs(ts: &TrafficSelector) -> Vec<Cidr> {
    let (bits, start, end) = match (ts.start_addr, ts.end_addr) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (32, u128::from(u32::from(s)), u128::from(u32::from(e))),
        (IpAddr::V6(s), IpAddr::V6(e)) => (128, u128::from(s), u128::from(e)),
        _ => return Vec::new(),
    };
    let addr = |v: u128| -> IpAddr {
        if bits == 32 {
            IpAddr::from(u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes())
        } else {
            IpAddr::from(v.to_be_bytes())
        }
    };
    if start > end {
        return Vec::new();
    }
    // Whether the block of 2^k addresses at `cur` ends at or before `end`.
    let fits = |cur: u128, k: u32| {
        if k >= 128 {
            cur == 0 && end == u128::MAX
        } else {
            cur.checked_add((1u128 << k) - 1)
                .is_some_and(|last| last <= end)
        }
    };
    let mut out = Vec::new();
    let mut cur = start;
    loop {
        // The largest block aligned at `cur` that does not pass `end`.
        let mut k = cur.trailing_zeros().min(bits);
        while k > 0 && !fits(cur, k) {
            k -= 1;
        }
        out.push((addr(cur), (bits - k) as u8));
        if k >= 128 {
            return out;
        }
        let last = cur + ((1u128 << k) - 1);
        if last >= end {
            return out;
        }
        cur = last + 1;
    }
}

/// The routes through one device, kept equal to what the SAs want.
pub(crate) struct Routes {
    handle: rtnetlink::Handle,
    device: String,
    index: u32,
    statics: Vec<Cidr>,
    udp_mtu: u32,
    stream_mtu: u32,
    /// Installed routes: (subnet, in [`TABLE`]), MTU and preferred source.
    installed: HashMap<(Cidr, bool), RouteWant>,
    /// Subnets of [`TABLE`] with their own rule ([`RULE_TO`]).
    to_rules: std::collections::HashSet<Cidr>,
    /// Whether the daemon's sockets carry [`FWMARK`], so that [`TABLE`] may be used.
    marked: bool,
    /// Families whose two rules are in place (IPv4, IPv6).
    rules: [bool; 2],
    /// Virtual IPs the peers assigned (RFC 7296 §2.19), per IKE SA: each is on the
    /// device while an IKE SA holds it, and is the preferred source of the routes of
    /// Child SAs whose local selectors it is in.
    vips: HashMap<IkeSaId, Vec<IpAddr>>,
}

impl Routes {
    pub async fn new(
        device: &str,
        index: u32,
        statics: Vec<Cidr>,
        udp_mtu: u16,
        stream_mtu: u16,
        marked: bool,
    ) -> io::Result<Routes> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        let mut r = Routes {
            handle,
            device: device.to_string(),
            index,
            statics,
            udp_mtu: u32::from(udp_mtu),
            stream_mtu: u32::from(stream_mtu),
            installed: HashMap::new(),
            marked,
            rules: [false; 2],
            to_rules: std::collections::HashSet::new(),
            vips: HashMap::new(),
        };
        // Rules left by an earlier run that ended without removing them.
        for v6 in [false, true] {
            r.rules(v6, false).await;
            r.clear_to_rules(v6).await;
        }
        r.sync(&[]).await;
        Ok(r)
    }

    /// Installs, changes and removes routes so that the device carries the static
    /// subnets and every Child SA's remote selectors, each at its inner MTU.
    pub async fn sync(&mut self, children: &[ChildRoute]) {
        let mut want: HashMap<(Cidr, bool), RouteWant> = self
            .statics
            .iter()
            .map(|c| ((*c, false), (self.udp_mtu, None)))
            .collect();
        for c in children {
            let mtu = if c.path.stream().is_some() {
                self.stream_mtu
            } else {
                self.udp_mtu
            };
            let outer = c.path.remote.ip();
            let src = if c.transport {
                Some(c.hosts().1).filter(|a| !a.is_unspecified())
            } else {
                self.vips
                    .values()
                    .flatten()
                    .find(|v| c.local_ts.iter().any(|t| selects(t, **v)))
                    .copied()
            };
            for ts in &c.remote_ts {
                for cidr in cidrs(ts) {
                    let holds_peer = contains(cidr, outer);
                    if holds_peer && !self.marked {
                        // The peer's own address would be routed into its tunnel: the
                        // outer packets would loop.
                        warn!(
                            "route {}/{} not set: it holds the peer's address {outer}",
                            cidr.0, cidr.1
                        );
                        continue;
                    }
                    // Several SAs (a rekey's old and new one) may want it: the smaller
                    // MTU fits both.
                    want.entry((cidr, holds_peer))
                        .and_modify(|m| m.0 = m.0.min(mtu))
                        .or_insert((mtu, src));
                }
            }
        }
        for v6 in [false, true] {
            let needed = want.keys().any(|((c, _), t)| *t && c.is_ipv6() == v6);
            if needed != self.rules[usize::from(v6)] {
                self.rules(v6, needed).await;
            }
        }
        let to: std::collections::HashSet<Cidr> = want
            .keys()
            .filter(|(c, t)| *t && c.1 > 0)
            .map(|(c, _)| *c)
            .collect();
        for c in self.to_rules.clone().difference(&to) {
            self.subnet_rule(*c, false).await;
        }
        for c in to.difference(&self.to_rules.clone()) {
            self.subnet_rule(*c, true).await;
        }
        let gone: Vec<(Cidr, bool)> = self
            .installed
            .keys()
            .filter(|c| !want.contains_key(*c))
            .copied()
            .collect();
        for key in gone {
            self.installed.remove(&key);
            let (cidr, _) = key;
            match self
                .handle
                .route()
                .del(self.message(key, None))
                .execute()
                .await
            {
                Ok(()) => info!("route {}/{} out of {}", cidr.0, cidr.1, self.device),
                Err(e) => debug!("route {}/{} not removed: {e}", cidr.0, cidr.1),
            }
        }
        for (key, w) in want {
            if self.installed.get(&key) == Some(&w) {
                continue;
            }
            let (cidr, in_table) = key;
            let (mtu, _) = w;
            match self
                .handle
                .route()
                .add(self.message(key, Some(w)))
                .replace()
                .execute()
                .await
            {
                Ok(()) => {
                    let table = if in_table {
                        format!(" (table {TABLE})")
                    } else {
                        String::new()
                    };
                    info!(
                        "route {}/{} into {}{table}, MTU {mtu}",
                        cidr.0, cidr.1, self.device
                    );
                    self.installed.insert(key, w);
                }
                Err(e) => warn!(
                    "route {}/{} into {} not set: {e}",
                    cidr.0, cidr.1, self.device
                ),
            }
        }
    }

    /// The peer assigned `addresses` to IKE SA `ike`: they go on the device (before the
    /// routes that name them as their source, which the next [`Routes::sync`] sets).
    pub async fn assign(&mut self, ike: IkeSaId, addresses: Vec<IpAddr>) {
        for a in &addresses {
            if !self.vips.values().flatten().any(|h| h == a) {
                let prefix = if a.is_ipv4() { 32 } else { 128 };
                match self
                    .handle
                    .address()
                    .add(self.index, *a, prefix)
                    .replace()
                    .execute()
                    .await
                {
                    Ok(()) => info!("virtual IP {a} on {}", self.device),
                    Err(e) => warn!("virtual IP {a} not set on {}: {e}", self.device),
                }
            }
        }
        self.vips.insert(ike, addresses);
    }

    /// A rekeyed IKE SA holds what the old one held.
    pub fn rekeyed(&mut self, old: IkeSaId, new: IkeSaId) {
        if let Some(a) = self.vips.get(&old).cloned() {
            self.vips.insert(new, a);
        }
    }

    /// IKE SA `ike` is gone: its virtual IPs leave the device unless another holds them.
    pub async fn release(&mut self, ike: IkeSaId) {
        let Some(gone) = self.vips.remove(&ike) else {
            return;
        };
        for a in gone {
            if self.vips.values().flatten().any(|h| *h == a) {
                continue;
            }
            let mut found = self
                .handle
                .address()
                .get()
                .set_link_index_filter(self.index)
                .set_address_filter(a)
                .execute();
            while let Ok(Some(m)) = found.try_next().await {
                match self.handle.address().del(m).execute().await {
                    Ok(()) => info!("virtual IP {a} off {}", self.device),
                    Err(e) => debug!("virtual IP {a} not removed: {e}"),
                }
            }
        }
    }

    /// Adds (`on`) or removes the two rules of one family.
    async fn rules(&mut self, v6: bool, on: bool) {
        let handle = self.handle.rule();
        let family = if v6 { "IPv6" } else { "IPv4" };
        for (priority, main) in [(RULE_MAIN, true), (RULE_TABLE, false)] {
            let mut add = handle.add().priority(priority);
            {
                let m = add.message_mut();
                m.header.family = address_family(v6);
                m.header.action = RuleAction::ToTable;
                if main {
                    m.header.table = 254;
                    m.attributes.push(RuleAttribute::Table(254));
                    m.attributes.push(RuleAttribute::SuppressPrefixLen(0));
                } else {
                    m.header.flags |= RuleFlags::Invert;
                    m.attributes.push(RuleAttribute::Table(TABLE));
                    m.attributes.push(RuleAttribute::FwMark(FWMARK));
                }
            }
            if on {
                if let Err(e) = add.execute().await {
                    warn!("{family} rule {priority} not set: {e}");
                }
            } else {
                // Removing by priority alone: whatever holds it is ours.
                let mut m = rtnetlink::packet_route::rule::RuleMessage::default();
                m.header.family = add.message_mut().header.family;
                m.attributes.push(RuleAttribute::Priority(priority));
                while handle.del(m.clone()).execute().await.is_ok() {}
            }
        }
        if on {
            info!(
                "{family} rules: main without its default route, then table {TABLE} unless marked {FWMARK:#x}"
            );
        }
        self.rules[usize::from(v6)] = on;
    }

    /// Adds (`on`) or removes the rule that sends unmarked packets to `cidr` into
    /// [`TABLE`] ahead of main.
    async fn subnet_rule(&mut self, cidr: Cidr, on: bool) {
        let handle = self.handle.rule();
        let mut add = handle.add().priority(RULE_TO);
        {
            let m = add.message_mut();
            m.header.family = address_family(cidr.0.is_ipv6());
            m.header.action = RuleAction::ToTable;
            m.header.dst_len = cidr.1;
            m.header.flags |= RuleFlags::Invert;
            m.attributes.push(RuleAttribute::Destination(cidr.0));
            m.attributes.push(RuleAttribute::Table(TABLE));
            m.attributes.push(RuleAttribute::FwMark(FWMARK));
        }
        if on {
            match add.execute().await {
                Ok(()) => {
                    info!(
                        "rule: to {}/{} unless marked {FWMARK:#x}, table {TABLE}",
                        cidr.0, cidr.1
                    );
                    self.to_rules.insert(cidr);
                }
                Err(e) => warn!("rule to {}/{} not set: {e}", cidr.0, cidr.1),
            }
        } else {
            let m = add.message_mut().clone();
            let _ = handle.del(m).execute().await;
            self.to_rules.remove(&cidr);
        }
    }

    /// Removes every rule at [`RULE_TO`] of a family (left by an earlier run).
    async fn clear_to_rules(&mut self, v6: bool) {
        let handle = self.handle.rule();
        let mut m = rtnetlink::packet_route::rule::RuleMessage::default();
        m.header.family = address_family(v6);
        m.attributes.push(RuleAttribute::Priority(RULE_TO));
        while handle.del(m.clone()).execute().await.is_ok() {}
    }

    fn message(
        &self,
        ((addr, len), in_table): (Cidr, bool),
        want: Option<RouteWant>,
    ) -> rtnetlink::packet_route::route::RouteMessage {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(addr, len)
            .unwrap_or_else(|_| RouteMessageBuilder::<IpAddr>::new())
            .output_interface(self.index);
        if in_table {
            b = b.table_id(TABLE);
        }
        let mut m = b.build();
        if let Some((mtu, src)) = want {
            m.attributes
                .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
            if let Some(src) = src.filter(|s| s.is_ipv4() == addr.is_ipv4()) {
                m.attributes.push(RouteAttribute::PrefSource(match src {
                    IpAddr::V4(a) => RouteAddress::Inet(a),
                    IpAddr::V6(a) => RouteAddress::Inet6(a),
                }));
            }
        }
        m
    }
}

/// Whether `ts` selects address `a` (any port and protocol).
fn selects(ts: &TrafficSelector, a: IpAddr) -> bool {
    let key = |x: IpAddr| match x {
        IpAddr::V4(v) => (4u8, u128::from(u32::from(v))),
        IpAddr::V6(v) => (6u8, u128::from(v)),
    };
    let (f, k) = key(a);
    let (fs, s) = key(ts.start_addr);
    let (_, e) = key(ts.end_addr);
    f == fs && (s..=e).contains(&k)
}

fn address_family(v6: bool) -> rtnetlink::packet_route::AddressFamily {
    if v6 {
        rtnetlink::packet_route::AddressFamily::Inet6
    } else {
        rtnetlink::packet_route::AddressFamily::Inet
    }
}

fn contains((net, len): Cidr, a: IpAddr) -> bool {
    match (net, a) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(a: &str, b: &str) -> TrafficSelector {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: a.parse().unwrap(),
            end_addr: b.parse().unwrap(),
        }
    }

    fn show(v: Vec<Cidr>) -> Vec<String> {
        v.into_iter().map(|(a, l)| format!("{a}/{l}")).collect()
    }

    #[test]
    fn selectors_become_the_subnets_that_cover_them_exactly() {
        assert_eq!(show(cidrs(&ts("10.2.0.0", "10.2.0.255"))), ["10.2.0.0/24"]);
        assert_eq!(
            show(cidrs(&ts("10.0.0.1", "10.0.0.6"))),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(
            show(cidrs(&ts("0.0.0.0", "255.255.255.255"))),
            ["0.0.0.0/0"]
        );
        assert_eq!(show(cidrs(&ts("10.9.9.9", "10.9.9.9"))), ["10.9.9.9/32"]);
        assert_eq!(
            show(cidrs(&ts("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))),
            ["::/0"]
        );
        assert_eq!(show(cidrs(&ts("fd00::", "fd00::ffff"))), ["fd00::/112"]);
        assert_eq!(
            show(cidrs(&ts("255.255.255.254", "255.255.255.255"))),
            ["255.255.255.254/31"]
        );
        assert!(cidrs(&ts("10.0.0.1", "::1")).is_empty());
    }

    #[test]
    fn containment() {
        assert!(contains(
            ("10.2.0.0".parse().unwrap(), 16),
            "10.2.3.4".parse().unwrap()
        ));
        assert!(!contains(
            ("10.2.0.0".parse().unwrap(), 16),
            "10.3.0.1".parse().unwrap()
        ));
        assert!(contains(
            ("0.0.0.0".parse().unwrap(), 0),
            "10.3.0.1".parse().unwrap()
        ));
        assert!(!contains(
            ("0.0.0.0".parse().unwrap(), 0),
            "::1".parse().unwrap()
        ));
    }
}
