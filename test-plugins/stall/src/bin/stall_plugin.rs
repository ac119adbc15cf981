//! `stall` as a plugin process.

flovyn_sdk::process::main!(stall::Stall);
