//! `iketcp`: talks to a running `iketcpd` over its control socket.
//!
//! Exit codes: 0 done; 1 the daemon refused (the reason is printed); 2 bad usage; 3 the
//! daemon cannot be reached.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use iketcp_ctl::{HistoryEntry, IkeSaStatus, Reply, Request};

#[derive(Parser)]
#[command(name = "iketcp", version, about = "Control a running iketcpd")]
struct Cli {
    /// The daemon's control socket.
    #[arg(long, default_value = iketcp_ctl::DEFAULT_SOCKET, env = "IKETCP_SOCKET")]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every IKE SA and Child SA, with its transport and addresses.
    Status {
        /// Only this connection.
        connection: Option<String>,
        /// Machine-readable output (stable).
        #[arg(long)]
        json: bool,
    },
    /// Start a connection.
    Up { connection: String },
    /// Delete a connection's IKE SAs.
    Down { connection: String },
    /// Read the configuration file again.
    Reload,
    /// Key files for Wireshark.
    Keys {
        #[command(subcommand)]
        what: Keys,
    },
    /// The daemon's version.
    Version,
}

#[derive(Subcommand)]
enum Keys {
    /// Write `ikev2_decryption_table` and `esp_sa` into DIR.
    Export { dir: String },
}

/// "3h58m", "12s": the largest two units.
fn span(secs: Option<u64>) -> String {
    let Some(s) = secs else {
        return "-".into();
    };
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn history(entries: &[HistoryEntry]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    entries
        .iter()
        .map(|e| {
            format!(
                "{:>8} ago  {}: {}\n",
                span(Some(now.saturating_sub(e.unix_time))),
                e.connection,
                e.what
            )
        })
        .collect()
}

/// The transport, and on a stream whether and when it tries UDP again (R-FB-4).
fn transport(s: &IkeSaStatus) -> String {
    let on_stream = s.transport.starts_with("tcp") || s.transport.starts_with("tls");
    match s.next_udp_probe_secs {
        Some(n) => format!("{} (UDP probe in {})", s.transport, span(Some(n))),
        None if on_stream && s.initiator && !s.mobike => {
            format!("{} (no MOBIKE: stays)", s.transport)
        }
        None => s.transport.clone(),
    }
}

/// An outer address and the virtual IPs used inside behind it.
fn with_vips(outer: &str, vips: &[String]) -> String {
    if vips.is_empty() {
        outer.to_string()
    } else {
        format!("{outer} (vip {})", vips.join(", "))
    }
}

fn table(sas: &[IkeSaStatus]) -> String {
    if sas.is_empty() {
        return "no IKE SA\n".into();
    }
    let mut rows = vec![vec![
        "CONNECTION".to_string(),
        "STATE".into(),
        "TRANSPORT".into(),
        "LOCAL".into(),
        "REMOTE".into(),
        "SPIs".into(),
        "UP / REKEY / EXPIRE".into(),
    ]];
    for s in sas {
        rows.push(vec![
            s.connection.clone(),
            s.state.clone(),
            transport(s),
            with_vips(&s.local, &s.virtual_ips),
            with_vips(&s.remote, &s.leased),
            format!("{}_i {}_r", s.spi_i, s.spi_r),
            format!(
                "{} / {} / {}",
                span(s.age_secs),
                span(s.rekey_in_secs),
                span(s.expire_in_secs)
            ),
        ]);
        for c in &s.children {
            rows.push(vec![
                format!("  {}", c.name),
                "installed".into(),
                String::new(),
                if c.dropped_in > 0 {
                    format!(
                        "{} B / {} pkts in ({} dropped)",
                        c.bytes_in, c.packets_in, c.dropped_in
                    )
                } else {
                    format!("{} B / {} pkts in", c.bytes_in, c.packets_in)
                },
                format!("{} B / {} pkts out", c.bytes_out, c.packets_out),
                format!("{}_in {}_out", c.spi_in, c.spi_out),
                format!("- / {} / {}", span(c.rekey_in_secs), span(c.expire_in_secs)),
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (req, json) = match cli.command {
        Command::Status { connection, json } => (Request::Status { connection }, json),
        Command::Up { connection } => (Request::Up { connection }, false),
        Command::Down { connection } => (Request::Down { connection }, false),
        Command::Reload => (Request::Reload, false),
        Command::Keys {
            what: Keys::Export { dir },
        } => (Request::KeysExport { dir }, false),
        Command::Version => (Request::Version, false),
    };
    let reply = match iketcp_ctl::request(&cli.socket, &req, Duration::from_secs(10)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("iketcp: {e}");
            return ExitCode::from(3);
        }
    };
    match reply {
        Reply::Status { ike_sas, .. } if json => match serde_json::to_string_pretty(&ike_sas) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("iketcp: {e}");
                return ExitCode::FAILURE;
            }
        },
        Reply::Status {
            ike_sas,
            history: h,
            esp_dropped,
        } => {
            print!("{}", table(&ike_sas));
            let d = esp_dropped.summary();
            if !d.is_empty() {
                println!("inbound ESP dropped: {d}");
            }
            if !h.is_empty() {
                print!("\n{}", history(&h));
            }
        }
        Reply::Done { message } => println!("{message}"),
        Reply::Version { version } => {
            println!("iketcpd {version}, iketcp {}", env!("CARGO_PKG_VERSION"))
        }
        Reply::Error { message } => {
            eprintln!("iketcp: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
