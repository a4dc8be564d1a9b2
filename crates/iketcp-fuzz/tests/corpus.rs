//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) so every input the fuzzer
//! ever kept, crashes included once fixed, stays checked by `cargo test`.

use std::path::PathBuf;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let res = std::panic::catch_unwind(|| f(&data));
        assert!(res.is_ok(), "corpus input {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "empty corpus for {target}");
    println!("{target}: {n} inputs replayed");
}

#[test]
fn stream_deframer_corpus() {
    replay("stream_deframer", iketcp_fuzz::stream_deframer);
}

#[test]
fn esp_packet_corpus() {
    replay("esp_packet", iketcp_fuzz::esp_packet);
}

#[test]
fn ike_message_corpus() {
    replay("ike_message", iketcp_fuzz::ike_message);
}

#[test]
fn ike_responder_corpus() {
    replay("ike_responder", iketcp_fuzz::ike_responder);
}

#[test]
fn ike_established_corpus() {
    replay("ike_established", iketcp_fuzz::ike_established);
}

#[test]
fn ike_stateful_corpus() {
    replay("ike_stateful", iketcp_fuzz::ike_stateful);
}

#[test]
fn node_input_corpus() {
    replay("node_input", iketcp_fuzz::node_input);
}

#[test]
fn proxy_answer_corpus() {
    replay("proxy_answer", iketcp_fuzz::proxy_answer);
}
