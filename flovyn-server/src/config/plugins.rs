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
    for name in config.plugins.keys() {
        if !plugins.iter().any(|p| p.name == *name) {
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
                            errors.push(format!("key `plugins.{}`: {e}", plugin.name));
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
                errors.push(format!("key `plugins.{}`: {e}", plugin.name));
            }
        }
        out.insert(name, settings);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Invalid(errors.join("; ")))
    }
}
