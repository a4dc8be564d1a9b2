#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iketcp_fuzz::proxy_answer(data));
