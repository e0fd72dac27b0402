#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| chipscope_fuzz_targets::run("class_reports", data));
