//! The libFuzzer entry point of `check_migration`; the property is in `../checks/check_migration.rs`.

#![no_main]

#[path = "../checks/check_migration.rs"]
mod check_migration;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check_migration::check(data));
