use flovyn_sdk::prelude::*;


#[flovyn_plugin(name = "worker-token")]
#[migration(1, "alter_tenant", sql = "ALTER TABLE tenant ADD COLUMN note TEXT")]
#[derive(Default)]
pub struct WorkerToken;

fn main() {}
