//! `#[migration]` written above `#[flovyn_plugin]` still belongs to the plugin, in order.
use flovyn_sdk::prelude::*;

#[migration(1, "first", sql = "CREATE TABLE p_ordered__a (id BIGINT)")]
#[flovyn_plugin(name = "ordered")]
#[migration(2, "second", sql = "CREATE TABLE p_ordered__b (id BIGINT)")]
#[derive(Default)]
pub struct Ordered;

fn main() {
    let names: Vec<_> = Ordered::descriptor().migrations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
}
