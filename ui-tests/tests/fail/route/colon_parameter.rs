use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(GET, "/tokens/:id")]
    async fn token(&self, Path(id): Path<String>) -> String {
        id
    }
}

fn main() {}
