//! Every part of the macro surface at once.
use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, ToSchema)]
pub struct NotesConfig {
    pub max_notes: u32,
}

/// Keeps notes.
///
/// Longer description.
#[flovyn_plugin(name = "notes", version = "2.1.0", depends_on = ["hello"], config = NotesConfig, events = [NoteAdded])]
#[migration(1, "create_notes", sql = "CREATE TABLE p_notes__notes (id BIGINT PRIMARY KEY, tenant_id BIGINT REFERENCES tenant(id), body TEXT NOT NULL)")]
#[migration(2, "index_notes", sql = "CREATE INDEX p_notes__by_body ON p_notes__notes (body)")]
#[migration(
    5,
    "sequence",
    postgres = "CREATE SEQUENCE p_notes__ids",
    sqlite = "CREATE TABLE p_notes__ids (id INTEGER PRIMARY KEY AUTOINCREMENT)"
)]
pub struct Notes {
    max: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Note {
    pub id: u64,
    pub body: String,
}

/// Published as `notes.note-added`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoteAdded {
    pub id: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewNote {
    pub body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    pub limit: Option<u32>,
}

#[plugin_impl]
impl Notes {
    #[middleware(priority = -5, paths = ["/api/v1/p/notes/*", "/api/v1/p/notes"])]
    fn stamp(&self) -> flovyn_sdk::middleware::Middleware {
        flovyn_sdk::middleware::Middleware::from_fn(|request, next: flovyn_sdk::middleware::Next| next.run(request))
    }

    /// Runs every ten minutes.
    #[task(every = "10m")]
    async fn compact(&self) -> Result<(), PluginError> {
        Ok(())
    }

    #[subscribe]
    async fn on_tenant(&self, event: flovyn_sdk::events::core::TenantCreated) -> Result<(), PluginError> {
        let _ = (event.id, self.max);
        Ok(())
    }

    #[init]
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        let config: NotesConfig = ctx.config()?;
        Ok(Notes { max: config.max_notes })
    }

    #[on_start]
    async fn start(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        Ok(())
    }

    #[on_stop]
    async fn stop(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        Ok(())
    }

    /// List notes.
    #[route(GET, "/notes", permission = "notes:read")]
    async fn list(&self, Query(page): Query<Page>) -> Json<Vec<Note>> {
        let n = page.limit.unwrap_or(self.max) as u64;
        Json((0..n).map(|id| Note { id, body: String::new() }).collect())
    }

    /// Create a note.
    #[route(POST, "/notes", permission = "notes:write")]
    async fn create(&self, who: Identity, Json(new): Json<NewNote>) -> Result<Created<Note>, ApiError> {
        let _ = who;
        Ok(Created(Json(Note { id: 1, body: new.body })))
    }

    #[route(GET, "/notes/{id}", errors = [404])]
    async fn get(&self, Path(id): Path<u64>) -> Result<Json<Note>, ApiError> {
        Err(ApiError::not_found(format!("no note {id}")))
    }

    #[route(PUT, "/tenants/{tenant}/notes/{id}", status = 202)]
    async fn put(&self, Path((tenant, id)): Path<(String, u64)>) -> (StatusCode, String) {
        (StatusCode::ACCEPTED, format!("{tenant}/{id}"))
    }

    #[route(DELETE, "/notes/{id}")]
    async fn delete(Path(_id): Path<u64>) -> NoContent {
        NoContent
    }

    #[route(GET, "/", public)]
    async fn root() -> impl axum_like::IntoResponse {
        "notes"
    }
}

mod axum_like {
    pub use flovyn_sdk::__private::axum::response::IntoResponse;
}

fn main() {
    let d = Notes::descriptor();
    assert_eq!(Notes::NAME, "notes");
    assert_eq!(d.version, "2.1.0");
    assert_eq!(d.description, "Keeps notes.\n\nLonger description.");
    assert_eq!(d.depends_on, ["hello"]);
    assert_eq!(d.migrations.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2, 5]);
    assert_eq!(d.routes.len(), 6);
    assert!(d.config.is_some());
    assert_eq!(d.events, ["notes.note-added"]);
    assert_eq!(<NoteAdded as flovyn_sdk::events::Event>::NAME, "notes.note-added");
    assert_eq!(d.subscriptions[0].event, "core.tenant-created");
    assert_eq!(d.subscriptions[0].handler, "on_tenant");
    assert_eq!((d.tasks[0].name.as_str(), d.tasks[0].every.as_str()), ("compact", "10m"));
    assert_eq!(d.tasks[0].interval(), Some(std::time::Duration::from_secs(600)));
    assert_eq!((d.middleware[0].name.as_str(), d.middleware[0].priority), ("stamp", -5));
    assert_eq!(d.middleware[0].paths, ["/api/v1/p/notes/*", "/api/v1/p/notes"]);
    let doc = serde_json::to_value(flovyn_sdk::openapi::plugin_document(d)).unwrap();
    assert_eq!(doc["paths"]["/api/v1/p/notes/notes"]["post"]["responses"]["201"]["description"], "Created");
    assert_eq!(doc["paths"]["/api/v1/p/notes/tenants/{tenant}/notes/{id}"]["put"]["parameters"][1]["name"], "id");
    assert!(doc["paths"]["/api/v1/p/notes/tenants/{tenant}/notes/{id}"]["put"]["responses"]["202"].is_object());
    assert!(doc["paths"]["/api/v1/p/notes"]["get"].is_object());
    let get = &doc["paths"]["/api/v1/p/notes/notes/{id}"]["get"];
    assert_eq!(get["responses"]["404"]["description"], "Not Found");
    assert_eq!(get["responses"]["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody");
}
