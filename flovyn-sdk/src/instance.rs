//! A constructed plugin: the object the server holds while it runs, and the context handed
//! to its constructor and lifecycle hooks.
//!
//! The descriptor ([`crate::linked`]) says what a plugin is; an instance is the plugin
//! running. Instances are built by the server in dependency order and dropped at shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::Identity;
use crate::PluginError;
use crate::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision};
use crate::db::Database;

/// A boxed, `Send` future, as returned by the object-safe plugin hooks.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a plugin receives when it is constructed and when its hooks run.
#[derive(Debug, Clone)]
pub struct PluginContext {
    plugin: &'static str,
    config: Arc<serde_json::Value>,
    database: Option<Database>,
    events: crate::events::Events,
}

impl PluginContext {
    /// A context for `plugin` with its raw configuration section (`[plugins.<name>]`,
    /// without the `enabled` key). The server builds these; tests may too.
    pub fn new(plugin: &'static str, config: serde_json::Value) -> Self {
        Self {
            plugin,
            config: Arc::new(config),
            database: None,
            events: crate::events::Events::detached(plugin),
        }
    }

    /// The same context on the server's event bus (without one, the plugin's events reach
    /// no other plugin).
    pub fn with_events(mut self, bus: &Arc<crate::events::EventBus>) -> Self {
        self.events = bus.handle(self.plugin);
        self
    }

    /// The plugin's handle on the event bus: publish and subscribe (see
    /// [`crate::events`]).
    pub fn events(&self) -> &crate::events::Events {
        &self.events
    }

    /// The same context with access to `database` (the server always gives one).
    pub fn with_database(mut self, database: Database) -> Self {
        self.database = Some(database);
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

/// A constructed plugin, as the server drives it.
///
/// Implemented by the code `#[plugin_impl]` generates: routes become the router, and the
/// `#[on_start]` / `#[on_stop]` methods become the hooks. Every hook has a default that does
/// nothing, so a plugin declares only the ones it needs.
pub trait PluginInstance: Send + Sync + 'static {
    /// The plugin's handlers, one per route of its descriptor and in the same order
    /// (position `i` handles [`RouteId`](crate::descriptor::RouteId)`(i)`). The server adds
    /// each at its route's served path (`/api/v1/p/<name><path>`, see
    /// [`PluginDescriptor::served_path`]) rather than nesting a router, which would rewrite
    /// every request's URI: handlers see the full path in `Uri`.
    ///
    /// [`PluginDescriptor::served_path`]: crate::PluginDescriptor::served_path
    fn routes(self: Arc<Self>) -> Vec<axum::routing::MethodRouter> {
        Vec::new()
    }

    /// The plugin's routes as a router at their relative paths: for testing a plugin on
    /// its own, without the server's prefix, auth and layers.
    fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
    }

    /// Subscribes the plugin's `#[subscribe]` methods on `events`. The server calls it once,
    /// after constructing every plugin and before the first start hook, so that events
    /// published from start hooks reach every subscriber.
    fn subscribe(self: Arc<Self>, events: &crate::events::Events) {
        let _ = events;
    }

    /// The plugin's `#[middleware]`, in the order of its descriptor's `middleware` list (the
    /// server orders and scopes them with those entries: position `i` is
    /// [`MiddlewareId`](crate::descriptor::MiddlewareId)`(i)`).
    fn middleware(self: Arc<Self>) -> Vec<crate::middleware::Middleware> {
        Vec::new()
    }

    /// The plugin's `#[grpc_service]`s, in declaration order.
    fn grpc_services(self: Arc<Self>) -> Vec<crate::grpc::GrpcService> {
        Vec::new()
    }

    /// Runs the periodic task `task` (its position in the descriptor's `tasks`) once: the
    /// server's scheduler calls it when the task is due; see `#[task]`.
    fn run_task<'a>(
        &'a self,
        task: crate::descriptor::TaskId,
    ) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move { Err(PluginError::new(format!("no task {task}"))) })
    }

    /// Runs after every plugin is constructed and migrated, in dependency order.
    /// An error stops start-up and names the plugin.
    fn on_start<'a>(&'a self, ctx: &'a PluginContext) -> BoxFuture<'a, Result<(), PluginError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }

    /// The plugin's authenticator (`#[authenticator]`): by default, no credential is its.
    fn authenticate<'a>(&'a self, request: &'a AuthRequest<'a>) -> BoxFuture<'a, AuthOutcome> {
        let _ = request;
        Box::pin(async { AuthOutcome::NotMine })
    }

    /// The plugin's authorizer (`#[authorizer]`): by default, no opinion.
    fn authorize<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AuthzRequest<'a>,
    ) -> BoxFuture<'a, Decision> {
        let _ = (identity, request);
        Box::pin(async { Decision::Abstain })
    }

    /// Runs at shutdown, after in-flight requests drained, in reverse dependency order.
    fn on_stop<'a>(&'a self, ctx: &'a PluginContext) -> BoxFuture<'a, Result<(), PluginError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }
}
