// `axum::Json` would publish a body's constraints without enforcing them: the SDK's `Json`
// is the body extractor.
use flovyn_sdk::prelude::*;

#[derive(serde::Deserialize, ToSchema)]
pub struct NewNote {
    #[schema(max_length = 80)]
    pub title: String,
}

#[flovyn_plugin(name = "hello")]
#[derive(Default)]
pub struct Hello;

#[plugin_impl]
impl Hello {
    #[route(POST, "/notes")]
    async fn create(&self, axum::Json(note): axum::Json<NewNote>) -> String {
        note.title
    }
}

fn main() {}
