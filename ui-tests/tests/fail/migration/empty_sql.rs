use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "nothing", sql = "  -- nothing here\n")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
