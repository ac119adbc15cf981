//! The libFuzzer entry point of `route_path`; the property is in `../checks/route_path.rs`.

#![no_main]

#[path = "../checks/route_path.rs"]
mod route_path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| route_path::check(data));
