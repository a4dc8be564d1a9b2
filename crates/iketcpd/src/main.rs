//! `iketcpd --config FILE`: the iketcp daemon. One tokio runtime drives the node over
//! the sockets the configuration names; `iketcp` talks to it over the control socket.
//!
//! - Logs go to stderr with `tracing`: plain lines by default (journald adds the time),
//!   `--log-format json` for collectors, `--log` (or `RUST_LOG`) for levels per module.
//! - SIGTERM and SIGINT delete every IKE SA (the peers learn it) and exit within a
//!   bound; a peer that does not answer does not hold the daemon.
//! - SIGHUP (or `iketcp reload`) reads the file again: see `reload`.
//! - `--check` validates the configuration file and exits.

mod control;
mod history;
mod keys;
mod ondemand;
mod reload;

/// The data plane moves 64 KiB messages between tasks: glibc's allocator hands such
/// blocks back to the system and faults them in again, over and over (about a tenth
/// of the CPU in page faults and page clearing over TCP); mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use iketcp_io::{Driver, Report};
use iketcp_node::Node;
use iketcp_proto::Endpoint;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

/// How long a shutdown waits for the peers to answer the DELETEs.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

struct Args {
    config: PathBuf,
    json: bool,
    log: String,
    check: bool,
}

fn usage() -> ExitCode {
    eprintln!("usage: iketcpd --config FILE [--check] [--log-format plain|json] [--log LEVELS]");
    ExitCode::from(2)
}

fn args() -> Result<Args, ExitCode> {
    let mut config = None;
    let mut json = false;
    let mut log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let mut check = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => config = it.next().map(PathBuf::from),
            "--log-format" => match it.next().as_deref() {
                Some("json") => json = true,
                Some("plain") => json = false,
                _ => return Err(usage()),
            },
            "--log" => log = it.next().ok_or_else(usage)?,
            "--check" => check = true,
            "--version" => {
                println!("iketcpd {}", env!("CARGO_PKG_VERSION"));
                return Err(ExitCode::SUCCESS);
            }
            _ => return Err(usage()),
        }
    }
    Ok(Args {
        config: config.ok_or_else(usage)?,
        json,
        log,
        check,
    })
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if args.json {
        sub.json().init();
    } else {
        sub.init();
    }
    let config = match iketcp_config::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iketcpd: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iketcpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args.config, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("iketcpd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf, config: iketcp_config::Config) -> Result<(), String> {
    let mut rt = config.runtime();
    if rt.driver.raw_esp && !iketcp_io::raw::available() {
        // The engine must know before any SA: it fakes NAT detection instead.
        warn!("raw_esp: no permission for raw sockets (CAP_NET_RAW): ESP stays in UDP");
        rt.driver.raw_esp = false;
        rt.endpoint.raw_esp = false;
    }
    let node = Node::new(
        rt.node.clone(),
        Endpoint::new(
            rt.endpoint.clone(),
            rt.peers.clone(),
            Box::new(iketcp_crypto::SystemRng::new()),
        ),
        iketcp_esp::Engine::new(),
    );
    let mut driver_config = rt.driver.clone();
    if !driver_config.tls.is_empty() {
        let d = &config.daemon;
        let tls = iketcp_io::tls::ServerSettings::load_or_generate(
            &d.tls_cert_file,
            &d.tls_key_file,
            &["iketcp".to_string()],
            &d.tls_alpn,
            d.tls_min_version,
        )
        .map_err(|e| format!("TLS certificate: {e}"))?;
        driver_config.tls_server = Some(tls);
    }
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let driver = Driver::bind(driver_config, node, tx)
        .await
        .map_err(|e| format!("cannot open the sockets: {e}"))?;
    info!(
        "iketcpd {} up: UDP {:?}, TCP {:?} (TLS on {:?})",
        env!("CARGO_PKG_VERSION"),
        driver.udp_addrs,
        driver.tcp_addrs,
        rt.driver.tls
    );
    let handle = driver.handle();
    let running = tokio::spawn(driver.run());
    let history = std::sync::Arc::new(std::sync::Mutex::new(history::History::default()));
    let reloader = std::sync::Arc::new(reload::Reloader::new(
        path,
        config,
        handle.clone(),
        history.clone(),
    ));
    let control = tokio::spawn(control::serve(
        rt.control_socket.clone(),
        handle.clone(),
        reloader.clone(),
        history.clone(),
        rt.key_export_dir.is_some(),
    ));
    for name in &rt.start {
        match control::start(&handle, &history, name).await {
            Some(Ok(id)) => info!("{name}: starting ({id})"),
            Some(Err(e)) => warn!("{name}: not started: {e}"),
            None => return Err("the node stopped".into()),
        }
    }
    let mut ondemand = ondemand::OnDemand::new(&rt.on_demand, &rt.peers);
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            r = reports.recv() => {
                // Events are logged by the driver; inner packets have nowhere to go
                // until the tunnel device exists.
                let Some(r) = r else { break };
                if let Ok(mut h) = history.lock() {
                    match &r {
                        iketcp_io::Report::Event(e) => h.event(e),
                        iketcp_io::Report::ConnectFailed { peer, reason } => {
                            h.note(peer, format!("cannot connect: {reason}"));
                        }
                        _ => {}
                    }
                }
                match &r {
                    iketcp_io::Report::Event(
                        iketcp_proto::Event::IkeUp { .. } | iketcp_proto::Event::IkeDown { .. },
                    ) => ondemand.settled(),
                    iketcp_io::Report::NoChildSa { src, dst } => {
                        if let Some(name) = ondemand.wanted(*src, *dst) {
                            info!("{name}: traffic from {src} to {dst}: starting on demand");
                            control::start(&handle, &history, &name).await;
                        }
                    }
                    _ => {}
                }
                if let Some(dir) = &rt.key_export_dir {
                    keys::record(dir, &handle, &r).await;
                }
            }
            _ = term.recv() => { info!("SIGTERM: deleting every IKE SA"); break; }
            _ = int.recv() => { info!("SIGINT: deleting every IKE SA"); break; }
            _ = hup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let _ = reloader.reload().await;
            }
        }
    }
    shutdown(&handle, &mut reports).await;
    control.abort();
    let _ = control.await;
    let _ = std::fs::remove_file(&rt.control_socket);
    // The driver stops once no handle to it is left.
    drop(reloader);
    drop(handle);
    let _ = running.await;
    Ok(())
}

/// Sends DELETE for every IKE SA and waits, at most [`SHUTDOWN_WAIT`], for them to go.
async fn shutdown(
    handle: &iketcp_io::Handle,
    reports: &mut tokio::sync::mpsc::UnboundedReceiver<Report>,
) {
    let n = handle
        .command(|ep, now| {
            let ids: Vec<_> = ep.ike_sas().iter().map(|s| s.id).collect();
            for id in &ids {
                let _ = ep.terminate(now, *id);
            }
            ids.len()
        })
        .await
        .unwrap_or(0);
    let end = Instant::now() + SHUTDOWN_WAIT;
    while Instant::now() < end {
        let left = handle
            .inspect(|n| {
                n.endpoint()
                    .ike_sas()
                    .iter()
                    .filter(|s| s.established)
                    .count()
            })
            .await
            .unwrap_or(0);
        if left == 0 {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), reports.recv()).await;
    }
    info!("stopped ({n} IKE SA(s) deleted)");
}
