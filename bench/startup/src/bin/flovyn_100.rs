//! `flovyn-server` (the same `main` as `flovyn-server/src/main.rs`) with the 100 generated
//! plugins gen-001 … gen-100 linked.

extern crate bench_plugins_a;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    flovyn_server::cli::Cli::parse().run().await
}
