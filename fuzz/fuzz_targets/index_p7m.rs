#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pecd::fuzzing::index_p7m(data));
