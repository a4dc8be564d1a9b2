//! RFC 7296 §2.9: traffic selector negotiation.
//!
//! The responder narrows what the initiator proposed to the part its policy allows; the
//! initiator then checks that the answer is within what it proposed. A selector is a
//! range of addresses, a range of ports and one protocol (0 for any); the intersection of
//! two selectors is again one selector, or nothing.

use core::net::IpAddr;

use iketcp_wire::ike::{Selector, TrafficSelector, Ts};

fn ip_key(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v4) => (4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (6, u128::from(v6)),
    }
}

/// The intersection of two selectors, if any.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let proto = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    // RFC 7296 §3.13.1: start > end is the OPAQUE port selector; it intersects only with
    // itself or with "any port".
    let any = |t: &TrafficSelector| t.start_port == 0 && t.end_port == u16::MAX;
    let opaque = |t: &TrafficSelector| t.start_port > t.end_port;
    let (start_port, end_port) = if opaque(a) || opaque(b) {
        match (opaque(a), opaque(b)) {
            (true, true) => (a.start_port, a.end_port),
            (true, false) if any(b) => (a.start_port, a.end_port),
            (false, true) if any(a) => (b.start_port, b.end_port),
            _ => return None,
        }
    } else {
        let s = a.start_port.max(b.start_port);
        let e = a.end_port.min(b.end_port);
        if s > e {
            return None;
        }
        (s, e)
    };
    let (fa, sa) = ip_key(a.start_addr);
    let (fb, sb) = ip_key(b.start_addr);
    let (_, ea) = ip_key(a.end_addr);
    let (_, eb) = ip_key(b.end_addr);
    if fa != fb {
        return None;
    }
    let (start, end) = if sa >= sb {
        (a.start_addr, sa)
    } else {
        (b.start_addr, sb)
    };
    let (end_addr, e) = if ea <= eb {
        (a.end_addr, ea)
    } else {
        (b.end_addr, eb)
    };
    if end > e {
        return None;
    }
    Some(TrafficSelector {
        ip_protocol: proto,
        start_port,
        end_port,
        start_addr: start,
        end_addr,
    })
}

/// Whether `inner` lies entirely within `outer`.
pub fn contains(outer: &TrafficSelector, inner: &TrafficSelector) -> bool {
    intersect(outer, inner).as_ref() == Some(inner)
}

fn ip_selectors(ts: &Ts) -> impl Iterator<Item = &TrafficSelector> + '_ {
    ts.selectors.iter().filter_map(|s| match s {
        Selector::Ip(t) => Some(t),
        Selector::Opaque { .. } => None,
    })
}

/// Narrows the peer's proposal to our policy: every non-empty intersection of one of
/// theirs with one of ours, without duplicates. Empty means TS_UNACCEPTABLE.
pub fn narrow(proposed: &Ts, policy: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for theirs in ip_selectors(proposed) {
        for ours in policy {
            if let Some(i) = intersect(theirs, ours)
                && !out.iter().any(|o| contains(o, &i))
            {
                out.push(i);
            }
        }
    }
    out
}

/// The initiator's check of the responder's answer: every returned selector within one
/// we proposed, and at least one returned.
pub fn check_narrowed(answer: &Ts, proposed: &[TrafficSelector]) -> Option<Vec<TrafficSelector>> {
    let got: Vec<TrafficSelector> = ip_selectors(answer).copied().collect();
    if got.is_empty() || got.len() != answer.selectors.len() {
        return None;
    }
    got.iter()
        .all(|g| proposed.iter().any(|p| contains(p, g)))
        .then_some(got)
}

pub fn to_wire(ts: &[TrafficSelector]) -> Ts {
    Ts {
        selectors: ts.iter().copied().map(Selector::Ip).collect(),
    }
}

/// Whether a packet from `src` to `dst` with `proto` falls in the given selectors.
pub fn matches(ts: &[TrafficSelector], addr: IpAddr, proto: u8, port: u16) -> bool {
    ts.iter().any(|t| {
        let (f, a) = ip_key(addr);
        let (fs, s) = ip_key(t.start_addr);
        let (_, e) = ip_key(t.end_addr);
        f == fs
            && s <= a
            && a <= e
            && (t.ip_protocol == 0 || t.ip_protocol == proto)
            && ((t.start_port == 0 && t.end_port == u16::MAX)
                || (t.start_port <= port && port <= t.end_port))
    })
}

/// A subnet as a selector, e.g. `10.0.1.0/24`.
pub fn subnet(addr: IpAddr, prefix: u8) -> TrafficSelector {
    let (start_addr, end_addr) = match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            (
                IpAddr::from((bits & mask).to_be_bytes()),
                IpAddr::from((bits | !mask).to_be_bytes()),
            )
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            (
                IpAddr::from((bits & mask).to_be_bytes()),
                IpAddr::from((bits | !mask).to_be_bytes()),
            )
        }
    };
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr,
        end_addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> TrafficSelector {
        let (a, p) = s.split_once('/').unwrap();
        subnet(a.parse().unwrap(), p.parse().unwrap())
    }

    #[test]
    fn rfc7296_2_9_narrowing_to_policy() {
        let proposed = to_wire(&[net("10.0.0.0/8")]);
        let got = narrow(&proposed, &[net("10.1.2.0/24"), net("192.168.0.0/16")]);
        assert_eq!(got, vec![net("10.1.2.0/24")]);
        assert!(narrow(&to_wire(&[net("172.16.0.0/12")]), &[net("10.0.0.0/8")]).is_empty());
        let answer = to_wire(&got);
        assert!(check_narrowed(&answer, &[net("10.0.0.0/8")]).is_some());
        assert!(check_narrowed(&answer, &[net("10.1.2.0/25")]).is_none());
    }

    #[test]
    fn ports_protocols_and_families() {
        let mut tcp80 = net("10.0.0.0/24");
        tcp80.ip_protocol = 6;
        tcp80.start_port = 80;
        tcp80.end_port = 80;
        let i = intersect(&net("10.0.0.0/16"), &tcp80).unwrap();
        assert_eq!(i, tcp80);
        let mut udp = tcp80;
        udp.ip_protocol = 17;
        assert!(intersect(&tcp80, &udp).is_none());
        assert!(intersect(&net("10.0.0.0/8"), &net("::/0")).is_none());
        assert!(matches(&[tcp80], "10.0.0.7".parse().unwrap(), 6, 80));
        assert!(!matches(&[tcp80], "10.0.0.7".parse().unwrap(), 6, 81));
        assert!(matches(
            &[net("::/0")],
            "2001:db8::1".parse().unwrap(),
            58,
            0
        ));
    }
}
