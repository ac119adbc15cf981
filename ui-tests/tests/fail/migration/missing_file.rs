use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", file = "migrations/does_not_exist.sql")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
