//! The Flovyn server: collects every linked plugin and serves them as one axum application.
//!
//! `docs/server.md` maps the modules and the start-up sequence. The binary (`main.rs`) only
//! parses the command line and calls [`cli::Cli::run`].

pub mod access;
pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod edge;
pub mod grpc;
pub mod metrics;
pub mod middleware;
pub mod migrate;
pub mod openapi;
pub mod router;
pub mod tasks;
pub mod tenants;

/// The plugin crates this build links (see `build.rs`): `extern crate` for each, and
/// [`linked::EXPECTED_PLUGIN_CRATES`], checked at start-up.
#[allow(unused_extern_crates)]
pub mod linked {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}
