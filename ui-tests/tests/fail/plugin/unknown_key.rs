use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello", flavour = "mint")]
pub struct Hello;

fn main() {}
