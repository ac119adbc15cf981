//! `flovyn-server` (the same `main` as `flovyn-server/src/main.rs`) with the bench-only
//! `bench-events` probe plugin linked, for the latency part of `bench/run.sh events`: two of
//! these run as replicas on one PostgreSQL database. flovyn-server is built without its
//! example-plugin features here, so the `extern crate` below is what links the plugin,
//! exactly as the server's build script does for its own plugin dependencies.

extern crate events_probe;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    flovyn_server::cli::Cli::parse().run().await
}
