use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello", version = "1.0")]
pub struct Hello;

fn main() {}
