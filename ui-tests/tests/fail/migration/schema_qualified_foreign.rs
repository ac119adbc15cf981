use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "create_tokens", sql = "CREATE TABLE public.tokens (id BIGINT)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
