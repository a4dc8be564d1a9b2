#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iketcp_fuzz::node_input(data));
