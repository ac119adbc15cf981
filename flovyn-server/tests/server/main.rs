//! The server's integration tests: one test binary (built once), a module per area.
//! Behaviour is driven in-process through the router; the real binary is spawned only for
//! CLI and process behaviour.

// Test helpers are `pub` for the sibling modules; this is a binary, nothing is exported.
#![allow(
    unreachable_pub,
    missing_debug_implementations,
    clippy::field_reassign_with_default
)]

mod assembly;
mod audit_log;
mod boundary;
mod cancellation;
mod cli;
mod config_schema;
mod connections;
mod crash;
mod descriptor;
mod events;
mod fuzz_smoke;
mod grpc;
mod handler_args;
mod http;
mod layout;
mod middleware;
mod migrations;
mod openapi;
mod process;
mod python;
mod scaffold;
mod spec_tools;
mod storage;
mod supervision;
mod support;
mod tasks;
mod unavailable;
mod worker_token;
