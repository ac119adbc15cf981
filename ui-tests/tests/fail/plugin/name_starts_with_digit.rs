use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "1password")]
pub struct Digit;

fn main() {}
