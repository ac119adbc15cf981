//! Re-exports and helpers for the code the macros generate. Not public API.

pub use crate::__register_plugin as register_plugin;
pub use crate::Identity;
pub use crate::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision, SchemeDescriptor};
pub use crate::events::{Event, EventMeta, Events};
pub use crate::grpc::{GrpcService, NamedService, in_plugin_package as grpc_in_plugin_package};
pub use crate::handler::{ArgInput, HandlerArg, position};
pub use crate::host::PluginInstance;
pub use crate::host::linked::{
    Access, ConfigDescriptor, GrpcDescriptor, Method, MiddlewareDescriptor, MigrationDescriptor,
    PluginParts, RouteDescriptor, SubscriptionDescriptor, TaskDescriptor,
};
pub use crate::middleware::{DEFAULT_PRIORITY as DEFAULT_MIDDLEWARE_PRIORITY, Middleware};
pub use crate::openapi::{DocContext, DocumentResponse};
pub use crate::{BoxFuture, LinkedPlugin, Plugin, PluginContext, PluginError};
pub use axum;
pub use flovyn_descriptor::SubscriptionId;
pub use flovyn_descriptor::TaskId;
pub use inventory;
#[cfg(feature = "linkme")]
pub use linkme;
pub use serde;
pub use serde_json;
pub use std::sync::Arc;
pub use utoipa;

pub mod probe;
pub use probe::{EventProbe, Probe};

/// Implemented by `#[plugin_impl]`: the parts its block contributes.
pub trait PluginImpl: Sized + Send + Sync + 'static {
    /// The parts.
    const PARTS: &'static PluginParts;
}

/// `T: Event` check, spanned on a `#[subscribe]` method's argument type.
pub fn assert_event<T: Event>() {}

/// Checks a config section against `T`'s published schema and deserializes it
/// ([`crate::validate::decode`]). The error reads `<key>: <what is wrong>`, the key being the
/// path inside the section (`retention_days`, `limits.max[2]`) or `.` for the section itself.
pub fn validate_config<T: serde::de::DeserializeOwned + utoipa::ToSchema + 'static>(
    value: &serde_json::Value,
) -> Result<(), String> {
    crate::validate::decode::<T>(value.clone())
        .map(|_| ())
        .map_err(|e| {
            // The first violation: the host names one key per section.
            let first =
                e.0.into_iter()
                    .next()
                    .unwrap_or_else(|| crate::validate::Violation {
                        path: String::new(),
                        message: "invalid".to_owned(),
                    });
            let path = if first.path.is_empty() {
                "."
            } else {
                &first.path
            };
            format!("{path}: {}", first.message)
        })
}

/// The plugin has no `#[init]` and must be built with `Default`.
#[diagnostic::on_unimplemented(
    message = "plugin `{Self}` has no constructor",
    note = "derive or implement `Default` for `{Self}`, or add an `#[init] async fn init(ctx: &PluginContext) -> Result<Self, PluginError>` to its `#[plugin_impl]` block"
)]
pub trait DefaultConstruct: Sized {
    /// Builds the plugin.
    fn construct() -> Self;
}

impl<T: Default> DefaultConstruct for T {
    fn construct() -> Self {
        T::default()
    }
}

/// The routes of a plugin at their relative paths (`PluginInstance::router`): `handlers`
/// are in the order of `descriptor.routes`.
pub fn router_at_relative_paths(
    descriptor: &crate::PluginDescriptor,
    handlers: Vec<axum::routing::MethodRouter>,
) -> axum::Router {
    descriptor
        .routes
        .iter()
        .zip(handlers)
        .fold(axum::Router::new(), |router, (route, handlers)| {
            router.route(&route.path, handlers)
        })
}
