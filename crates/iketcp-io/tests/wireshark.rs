//! An independent decoder agrees with ours: a framed stream sent over real loopback TCP to
//! port 4500 is captured by tshark and checked by `shared/tools/wireshark/validate-pcap.sh`,
//! whose RFC 9329 dissector hands each message to Wireshark's own IKE and ESP dissectors.
//!
//! Needs root (capture on `lo`) and tshark. Outside CI it skips with a printed reason when
//! either is missing; with `CI=true` it fails instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use iketcp_io::stream::{FramedRead, FramedWrite};
use iketcp_wire::encap::stream::{Frame, Limits, Outgoing, Role};
use iketcp_wire::ike::{
    ExchangeType, Flags, Header, Ke, Message, Nonce, Notify, NotifyType, Payload, PayloadType,
    Proposal, ProtocolId, Sa, Transform, TransformId, TransformType,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn shared_dir() -> PathBuf {
    std::env::var_os("IKETCP_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// Returns why the test cannot run here, if it cannot.
fn missing_prerequisite(validator: &Path) -> Option<String> {
    if Command::new("tshark")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return Some("tshark is not installed".into());
    }
    if !validator.exists() {
        return Some(format!("{} not found", validator.display()));
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("capturing on lo needs root".into());
    }
    None
}

fn ike_sa_init_request() -> Vec<u8> {
    let sa = Sa {
        proposals: vec![Proposal {
            number: 1,
            protocol_id: ProtocolId::IKE,
            spi: vec![],
            transforms: vec![
                Transform::with_key_length(TransformType::ENCR, TransformId::ENCR_AES_GCM_16, 128),
                Transform::new(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                Transform::new(TransformType::KE, TransformId::KE_ECP_256),
            ],
        }],
    };
    let msg = Message {
        header: Header {
            spi_i: 0x0123_4567_89ab_cdef,
            spi_r: 0,
            next_payload: PayloadType::SA,
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::INITIATOR,
            message_id: 0,
            length: 0,
        },
        payloads: vec![
            Payload::Sa(sa),
            Payload::Ke(Ke {
                group: TransformId::KE_ECP_256,
                data: vec![0x42; 64],
            }),
            Payload::Nonce(Nonce {
                data: vec![0x17; 32],
            }),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                vec![1; 20],
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                vec![2; 20],
            )),
        ],
    };
    msg.emit().expect("valid message")
}

fn esp_packet() -> Vec<u8> {
    let mut p = 0x0000_1234_u32.to_be_bytes().to_vec();
    p.extend(1u32.to_be_bytes());
    p.extend((0..120u8).map(|i| i.wrapping_mul(7)));
    p
}

// R-FRAME-1, R-FRAME-2, R-FRAME-3, R-FRAME-6: checked by Wireshark's own dissectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wireshark_accepts_our_stream() {
    let validator = shared_dir().join("tools/wireshark/validate-pcap.sh");
    if let Some(why) = missing_prerequisite(&validator) {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cannot run under CI: {why}");
        }
        eprintln!("SKIPPED wireshark_accepts_our_stream: {why}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("iketcp-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("stream.pcap");

    let listener = TcpListener::bind("127.0.0.1:4500")
        .await
        .expect("port 4500 free on loopback");
    let mut tshark = tokio::process::Command::new("tshark")
        .args(["-i", "lo", "-f", "tcp port 4500", "-w"])
        .arg(&pcap)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // tshark says "Capturing on" once the capture is live.
    let mut lines = BufReader::new(tshark.stderr.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("Capturing on") {
                return;
            }
        }
        panic!("tshark exited before capturing");
    })
    .await
    .expect("tshark starts capturing");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // "Capturing on" comes as dumpcap opens the interface, a moment before it captures.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let ike = ike_sa_init_request();
    let esp = esp_packet();
    let (client, server) = tokio::join!(TcpStream::connect("127.0.0.1:4500"), listener.accept());
    let mut w = FramedWrite::new(client.unwrap(), Role::Originator, Limits::default());
    w.send(Outgoing::Ike(&ike)).await.unwrap();
    w.send(Outgoing::Esp(&esp)).await.unwrap();
    // A peer's NAT keepalive: we never send one on a stream, but must drop one received.
    let mut raw = w.into_inner();
    raw.write_all(&[0, 3, 0xff]).await.unwrap();
    raw.shutdown().await.unwrap();

    let mut r = FramedRead::new(server.unwrap().0, Role::Responder, Limits::default());
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::Ike(ike.clone().into()))
    );
    assert_eq!(r.recv().await.unwrap(), Some(Frame::Esp(esp.into())));
    assert_eq!(r.recv().await.unwrap(), None);
    let (_, closed) = r.close();
    assert_eq!(closed.stats.keepalives, 1);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = tshark.id().unwrap().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    tokio::time::timeout(Duration::from_secs(20), tshark.wait())
        .await
        .unwrap()
        .unwrap();

    let out = Command::new("bash")
        .arg(&validator)
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        out.status.success(),
        "validate-pcap.sh failed ({}) on {}:\n{text}\n{}",
        out.status,
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    for want in ["IKETCP", "IKE IKE_SA_INIT", "ESP spi=", "KEEPALIVE"] {
        assert!(
            text.contains(want),
            "validator output lacks {want:?}:\n{text}"
        );
    }
    println!("{text}");
}
