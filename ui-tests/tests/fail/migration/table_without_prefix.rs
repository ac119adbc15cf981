use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", sql = "CREATE TABLE tokens (id BIGINT PRIMARY KEY)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
