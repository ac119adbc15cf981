use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(POST, "/tokens", status = 999)]
    async fn create(&self) -> &'static str {
        "tokens"
    }
}

fn main() {}
