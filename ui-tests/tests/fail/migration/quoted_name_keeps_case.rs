use flovyn_sdk::prelude::*;

// Quoted names keep their case, so this is not the plugin's prefix.
#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", sql = "CREATE TABLE \"P_worker_token__tokens\" (id BIGINT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
