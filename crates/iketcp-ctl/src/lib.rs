//! The control protocol of `iketcpd`: one JSON request per line on a Unix socket, one JSON
//! reply per line back. The CLI depends on this crate and nothing else of the daemon, so
//! the records here are the stable, scriptable view (`iketcp status --json` prints them).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The default place of the control socket.
pub const DEFAULT_SOCKET: &str = "/run/iketcp/iketcpd.sock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Every IKE SA (of one connection, if named) with its Child SAs.
    Status {
        connection: Option<String>,
    },
    /// Start a configured connection.
    Up {
        connection: String,
    },
    /// Delete the IKE SAs of a connection.
    Down {
        connection: String,
    },
    /// Read the configuration file again.
    Reload,
    /// Write Wireshark key files for every SA now up.
    KeysExport {
        dir: String,
    },
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Status {
        ike_sas: Vec<IkeSaStatus>,
        /// What happened to the connections lately, oldest first: setups, fallbacks,
        /// failures with their reason.
        #[serde(default)]
        history: Vec<HistoryEntry>,
        /// Inbound ESP refused since the daemon started, by reason.
        #[serde(default)]
        esp_dropped: EspDrops,
    },
    /// A command was accepted; the text says what happened.
    Done {
        message: String,
    },
    Version {
        version: String,
    },
    /// The request was refused; the text says why.
    Error {
        message: String,
    },
}

/// One IKE SA as `iketcp status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    pub connection: String,
    /// "connecting", "negotiating" or "established".
    pub state: String,
    pub initiator: bool,
    /// "udp" (IKE on port 500, ESP as IP protocol 50), "udp-encap" (RFC 3948), "tcp",
    /// "tls", "tcp via proxy" or "tls via proxy".
    pub transport: String,
    pub local: String,
    pub remote: String,
    pub spi_i: String,
    pub spi_r: String,
    /// Seconds since it came up, and until it rekeys and expires.
    pub age_secs: Option<u64>,
    pub rekey_in_secs: Option<u64>,
    pub expire_in_secs: Option<u64>,
    pub children: Vec<ChildSaStatus>,
    /// RFC 4555: both sides announced MOBIKE, so the SA can move (and back to UDP).
    #[serde(default)]
    pub mobike: bool,
    /// On TCP with MOBIKE: seconds until the initiator next asks over UDP whether it
    /// works again (R-FB-4).
    #[serde(default)]
    pub next_udp_probe_secs: Option<u64>,
    /// Virtual IPs the peer assigned us (RFC 7296 §2.19).
    #[serde(default)]
    pub virtual_ips: Vec<String>,
    /// Virtual IPs we leased to the peer from our pools.
    #[serde(default)]
    pub leased: Vec<String>,
}

/// Inbound ESP packets dropped, by reason (RFC 4303 §3.4's auditable events): none of
/// them was delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EspDrops {
    pub not_esp: u64,
    pub unknown_spi: u64,
    pub truncated: u64,
    pub replayed: u64,
    pub auth_failed: u64,
    pub bad_padding: u64,
    pub bad_inner: u64,
    pub selector_mismatch: u64,
    pub expired: u64,
    /// Outer CE on an inner Not-ECT packet (RFC 6040 §4.2).
    pub ecn: u64,
}

impl EspDrops {
    /// "3 unknown SPI, 1 authentication failed", or empty when nothing was dropped.
    pub fn summary(&self) -> String {
        [
            (self.not_esp, "not ESP"),
            (self.unknown_spi, "unknown SPI"),
            (self.truncated, "truncated"),
            (self.replayed, "replayed"),
            (self.auth_failed, "authentication failed"),
            (self.bad_padding, "bad padding"),
            (self.bad_inner, "bad inner packet"),
            (self.selector_mismatch, "outside the selectors"),
            (self.expired, "SA expired"),
            (self.ecn, "CE on Not-ECT"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// One thing that happened to a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Seconds since the Unix epoch.
    pub unix_time: u64,
    pub connection: String,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSaStatus {
    pub name: String,
    pub spi_in: String,
    pub spi_out: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Inbound packets with this SA's SPI that were refused (replayed, forged, …).
    #[serde(default)]
    pub dropped_in: u64,
    pub rekey_in_secs: Option<u64>,
    pub expire_in_secs: Option<u64>,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CtlError {
    #[error(
        "cannot reach iketcpd at {path}: {source} (is the daemon running, and may you use its socket?)"
    )]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("unreadable reply from iketcpd: {0}")]
    Reply(#[from] serde_json::Error),
    #[error("iketcpd closed the connection without a reply")]
    NoReply,
}

/// Sends one request and waits (at most `timeout`) for its reply.
pub fn request(socket: &Path, req: &Request, timeout: Duration) -> Result<Reply, CtlError> {
    let mut s = UnixStream::connect(socket).map_err(|source| CtlError::Connect {
        path: socket.display().to_string(),
        source,
    })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply)?;
    if reply.is_empty() {
        return Err(CtlError::NoReply);
    }
    Ok(serde_json::from_str(&reply)?)
}

/// Parses one request line, as the daemon receives it.
pub fn parse_request(line: &str) -> Result<Request, serde_json::Error> {
    serde_json::from_str(line)
}

/// One reply line, as the daemon sends it.
pub fn reply_line(reply: &Reply) -> String {
    let mut s = serde_json::to_string(reply).unwrap_or_else(|e| {
        format!("{{\"reply\":\"error\",\"message\":\"cannot encode the reply: {e}\"}}")
    });
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_as_json_lines() {
        for r in [
            Request::Status { connection: None },
            Request::Status {
                connection: Some("office".into()),
            },
            Request::Up {
                connection: "office".into(),
            },
            Request::Reload,
            Request::Version,
        ] {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(parse_request(&line).unwrap(), r);
        }
        let reply = Reply::Error {
            message: "no connection \"x\"".into(),
        };
        let line = reply_line(&reply);
        assert!(line.ends_with('\n'));
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
        assert_eq!(
            serde_json::to_string(&Request::Up {
                connection: "a".into()
            })
            .unwrap(),
            r#"{"request":"up","connection":"a"}"#
        );
    }

    #[test]
    fn no_daemon_is_a_clear_error() {
        let e = request(
            Path::new("/nonexistent/iketcpd.sock"),
            &Request::Version,
            Duration::from_secs(1),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("cannot reach iketcpd at /nonexistent/iketcpd.sock"),
            "{text}"
        );
    }
}
