use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", mysql = "CREATE TABLE p_worker_token__a (id BIGINT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
