//! What a Flovyn plugin *is*, as plain data.
//!
//! A [`PluginDescriptor`] holds everything a host needs to list, check, migrate, document,
//! schedule and route to a plugin without any of the plugin's code: name, version,
//! description, dependencies, migrations (SQL), routes with their OpenAPI operation, the
//! schemas those reference, the config schema, events published and handled, periodic tasks,
//! middleware scopes, gRPC services and the authenticator's security scheme. It is owned,
//! comparable data with a wire form (serde; JSON through [`PluginDescriptor::to_json`]), so a
//! plugin linked into the server, a plugin process and a sandboxed plugin all hand their host
//! the same thing.
//!
//! What a plugin *does* is not here: each runtime entry (a route's handler, a task, a
//! subscriber, a middleware) is reached by its position in the list it belongs to
//! ([`RouteId`], [`TaskId`], …), never by a name.
//!
//! The host checks a descriptor with [`PluginDescriptor::check`], which applies
//! `flovyn-naming` — the rules the macros apply at compile time — so a plugin built
//! elsewhere, or written in another language, meets the same rules with the same messages.
//!
//! This crate owns the data and its check; it does not decide how plugins are collected,
//! started or served.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityScheme as OpenApiSecurityScheme;
use utoipa::openapi::{RefOr, Schema};

pub use flovyn_naming::route::Method;
pub use flovyn_naming::sql::Dialect;

mod check;
pub mod typeless;

pub use check::DescriptorError;

/// The version of the descriptor's wire form. A host refuses a descriptor of another major
/// version; fields added within a version are optional.
pub const FORMAT_VERSION: u32 = 1;

/// Named schemas (`#/components/schemas/<name>`) by name.
pub type Schemas = BTreeMap<String, RefOr<Schema>>;

/// Everything a host knows about one plugin before running any of its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginDescriptor {
    /// Kebab-case plugin name, unique in a server (`worker-token`).
    pub name: String,
    /// Semantic version of the plugin (`0.1.0`).
    pub version: String,
    /// What the plugin does (the struct's doc comment, for a Rust plugin).
    #[serde(default)]
    pub description: String,
    /// The plugins this one depends on, by name.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Migrations in ascending version order.
    #[serde(default)]
    pub migrations: Vec<Migration>,
    /// The routes the plugin serves, relative to its prefix.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The schemas the routes' operations refer to.
    #[serde(default)]
    pub schemas: Schemas,
    /// The plugin's typed configuration (`[plugins.<name>]`), if it declares one.
    #[serde(default)]
    pub config: Option<ConfigSchema>,
    /// The events the plugin publishes (`worker-token.token-created`).
    #[serde(default)]
    pub events: Vec<String>,
    /// The events the plugin handles.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The plugin's periodic tasks.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// The plugin's middleware, in declaration order.
    #[serde(default)]
    pub middleware: Vec<Middleware>,
    /// The plugin's gRPC services.
    #[serde(default)]
    pub grpc_services: Vec<GrpcService>,
    /// The security scheme of the plugin's authenticator, when it has one.
    #[serde(default)]
    pub authenticator: Option<SecurityScheme>,
    /// Whether the plugin has an authorizer (the host asks only those).
    #[serde(default)]
    pub authorizer: bool,
}

impl PluginDescriptor {
    /// A descriptor with a name and a version and nothing else.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            depends_on: Vec::new(),
            migrations: Vec::new(),
            routes: Vec::new(),
            schemas: Schemas::new(),
            config: None,
            events: Vec::new(),
            subscriptions: Vec::new(),
            tasks: Vec::new(),
            middleware: Vec::new(),
            grpc_services: Vec::new(),
            authenticator: None,
            authorizer: false,
        }
    }

    /// The wire form: a JSON object with the format version.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(Wire {
            format: FORMAT_VERSION,
            plugin: self.clone(),
        })
        .unwrap_or_else(|e| unreachable!("a descriptor always serializes: {e}"))
    }

    /// Reads the wire form. Checks the format version, not the naming rules (see
    /// [`check`](Self::check)).
    pub fn from_json(mut value: serde_json::Value) -> Result<Self, DescriptorError> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let Format { format } = Format::deserialize(&value)
            .map_err(|e| DescriptorError::wire(format!("not a plugin descriptor: {e}")))?;
        if format != FORMAT_VERSION {
            return Err(DescriptorError::wire(format!(
                "descriptor format {format} is not supported: this host reads format {FORMAT_VERSION}"
            )));
        }
        typeless::make_readable(&mut value);
        let wire = Wire::deserialize(value)
            .map_err(|e| DescriptorError::wire(format!("invalid plugin descriptor: {e}")))?;
        Ok(wire.plugin)
    }

    /// The prefix every table of this plugin carries (`p_worker_token__`).
    pub fn table_prefix(&self) -> String {
        flovyn_naming::plugin::table_prefix(&self.name)
    }

    /// The prefix all of this plugin's routes are served under (`/api/v1/p/worker-token`).
    pub fn route_prefix(&self) -> String {
        format!("{}/{}", flovyn_naming::route::PLUGIN_API_PREFIX, self.name)
    }

    /// Where a route path of this plugin is served: `/api/v1/p/worker-token` + `/tokens`;
    /// the plugin root `/` is the prefix itself.
    pub fn served_path(&self, path: &str) -> String {
        let prefix = self.route_prefix();
        if path == "/" { prefix } else { prefix + path }
    }

    /// The operationId of a route of this plugin: `<plugin_underscored>.<handler>`.
    pub fn operation_id(&self, route: &Route) -> String {
        format!(
            "{}.{}",
            flovyn_naming::plugin::underscored(&self.name),
            route.handler
        )
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    format: u32,
    plugin: PluginDescriptor,
}

/// One versioned SQL migration of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// Positive, strictly increasing per plugin; the ledger key is (plugin, version).
    pub version: u32,
    /// Short snake_case name (`create_tokens`).
    pub name: String,
    /// SQL run on PostgreSQL.
    pub postgres: String,
    /// SQL run on SQLite (the same text unless the plugin gave a variant).
    pub sqlite: String,
}

impl Migration {
    /// The SQL to run on `dialect`.
    pub fn sql(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Postgres => &self.postgres,
            Dialect::Sqlite => &self.sqlite,
        }
    }

    /// SHA-256 of the SQL run on `dialect`, as recorded in the migration ledger.
    pub fn checksum(&self, dialect: Dialect) -> String {
        flovyn_naming::checksum::checksum(self.sql(dialect))
    }
}

/// Who may call a route or a gRPC service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// An authenticated caller granted this permission (`hello:write`).
    Permission(String),
}

/// One route of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// HTTP method.
    #[serde(with = "method")]
    pub method: Method,
    /// Path relative to the plugin prefix (`/tokens/{id}`).
    pub path: String,
    /// The handler's name (`create`): the last part of the operationId.
    pub handler: String,
    /// Who may call it.
    pub access: Access,
    /// Its OpenAPI operation as the plugin documents it (parameters, body, responses,
    /// summary); the host adds the operationId, the tag and the security requirement.
    #[serde(default = "no_operation")]
    pub operation: Operation,
}

/// The operation of a route that documents none, as decoding gives it (`Operation::default()`
/// is not: its empty `extensions` read back differently), so that a descriptor decoded from
/// its wire form stays equal to itself through another round.
fn no_operation() -> Operation {
    serde_json::to_value(Operation::default())
        .and_then(serde_json::from_value)
        .unwrap_or_default()
}

/// A plugin's typed configuration, as a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigSchema {
    /// The schema of the plugin's section.
    pub schema: RefOr<Schema>,
    /// The named schemas it refers to.
    #[serde(default)]
    pub schemas: Schemas,
}

/// One event handler of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The event handled (`worker-token.token-created`).
    pub event: String,
    /// The handler's name (`on_token_created`), for listings and logs.
    pub handler: String,
}

/// One periodic task of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's name (`prune_expired`).
    pub name: String,
    /// The interval as written (`1h`); checked with `flovyn_naming::task`.
    pub every: String,
}

impl Task {
    /// The interval, when `every` is a valid one.
    pub fn interval(&self) -> Option<std::time::Duration> {
        flovyn_naming::task::parse_interval(&self.every).ok()
    }
}

/// One middleware of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Middleware {
    /// The middleware's name (`stamp`).
    pub name: String,
    /// Smaller runs first (outermost).
    #[serde(default)]
    pub priority: i32,
    /// The scopes it sees (`/api/v1/*`); empty means the plugin's own prefix.
    #[serde(default)]
    pub paths: Vec<String>,
}

impl Middleware {
    /// The requests this middleware of `plugin` sees (the valid scopes among `paths`).
    pub fn scopes(&self, plugin: &str) -> Vec<flovyn_naming::scope::Scope> {
        if self.paths.is_empty() {
            return vec![flovyn_naming::scope::own_scope(plugin)];
        }
        self.paths
            .iter()
            .filter_map(|p| flovyn_naming::scope::Scope::parse(p).ok())
            .collect()
    }
}

/// One gRPC service of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcService {
    /// The handler's name (`worker_tokens`).
    pub handler: String,
    /// The service's full protobuf name (`flovyn.plugins.worker_token.v1.WorkerTokens`).
    pub service: String,
    /// Who may call its methods (never public).
    pub access: Access,
}

/// The security scheme an authenticator adds to the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityScheme {
    /// Its name in `components.securitySchemes` (`worker_token`).
    pub name: String,
    /// The scheme.
    pub scheme: OpenApiSecurityScheme,
}

macro_rules! entry_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            /// The position in the descriptor's list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

entry_id!(
    /// A route of a plugin: its position in [`PluginDescriptor::routes`].
    RouteId
);
entry_id!(
    /// A task of a plugin: its position in [`PluginDescriptor::tasks`].
    TaskId
);
entry_id!(
    /// An event handler of a plugin: its position in [`PluginDescriptor::subscriptions`].
    SubscriptionId
);
entry_id!(
    /// A middleware of a plugin: its position in [`PluginDescriptor::middleware`].
    MiddlewareId
);

/// `Method` on the wire: its upper-case name.
mod method {
    use super::Method;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(method: &Method, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(method.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
        let text = String::deserialize(d)?;
        Method::parse(&text).map_err(serde::de::Error::custom)
    }
}
