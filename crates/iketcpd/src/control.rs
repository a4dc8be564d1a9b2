//! The control socket: one request per line from `iketcp`, one reply per line back
//! (`iketcp-ctl`). Status is read from the node; commands go to the IKE engine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iketcp_ctl::{ChildSaStatus, EspDrops, IkeSaStatus, Reply, Request};
use iketcp_esp::Direction;
use iketcp_io::Handle;
use iketcp_node::Node;
use iketcp_proto::{IkeSaId, Transport};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tracing::{info, warn};

use crate::history::History;
use crate::reload::Reloader;

/// What a transport is called in `iketcp status`; streams of a connection configured
/// with a web proxy go through it. `udp` is IKE on port 500 or ESP as IP protocol 50.
fn transport_name(path: &iketcp_proto::Path, encap: bool, proxied: bool) -> &'static str {
    match (path.transport, proxied) {
        (Transport::Udp, _) if encap && path.needs_non_esp_marker() => "udp-encap",
        (Transport::Udp, _) => "udp",
        (Transport::Tcp(_), false) => "tcp",
        (Transport::Tcp(_), true) => "tcp via proxy",
        (Transport::Tls(_), false) => "tls",
        (Transport::Tls(_), true) => "tls via proxy",
    }
}

/// Every IKE SA of the node (of `only`, if given), for `iketcp status`; `proxied` names
/// the connections whose streams go through a web proxy.
pub fn status(node: &Node, only: Option<&str>, proxied: &[String]) -> Vec<IkeSaStatus> {
    let esp = node.data_path();
    let now = std::time::Instant::now();
    node.endpoint()
        .ike_sas()
        .into_iter()
        .filter(|s| only.is_none() || s.peer.as_deref() == only)
        .map(|s| IkeSaStatus {
            connection: s.peer.clone().unwrap_or_else(|| "(unknown)".into()),
            state: if s.established {
                "established"
            } else {
                "negotiating"
            }
            .into(),
            initiator: s.initiator,
            transport: transport_name(
                &s.path,
                s.udp_encap,
                s.peer.as_ref().is_some_and(|p| proxied.contains(p)),
            )
            .into(),
            local: s.path.local.to_string(),
            remote: s.path.remote.to_string(),
            spi_i: format!("{:016x}", s.spi_i),
            spi_r: format!("{:016x}", s.spi_r),
            age_secs: s
                .up_since
                .map(|t| now.saturating_duration_since(t).as_secs()),
            rekey_in_secs: s
                .rekey_at
                .map(|t| t.saturating_duration_since(now).as_secs()),
            expire_in_secs: s
                .expire_at
                .map(|t| t.saturating_duration_since(now).as_secs()),
            mobike: s.mobike,
            next_udp_probe_secs: s
                .next_udp_probe
                .map(|t| t.saturating_duration_since(now).as_secs()),
            virtual_ips: s.virtual_ips.iter().map(ToString::to_string).collect(),
            leased: s.leased.iter().map(ToString::to_string).collect(),
            children: s
                .children
                .iter()
                .map(|c| {
                    let i = esp
                        .sa_stats(Direction::Inbound, c.spi_in)
                        .unwrap_or_default();
                    let o = esp
                        .sa_stats(Direction::Outbound, c.spi_out)
                        .unwrap_or_default();
                    ChildSaStatus {
                        name: c.name.clone(),
                        spi_in: format!("{:08x}", c.spi_in),
                        spi_out: format!("{:08x}", c.spi_out),
                        bytes_in: i.bytes,
                        bytes_out: o.bytes,
                        packets_in: i.packets,
                        packets_out: o.packets,
                        dropped_in: i.truncated
                            + i.replayed
                            + i.auth_failed
                            + i.bad_padding
                            + i.bad_inner
                            + i.selector_mismatch
                            + i.expired,
                        rekey_in_secs: c
                            .rekey_at
                            .map(|t| t.saturating_duration_since(now).as_secs()),
                        expire_in_secs: c
                            .expire_at
                            .map(|t| t.saturating_duration_since(now).as_secs()),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Inbound ESP dropped since start, by reason.
pub fn esp_drops(node: &Node) -> EspDrops {
    let dp = node.data_path();
    let s = dp.stats();
    EspDrops {
        not_esp: s.not_esp,
        unknown_spi: s.unknown_spi,
        truncated: s.truncated,
        replayed: s.replayed,
        auth_failed: s.auth_failed,
        bad_padding: s.bad_padding,
        bad_inner: s.bad_inner,
        selector_mismatch: s.selector_mismatch,
        expired: s.expired,
        ecn: dp.ecn_drops(),
    }
}

/// Starts connection `name` with its Child SA (the newest configuration of that name,
/// after a reload) and records the start in the history: the new IKE SA, the engine's
/// refusal, or `None` when the node is gone.
pub async fn start(
    handle: &Handle,
    history: &Mutex<History>,
    name: &str,
) -> Option<Result<IkeSaId, iketcp_proto::ApiError>> {
    let n = name.to_string();
    let r = handle
        .command(move |ep, now| {
            let child = ep
                .peers()
                .iter()
                .rev()
                .find(|p| p.name == n)
                .and_then(|p| p.children.first().map(|c| c.name.clone()));
            ep.initiate(now, &n, child.as_deref())
        })
        .await;
    if let (Some(Ok(id)), Ok(mut h)) = (&r, history.lock()) {
        h.started(*id, name);
    }
    r
}

/// The IKE SAs of connection `name`.
pub async fn sas_of(handle: &Handle, name: String) -> Vec<IkeSaId> {
    handle
        .inspect(move |n| {
            n.endpoint()
                .ike_sas()
                .into_iter()
                .filter(|s| s.peer.as_deref() == Some(name.as_str()))
                .map(|s| s.id)
                .collect()
        })
        .await
        .unwrap_or_default()
}

async fn answer(
    handle: &Handle,
    reloader: &Reloader,
    history: &Mutex<History>,
    keys_allowed: bool,
    req: Request,
) -> Reply {
    match req {
        Request::Status { connection } => {
            let history = history
                .lock()
                .map(|h| h.entries(connection.as_deref()))
                .unwrap_or_default();
            let proxied = reloader.proxied();
            handle
                .inspect(move |n| (status(n, connection.as_deref(), &proxied), esp_drops(n)))
                .await
                .map_or_else(
                    || Reply::Error {
                        message: "the node is gone".into(),
                    },
                    |(ike_sas, esp_dropped)| Reply::Status {
                        ike_sas,
                        history,
                        esp_dropped,
                    },
                )
        }
        Request::Up { connection } => match start(handle, history, &connection).await {
            Some(Ok(id)) => Reply::Done {
                message: format!("{connection}: starting ({id})"),
            },
            Some(Err(e)) => Reply::Error {
                message: format!("{connection}: {e}"),
            },
            None => Reply::Error {
                message: "the node is gone".into(),
            },
        },
        Request::Down { connection } => {
            let ids = sas_of(handle, connection.clone()).await;
            if ids.is_empty() {
                return Reply::Error {
                    message: format!("{connection}: no IKE SA"),
                };
            }
            let n = ids.len();
            let _ = handle
                .command(move |ep, now| {
                    for id in ids {
                        let _ = ep.terminate(now, id);
                    }
                })
                .await;
            Reply::Done {
                message: format!("{connection}: deleting {n} IKE SA(s)"),
            }
        }
        Request::Version => Reply::Version {
            version: env!("CARGO_PKG_VERSION").into(),
        },
        Request::Reload => match reloader.reload().await {
            Ok(message) => Reply::Done { message },
            Err(message) => Reply::Error { message },
        },
        Request::KeysExport { dir } => {
            match crate::keys::export_all(handle, PathBuf::from(dir), keys_allowed).await {
                Ok(message) => Reply::Done { message },
                Err(message) => Reply::Error { message },
            }
        }
    }
}

/// Serves the control socket at `path` until the task is dropped.
pub async fn serve(
    path: PathBuf,
    handle: Handle,
    reloader: Arc<Reloader>,
    history: Arc<Mutex<History>>,
    keys_allowed: bool,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    // A socket left by an earlier run.
    let _ = tokio::fs::remove_file(&path).await;
    let listener = UnixListener::bind(&path)?;
    restrict(&path);
    info!("control socket {}", path.display());
    loop {
        let (stream, _) = listener.accept().await?;
        let handle = handle.clone();
        let reloader = reloader.clone();
        let history = history.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut lines = BufReader::new(rd).lines();
            let read = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
            let Ok(Ok(Some(line))) = read else { return };
            let reply = match iketcp_ctl::parse_request(&line) {
                Ok(req) => answer(&handle, &reloader, &history, keys_allowed, req).await,
                Err(e) => Reply::Error {
                    message: format!("unreadable request: {e}"),
                },
            };
            let _ = wr
                .write_all(iketcp_ctl::reply_line(&reply).as_bytes())
                .await;
        });
    }
}

/// Root and the socket's group only (the CLI can start SAs).
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)) {
        warn!("control socket mode: {e}");
    }
}
