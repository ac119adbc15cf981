//! `flovyn-server config-schema`: the JSON Schema of the configuration, core keys and every
//! linked plugin's section, checked as a schema and against the server's own loader: a file
//! the schema accepts is one the server accepts, and the other way round.

use std::process::Command;

use flovyn_server::config::{Config, Sources, plugins, schema};
use serde_json::{Value, json};

use crate::support::{python_imports, required_tool};

const JSONSCHEMA_INSTALL: &str =
    "python3 -m pip install 'openapi-spec-validator==0.9.0' (it brings jsonschema)";

fn linked() -> Vec<&'static flovyn_sdk::PluginDescriptor> {
    flovyn_sdk::host::registry::plugins()
        .into_iter()
        .map(|p| p.descriptor())
        .collect()
}

fn document() -> Value {
    schema::document(&linked())
}

#[test]
fn schema_has_the_core_keys_with_defaults_and_a_section_per_plugin() {
    let doc = document();
    assert_eq!(
        doc["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(doc["additionalProperties"], false);
    let core = &doc["properties"];
    assert_eq!(core["listen"]["type"], "string");
    assert_eq!(core["listen"]["default"], "127.0.0.1:8000");
    assert!(
        core["listen"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("FLOVYN_LISTEN")),
        "the doc comment is the description: {}",
        core["listen"]
    );
    assert_eq!(
        core["http"]["properties"]["body_limit_bytes"]["default"],
        2 * 1024 * 1024
    );
    assert_eq!(core["http"]["additionalProperties"], false);

    let sections = core["plugins"]["properties"].as_object().unwrap();
    let mut names: Vec<_> = flovyn_sdk::host::registry::plugins()
        .iter()
        .map(|p| p.name)
        .collect();
    names.dedup();
    assert_eq!(
        sections.keys().map(String::as_str).collect::<Vec<_>>(),
        names
    );
    for (name, section) in sections {
        assert_eq!(
            section["properties"]["enabled"],
            json!({
                "description": "`false` leaves the plugin out: not migrated, not started, its routes 404.",
                "type": "boolean",
                "default": true,
            }),
            "{name}"
        );
    }
    // A plugin with a typed config: its keys, from its type.
    assert_eq!(sections["tuned"]["properties"]["level"]["type"], "integer");
    assert_eq!(sections["tuned"]["required"], json!(["level"]));
    // Without one: `enabled` only.
    assert_eq!(sections["hello"]["additionalProperties"], false);
}

/// Each sample: the TOML file, and whether the server accepts it.
const SAMPLES: &[(&str, &str)] = &[
    (
        "valid",
        "listen = \"127.0.0.1:9000\"\nlog = \"warn\"\n[http]\nbody_limit_bytes = 1024\n[plugins.tuned]\nlevel = 3\n[plugins.hello]\nenabled = false\n",
    ),
    // `tuned` has a required key: without its section the server refuses to start.
    ("empty", ""),
    ("only the required section", "[plugins.tuned]\nlevel = 1\n"),
    ("unknown core key", "lissen = \"127.0.0.1:9000\"\n"),
    ("unknown http key", "[http]\nbody_limit = 1\n"),
    ("unknown plugin", "[plugins.nobody]\nenabled = true\n"),
    (
        "unknown key of a typed config",
        "[plugins.tuned]\nlevel = 3\nspeed = 2\n",
    ),
    ("wrong type", "[plugins.tuned]\nlevel = \"high\"\n"),
    ("missing required key", "[plugins.tuned]\nenabled = true\n"),
    (
        "enabled not a boolean",
        "[plugins.hello]\nenabled = \"no\"\n",
    ),
    (
        "a key for a plugin without config",
        "[plugins.hello]\ncolour = \"red\"\n",
    ),
];

#[test]
fn the_schema_accepts_exactly_what_the_server_accepts() {
    let available = python_imports("jsonschema, tomllib");
    if !required_tool("jsonschema (Python)", available, JSONSCHEMA_INSTALL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let schema_file = dir.path().join("schema.json");
    std::fs::write(&schema_file, document().to_string()).unwrap();
    let registry = flovyn_sdk::host::registry::plugins();

    let mut files = Vec::new();
    let mut server_accepts = Vec::new();
    for (i, (what, toml)) in SAMPLES.iter().enumerate() {
        let file = dir.path().join(format!("sample-{i}.toml"));
        std::fs::write(&file, toml).unwrap();
        let loaded = Config::load(&Sources {
            file: Some(file.clone()),
            env: Some(Default::default()),
            listen: None,
        });
        let verdict = match loaded {
            Ok(config) => plugins::resolve(&config, &linked(), &|plugin, section| {
                registry
                    .iter()
                    .find(|l| l.name == plugin.name)
                    .map_or(Ok(()), |l| l.validate_config(section))
            })
            .map(drop)
            .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        server_accepts.push((*what, verdict));
        files.push(file);
    }
    // The samples cover both outcomes.
    assert!(server_accepts.iter().any(|(_, v)| v.is_ok()));
    assert!(server_accepts.iter().filter(|(_, v)| v.is_err()).count() >= 7);

    let script = "import json, sys, tomllib, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  v = jsonschema.Draft202012Validator(schema)\n\
                  for path in sys.argv[2:]:\n    \
                      errors = list(v.iter_errors(tomllib.load(open(path, 'rb'))))\n    \
                      print('ok' if not errors else 'invalid: ' + errors[0].message)\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&schema_file)
        .args(&files)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "the document is not a valid JSON Schema:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts = String::from_utf8(output.stdout).unwrap();
    let verdicts: Vec<&str> = verdicts.lines().collect();
    assert_eq!(verdicts.len(), SAMPLES.len(), "{verdicts:?}");
    for ((what, server), schema) in server_accepts.iter().zip(&verdicts) {
        assert_eq!(
            server.is_ok(),
            *schema == "ok",
            "{what}: the server says {server:?}, the schema says {schema}"
        );
    }
}
