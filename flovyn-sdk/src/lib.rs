//! # flovyn-sdk
//!
//! The one dependency a Flovyn plugin needs. A plugin is one crate:
//!
//! ```
//! use flovyn_sdk::prelude::*;
//!
//! /// Greets people.
//! #[flovyn_plugin(name = "greeter", version = "0.1.0")]
//! #[migration(1, "create_greetings", sql = "CREATE TABLE p_greeter__greetings (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")]
//! #[derive(Default)]
//! pub struct Greeter;
//!
//! #[plugin_impl]
//! impl Greeter {
//!     /// Say hello.
//!     #[route(GET, "/hello", public)]
//!     async fn hello(&self) -> Json<String> {
//!         Json("hello".to_owned())
//!     }
//! }
//!
//! let plugin = Greeter::descriptor();
//! assert_eq!(plugin.routes[0].path, "/hello");
//! let spec = flovyn_sdk::openapi::plugin_document(plugin);
//! assert!(spec.paths.paths.contains_key("/api/v1/p/greeter/hello"));
//! assert!(std::ptr::eq(flovyn_sdk::host::registry::find("greeter").unwrap(), Greeter::linked()));
//! ```
//!
//! Adding the crate to the server's dependencies is the whole install: the server finds
//! every linked plugin through [`host::registry::plugins`]. What only a host (the server, or
//! a test playing one) needs is under [`host`]; everything else here is the plugin author's.
//!
//! The macros are documented where they are re-exported: [`flovyn_plugin`], [`migration`],
//! [`plugin_impl`] and [`route`]. The plugin development guide lives in `docs/guide/`.

pub mod auth;
mod context;
pub mod db;
mod error;
pub mod events;
pub mod grpc;
pub mod handler;
pub mod host;
mod identity;
mod json;
pub mod middleware;
pub mod openapi;
pub mod process;
mod query;
pub mod time;
pub mod validate;

pub use context::PluginContext;
pub use db::{Database, Transaction};
pub use error::{ApiError, ErrorBody, ErrorDetail, PluginError};
/// What a plugin is, as plain data: the descriptor every kind of plugin hands its host.
pub use flovyn_descriptor as descriptor;
pub use flovyn_descriptor::PluginDescriptor;
/// Which database the server runs on: a plugin's SQL may differ per dialect.
pub use flovyn_naming::sql::Dialect;
/// A boxed, `Send` future, as returned by object-safe hooks (authenticators, authorizers).
pub use futures_util::future::BoxFuture;
pub use host::LinkedPlugin;
pub use identity::{Identity, PrincipalType};
pub use json::Json;
pub use openapi::{Created, NoContent};
pub use query::Query;

/// Implemented by `#[flovyn_plugin]` for the plugin's struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Flovyn plugin",
    note = "put `#[flovyn_plugin(name = \"…\")]` on the struct `{Self}`"
)]
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name (`worker-token`).
    const NAME: &'static str;
    /// The plugin's version.
    const VERSION: &'static str;
    /// The prefix of every table the plugin owns (`p_worker_token__`).
    const TABLE_PREFIX: &'static str;
    /// The protobuf package of the plugin's gRPC services (`flovyn.plugins.worker_token.v1`).
    const GRPC_PACKAGE: &'static str;
    /// The compile error of a gRPC service outside [`Plugin::GRPC_PACKAGE`].
    #[doc(hidden)]
    const __GRPC_PACKAGE_MISMATCH: &'static str;
    /// What the plugin is, as plain data: routes, migrations, tasks, events… (built once).
    fn descriptor() -> &'static PluginDescriptor {
        Self::linked().descriptor()
    }
    /// The plugin as linked into this binary (its registry entry).
    fn linked() -> &'static LinkedPlugin;
}

/// Marks `async fn(&self, request: &AuthRequest<'_>) -> AuthOutcome` of a `#[plugin_impl]`
/// block as the plugin's authenticator, with its OpenAPI security scheme:
/// `#[authenticator(scheme = "worker_token", bearer_format = "fwt_…")]`. See [`auth`].
pub use flovyn_macros::authenticator;
/// Marks `async fn(&self, identity: &Identity, request: &AuthzRequest<'_>) -> Decision` of a
/// `#[plugin_impl]` block as the plugin's authorizer. See [`auth`].
pub use flovyn_macros::authorizer;
#[doc = include_str!("../docs/flovyn_plugin.md")]
pub use flovyn_macros::flovyn_plugin;
/// Marks `fn(&self) -> FooServer<…>` of a `#[plugin_impl]` block (a tonic-generated
/// server) as one of the plugin's gRPC services; its protobuf package must be
/// `flovyn.plugins.<plugin with - as _>.v1`, checked at compile time. See [`grpc`].
pub use flovyn_macros::grpc_service;
/// Marks an `async fn(ctx: &PluginContext) -> Result<Self, PluginError>` of a
/// `#[plugin_impl]` block as the plugin's constructor. See [`plugin_impl`].
pub use flovyn_macros::init;
/// Marks `fn(&self) -> Middleware` of a `#[plugin_impl]` block as the plugin's middleware:
/// `#[middleware(priority = 10, paths = ["/api/v1/*"])]`, both optional. See
/// [`middleware`](mod@middleware).
pub use flovyn_macros::middleware;
#[doc = include_str!("../docs/migration.md")]
pub use flovyn_macros::migration;
/// Marks a method of a `#[plugin_impl]` block as the start-up hook. See [`plugin_impl`].
pub use flovyn_macros::on_start;
/// Marks a method of a `#[plugin_impl]` block as the shutdown hook. See [`plugin_impl`].
pub use flovyn_macros::on_stop;
#[doc = include_str!("../docs/plugin_impl.md")]
pub use flovyn_macros::plugin_impl;
#[doc = include_str!("../docs/route.md")]
pub use flovyn_macros::route;
/// Marks `async fn(&self, event: E) -> Result<(), PluginError>` of a `#[plugin_impl]` block
/// as the handler of every `E` published (`E` is an event another plugin, or the server,
/// declares). See [`events`].
pub use flovyn_macros::subscribe;
/// Marks `async fn(&self) -> Result<(), PluginError>` of a `#[plugin_impl]` block as a
/// periodic task: `#[task(every = "1h")]` (units `d`, `h`, `m`, `s`, `ms`; checked at compile
/// time). The server runs it on that schedule, once across all replicas sharing a database;
/// see the guide's chapter on tasks.
pub use flovyn_macros::task;

/// What a plugin file usually needs: `use flovyn_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiError, Created, Database, Identity, NoContent, Plugin, PluginContext, PluginError,
        PrincipalType, flovyn_plugin, init, middleware, migration, on_start, on_stop, plugin_impl,
        route, subscribe, task,
    };
    pub use crate::{Json, Query};
    pub use axum::extract::Path;
    pub use axum::http::StatusCode;
    /// In scope so that `#[derive(ToSchema)]` / `#[derive(IntoParams)]` work without a
    /// direct `utoipa` dependency (their generated code names `utoipa::…`).
    pub use utoipa;
    pub use utoipa::{IntoParams, ToSchema};
}

/// Re-exports for generated code. Not public API: names here change without notice.
#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

// The plugin development guide's code is compiled as doc tests, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/01-first-plugin.md")]
struct GuideFirstPlugin;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/02-naming-rules.md")]
struct GuideNamingRules;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/03-authenticator-plugin.md")]
struct GuideAuthenticatorPlugin;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/04-plugin-config.md")]
struct GuidePluginConfig;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/05-events.md")]
struct GuideEvents;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/06-tasks.md")]
struct GuideTasks;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/07-middleware.md")]
struct GuideMiddleware;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/08-grpc.md")]
struct GuideGrpc;

#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/09-process-plugins.md")]
struct GuideProcessPlugins;
