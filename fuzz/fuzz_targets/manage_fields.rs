#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pecd::fuzzing::manage_fields(data));
