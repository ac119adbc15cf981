//! `gen-plugin NAME`: the generated benchmark plugin `NAME` (`gen-001` … `gen-100`, the
//! plugins `flovyn-100` links) as a plugin process, what `flovyn_sdk::process::main!` makes of
//! one plugin crate. One executable serves any of them, so that the start-up benchmark can
//! run ten plugins out of process (`args = ["gen-001"]` in their `flovyn.toml` sections)
//! without ten builds.

extern crate bench_plugins_a;

use std::process::ExitCode;

fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    match flovyn_sdk::host::registry::find(&name) {
        Some(plugin) => flovyn_sdk::process::run(plugin),
        None => {
            eprintln!("gen-plugin: no generated plugin called `{name}` (gen-001 … gen-100)");
            ExitCode::FAILURE
        }
    }
}
