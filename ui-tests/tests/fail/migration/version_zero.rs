use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(0, "create_tokens", sql = "CREATE TABLE p_worker_token__tokens (id BIGINT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
