//! The demo, run as a process, with its timeline checked line by line.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_iketcp-demo"))
        .args(args)
        .output()
        .expect("the demo runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn has(text: &str, needle: &str) -> bool {
    text.lines().any(|l| l.contains(needle))
}

// R-FB-1, R-FB-2, R-CONN-3, R-CONN-5: UDP dropped, retransmitted, the fallback to TCP,
// traffic both ways through ESP over the connection, a rekey on it, a reset and the
// reconnection with traffic again, a DELETE seen on both sides.
#[test]
fn demo_falls_back_carries_traffic_survives_a_reset() {
    let t = run(&[]);
    for needle in [
        "dropped UDP: IKE_SA_INIT request",
        "no answer over UDP: falling back to TCP",
        "IKE SA up over tcp",
        "Child SA \"net\" up",
        "through ESP over tcp: 3/3 replies",
        "Child SA rekeyed",
        "the rekey ran on the same connection",
        "resets the TCP connection",
        "ping after the reconnection: 3/3 replies",
        "IKE SA down: PeerDeleted",
        "IKE SA down: Local",
        "done in",
    ] {
        assert!(has(&t, needle), "missing {needle:?} in\n{t}");
    }
    let dropped = t.lines().filter(|l| l.contains("dropped UDP")).count();
    assert!(dropped >= 2, "at least one retransmission before TCP\n{t}");
    let b_moved = t
        .lines()
        .any(|l| l.contains(" b ") && l.contains("now on tcp"));
    assert!(b_moved, "the gateway follows the new connection\n{t}");
}

// With UDP open the same run stays on UDP: no fallback, no TCP at all.
#[test]
fn demo_stays_on_udp_when_udp_works() {
    let t = run(&["--udp-open"]);
    assert!(has(&t, "IKE SA up over udp"), "{t}");
    assert!(has(&t, "through ESP over udp: 3/3 replies"), "{t}");
    assert!(!has(&t, "falling back"), "{t}");
    assert!(!has(&t, "TCP connection"), "{t}");
    assert!(has(&t, "IKE SA down: PeerDeleted"), "{t}");
}
