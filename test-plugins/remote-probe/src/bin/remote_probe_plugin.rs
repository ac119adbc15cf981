//! `remote-probe` as a plugin process.

flovyn_sdk::process::main!(remote_probe::RemoteProbe);
