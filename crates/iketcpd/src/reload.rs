//! Reloading the configuration file (SIGHUP, `iketcp reload`): a file that does not load
//! is refused with its reason and the running configuration stays; otherwise unchanged
//! connections keep their SAs, changed and removed ones have theirs deleted, and added
//! or changed ones marked `start = "start"` start again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use iketcp_config::Config;
use iketcp_io::Handle;
use tracing::{info, warn};

use crate::history::History;

pub struct Reloader {
    path: PathBuf,
    current: Mutex<Config>,
    handle: Handle,
    history: Arc<Mutex<History>>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        current: Config,
        handle: Handle,
        history: Arc<Mutex<History>>,
    ) -> Self {
        Self {
            path,
            current: Mutex::new(current),
            handle,
            history,
        }
    }

    /// The connections whose streams go through a web proxy.
    pub fn proxied(&self) -> Vec<String> {
        self.current
            .lock()
            .map(|c| {
                c.connections
                    .iter()
                    .filter(|c| c.wrap.proxy.is_some())
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads the file again and applies it; the text says what happened.
    pub async fn reload(&self) -> Result<String, String> {
        let new = Config::load(&self.path).map_err(|e| {
            warn!("reload refused, the running configuration stays: {e}");
            e.to_string()
        })?;
        let changes = {
            let current = self.current.lock().map_err(|_| "configuration lock")?;
            new.changes_from(&current)
        };
        if changes.daemon_changed {
            warn!("changes to [daemon] take effect at the next start");
        }
        let runtime = new.runtime();
        // TLS and proxies for new connections; open ones keep theirs.
        self.handle.set_streams(runtime.driver.streams.clone());
        let changed = changes.changed.clone();
        let peers = runtime.peers.clone();
        let done = self
            .handle
            .command(move |ep, now| ep.reconfigure(now, peers, &changed))
            .await
            .ok_or("the node is gone")?;
        for name in runtime
            .start
            .iter()
            .filter(|n| done.added.contains(n) || done.changed.contains(n))
        {
            crate::control::start(&self.handle, &self.history, name).await;
        }
        if let Ok(mut current) = self.current.lock() {
            *current = new;
        }
        let text = format!(
            "reloaded: {} added, {} removed, {} changed, {} unchanged",
            done.added.len(),
            done.removed.len(),
            done.changed.len(),
            done.unchanged.len()
        );
        info!("{text}");
        Ok(text)
    }
}
