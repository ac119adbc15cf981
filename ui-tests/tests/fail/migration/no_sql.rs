use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
