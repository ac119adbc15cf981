//! `flovyn-server`: see `flovyn-server --help`. The plugins are those the library links
//! (its `plugin-*` features); a server of one's own uses [`flovyn_server::main!`] instead.

use std::process::ExitCode;

fn main() -> ExitCode {
    flovyn_server::cli::main(&[])
}
