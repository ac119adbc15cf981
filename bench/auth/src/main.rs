//! `flovyn-server` (the same `main` as `flovyn-server/src/main.rs`) with the `worker-token`
//! plugin and the bench-only `bench-auth` probe plugin linked, for `bench/run.sh auth`.
//! flovyn-server is built without its example-plugin features here, so the `extern crate`s
//! below are what link the plugins, exactly as the server's build script does for its own
//! plugin dependencies.
//!
//! After the server stops, one line on stderr gives the number of database lookups the
//! worker-token authenticator made (cache misses), so that the benchmark can report them.

extern crate auth_probe;
extern crate worker_token;

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let code = flovyn_server::cli::Cli::parse().run().await;
    eprintln!(
        "BENCH worker_token_lookups={}",
        worker_token::cache::LOOKUPS.load(Ordering::Relaxed)
    );
    code
}
