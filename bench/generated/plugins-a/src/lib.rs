//! Generated benchmark plugins gen-001 … gen-100: 5 routes and 3 migrations each.
//! `cargo run -p plugin-gen -- 1 100` prints this source.
#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
