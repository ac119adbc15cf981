use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "core")]
#[derive(Default)]
pub struct Core;

fn main() {}
