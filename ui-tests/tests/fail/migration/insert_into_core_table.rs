use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "seed", sql = "INSERT INTO tenant (id) VALUES (1)")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
