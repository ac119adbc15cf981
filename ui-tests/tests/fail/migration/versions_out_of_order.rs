use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(2, "create_tokens", sql = "CREATE TABLE p_worker_token__tokens (id BIGINT)")]
#[migration(1, "create_keys", sql = "CREATE TABLE p_worker_token__keys (id BIGINT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
