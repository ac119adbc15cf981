//! `flovyn-server`: see `flovyn-server --help`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    flovyn_server::cli::Cli::parse().run().await
}
