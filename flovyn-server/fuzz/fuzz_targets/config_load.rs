//! The libFuzzer entry point of `config_load`; the property is in `../checks/config_load.rs`.

#![no_main]

#[path = "../checks/config_load.rs"]
mod config_load;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config_load::check(data));
