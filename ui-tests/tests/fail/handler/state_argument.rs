// A plugin's state is `&self`: axum's `State` is not a handler argument, and the first
// error says what a handler may take.
use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(GET, "/state")]
    async fn state(&self, _state: axum::extract::State<()>) -> String {
        String::new()
    }
}

fn main() {}
