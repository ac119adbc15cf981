use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello", depends_on = ["hello"])]
pub struct Hello;

fn main() {}
