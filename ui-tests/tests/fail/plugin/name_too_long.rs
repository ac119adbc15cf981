use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "a-plugin-name-that-is-far-too-long-to-be-useful")]
pub struct Long;

fn main() {}
