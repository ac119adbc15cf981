//! A constructed plugin as the host drives it: [`PluginInstance`], implemented by the code
//! `#[plugin_impl]` generates. What the plugin *is* is its descriptor; an instance is the
//! plugin running, built by the host in dependency order and dropped at shutdown. Its runtime
//! entries are reached by their position in the descriptor's lists, never by name.

use std::sync::Arc;

use crate::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision};
use crate::{BoxFuture, Identity, PluginContext, PluginError};

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

    /// Delivers one event to the plugin's subscription at `subscription` (its position in
    /// the descriptor's `subscriptions`): `payload` is the event as JSON, read into the
    /// handler's type. The host calls it from the outbox, at least once per event.
    fn deliver<'a>(
        &'a self,
        subscription: crate::descriptor::SubscriptionId,
        payload: &'a str,
        meta: &'a crate::events::EventMeta,
    ) -> BoxFuture<'a, Result<(), PluginError>> {
        let _ = (payload, meta);
        Box::pin(async move { Err(PluginError::new(format!("no subscription {subscription}"))) })
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
