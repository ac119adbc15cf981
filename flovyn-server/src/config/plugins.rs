//! `[plugins.<name>]` sections, checked against the linked plugins: `enabled`,
//! `global_middleware` (only for a plugin whose middleware asks to see requests beyond its
//! prefix), and the plugin's own keys, validated against the config type it declared
//! (`config = T`).

use std::collections::BTreeMap;

use flovyn_sdk::PluginDescriptor;

use super::{Config, ConfigError};

/// The key by which the operator lets a plugin's middleware see requests beyond the
/// plugin's own prefix. Accepted only in the sections of plugins whose middleware asks for
/// that.
pub const GLOBAL_MIDDLEWARE: &str = "global_middleware";

/// Whether `plugin` has middleware scoped beyond its own prefix (and so takes
/// [`GLOBAL_MIDDLEWARE`]).
pub fn wants_global_middleware(plugin: &PluginDescriptor) -> bool {
    plugin
        .middleware
        .iter()
        .flat_map(|m| m.scopes(&plugin.name))
        .any(|s| !s.within_plugin(&plugin.name))
}

/// Checks a plugin's configuration section against the config type it declares (the error
/// names the offending key).
pub type ConfigCheck<'a> = &'a dyn Fn(&PluginDescriptor, &serde_json::Value) -> Result<(), String>;

/// The keys that say where a plugin runs (`mode = "process"` and its companions): the
/// host's, removed from the section before the plugin sees it.
pub const RUN_KEYS: &[&str] = &[
    "mode",
    "command",
    "args",
    "optional",
    "start_timeout_secs",
    "request_timeout_secs",
    "max_restarts",
    "max_memory_mb",
    "max_open_files",
    "user",
    "sandbox",
    "sandbox_read",
    "sandbox_write",
    "handle",
];

/// How a plugin configured with `mode = "process"` is started.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSettings {
    /// The plugin's name (its section's).
    pub plugin: String,
    /// `command`: the plugin executable.
    pub command: std::path::PathBuf,
    /// `args`: its arguments.
    pub args: Vec<String>,
    /// `optional` (default `false`): when it cannot be started, the server starts without it
    /// (logged) rather than not at all.
    pub optional: bool,
    /// `start_timeout_secs` (default 10): for its handshake and description.
    pub start_timeout: std::time::Duration,
    /// `request_timeout_secs` (default 10): how long a request waits for the plugin's
    /// answer before it gets 504.
    pub request_timeout: std::time::Duration,
    /// `max_restarts` (default 5): restarts within a minute after crashes before the plugin
    /// is `failed`; 0 never restarts it.
    pub max_restarts: u32,
    /// `max_memory_mb` (default none): the process's address space, in MiB.
    pub max_memory_mb: Option<u64>,
    /// `max_open_files` (default none): its open file descriptors.
    pub max_open_files: Option<u64>,
    /// `user` (default none: the server's own): the system user the process runs as, by name
    /// or number — only a server running as root can say so.
    pub user: Option<String>,
    /// `sandbox` (default `false`): start the process in the OS sandbox (decision 0020), with
    /// `sandbox_read` (absolute paths it may read beyond the system's) and `sandbox_write`
    /// (absolute paths it may also write beyond its own directory).
    pub sandbox: Option<SandboxSettings>,
    /// `handle` (default `"frames"`): how requests reach the process — as frames on its
    /// second socket when it offers one (decision 0021), else through gRPC `Handle`; `"grpc"`
    /// always through gRPC `Handle`.
    pub frames: bool,
}

/// What `sandbox`, `sandbox_read` and `sandbox_write` grant a sandboxed plugin process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxSettings {
    /// `sandbox_read`.
    pub read: Vec<std::path::PathBuf>,
    /// `sandbox_write`.
    pub write: Vec<std::path::PathBuf>,
}

/// The plugins the configuration runs as processes (`[plugins.<name>] mode = "process"`).
/// `mode` is `"linked"` (the default: the plugin linked into this binary) or `"process"`,
/// which needs `command`. Errors name the key.
pub fn processes(config: &Config) -> Result<Vec<ProcessSettings>, ConfigError> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (name, section) in &config.plugins {
        let serde_json::Value::Object(section) = section else {
            continue;
        };
        let key = |k: &str| format!("plugins.{name}.{k}");
        match section.get("mode") {
            None => continue,
            Some(serde_json::Value::String(m)) if m == "linked" => continue,
            Some(serde_json::Value::String(m)) if m == "process" => {}
            Some(other) => {
                errors.push(format!(
                    "key `{}`: expected `\"linked\"` or `\"process\"`, found `{other}`",
                    key("mode")
                ));
                continue;
            }
        }
        let command = match section.get("command") {
            Some(serde_json::Value::String(c)) if !c.is_empty() => std::path::PathBuf::from(c),
            Some(other) => {
                errors.push(format!(
                    "key `{}`: expected a path, found `{other}`",
                    key("command")
                ));
                continue;
            }
            None => {
                errors.push(format!(
                    "key `{}` is missing: `mode = \"process\"` needs the plugin executable",
                    key("command")
                ));
                continue;
            }
        };
        let args = match section.get("args") {
            None => Vec::new(),
            Some(serde_json::Value::Array(items)) if items.iter().all(|i| i.is_string()) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            Some(other) => {
                errors.push(format!(
                    "key `{}`: expected a list of strings, found `{other}`",
                    key("args")
                ));
                continue;
            }
        };
        let optional = match section.get("optional") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(other) => {
                errors.push(format!(
                    "key `{}`: expected `true` or `false`, found `{other}`",
                    key("optional")
                ));
                continue;
            }
        };
        let seconds = |name: &str, errors: &mut Vec<String>| match section.get(name) {
            None => Some(std::time::Duration::from_secs(10)),
            Some(v) => match v.as_u64().filter(|s| *s > 0) {
                Some(secs) => Some(std::time::Duration::from_secs(secs)),
                None => {
                    errors.push(format!(
                        "key `{}`: expected a positive number of seconds, found `{v}`",
                        key(name)
                    ));
                    None
                }
            },
        };
        let (Some(start_timeout), Some(request_timeout)) = (
            seconds("start_timeout_secs", &mut errors),
            seconds("request_timeout_secs", &mut errors),
        ) else {
            continue;
        };
        let limit = |name: &str, errors: &mut Vec<String>| match section.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64().filter(|n| *n > 0) {
                Some(n) => Ok(Some(n)),
                None => {
                    errors.push(format!(
                        "key `{}`: expected a positive number, found `{v}`",
                        key(name)
                    ));
                    Err(())
                }
            },
        };
        let (Ok(max_memory_mb), Ok(max_open_files)) = (
            limit("max_memory_mb", &mut errors),
            limit("max_open_files", &mut errors),
        ) else {
            continue;
        };
        let max_restarts = match section.get("max_restarts") {
            None => 5,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => n,
                None => {
                    errors.push(format!(
                        "key `{}`: expected a number of restarts (0 or more), found `{v}`",
                        key("max_restarts")
                    ));
                    continue;
                }
            },
        };
        let user = match section.get("user") {
            None => None,
            Some(serde_json::Value::String(u)) if !u.is_empty() => Some(u.clone()),
            Some(serde_json::Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            Some(other) => {
                errors.push(format!(
                    "key `{}`: expected a user name or number, found `{other}`",
                    key("user")
                ));
                continue;
            }
        };
        let Ok(sandbox) = sandbox(section, &key, &mut errors) else {
            continue;
        };
        let frames = match section.get("handle") {
            None => true,
            Some(serde_json::Value::String(h)) if h == "frames" => true,
            Some(serde_json::Value::String(h)) if h == "grpc" => false,
            Some(other) => {
                errors.push(format!(
                    "key `{}`: expected `\"frames\"` or `\"grpc\"`, found `{other}`",
                    key("handle")
                ));
                continue;
            }
        };
        out.push(ProcessSettings {
            plugin: name.clone(),
            command,
            args,
            optional,
            start_timeout,
            request_timeout,
            max_restarts,
            max_memory_mb,
            max_open_files,
            user,
            sandbox,
            frames,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Invalid(config.origins.annotate_all(&errors)))
    }
}

/// `sandbox`, `sandbox_read` and `sandbox_write` of a process section; the paths only with
/// `sandbox = true`, each absolute (the process starts in a directory of its own, so a relative
/// path would mean nothing it could see).
fn sandbox(
    section: &serde_json::Map<String, serde_json::Value>,
    key: &dyn Fn(&str) -> String,
    errors: &mut Vec<String>,
) -> Result<Option<SandboxSettings>, ()> {
    let on = match section.get("sandbox") {
        None => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => {
            errors.push(format!(
                "key `{}`: expected `true` or `false`, found `{other}`",
                key("sandbox")
            ));
            return Err(());
        }
    };
    let mut paths = |name: &str| -> Result<Vec<std::path::PathBuf>, ()> {
        let Some(value) = section.get(name) else {
            return Ok(Vec::new());
        };
        if !on {
            errors.push(format!(
                "key `{}` needs `sandbox = true` in the same section",
                key(name)
            ));
            return Err(());
        }
        let list = value
            .as_array()
            .filter(|items| items.iter().all(|i| i.is_string()));
        let Some(items) = list else {
            errors.push(format!(
                "key `{}`: expected a list of absolute paths, found `{value}`",
                key(name)
            ));
            return Err(());
        };
        let mut out = Vec::new();
        for path in items.iter().filter_map(|i| i.as_str()) {
            if !std::path::Path::new(path).is_absolute() {
                errors.push(format!(
                    "key `{}`: `{path}` is not an absolute path",
                    key(name)
                ));
                return Err(());
            }
            out.push(std::path::PathBuf::from(path));
        }
        Ok(out)
    };
    let (read, write) = (paths("sandbox_read"), paths("sandbox_write"));
    let (Ok(read), Ok(write)) = (read, write) else {
        return Err(());
    };
    Ok(on.then_some(SandboxSettings { read, write }))
}

/// A plugin's config check error (`<key>: <message>`, `flovyn_sdk`'s form) as the key it names
/// under `plugins.<plugin>`.
fn section_error(plugin: &str, error: &str) -> String {
    match error.split_once(": ") {
        Some((".", message)) => format!("key `plugins.{plugin}`: {message}"),
        Some((path, message)) if !path.contains(' ') => {
            format!("key `plugins.{plugin}.{path}`: {message}")
        }
        _ => format!("key `plugins.{plugin}`: {error}"),
    }
}

/// One plugin's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSettings {
    /// `enabled` (default `true`): a disabled plugin is not migrated, built or routed.
    pub enabled: bool,
    /// `global_middleware` (default `false`): the operator lets the plugin's middleware see
    /// requests beyond its own prefix.
    pub global_middleware: bool,
    /// The section without `enabled`: what the plugin's constructor receives.
    pub settings: serde_json::Value,
}

impl Default for PluginSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            global_middleware: false,
            settings: serde_json::Value::Object(Default::default()),
        }
    }
}

/// Settings for every plugin in `plugins` (absent sections get defaults). A section naming
/// no known plugin, a non-boolean `enabled`, or keys the plugin does not accept (its
/// section fails `check`, or it declares no config and the section has keys) are errors
/// that name the key.
pub fn resolve(
    config: &Config,
    plugins: &[&'static PluginDescriptor],
    check: ConfigCheck<'_>,
) -> Result<BTreeMap<&'static str, PluginSettings>, ConfigError> {
    let mut errors = Vec::new();
    for (name, section) in &config.plugins {
        // A plugin process left out (`optional = true`, refused) has been logged already.
        let process = section.get("mode").and_then(|m| m.as_str()) == Some("process");
        if !process && !plugins.iter().any(|p| p.name == *name) {
            let linked = plugins
                .iter()
                .map(|p| format!("`{}`", p.name))
                .collect::<Vec<_>>()
                .join(", ");
            errors.push(format!("unknown key `plugins.{name}`: no linked plugin is called `{name}` (linked: {linked})"));
        }
    }
    let mut out = BTreeMap::new();
    for plugin in plugins {
        let mut settings = PluginSettings::default();
        let name: &'static str = &plugin.name;
        match config.plugins.get(name) {
            None => {}
            Some(serde_json::Value::Object(section)) => {
                let mut section = section.clone();
                match section.remove("enabled") {
                    None => {}
                    Some(serde_json::Value::Bool(b)) => settings.enabled = b,
                    Some(other) => errors.push(format!(
                        "key `plugins.{}.enabled`: expected `true` or `false`, found `{other}`",
                        plugin.name
                    )),
                }
                // Where the plugin runs is the host's business (see [`processes`]).
                for key in RUN_KEYS {
                    section.remove(*key);
                }
                if wants_global_middleware(plugin) {
                    match section.remove(GLOBAL_MIDDLEWARE) {
                        None => {}
                        Some(serde_json::Value::Bool(b)) => settings.global_middleware = b,
                        Some(other) => errors.push(format!(
                            "key `plugins.{}.{GLOBAL_MIDDLEWARE}`: expected `true` or `false`, found `{other}`",
                            plugin.name
                        )),
                    }
                }
                let value = serde_json::Value::Object(section);
                match plugin.config {
                    Some(_) => {
                        if let Err(e) = check(plugin, &value) {
                            errors.push(section_error(&plugin.name, &e));
                        }
                    }
                    None => {
                        if let serde_json::Value::Object(keys) = &value {
                            for key in keys.keys() {
                                errors.push(format!(
                                    "unknown key `plugins.{}.{key}`: plugin `{}` takes no configuration besides `enabled`",
                                    plugin.name, plugin.name
                                ));
                            }
                        }
                    }
                }
                settings.settings = value;
            }
            Some(other) => errors.push(format!(
                "key `plugins.{}`: expected a table (`[plugins.{}]`), found `{other}`",
                plugin.name, plugin.name
            )),
        }
        if settings.enabled && !config.plugins.contains_key(name) && plugin.config.is_some() {
            // No section: the plugin's defaults must be enough.
            if let Err(e) = check(plugin, &settings.settings) {
                errors.push(section_error(&plugin.name, &e));
            }
        }
        out.insert(name, settings);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Invalid(config.origins.annotate_all(&errors)))
    }
}
