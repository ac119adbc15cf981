//! Schemas without a `type` (`{}`, `{"description": …}`: any JSON value) in the wire form.
//!
//! utoipa writes such a schema without `type` — the JSON Schema way to say "any value", and
//! what `serde_json::Value` documents itself as, or Python's `Any` — but does not read it back:
//! its schema object requires the `type` key, and takes the "any value" case only as
//! `"type": null`. This module adds that key, before decoding, to each schema that has no
//! `type` and is none of `$ref`, `oneOf`, `allOf`, `anyOf`; re-encoding drops it again, so the
//! served document keeps the author's `{}`.
//!
//! Schemas are found where OpenAPI and the descriptor put them: the value of every `schema`
//! key, the values of every `schemas` map, and inside a schema its `properties`, `items`,
//! `prefixItems`, `additionalProperties`, `not` and the members of `oneOf`/`allOf`/`anyOf`.

use serde_json::Value;

/// Makes every typeless schema in `value` readable by utoipa: `value` being a whole wire-form
/// descriptor, or any part of one that holds schemas under `schema`/`schemas` keys (an
/// operation).
pub fn make_readable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "schema" => schema(child),
                    "schemas" => make_schemas_readable(child),
                    _ => make_readable(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_readable),
        _ => {}
    }
}

/// The same for a map of names to schemas (`#/components/schemas`).
pub fn make_schemas_readable(value: &mut Value) {
    if let Value::Object(named) = value {
        named.values_mut().for_each(schema);
    }
}

/// One schema and the schemas inside it.
pub fn schema(value: &mut Value) {
    let Value::Object(map) = value else { return };
    const COMPOSED: [&str; 4] = ["$ref", "oneOf", "allOf", "anyOf"];
    if !map.contains_key("type") && !COMPOSED.iter().any(|k| map.contains_key(*k)) {
        map.insert("type".to_owned(), Value::Null);
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Value::Object(props) = child {
                    props.values_mut().for_each(schema);
                }
            }
            "items" | "additionalProperties" | "not" => schema(child),
            "prefixItems" | "oneOf" | "allOf" | "anyOf" => {
                if let Value::Array(members) = child {
                    members.iter_mut().for_each(schema);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::PluginDescriptor;

    /// A descriptor whose schemas include "any value" at each place one can stand.
    fn with_typeless_schemas() -> serde_json::Value {
        let any = json!({});
        json!({
            "format": crate::FORMAT_VERSION,
            "plugin": {
                "name": "free-form",
                "version": "0.1.0",
                "routes": [{
                    "method": "POST",
                    "path": "/notes",
                    "handler": "create",
                    "access": "authenticated",
                    "operation": {
                        "requestBody": {"content": {"application/json": {"schema": any}}},
                        "responses": {"200": {
                            "description": "Success",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Note"}}}
                        }}
                    }
                }],
                "schemas": {
                    "Note": {
                        "type": "object",
                        "properties": {
                            "data": {"description": "Whatever the caller sent"},
                            "tags": {"type": "array", "items": any},
                            "extra": {"type": "object", "additionalProperties": any},
                            "either": {"oneOf": [{"type": "string"}, any]}
                        }
                    }
                },
                "config": {"schema": any, "schemas": {}}
            }
        })
    }

    #[test]
    fn typeless_schemas_read_and_write_back_unchanged() {
        let wire = with_typeless_schemas();
        let descriptor = PluginDescriptor::from_json(wire.clone())
            .unwrap_or_else(|e| panic!("a typeless schema does not read: {e}"));
        let again = descriptor.to_json();
        let body = &again["plugin"]["routes"][0]["operation"]["requestBody"];
        assert_eq!(body["content"]["application/json"]["schema"], json!({}));
        let note = &again["plugin"]["schemas"]["Note"]["properties"];
        assert_eq!(
            note["data"],
            json!({"description": "Whatever the caller sent"})
        );
        assert_eq!(note["tags"]["items"], json!({}));
        assert_eq!(note["extra"]["additionalProperties"], json!({}));
        assert_eq!(note["either"]["oneOf"][1], json!({}));
        assert_eq!(again["plugin"]["config"]["schema"], json!({}));
        // And a second read gives the same descriptor.
        assert_eq!(PluginDescriptor::from_json(again).unwrap(), descriptor);
    }
}
