//! What a reload changes: a connection whose every setting, secret included, is the same
//! keeps its SAs; the others are added, removed or replaced.

use iketcp_crypto::constant_time_eq;
use iketcp_proto::AuthConfig;

use crate::config::{Config, Connection};

/// The connections of a new file against those running, by name, in the new file's order
/// (`removed` in the old file's order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same name, some setting or secret differs: delete its SAs, then use the new one.
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    /// `[daemon]` differs: sockets or limits change, which the running driver and node
    /// do not take on the fly.
    pub daemon_changed: bool,
}

fn same_auth(a: &AuthConfig, b: &AuthConfig) -> bool {
    match (a, b) {
        (AuthConfig::Psk(a), AuthConfig::Psk(b)) => constant_time_eq(a.expose(), b.expose()),
        (
            AuthConfig::Pubkey {
                cert_chain: ca,
                trust: ta,
                rsa_padding: pa,
                ..
            },
            AuthConfig::Pubkey {
                cert_chain: cb,
                trust: tb,
                rsa_padding: pb,
                ..
            },
        ) => {
            // The private key is the one of the first certificate (checked at load), so
            // equal chains mean equal keys.
            ca == cb && ta.cas() == tb.cas() && pa == pb
        }
        _ => false,
    }
}

impl Connection {
    /// Whether `other` configures exactly this connection, secrets included.
    pub fn same_as(&self, other: &Connection) -> bool {
        self.name == other.name
            && self.remote_addrs == other.remote_addrs
            && self.local_addrs == other.local_addrs
            && self.remote_port == other.remote_port
            && self.local_id == other.local_id
            && self.remote_id == other.remote_id
            && self.ike_proposals == other.ike_proposals
            && self.esp_proposals == other.esp_proposals
            && self.local_ts == other.local_ts
            && self.remote_ts == other.remote_ts
            && self.mode == other.mode
            && self.tcp == other.tcp
            && self.start == other.start
            && self.ike_lifetime == other.ike_lifetime
            && self.child_lifetime == other.child_lifetime
            && self.dpd_delay == other.dpd_delay
            && self.fragmentation == other.fragmentation
            && self.replay_window == other.replay_window
            && self.wrap == other.wrap
            && self.local == other.local
            && self.remote == other.remote
            && same_auth(&self.auth, &other.auth)
    }
}

impl Config {
    /// What moving from `running` to this configuration changes.
    pub fn changes_from(&self, running: &Config) -> Changes {
        let mut c = Changes {
            daemon_changed: self.daemon != running.daemon,
            ..Changes::default()
        };
        for new in &self.connections {
            let name = new.name.clone();
            match running.connection(&new.name) {
                None => c.added.push(name),
                Some(old) if old.same_as(new) => c.unchanged.push(name),
                Some(_) => c.changed.push(name),
            }
        }
        c.removed = running
            .connections
            .iter()
            .filter(|old| self.connection(&old.name).is_none())
            .map(|old| old.name.clone())
            .collect();
        c
    }
}
