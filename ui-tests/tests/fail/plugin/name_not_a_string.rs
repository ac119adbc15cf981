use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = hello)]
pub struct Hello;

fn main() {}
