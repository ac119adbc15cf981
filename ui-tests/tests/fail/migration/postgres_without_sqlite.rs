use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", postgres = "CREATE TABLE p_worker_token__a (id BIGSERIAL)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
