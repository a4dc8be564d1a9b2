#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iketcp_esp::fuzzing::fuzz_decapsulate(data));
