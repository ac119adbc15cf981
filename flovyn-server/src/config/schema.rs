//! The JSON Schema (draft 2020-12) of the whole configuration, printed by
//! `flovyn-server config-schema`: the core keys from [`Config`]'s own types (with their doc
//! comments as descriptions and [`Config::default`] as defaults), and under `plugins` one
//! section per linked plugin: `enabled` plus the keys of the config type the plugin declared
//! (`#[flovyn_plugin(config = T)]`, its `ToSchema`). Nothing here is written by hand: a new
//! key in `Config` or in a plugin's type shows up in the schema.
//!
//! The named types a plugin's config refers to go to `$defs`, prefixed with the plugin's name
//! (`worker-token.Retention`), so two plugins may use the same type names.

use flovyn_sdk::PluginDescriptor;
use serde_json::{Map, Value, json};
use utoipa::PartialSchema as _;

use super::Config;

/// The schema document for a server linking `plugins`.
pub fn document(plugins: &[&PluginDescriptor]) -> Value {
    let mut root = to_json(&Config::schema());
    merge_described_sections(&mut root);
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    set_defaults(&mut root, &defaults);

    let mut defs = Map::new();
    let mut sections = Map::new();
    // Plugins whose config has a required key: the server validates an absent section as
    // an empty one, so theirs must be there.
    let mut required = Vec::new();
    for plugin in plugins {
        let mut section = match &plugin.config {
            Some(config) => {
                for (name, schema) in &config.schemas {
                    let mut schema = to_json(schema);
                    rename_refs(&mut schema, &plugin.name);
                    defs.insert(format!("{}.{name}", plugin.name), schema);
                }
                let mut schema = to_json(&config.schema);
                rename_refs(&mut schema, &plugin.name);
                schema
            }
            None => json!({ "type": "object", "additionalProperties": false }),
        };
        if section
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty())
            && !required.contains(&plugin.name.as_str())
        {
            required.push(plugin.name.as_str());
        }
        add_enabled(&mut section);
        if super::plugins::wants_global_middleware(plugin) {
            add_property(
                &mut section,
                super::plugins::GLOBAL_MIDDLEWARE,
                json!({
                    "description": "`true` lets the plugin's middleware see requests beyond its own prefix, as it declares; without it the server does not start.",
                    "type": "boolean",
                    "default": false,
                }),
            );
        }
        if let Value::Object(map) = &mut section {
            map.entry("description").or_insert_with(|| {
                Value::String(format!(
                    "Plugin `{}` {}: {}",
                    plugin.name, plugin.version, plugin.description
                ))
            });
        }
        sections.insert(plugin.name.clone(), section);
    }

    let mut plugins_schema = json!({
        "description": "One section per linked plugin: `enabled` and the plugin's own keys. A section naming no linked plugin is an error.",
        "type": "object",
        "properties": sections,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        plugins_schema["required"] = json!(required);
    }
    if let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("plugins".to_owned(), plugins_schema);
    }
    let root_map = root
        .as_object_mut()
        .expect("the config schema is an object");
    // Every core key has a default; `plugins` is required when a plugin's section is.
    root_map.remove("required");
    if !required.is_empty() {
        root_map.insert("required".to_owned(), json!(["plugins"]));
    }
    if let Some(Value::Object(http)) = root_map
        .get_mut("properties")
        .and_then(|p| p.get_mut("http"))
    {
        // Every `[http]` key has a default too.
        http.remove("required");
    }
    let mut out = Map::new();
    out.insert(
        "$schema".to_owned(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert(
        "title".to_owned(),
        json!("flovyn-server configuration (flovyn.toml)"),
    );
    out.extend(std::mem::take(root_map));
    if !defs.is_empty() {
        out.insert("$defs".to_owned(), Value::Object(defs));
    }
    Value::Object(out)
}

fn to_json<T: serde::Serialize>(schema: &T) -> Value {
    serde_json::to_value(schema).expect("a schema serializes to JSON")
}

/// `enabled` among the section's properties (the section is an object schema; a plugin's
/// config type that is not a struct is wrapped so that `enabled` still fits).
fn add_enabled(section: &mut Value) {
    let enabled = json!({
        "description": "`false` leaves the plugin out: not migrated, not started, its routes 404.",
        "type": "boolean",
        "default": true,
    });
    let is_object_schema = section.get("properties").is_some_and(Value::is_object)
        || section.get("type") == Some(&json!("object"));
    if !is_object_schema {
        let inner = std::mem::take(section);
        *section = json!({ "allOf": [inner] });
    }
    add_property(section, "enabled", enabled);
    // Where the plugin runs (`super::plugins::RUN_KEYS`, read by `super::plugins::processes`).
    for (key, schema) in [
        (
            "mode",
            json!({
                "description": "`linked` runs the plugin linked into this binary; `process` runs it as its own process, the executable `command` (docs/process-plugins.md).",
                "enum": ["linked", "process"],
                "default": "linked",
            }),
        ),
        (
            "command",
            json!({"description": "With `mode = \"process\"`: the plugin executable.", "type": "string"}),
        ),
        (
            "args",
            json!({"description": "With `mode = \"process\"`: the executable's arguments.", "type": "array", "items": {"type": "string"}}),
        ),
        (
            "optional",
            json!({"description": "With `mode = \"process\"`: when the process cannot be started, the server starts without the plugin (logged) instead of refusing to start.", "type": "boolean", "default": false}),
        ),
        (
            "start_timeout_secs",
            json!({"description": "With `mode = \"process\"`: seconds for its handshake and description.", "type": "integer", "minimum": 1, "default": 10}),
        ),
        (
            "request_timeout_secs",
            json!({"description": "With `mode = \"process\"`: seconds a request waits for the plugin's answer; then 504.", "type": "integer", "minimum": 1, "default": 10}),
        ),
        (
            "max_restarts",
            json!({"description": "With `mode = \"process\"`: restarts within a minute after crashes before the plugin is `failed`; 0 never restarts it.", "type": "integer", "minimum": 0, "default": 5}),
        ),
        (
            "max_memory_mb",
            json!({"description": "With `mode = \"process\"`: the process's address space in MiB (RLIMIT_AS); allocations beyond it fail.", "type": "integer", "minimum": 1}),
        ),
        (
            "max_open_files",
            json!({"description": "With `mode = \"process\"`: the process's open file descriptors (RLIMIT_NOFILE).", "type": "integer", "minimum": 1}),
        ),
        (
            "user",
            json!({"description": "With `mode = \"process\"`: the system user the process runs as (name or uid; the server must run as root). Default: the server's own user.", "type": ["string", "integer"]}),
        ),
        (
            "sandbox",
            json!({"description": "With `mode = \"process\"`: start the process in the OS sandbox (Linux: Landlock, seccomp, a network namespace when the server runs as root): it reads only the system's libraries and programs, its executable and `sandbox_read`, writes only its own directory and `sandbox_write`, opens no socket but a Unix one, and cannot signal or trace other processes. Refused where the kernel has no Landlock.", "type": "boolean", "default": false}),
        ),
        (
            "sandbox_read",
            json!({"description": "With `sandbox = true`: absolute paths the process may also read (a virtual environment, the plugin's data).", "type": "array", "items": {"type": "string"}}),
        ),
        (
            "sandbox_write",
            json!({"description": "With `sandbox = true`: absolute paths the process may also read and write.", "type": "array", "items": {"type": "string"}}),
        ),
        (
            "handle",
            json!({"description": "With `mode = \"process\"`: how requests reach the process — `\"frames\"` on its second socket when it offers one (else gRPC `Handle`), `\"grpc\"` always through gRPC `Handle`.", "type": "string", "enum": ["frames", "grpc"], "default": "frames"}),
        ),
    ] {
        add_property(section, key, schema);
    }
}

fn add_property(section: &mut Value, key: &str, schema: Value) {
    let map = section
        .as_object_mut()
        .expect("a section schema is an object");
    map.entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("`properties` is an object")
        .insert(key.to_owned(), schema);
}

/// `#/components/schemas/<name>` → `#/$defs/<plugin>.<name>`.
fn rename_refs(value: &mut Value, plugin: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Some(name) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    *v = Value::String(format!("#/$defs/{plugin}.{name}"));
                } else {
                    rename_refs(v, plugin);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, plugin)),
        _ => {}
    }
}

/// utoipa writes an inlined section with a doc comment on its field as
/// `allOf: [<the section's schema>, {description}]`; this makes it the section's schema with
/// the field's description, so that `additionalProperties` and defaults apply to it directly.
fn merge_described_sections(schema: &mut Value) {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for property in properties.values_mut() {
        let Some([inner, described]) = property
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|all| <&[Value; 2]>::try_from(all.as_slice()).ok())
        else {
            continue;
        };
        if inner.get("properties").is_none() || described.get("properties").is_some() {
            continue;
        }
        let mut merged = inner.clone();
        if let (Value::Object(map), Some(description)) = (&mut merged, described.get("description"))
        {
            map.insert("description".to_owned(), description.clone());
        }
        merge_described_sections(&mut merged);
        *property = merged;
    }
}

/// `default` on every core property from the default configuration, nested objects
/// included.
fn set_defaults(schema: &mut Value, defaults: &Value) {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, property) in properties.iter_mut() {
        let Some(default) = defaults.get(key) else {
            continue;
        };
        if property.get("properties").is_some() {
            set_defaults(property, default);
        } else if let Value::Object(map) = property {
            map.insert("default".to_owned(), default.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use flovyn_sdk::prelude::*;
    use serde::Deserialize;
    use serde_json::json;

    /// How the archive plugin keeps what it stores.
    #[derive(Debug, Clone, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only its schema is looked at
    pub(super) struct ArchiveConfig {
        /// Days an entry is kept; older ones are deleted.
        #[serde(default = "default_retention_days")]
        #[schema(default = 30, minimum = 1)]
        pub(super) retention_days: u32,
        /// Where entries are copied before they are deleted, if anywhere.
        #[serde(default)]
        pub(super) export_url: Option<String>,
    }

    fn default_retention_days() -> u32 {
        30
    }

    /// Keeps entries for a while.
    #[flovyn_plugin(name = "archive", config = ArchiveConfig)]
    #[derive(Default)]
    pub(super) struct Archive;

    /// The section the guide (`docs/guide/04-plugin-config.md`) shows for the same type.
    #[test]
    fn the_guides_example_section_is_what_the_server_prints() {
        let doc = super::document(&[<Archive as flovyn_sdk::Plugin>::descriptor()]);
        let mut section = doc["properties"]["plugins"]["properties"]["archive"].clone();
        // The keys of where the plugin runs, which the guide leaves out of its example.
        let properties = section["properties"].as_object_mut().unwrap();
        for key in crate::config::plugins::RUN_KEYS {
            assert!(
                properties.remove(*key).is_some(),
                "`{key}` is in every section"
            );
        }
        assert_eq!(
            section,
            json!({
              "type": "object",
              "description": "How the archive plugin keeps what it stores.",
              "properties": {
                "retention_days": { "type": "integer", "format": "int32", "minimum": 1, "default": 30,
                                    "description": "Days an entry is kept; older ones are deleted." },
                "export_url": { "type": ["string", "null"],
                                "description": "Where entries are copied before they are deleted, if anywhere." },
                "enabled": { "type": "boolean", "default": true,
                             "description": "`false` leaves the plugin out: not migrated, not started, its routes 404." }
              },
              "additionalProperties": false
            })
        );
    }
}
