//! Wireshark agrees with a strongSwan interop run: tshark captures the veth between the
//! namespaces while our `iketcp-peer` sets up an IKE SA and a Child SA with charon, pings
//! both ways, rekeys the Child SA, then the IKE SA, and deletes the IKE SA. With the keys
//! the peer exported (`keys=DIR`), Wireshark's own dissectors must decrypt every SK
//! payload and every ESP packet, with good ICVs, and report nothing malformed.
//!
//! Needs root, the strongSwan packages (`install.sh` of the fixture), TUN and tshark.
//! Outside CI it skips with a printed reason when they are missing; with `CI=true` it
//! fails instead.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::{Fixture, Names, Peer, assert_traffic, skip_or_fail};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn missing_prerequisite() -> Option<String> {
    if Command::new("tshark")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Some("tshark is not installed".into());
    }
    common::missing_prerequisite()
}

/// A folder for the keys, the capture, Wireshark's settings and our peer's log; kept if
/// the test fails.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("iketcp-wireshark-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("capture, keys and log kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// tshark capturing on an interface inside a namespace; stopped on drop.
struct Capture {
    child: Child,
    stopped: bool,
}

impl Capture {
    /// Starts tshark and returns once a packet it saw is in the file: a ping from the
    /// namespace to `probe` (over the captured interface) until tshark lists one.
    fn start(ns: &str, iface: &str, file: &Path, probe: &str) -> Self {
        // -P -l: a summary line on stdout for every packet written to the file.
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "tshark", "-n", "-l", "-P", "-i", iface])
            .args(["-F", "pcap", "-w"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark starts");
        let (tx, rx) = channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        // Both are read to their end, so that tshark never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((true, line));
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send((false, line));
            }
        });
        let mut c = Capture {
            child,
            stopped: false,
        };
        // "Capturing on" comes first, but tshark prints it before it starts dumpcap,
        // which opens the interface; under load the first packets were seen missing.
        let end = Instant::now() + SECS(30);
        let (mut capturing, mut stderr) = (false, Vec::new());
        while Instant::now() < end {
            if capturing {
                let _ = Command::new("ip")
                    .args(["netns", "exec", ns, "ping", "-c", "1", "-W", "1", probe])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            while let Ok((is_stdout, line)) = rx.recv_timeout(Duration::from_millis(300)) {
                if is_stdout {
                    return c;
                }
                capturing |= line.contains("Capturing on");
                stderr.push(line);
            }
            if !matches!(c.child.try_wait(), Ok(None)) {
                break;
            }
        }
        panic!(
            "tshark did not start capturing ({:?}):\n{}",
            c.child.try_wait(),
            stderr.join("\n")
        );
    }

    /// SIGINT, so that tshark writes out what it holds; killed if it takes too long.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) || !matches!(self.child.try_wait(), Ok(None))
        {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + SECS(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `tshark -r` with the exported keys in a private configuration folder and ESP
/// decryption and ICV checking on; one row of fields per frame.
fn dissect(work: &Path, pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let cfg = work.join("wireshark");
    std::fs::create_dir_all(&cfg).unwrap();
    for f in ["ikev2_decryption_table", "esp_sa"] {
        std::fs::copy(work.join("keys").join(f), cfg.join(f)).unwrap();
    }
    let mut cmd = Command::new("tshark");
    cmd.env("WIRESHARK_CONFIG_DIR", &cfg)
        .args(["-n", "-r"])
        .arg(pcap)
        .args([
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-o",
            "esp.enable_authentication_check:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=;",
        ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.lines().any(|l| l.starts_with("tshark:")),
        "tshark -r failed ({}):\n{err}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Payload types (RFC 7296 §3.2) and exchange types (§3.1).
const SK: u8 = 46;
const SKF: u8 = 53;
const SA: u8 = 33;
const KE: u8 = 34;
const IDI: u8 = 35;
const IDR: u8 = 36;
const AUTH: u8 = 39;
const NONCE: u8 = 40;
const DELETE: u8 = 42;
const TSI: u8 = 44;
const TSR: u8 = 45;
const IKE_SA_INIT: u8 = 34;
const IKE_AUTH: u8 = 35;
const CREATE_CHILD_SA: u8 = 36;
const INFORMATIONAL: u8 = 37;
const EXCHANGES: [(u8, &str); 4] = [
    (IKE_SA_INIT, "IKE_SA_INIT"),
    (IKE_AUTH, "IKE_AUTH"),
    (CREATE_CHILD_SA, "CREATE_CHILD_SA"),
    (INFORMATIONAL, "INFORMATIONAL"),
];
/// `_ws.expert.severity` of an error and of a warning; `_ws.expert.group` values whose
/// warnings mean a failed check: Checksum (a wrong IKE ICD), Undecoded, Malformed,
/// Decryption.
const SEVERITY_ERROR: u32 = 0x0080_0000;
const SEVERITY_WARN: u32 = 0x0060_0000;
const FAILING_GROUPS: [u32; 4] = [0x0100_0000, 0x0500_0000, 0x0700_0000, 0x0c00_0000];

const FIELDS: &[&str] = &[
    "frame.number",
    "isakmp.exchangetype",
    "isakmp.flags",
    "isakmp.typepayload",
    "isakmp.enc.decrypted",
    "esp.spi",
    "esp.icv_good",
    "esp.icv_bad",
    "icmp.type",
    "_ws.expert.severity",
    "_ws.expert.group",
    "_ws.expert.message",
    "_ws.malformed",
];

/// One frame as tshark saw it, from the `FIELDS` columns.
struct Frame {
    number: String,
    exchange: Option<u8>,
    response: bool,
    payloads: Vec<u8>,
    decrypted: usize,
    esp_spi: Option<String>,
    icv_good: bool,
    icv_bad: bool,
    icmp: Vec<u8>,
    experts: Vec<(u32, u32, String)>,
    malformed: bool,
}

fn number(s: &str) -> u32 {
    s.strip_prefix("0x")
        .map_or_else(|| s.parse(), |h| u32::from_str_radix(h, 16))
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

fn numbers(s: &str) -> Vec<u32> {
    s.split(';').filter(|v| !v.is_empty()).map(number).collect()
}

impl Frame {
    fn parse(row: &[String]) -> Self {
        let col = |i: usize| row.get(i).map_or("", String::as_str);
        let bytes = |i: usize| {
            numbers(col(i))
                .into_iter()
                .map(|v| v as u8)
                .collect::<Vec<u8>>()
        };
        let (severities, groups) = (numbers(col(9)), numbers(col(10)));
        let messages: Vec<&str> = col(11).split(';').collect();
        Frame {
            number: col(0).to_string(),
            exchange: bytes(1).first().copied(),
            response: numbers(col(2)).first().is_some_and(|f| f & 0x20 != 0),
            payloads: bytes(3),
            decrypted: col(4).split(';').filter(|v| !v.is_empty()).count(),
            esp_spi: Some(col(5).to_string()).filter(|s| !s.is_empty()),
            icv_good: col(6) == "1",
            icv_bad: col(7).split(';').any(|v| v == "1"),
            icmp: bytes(8),
            experts: severities
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    let g = groups.get(i).copied().unwrap_or(0);
                    (s, g, messages.get(i).unwrap_or(&"").to_string())
                })
                .collect(),
            malformed: !col(12).is_empty(),
        }
    }

    fn has(&self, types: &[u8]) -> bool {
        types.iter().all(|t| self.payloads.contains(t))
    }
}

fn lines(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |s| s.lines().count())
}

#[test]
fn wireshark_decrypts_a_strongswan_run() {
    if skip_or_fail(
        "wireshark_decrypts_a_strongswan_run",
        missing_prerequisite(),
    ) {
        return;
    }
    let names = Names::new("ssw");
    let fx = Fixture::new("wireshark", &names.settings());
    fx.up("b");
    let work = WorkDir::new();
    let keys = work.0.join("keys");
    let pcap = work.0.join("run.pcap");
    let mut capture = Capture::start(&names.ns_b, &names.if_b, &pcap, "10.201.0.1");

    let keys_arg = format!("keys={}", keys.display());
    let mut peer = Peer::spawn(
        &names.ns_a,
        &[
            "local=10.201.0.1",
            "remote=10.201.0.2",
            "id=a-psk@ss.test",
            "remote-id=b-psk@ss.test",
            "psk=iketcp-psk-0123456789abcdef",
            "local-ts=10.201.1.0/24",
            "remote-ts=10.201.2.0/24",
            "inner=10.201.1.1",
            "ping=10.201.2.1",
            "initiate=1",
            // What Wireshark 4.0 can decrypt: AES-GCM, no ESN.
            "ike=aes128gcm16-prfsha256-ecp256",
            "esp=aes128gcm16-ecp256",
            &keys_arg,
        ],
        &work.0.join("peer.log"),
    );
    peer.expect("EVENT ChildUp", SECS(15));
    let sas = fx.sw("b", &["--list-sas"]);
    assert!(
        sas.contains("AES_GCM_16-128/PRF_HMAC_SHA2_256/ECP_256") && sas.contains("TUNNEL-in-UDP"),
        "{sas}"
    );
    assert_traffic(&mut peer, &names.ns_b, "10.201.2.1", "10.201.1.1");
    peer.send("rekey-child");
    peer.expect("EVENT ChildRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(5));
    assert_traffic(&mut peer, &names.ns_b, "10.201.2.1", "10.201.1.1");
    // An IKE rekey too, so that the row written for a rekeyed IKE SA is checked.
    peer.send("rekey-ike");
    peer.expect("EVENT IkeRekeyed", SECS(15));
    peer.expect("reason: Rekeyed", SECS(15));
    assert_traffic(&mut peer, &names.ns_b, "10.201.2.1", "10.201.1.1");
    peer.send("terminate");
    peer.expect("reason: Local", SECS(15));
    // Let the last response reach the capture.
    std::thread::sleep(Duration::from_millis(500));
    capture.stop();
    peer.collect(Duration::from_millis(100));
    assert_eq!(
        peer.count("ERROR keys"),
        0,
        "key export failed:\n{}",
        peer.tail()
    );
    drop(peer);

    // Two IKE SAs (initial, rekeyed); two Child SAs with a row per direction each.
    assert_eq!(lines(&keys.join("ikev2_decryption_table")), 2);
    let esp_rows = std::fs::read_to_string(keys.join("esp_sa")).unwrap();
    assert_eq!(esp_rows.lines().count(), 4, "{esp_rows}");

    let frames: Vec<Frame> = dissect(&work.0, &pcap, FIELDS)
        .iter()
        .map(|r| Frame::parse(r))
        .collect();
    let mut problems = Vec::new();
    let mut exchanges: BTreeMap<(u8, bool), usize> = BTreeMap::new();
    let (mut ike, mut sk, mut esp, mut esp_good) = (0, 0, 0, 0);
    // CREATE_CHILD_SA messages with traffic selectors (Child rekey) and without (IKE).
    let (mut child_rekey, mut ike_rekey) = (0, 0);
    let mut esp_spis: BTreeMap<String, usize> = BTreeMap::new();
    let mut icmp_types = Vec::new();
    let mut warnings = Vec::new();
    for f in &frames {
        let n = &f.number;
        for (severity, group, message) in &f.experts {
            if *severity >= SEVERITY_ERROR
                || (*severity >= SEVERITY_WARN && FAILING_GROUPS.contains(group))
            {
                problems.push(format!(
                    "frame {n}: expert {severity:#x}/{group:#x}: {message}"
                ));
            } else if *severity >= SEVERITY_WARN {
                warnings.push(format!("frame {n}: {message}"));
            }
        }
        if f.malformed {
            problems.push(format!("frame {n}: malformed"));
        }
        if let Some(x) = f.exchange {
            ike += 1;
            *exchanges.entry((x, f.response)).or_default() += 1;
            let what = EXCHANGES.iter().find(|e| e.0 == x).map_or("?", |e| e.1);
            let dir = if f.response { "response" } else { "request" };
            if x == IKE_SA_INIT {
                continue;
            }
            // (a) The SK payload is decrypted (and its ICV checked: a wrong one is an
            // expert warning in the Checksum group), and what it carries is dissected.
            if f.payloads.first() != Some(&SK) || f.payloads.contains(&SKF) {
                problems.push(format!(
                    "frame {n}: {what} {dir} without a single SK payload: {:?}",
                    f.payloads
                ));
                continue;
            }
            if f.decrypted != 1 {
                problems.push(format!("frame {n}: {what} {dir}: SK payload not decrypted"));
                continue;
            }
            sk += 1;
            let inner_ok = match x {
                IKE_AUTH => {
                    f.has(&[AUTH, SA, TSI, TSR]) && f.has(&[if f.response { IDR } else { IDI }])
                }
                CREATE_CHILD_SA => {
                    if f.has(&[TSI, TSR]) {
                        child_rekey += 1;
                    } else {
                        ike_rekey += 1;
                    }
                    f.has(&[SA, NONCE, KE])
                }
                INFORMATIONAL => f.response || f.has(&[DELETE]),
                _ => false,
            };
            if !inner_ok {
                problems.push(format!(
                    "frame {n}: {what} {dir} carries {:?}",
                    &f.payloads[1..]
                ));
            }
        }
        if let Some(spi) = &f.esp_spi {
            // (b) Every ESP packet passes its ICV check and decrypts to ICMP.
            esp += 1;
            *esp_spis.entry(spi.clone()).or_default() += 1;
            icmp_types.extend(&f.icmp);
            if !f.icv_good || f.icv_bad {
                problems.push(format!("frame {n}: ESP {spi}: ICV not good"));
            } else if f.icmp.is_empty() {
                problems.push(format!("frame {n}: ESP {spi}: no ICMP inside"));
            } else {
                esp_good += 1;
            }
        }
    }
    println!(
        "tshark: {} frames, {ike} ISAKMP messages, {sk} SK payloads decrypted, {esp} ESP packets \
         ({esp_good} with a good ICV, decrypted to ICMP; per SPI: {esp_spis:?}), exchanges (type, response): \
         {exchanges:?}",
        frames.len()
    );
    for w in &warnings {
        println!("tshark warning (not a failure): {w}");
    }
    assert!(
        problems.is_empty(),
        "Wireshark disagrees:\n{}",
        problems.join("\n")
    );

    // (d) Every exchange appears, both ways, and the traffic is all there.
    for (x, name) in EXCHANGES {
        for response in [false, true] {
            assert!(
                exchanges.contains_key(&(x, response)),
                "no {name} (response: {response}) in the capture"
            );
        }
    }
    // Two rekeys (request and response each) and three DELETEs: the old Child SA, the
    // old IKE SA after its rekey, and the IKE SA at the end.
    assert!(
        child_rekey >= 2 && ike_rekey >= 2,
        "CREATE_CHILD_SA: {child_rekey} Child, {ike_rekey} IKE"
    );
    assert!(exchanges[&(INFORMATIONAL, false)] >= 3, "{exchanges:?}");
    assert_eq!(
        sk,
        ike - exchanges[&(IKE_SA_INIT, false)] - exchanges[&(IKE_SA_INIT, true)]
    );
    // Both Child SAs carried traffic both ways: three pings from strongSwan's side per
    // round, and ours every 200 ms.
    assert_eq!(esp_spis.len(), 4, "ESP per SPI: {esp_spis:?}\n{esp_rows}");
    assert!(esp >= 36, "only {esp} ESP packets");
    assert!(
        icmp_types.contains(&0) && icmp_types.contains(&8),
        "ICMP types {icmp_types:?}"
    );
}
