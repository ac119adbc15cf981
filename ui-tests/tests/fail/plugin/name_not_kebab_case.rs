use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "Worker_Token")]
pub struct WorkerToken;

fn main() {}
