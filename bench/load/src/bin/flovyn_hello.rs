//! `flovyn-server` (the same `main` as `flovyn-server/src/main.rs`) with the `hello` example
//! plugin and the `bench-db` bench plugin linked. flovyn-server is built without its
//! example-plugin features here, so the `extern crate`s below are what link the plugins,
//! exactly as the server's build script does for its own plugin dependencies.

extern crate db_probe;
extern crate hello;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    flovyn_server::cli::Cli::parse().run().await
}
