#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iketcp_fuzz::ike_stateful(data));
