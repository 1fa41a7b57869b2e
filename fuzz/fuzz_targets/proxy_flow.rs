#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringload::fuzz::proxy_flow(data));
