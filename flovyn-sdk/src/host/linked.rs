//! A plugin linked into the binary: the static parts `#[flovyn_plugin]` and `#[plugin_impl]`
//! emit, one [`LinkedPlugin`] per plugin, registered with [`crate::host::registry`].
//!
//! What the plugin *is* comes out of it as plain data, [`LinkedPlugin::descriptor`] (a
//! [`PluginDescriptor`](flovyn_descriptor::PluginDescriptor), the same form a plugin process
//! sends); what it *does* comes out of [`LinkedPlugin::construct`], its instance. The
//! `*Descriptor` types below are the static building blocks the macros emit; nothing reads
//! them but [`LinkedPlugin::descriptor`].

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::PluginError;
use crate::host::PluginInstance;
use crate::{BoxFuture, PluginContext};

pub use flovyn_naming::route::Method;
pub use flovyn_naming::sql::Dialect;

/// One plugin linked into this binary, as its macros emitted it.
///
/// Emitted by `#[flovyn_plugin]`; never written by hand.
#[non_exhaustive]
pub struct LinkedPlugin {
    /// Kebab-case plugin name, unique in a server (`worker-token`).
    pub name: &'static str,
    /// The crate (package) that defined the plugin: what the server's build script links,
    /// and how two crates registering one name are told apart.
    pub crate_name: &'static str,
    version: &'static str,
    description: &'static str,
    depends_on: &'static [&'static str],
    migrations: &'static [MigrationDescriptor],
    parts: fn() -> &'static PluginParts,
    config: Option<&'static ConfigDescriptor>,
    events: &'static [&'static str],
    /// The plain-data descriptor, built from the above on first use.
    data: OnceLock<flovyn_descriptor::PluginDescriptor>,
}

impl LinkedPlugin {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        name: &'static str,
        version: &'static str,
        description: &'static str,
        depends_on: &'static [&'static str],
        migrations: &'static [MigrationDescriptor],
        crate_name: &'static str,
        parts: fn() -> &'static PluginParts,
        config: Option<&'static ConfigDescriptor>,
        events: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            version,
            description,
            depends_on,
            migrations,
            crate_name,
            parts,
            config,
            events,
            data: OnceLock::new(),
        }
    }

    /// What the plugin is, as plain data: the form every kind of plugin (linked, process,
    /// sandbox) hands the host, and what the host lists, checks, documents and routes from.
    /// Built once, on first use.
    pub fn descriptor(&self) -> &flovyn_descriptor::PluginDescriptor {
        self.data.get_or_init(|| {
            // Through the wire form once, so that a linked plugin's descriptor is exactly
            // what a plugin process would send (utoipa's builders leave empty
            // `extensions: Some({})` that the wire form, and so every decoded copy, omits).
            let built = self.build_descriptor();
            flovyn_descriptor::PluginDescriptor::from_json(built.to_json()).unwrap_or_else(|e| {
                unreachable!(
                    "plugin `{}`: its descriptor does not read back: {e}",
                    self.name
                )
            })
        })
    }

    fn build_descriptor(&self) -> flovyn_descriptor::PluginDescriptor {
        use flovyn_descriptor as d;
        let parts = (self.parts)();
        let mut ctx = crate::openapi::DocContext::default();
        let operations = (parts.operations)(&mut ctx);
        let routes = parts
            .routes
            .iter()
            .zip(operations)
            .map(|(r, operation)| d::Route {
                method: r.method,
                path: r.path.to_owned(),
                handler: r.handler.to_owned(),
                access: r.access.data(),
                operation,
            })
            .collect();
        let config = self.config.map(|c| {
            let mut named = Vec::new();
            (c.schemas)(&mut named);
            d::ConfigSchema {
                schema: (c.schema)(),
                schemas: named.into_iter().collect(),
            }
        });
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        d::PluginDescriptor {
            name: self.name.to_owned(),
            version: self.version.to_owned(),
            description: self.description.to_owned(),
            depends_on: owned(self.depends_on),
            migrations: self
                .migrations
                .iter()
                .map(|m| d::Migration {
                    version: m.version,
                    name: m.name.to_owned(),
                    postgres: m.postgres.to_owned(),
                    sqlite: m.sqlite.to_owned(),
                })
                .collect(),
            routes,
            schemas: ctx.into_schemas(),
            config,
            events: owned(self.events),
            subscriptions: parts
                .subscriptions
                .iter()
                .map(|s| d::Subscription {
                    event: s.event().to_owned(),
                    handler: s.handler.to_owned(),
                })
                .collect(),
            tasks: parts
                .tasks
                .iter()
                .map(|t| d::Task {
                    name: t.name.to_owned(),
                    every: t.every.to_owned(),
                })
                .collect(),
            middleware: parts
                .middleware
                .iter()
                .map(|m| d::Middleware {
                    name: m.name.to_owned(),
                    priority: m.priority,
                    paths: owned(m.paths),
                })
                .collect(),
            grpc_services: parts
                .grpc
                .iter()
                .map(|g| d::GrpcService {
                    handler: g.handler.to_owned(),
                    service: g.service.to_owned(),
                    access: g.access.data(),
                })
                .collect(),
            authenticator: parts.security_scheme.as_ref().map(|s| d::SecurityScheme {
                name: s.name.to_owned(),
                scheme: s.security_scheme(),
            }),
            authorizer: parts.has_authorizer,
        }
    }

    /// Builds the plugin's instance (its constructor runs here).
    pub fn construct(
        &self,
        ctx: PluginContext,
    ) -> BoxFuture<'static, Result<Arc<dyn PluginInstance>, PluginError>> {
        ((self.parts)().construct)(ctx)
    }

    /// Checks the plugin's configuration section against its declared config type (the error
    /// names the offending key); a plugin without one accepts only an empty section.
    pub fn validate_config(&self, section: &serde_json::Value) -> Result<(), String> {
        match self.config {
            Some(config) => (config.validate)(section),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for LinkedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkedPlugin")
            .field("name", &self.name)
            .field("crate_name", &self.crate_name)
            .finish_non_exhaustive()
    }
}

/// One versioned SQL migration of a plugin.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MigrationDescriptor {
    /// Positive, strictly increasing per plugin; the ledger key is (plugin, version).
    pub version: u32,
    /// Short snake_case name (`create_tokens`).
    pub name: &'static str,
    /// SQL run on PostgreSQL.
    pub postgres: &'static str,
    /// SQL run on SQLite (the same text unless the plugin gave a `sqlite = …` variant).
    pub sqlite: &'static str,
}

impl MigrationDescriptor {
    #[doc(hidden)]
    pub const fn __new(
        version: u32,
        name: &'static str,
        postgres: &'static str,
        sqlite: &'static str,
    ) -> Self {
        Self {
            version,
            name,
            postgres,
            sqlite,
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials (`#[route(GET, "/x", public)]`).
    Public,
    /// Any authenticated caller (`#[route(GET, "/x")]`).
    Authenticated,
    /// An authenticated caller granted this permission (`permission = "hello:write"`).
    Permission(&'static str),
}

impl Access {
    /// The same access, as plain data.
    pub fn data(self) -> flovyn_descriptor::Access {
        match self {
            Access::Public => flovyn_descriptor::Access::Public,
            Access::Authenticated => flovyn_descriptor::Access::Authenticated,
            Access::Permission(p) => flovyn_descriptor::Access::Permission(p.to_owned()),
        }
    }
}

/// One route of a plugin, as declared with `#[route]`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RouteDescriptor {
    /// HTTP method.
    pub method: Method,
    /// Path relative to the plugin prefix (`/tokens/{id}`).
    pub path: &'static str,
    /// The Rust handler's name (`create`); the operationId is `<plugin_underscored>.<handler>`.
    pub handler: &'static str,
    /// Who may call it.
    pub access: Access,
}

impl RouteDescriptor {
    #[doc(hidden)]
    pub const fn __new(
        method: Method,
        path: &'static str,
        handler: &'static str,
        access: Access,
    ) -> Self {
        Self {
            method,
            path,
            handler,
            access,
        }
    }
}

/// One `#[subscribe]` method of a plugin.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SubscriptionDescriptor {
    event: fn() -> &'static str,
    /// The Rust method's name (`on_token_created`).
    pub handler: &'static str,
}

impl SubscriptionDescriptor {
    #[doc(hidden)]
    pub const fn __new(event: fn() -> &'static str, handler: &'static str) -> Self {
        Self { event, handler }
    }

    /// The event's name (`worker-token.token-created`).
    pub fn event(&self) -> &'static str {
        (self.event)()
    }
}

/// One `#[task(every = "…")]` method of a plugin.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TaskDescriptor {
    /// The task's name: the Rust method's (`prune_expired`).
    pub name: &'static str,
    /// The interval as written (`1h`, checked at compile time).
    pub every: &'static str,
}

impl TaskDescriptor {
    #[doc(hidden)]
    pub const fn __new(name: &'static str, every: &'static str) -> Self {
        Self { name, every }
    }
}

/// One `#[middleware]` method of a plugin.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MiddlewareDescriptor {
    /// The Rust method's name (`stamp`).
    pub name: &'static str,
    /// Smaller runs first (outermost); see [`middleware`](mod@crate::middleware).
    pub priority: i32,
    /// The scopes as declared (`/api/v1/*`); empty means the plugin's own prefix.
    pub paths: &'static [&'static str],
}

impl MiddlewareDescriptor {
    #[doc(hidden)]
    pub const fn __new(name: &'static str, priority: i32, paths: &'static [&'static str]) -> Self {
        Self {
            name,
            priority,
            paths,
        }
    }
}

/// One `#[grpc_service]` method of a plugin.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct GrpcDescriptor {
    /// The handler's name: the Rust method's (`worker_tokens`).
    pub handler: &'static str,
    /// The service's full protobuf name (`flovyn.plugins.worker_token.v1.WorkerTokens`).
    pub service: &'static str,
    /// Who may call its methods: any authenticated caller, or one granted a permission
    /// (`#[grpc_service(permission = "…")]`). Never public.
    pub access: Access,
}

impl GrpcDescriptor {
    #[doc(hidden)]
    pub const fn __new(handler: &'static str, service: &'static str, access: Access) -> Self {
        Self {
            handler,
            service,
            access,
        }
    }
}

/// The parts of a plugin that its `#[plugin_impl]` block contributes.
///
/// A plugin without a `#[plugin_impl]` block gets [`PluginParts`] with no routes, built
/// with `Default`.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct PluginParts {
    pub routes: &'static [RouteDescriptor],
    /// One operation per route, in the order of `routes`.
    pub operations: fn(&mut crate::openapi::DocContext) -> Vec<utoipa::openapi::path::Operation>,
    /// The security scheme of the plugin's `#[authenticator]`, if it has one.
    pub security_scheme: Option<crate::auth::SchemeDescriptor>,
    /// Whether the block has an `#[authorizer]` (the server asks only those).
    pub has_authorizer: bool,
    /// The block's `#[subscribe]` methods.
    pub subscriptions: &'static [SubscriptionDescriptor],
    /// The block's `#[task]` methods.
    pub tasks: &'static [TaskDescriptor],
    /// The block's `#[middleware]` methods.
    pub middleware: &'static [MiddlewareDescriptor],
    /// The block's `#[grpc_service]` methods.
    pub grpc: &'static [GrpcDescriptor],
    pub construct: Constructor,
}

/// Builds a plugin's instance from its context.
#[doc(hidden)]
pub type Constructor =
    fn(PluginContext) -> BoxFuture<'static, Result<Arc<dyn PluginInstance>, PluginError>>;

/// A plugin's typed configuration (`#[flovyn_plugin(config = MyConfig)]`).
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct ConfigDescriptor {
    pub schema: fn() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    /// The named types the schema refers to (`#/components/schemas/<name>`), with theirs.
    pub schemas: fn(
        &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ),
    /// Deserializes the raw section to check it; the error names the offending key.
    pub validate: fn(&serde_json::Value) -> Result<(), String>,
}
