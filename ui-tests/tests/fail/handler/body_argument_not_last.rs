// Only a handler's last argument may read the request body: `Json` before `Query` is one
// error, at the `Json` argument.
use flovyn_sdk::prelude::*;

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[derive(serde::Deserialize, IntoParams)]
pub struct Page {
    pub limit: Option<u32>,
}

#[plugin_impl]
impl Hello {
    #[route(POST, "/items")]
    async fn create(&self, _body: Json<String>, _page: Query<Page>) -> String {
        String::new()
    }
}

fn main() {}
