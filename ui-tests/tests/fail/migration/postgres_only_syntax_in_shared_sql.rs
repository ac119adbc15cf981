use flovyn_sdk::prelude::*;

// Array columns are PostgreSQL only: shared SQL must parse on both databases.
#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", sql = "CREATE TABLE p_worker_token__a (id BIGINT, scopes TEXT[])")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
