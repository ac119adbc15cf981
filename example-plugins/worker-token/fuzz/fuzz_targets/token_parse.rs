//! The libFuzzer entry point of `token_parse`; the property is in `../checks/token_parse.rs`.

#![no_main]

#[path = "../checks/token_parse.rs"]
mod token_parse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| token_parse::check(data));
