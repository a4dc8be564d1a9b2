//! Key files for Wireshark (`ikev2_decryption_table`, `esp_sa`), written only when the
//! operator set `key_export_dir`: as SAs come up (and after every rekey), and on
//! `iketcp keys export DIR` for every SA up now. These files hold secrets in the clear.

use std::io::Write;
use std::path::{Path, PathBuf};

use iketcp_io::{Handle, Report};
use iketcp_proto::Event;
use tracing::warn;

const IKE_FILE: &str = "ikev2_decryption_table";
const ESP_FILE: &str = "esp_sa";

fn append(dir: &Path, file: &str, rows: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(dir.join(file))?;
    writeln!(f, "{rows}")
}

/// Records what a report brings: an IKE SA's keys once it is up or rekeyed, a Child
/// SA's as it is installed.
pub async fn record(dir: &Path, handle: &Handle, report: &Report) {
    let rows = match report {
        Report::ChildKeys(k) => iketcp_node::esp_sa_rows(k).map(|r| (ESP_FILE, r)),
        Report::Event(Event::IkeUp { ike, .. } | Event::IkeRekeyed { new: ike, .. }) => {
            let ike = *ike;
            handle
                .inspect(move |n| {
                    n.endpoint()
                        .export_ike_keys(ike)
                        .ok_or_else(|| format!("no keys for {ike}"))
                        .and_then(|k| k.wireshark_row().map_err(|e| e.to_string()))
                })
                .await
                .unwrap_or_else(|| Err("the node is gone".into()))
                .map(|r| (IKE_FILE, r))
        }
        _ => return,
    };
    match rows {
        Ok((file, rows)) => {
            if let Err(e) = append(dir, file, &rows) {
                warn!("key export to {}: {e}", dir.display());
            }
        }
        // ChaCha20-Poly1305 and ESN have no Wireshark row: said once per SA.
        Err(e) => warn!("key export: {e}"),
    }
}

/// Writes the keys of every SA up now into `dir`, replacing what the files held.
pub async fn export_all(handle: &Handle, dir: PathBuf, enabled: bool) -> Result<String, String> {
    if !enabled {
        return Err("key export is off: set key_export_dir in [daemon] to allow it".into());
    }
    let (ike, esp): (Vec<String>, Vec<String>) = handle
        .inspect(|n| {
            let ep = n.endpoint();
            let ike = ep
                .ike_sas()
                .iter()
                .filter_map(|s| ep.export_ike_keys(s.id))
                .filter_map(|k| k.wireshark_row().ok())
                .collect();
            let esp = n
                .child_keys()
                .filter_map(|k| iketcp_node::esp_sa_rows(k).ok())
                .collect();
            (ike, esp)
        })
        .await
        .ok_or("the node is gone")?;
    for (file, rows) in [(IKE_FILE, &ike), (ESP_FILE, &esp)] {
        let _ = std::fs::remove_file(dir.join(file));
        if !rows.is_empty() {
            append(&dir, file, &rows.join("\n")).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    Ok(format!(
        "wrote the keys of {} IKE SA(s) and {} Child SA(s) to {}",
        ike.len(),
        esp.len(),
        dir.display()
    ))
}
