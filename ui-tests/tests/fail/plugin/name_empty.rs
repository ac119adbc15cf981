use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "")]
pub struct Empty;

fn main() {}
