#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringload::fuzz::access_log_envoy(data));
