#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringload::fuzz::http1_response(data));
