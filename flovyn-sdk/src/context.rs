//! The context a plugin's constructor and lifecycle hooks receive: its name, its settings,
//! the database, its handle on the event bus.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::PluginError;
use crate::db::Database;

/// What a plugin receives when it is constructed and when its hooks run.
#[derive(Clone)]
pub struct PluginContext {
    plugin: &'static str,
    config: Arc<serde_json::Value>,
    database: Option<Database>,
    events: crate::events::Events,
    authorizer: Option<Arc<dyn crate::auth::Authorize>>,
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("plugin", &self.plugin)
            .field("config", &self.config)
            .field("database", &self.database)
            .field("events", &self.events)
            .field("authorizer", &self.authorizer.is_some())
            .finish()
    }
}

impl PluginContext {
    /// A context for `plugin` with its raw configuration section (`[plugins.<name>]`,
    /// without the `enabled` key). Host API, like the `with_*` builders: the server builds
    /// contexts, and tests that play the server.
    pub fn new(plugin: &'static str, config: serde_json::Value) -> Self {
        Self {
            plugin,
            config: Arc::new(config),
            database: None,
            events: crate::events::Events::detached(plugin),
            authorizer: None,
        }
    }

    /// The same context publishing through `events` (without it, the plugin's events reach
    /// no one); its database's transactions publish there too.
    pub fn with_events(mut self, events: crate::events::Events) -> Self {
        self.events = events;
        if let Some(db) = self.database.take() {
            self.database = Some(db.with_events(self.events.clone()));
        }
        self
    }

    /// The plugin's handle for publishing events on their own (see [`crate::events`]).
    pub fn events(&self) -> &crate::events::Events {
        &self.events
    }

    /// The same context with the server's composed authorizers. Host API: what the host's
    /// service answers a plugin process's access checks (`Authz`) with.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn crate::auth::Authorize>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// The server's composed authorizers, when the host gave them. Host API.
    pub fn authorizer(&self) -> Option<&Arc<dyn crate::auth::Authorize>> {
        self.authorizer.as_ref()
    }

    /// The same context with access to `database` (the server always gives one).
    pub fn with_database(mut self, database: Database) -> Self {
        self.database = Some(database.with_events(self.events.clone()));
        self
    }

    /// The server's database, where the plugin's migrations created its tables.
    pub fn database(&self) -> Result<&Database, PluginError> {
        self.database.as_ref().ok_or_else(|| {
            PluginError::new(format!(
                "plugin `{}` was built without a database",
                self.plugin
            ))
        })
    }

    /// The plugin's name.
    pub fn plugin_name(&self) -> &'static str {
        self.plugin
    }

    /// The plugin's configuration section, deserialized into `T`.
    ///
    /// The server has already validated the section against the plugin's declared config
    /// type at start-up, so for that type this only fails if the plugin asks for another.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        T::deserialize(&*self.config).map_err(|e| {
            PluginError::new(format!(
                "invalid configuration for plugin `{}`: {e}",
                self.plugin
            ))
        })
    }
}
