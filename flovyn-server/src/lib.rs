//! The Flovyn server: collects every linked plugin and serves them as one axum application.
//!
//! `docs/server.md` maps the modules and the start-up sequence. The folders are layers; each
//! uses only those above it in this list (checked by the `layout` test):
//!
//! - [`store`]: the database and its migrations;
//! - [`config`]: `flovyn.toml`, the environment, plugin sections;
//! - [`host`]: the plugins the server hosts — descriptor, backend, instance — and the one
//!   route table;
//! - [`scheduler`]: the plugins' periodic tasks;
//! - [`http`]: the request path (edge, access, metrics, middleware, gRPC);
//! - [`startup`]: the plan and the lifecycle, [`startup::AppState`];
//! - [`api`]: the server's own endpoints;
//! - [`router`] and [`cli`]: the application and the command line;
//! - [`scaffold`]: `new-plugin`, a new plugin crate written from templates (uses no other
//!   module).
//!
//! The binary (`main.rs`) only calls [`cli::main`].

pub mod api;
pub mod cli;
pub mod config;
pub mod events;
pub mod host;
pub mod http;
pub mod replica;
pub mod router;
pub mod scaffold;
pub mod scheduler;
pub mod startup;
pub mod store;

/// The `main` of a server of one's own: a binary crate that depends on `flovyn-server` and on
/// the plugin crates it chooses, with a one-line `build.rs` that calls
/// `flovyn_build::link_plugins()`. Every plugin crate among the binary's direct dependencies
/// is linked (no line names one) and must register at start-up, as must those the library
/// links through its own features.
///
/// ```ignore
/// // src/main.rs
/// flovyn_server::main!();
/// ```
///
/// `docs/operating.md` ("A server of your own") has the whole crate.
#[macro_export]
macro_rules! main {
    () => {
        /// The plugin crates this binary links: written by its build script
        /// (`flovyn_build::link_plugins`).
        mod flovyn_linked_plugins {
            include!(concat!(env!("OUT_DIR"), "/flovyn_plugins.rs"));
        }

        fn main() -> ::std::process::ExitCode {
            $crate::cli::main(flovyn_linked_plugins::EXPECTED_PLUGIN_CRATES)
        }
    };
}

/// The plugin crates this package links (see `build.rs`): `extern crate` for each, and
/// [`linked::EXPECTED_PLUGIN_CRATES`], checked at start-up.
pub mod linked {
    include!(concat!(env!("OUT_DIR"), "/flovyn_plugins.rs"));
}
