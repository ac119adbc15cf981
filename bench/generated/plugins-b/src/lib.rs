//! Generated benchmark plugins gen-101 … gen-200: 5 routes and 3 migrations each.
//! `cargo run -p plugin-gen -- 101 200` prints this source.
#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
