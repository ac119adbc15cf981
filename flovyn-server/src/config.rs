//! Server configuration: defaults, then `flovyn.toml` (or `--config` / `FLOVYN_CONFIG`),
//! then `FLOVYN_*` environment variables (`__` separates levels:
//! `FLOVYN_PLUGINS__HELLO__ENABLED=false`), then `DATABASE_URL`, then command-line flags.
//!
//! Unknown keys and bad values are errors that name the key and where it came from. Plugin
//! sections (`[plugins.<name>]`) are checked against the linked plugins by
//! [`plugins::PluginSettings`]; this module does not touch the database.

pub mod plugins;
pub mod schema;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::store::db::DEFAULT_DATABASE_URL;

/// The file read from the working directory when no other path is given.
pub const DEFAULT_CONFIG_FILE: &str = "flovyn.toml";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`FLOVYN_LISTEN`, `--listen`).
    #[schema(value_type = String, example = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…` (`DATABASE_URL`).
    pub database_url: String,
    /// Bearer token granting the admin role (`FLOVYN_ADMIN_TOKEN`); admin endpoints are
    /// unreachable without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// Log filter, e.g. `info` or `flovyn_server=debug` (`FLOVYN_LOG`); one that does not
    /// parse stops start-up.
    #[serde(deserialize_with = "log_filter")]
    pub log: String,
    /// How the server waits for its database.
    #[schema(inline)]
    pub database: DatabaseConfig,
    /// HTTP limits and timeouts.
    #[schema(inline)]
    pub http: HttpConfig,
    /// Delivery of events between plugins.
    #[schema(inline)]
    pub events: crate::events::EventsConfig,
    /// Per-plugin sections: `enabled` plus the plugin's own keys.
    #[schema(value_type = Object)]
    pub plugins: BTreeMap<String, serde_json::Value>,
    /// Where the plugin sections' values came from, for error messages (not configuration).
    #[serde(skip)]
    pub origins: Origins,
}

/// Where the values of `[plugins.*]` came from: a `FLOVYN_PLUGINS__…` variable, else the
/// file. A plugin section is checked after loading (against the plugin's own config type),
/// so its errors need this to say, as every other config error does, where the value is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origins {
    /// The file read, as given.
    file: Option<String>,
    /// `plugins.<plugin>.<key>` → the variable that set it.
    variables: BTreeMap<String, String>,
}

impl Origins {
    fn new(file: Option<&Path>, env: &BTreeMap<String, String>) -> Self {
        let mut variables = BTreeMap::new();
        for var in env.keys() {
            let Some(rest) = var.strip_prefix("FLOVYN_PLUGINS__") else {
                continue;
            };
            let mut parts = rest.split("__").map(str::to_ascii_lowercase);
            if let Some(plugin) = parts.next() {
                let key: Vec<String> = parts.collect();
                let mut path = format!("plugins.{}", plugin.replace('_', "-"));
                for part in key {
                    path.push('.');
                    path.push_str(&part);
                }
                variables.insert(path, var.clone());
            }
        }
        Self {
            file: file.map(|f| f.display().to_string()),
            variables,
        }
    }

    /// ` (from …)` for `key` (`plugins.audit-log.retention_days`): the variable that set it
    /// or one of its parents, else the file.
    pub fn of(&self, key: &str) -> String {
        let variable = self.variables.iter().find(|(path, _)| {
            key == path.as_str()
                || key.starts_with(&format!("{path}."))
                || path.starts_with(&format!("{key}."))
        });
        match (variable, &self.file) {
            (Some((_, var)), _) => format!(" (from `{var}`)"),
            (None, Some(file)) => format!(" (from {file})"),
            (None, None) => String::new(),
        }
    }

    /// `errors` joined, each with the origin of the first `plugins.…` key it names.
    pub fn annotate_all(&self, errors: &[String]) -> String {
        errors
            .iter()
            .map(|e| {
                let key = e
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .find(|k| k.starts_with("plugins."));
                match key {
                    Some(key) => format!("{e}{}", self.of(key)),
                    None => e.clone(),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `[database]`: how long the server waits for its database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// At start-up, how long to keep trying to reach the database (it may still be starting),
    /// in seconds.
    #[serde(deserialize_with = "positive")]
    #[schema(minimum = 1)]
    pub connect_timeout_secs: u64,
    /// While serving, how long a request waits for a database connection before it is
    /// answered 503 (`database_unavailable`, with `Retry-After`), in seconds.
    #[serde(deserialize_with = "positive")]
    #[schema(minimum = 1)]
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            connect_timeout_secs: 30,
            acquire_timeout_secs: 5,
        }
    }
}

impl DatabaseConfig {
    /// The pool's options for these settings.
    pub fn options(&self) -> crate::store::db::DbOptions {
        crate::store::db::DbOptions::default()
            .connect_timeout(std::time::Duration::from_secs(self.connect_timeout_secs))
            .acquire_timeout(std::time::Duration::from_secs(self.acquire_timeout_secs))
    }
}

fn positive<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "expected a positive number, found 0",
        ));
    }
    Ok(n)
}

fn log_filter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let filter = String::deserialize(d)?;
    tracing_subscriber::EnvFilter::builder()
        .parse(&filter)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "`{filter}` is not a log filter ({e}); e.g. `info` or `flovyn_server=debug,info`"
            ))
        })?;
    Ok(filter)
}

/// `[http]`: limits that protect the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Longest a request may take; slower ones get 408.
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests before cancelling them.
    pub shutdown_grace_secs: u64,
    /// How long a client has to send a request's headers — from connecting, and again after
    /// each response on a keep-alive connection (the idle timeout); then it is closed.
    #[serde(deserialize_with = "positive")]
    #[schema(minimum = 1)]
    pub header_read_timeout_secs: u64,
    /// Open connections at most; more clients wait in the listen backlog.
    #[schema(minimum = 1)]
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
            header_read_timeout_secs: 30,
            max_connections: 4096,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            admin_token: None,
            log: "info".to_owned(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            events: crate::events::EventsConfig::default(),
            plugins: BTreeMap::new(),
            origins: Origins::default(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An explicitly named file does not exist.
    #[error("config file `{}` does not exist", .0.display())]
    MissingFile(PathBuf),
    /// A key is unknown or a value is invalid; the message names the key and its source.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where configuration comes from, besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config`; when `None`, `FLOVYN_CONFIG`, then `./flovyn.toml` if present.
    pub file: Option<PathBuf>,
    /// Environment variables (the process's, or a fixed set in tests).
    pub env: Option<BTreeMap<String, String>>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
}

impl Config {
    /// Loads the configuration from `sources`.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let env = sources
            .env
            .clone()
            .unwrap_or_else(|| std::env::vars().collect());
        let file = match (&sources.file, env.get("FLOVYN_CONFIG")) {
            (Some(path), _) => Some(required(path)?),
            (None, Some(path)) if !path.is_empty() => Some(required(Path::new(path))?),
            (None, _) => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                default.exists().then_some(default)
            }
        };

        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(env_provider(&env));
        if let Some(url) = env.get("DATABASE_URL").filter(|u| !u.is_empty()) {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        if let Some(listen) = sources.listen {
            // The flag wins, but a broken variable beside it is still a mistake to report.
            if let Some(var) = env.get("FLOVYN_LISTEN")
                && var.parse::<SocketAddr>().is_err()
            {
                return Err(ConfigError::Invalid(format!(
                    "key `listen`: invalid socket address syntax (from `FLOVYN_LISTEN`: `{var}`, which `--listen` overrides)"
                )));
            }
            figment = figment.merge(Serialized::default("listen", listen.to_string()));
        }
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e, &env, sources.listen.is_some())))?;
        config.plugins = normalise_plugin_keys(config.plugins);
        config.origins = Origins::new(file.as_deref(), &env);
        Ok(config)
    }
}

fn required(path: &Path) -> Result<PathBuf, ConfigError> {
    if path.exists() {
        Ok(path.to_owned())
    } else {
        Err(ConfigError::MissingFile(path.to_owned()))
    }
}

/// `FLOVYN_*` variables from `env` (not necessarily the process's, so tests can pass their
/// own), minus `FLOVYN_CONFIG`, which names the file rather than a key.
fn env_provider(env: &BTreeMap<String, String>) -> EnvVars {
    let mut data = serde_json::Map::new();
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("FLOVYN_") else {
            continue;
        };
        if rest == "CONFIG" || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        insert(&mut data, &path, parse_env_value(value));
    }
    EnvVars(serde_json::Value::Object(data))
}

/// The `FLOVYN_*` variables as a figment provider, so errors say where a value came from.
struct EnvVars(serde_json::Value);

impl figment::Provider for EnvVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("`FLOVYN_*` environment variables")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::defaults(&self.0).data()
    }
}

/// Env values are TOML-ish: `false`, `42` and `"quoted"` parse as such; anything else is a
/// string.
fn parse_env_value(value: &str) -> serde_json::Value {
    match value.parse::<toml_value::Value>() {
        Ok(v) => v.0,
        Err(()) => serde_json::Value::String(value.to_owned()),
    }
}

mod toml_value {
    /// A scalar parsed the way figment parses environment values.
    pub(super) struct Value(pub(super) serde_json::Value);

    impl std::str::FromStr for Value {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let s = s.trim();
            if s == "true" || s == "false" {
                return Ok(Value(serde_json::Value::Bool(s == "true")));
            }
            if let Ok(i) = s.parse::<i64>() {
                return Ok(Value(i.into()));
            }
            if let Ok(f) = s.parse::<f64>()
                && let Some(n) = serde_json::Number::from_f64(f)
            {
                return Ok(Value(serde_json::Value::Number(n)));
            }
            Err(())
        }
    }
}

fn insert(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
    value: serde_json::Value,
) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// Plugin sections set through the environment arrive as `worker_token`: accept that
/// spelling for `worker-token` (plugin names never contain `_`).
fn normalise_plugin_keys(
    plugins: BTreeMap<String, serde_json::Value>,
) -> BTreeMap<String, serde_json::Value> {
    let mut out: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (key, value) in plugins {
        let name = key.replace('_', "-");
        match (out.get_mut(&name), value) {
            (Some(serde_json::Value::Object(existing)), serde_json::Value::Object(more)) => {
                existing.extend(more);
            }
            (_, value) => {
                out.insert(name, value);
            }
        }
    }
    out
}

/// figment's message, with the key path spelled the way the file spells it and where the
/// value came from.
fn describe(error: figment::Error, env: &BTreeMap<String, String>, listen_flag: bool) -> String {
    let mut messages = Vec::new();
    for e in error {
        let key = e.path.join(".");
        let var = format!(
            "FLOVYN_{}",
            e.path
                .iter()
                .map(|p| p.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join("__")
        );
        let source = if key == "listen" && listen_flag {
            "the `--listen` flag".to_owned()
        } else if key == "database_url" && env.contains_key("DATABASE_URL") {
            "`DATABASE_URL`".to_owned()
        } else if env.contains_key(&var) {
            format!("`{var}`")
        } else {
            e.metadata
                .as_ref()
                .map(|m| {
                    m.source
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| m.name.to_string())
                })
                .unwrap_or_default()
        };
        let mut message = match &e.kind {
            figment::error::Kind::UnknownField(field, expected) => {
                let valid = expected
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                // figment's path sometimes already ends with the field.
                let full = if e.path.last() == Some(field) || key.is_empty() {
                    if key.is_empty() {
                        field.clone()
                    } else {
                        key.clone()
                    }
                } else {
                    format!("{key}.{field}")
                };
                format!("unknown key `{full}`: expected one of {valid}")
            }
            kind => {
                if key.is_empty() {
                    kind.to_string()
                } else {
                    format!("key `{key}`: {kind}")
                }
            }
        };
        if !source.is_empty() {
            message.push_str(&format!(" (from {source})"));
        }
        messages.push(message);
    }
    messages.join("; ")
}
