use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "drop", sql = "DROP TABLE tenant")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
