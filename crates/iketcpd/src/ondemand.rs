//! `start = "ondemand"`: a connection starts when the host sends traffic that its
//! selectors cover and no Child SA carries (RFC 4301 §5.1: the packet that finds no SA
//! triggers its negotiation). The packet itself is dropped; the next ones go through
//! once the Child SA is up.

use std::collections::HashSet;
use std::net::IpAddr;

use iketcp_proto::PeerConfig;
use iketcp_wire::ike::TrafficSelector;

struct Candidate {
    name: String,
    local: Vec<TrafficSelector>,
    remote: Vec<TrafficSelector>,
}

#[derive(Default)]
pub struct OnDemand {
    candidates: Vec<Candidate>,
    /// Started and not yet up or down: more traffic does not start them again.
    pending: HashSet<String>,
}

impl OnDemand {
    /// The connections named in `names`, with the selectors of their first Child SA.
    pub fn new(names: &[String], peers: &[PeerConfig]) -> Self {
        let candidates = peers
            .iter()
            .filter(|p| names.contains(&p.name))
            .filter_map(|p| {
                let c = p.children.first()?;
                Some(Candidate {
                    name: p.name.clone(),
                    local: c.local_ts.clone(),
                    remote: c.remote_ts.clone(),
                })
            })
            .collect();
        Self {
            candidates,
            pending: HashSet::new(),
        }
    }

    /// The connection to start for a packet from `src` to `dst`, if one covers it and is
    /// not already starting.
    pub fn wanted(&mut self, src: IpAddr, dst: IpAddr) -> Option<String> {
        let c = self.candidates.iter().find(|c| {
            iketcp_proto::ts::matches(&c.local, src, 0, 0)
                && iketcp_proto::ts::matches(&c.remote, dst, 0, 0)
        })?;
        self.pending.insert(c.name.clone()).then(|| c.name.clone())
    }

    /// A setup ended (up or down): traffic may start the connection again later.
    pub fn settled(&mut self) {
        self.pending.clear();
    }
}
