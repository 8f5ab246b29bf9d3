#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pecd::fuzzing::link_token(data));
