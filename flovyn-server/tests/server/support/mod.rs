//! Shared test helpers: a real PostgreSQL server, and spawning the `flovyn-server` binary.
#![allow(dead_code)]
pub mod pg;
pub mod process;
