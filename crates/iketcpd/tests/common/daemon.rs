//! A running `iketcpd`, on loopback or in a network namespace, driven over its control
//! socket (the protocol `iketcp` speaks).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iketcp_ctl::{IkeSaStatus, Reply, Request};

/// A running daemon, killed on drop if it is still there.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn start(config: &Path, socket: PathBuf) -> Daemon {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iketcpd"));
        c.stderr(Stdio::null());
        Self::spawn(c, config, socket)
    }

    /// Starts the daemon inside the network namespace `ns`.
    pub fn start_in(ns: &str, config: &Path, socket: PathBuf) -> Daemon {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_iketcpd"))
            .stderr(Stdio::null());
        Self::spawn(c, config, socket)
    }

    /// Starts the daemon inside `ns` with its log written to `log`.
    pub fn start_logged(ns: &str, config: &Path, socket: PathBuf, log: &Path) -> Daemon {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_iketcpd"))
            .stderr(std::fs::File::create(log).expect("log file"));
        Self::spawn(c, config, socket)
    }

    fn spawn(mut command: Command, config: &Path, socket: PathBuf) -> Daemon {
        let child = command
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .spawn()
            .expect("iketcpd starts");
        let d = Daemon { child, socket };
        // Ready once the control socket answers.
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if d.ask(&Request::Version).is_ok() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("iketcpd did not come up ({})", config.display());
    }

    pub fn ask(&self, req: &Request) -> Result<Reply, iketcp_ctl::CtlError> {
        iketcp_ctl::request(&self.socket, req, Duration::from_secs(5))
    }

    pub fn try_status(&self) -> Option<Vec<IkeSaStatus>> {
        match self.ask(&Request::Status { connection: None }) {
            Ok(Reply::Status { ike_sas, .. }) => Some(ike_sas),
            _ => None,
        }
    }

    pub fn status(&self) -> Vec<IkeSaStatus> {
        match self.ask(&Request::Status { connection: None }) {
            Ok(Reply::Status { ike_sas, .. }) => ike_sas,
            other => panic!("status: {other:?}"),
        }
    }

    /// Waits until `f` holds for the status, at most `limit`.
    pub fn wait(&self, limit: Duration, f: impl Fn(&[IkeSaStatus]) -> bool) -> Vec<IkeSaStatus> {
        let end = Instant::now() + limit;
        loop {
            let s = self.status();
            if f(&s) || Instant::now() > end {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The IKE SAs once one is established with a Child SA, or `None` after `within`.
    /// A status request that fails is waited out, not fatal.
    pub fn wait_tunnel(&self, within: Duration) -> Option<Vec<IkeSaStatus>> {
        let end = Instant::now() + within;
        loop {
            let s = self.try_status().unwrap_or_default();
            if s.iter()
                .any(|x| x.state == "established" && !x.children.is_empty())
            {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < end, "iketcpd did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
