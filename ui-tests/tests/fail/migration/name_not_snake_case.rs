use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "Create Tokens", sql = "CREATE TABLE p_worker_token__tokens (id BIGINT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
