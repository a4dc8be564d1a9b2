//! What happened to each connection lately, for `iketcp status`: setups started, the
//! fallback to TCP, SAs up (with their transport), down (with the reason), moved. A
//! failed setup leaves no SA to show; its reason stays here.

use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use iketcp_ctl::HistoryEntry;
use iketcp_proto::{Event, IkeSaId};

/// The most entries kept, over all connections.
const KEEP: usize = 64;

#[derive(Default)]
pub struct History {
    entries: VecDeque<HistoryEntry>,
    /// Which connection each IKE SA handle belongs to.
    names: HashMap<IkeSaId, String>,
}

impl History {
    pub fn note(&mut self, connection: &str, what: String) {
        if self.entries.len() >= KEEP {
            self.entries.pop_front();
        }
        self.entries.push_back(HistoryEntry {
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            connection: connection.into(),
            what,
        });
    }

    /// A setup we started for `connection`.
    pub fn started(&mut self, ike: IkeSaId, connection: &str) {
        self.names.insert(ike, connection.into());
        self.note(connection, format!("started ({ike})"));
    }

    pub fn event(&mut self, e: &Event) {
        let name = |h: &Self, ike: &IkeSaId| h.names.get(ike).cloned();
        match e {
            Event::IkeUp { ike, peer, path } => {
                self.names.insert(*ike, peer.clone());
                self.note(peer, format!("IKE SA up over {path}"));
            }
            Event::IkeRekeyed { old, new } => {
                if let Some(n) = name(self, old) {
                    self.names.insert(*new, n.clone());
                    self.note(&n, "IKE SA rekeyed".into());
                }
            }
            Event::FellBackToTcp { ike } => {
                if let Some(n) = name(self, ike) {
                    self.note(&n, "no answer over UDP: fell back to TCP".into());
                }
            }
            Event::PathChanged { ike, path, reason } => {
                if let Some(n) = name(self, ike) {
                    self.note(&n, format!("now on {path}: {reason}"));
                }
            }
            Event::IkeDown { ike, reason } => {
                if let Some(n) = self.names.remove(ike) {
                    self.note(&n, format!("IKE SA down: {reason:?}"));
                }
            }
            _ => {}
        }
    }

    pub fn entries(&self, only: Option<&str>) -> Vec<HistoryEntry> {
        self.entries
            .iter()
            .filter(|e| only.is_none_or(|o| e.connection == o))
            .cloned()
            .collect()
    }
}
