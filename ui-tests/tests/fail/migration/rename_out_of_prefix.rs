use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "rename", sql = "ALTER TABLE p_worker_token__tokens RENAME TO tokens")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
