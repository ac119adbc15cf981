//! Values checked against the JSON Schema the SDK publishes for their type (decision 0017).
//!
//! A constraint is declared once, in `#[schema(...)]` (or by the type itself), and this
//! module makes the published schema the one enforced: [`decode`] builds `T`'s schema exactly
//! as the OpenAPI document and the config schema do (the same components and `$ref`s, via
//! [`schema_of`](crate::openapi::schema_of)), compiles it once per type with a Draft 2020-12
//! validator (formats checked), checks the value, and only then deserializes it. The request
//! body extractor [`Json`](crate::Json) and the typed plugin config use it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

use crate::openapi::{DocContext, schema_of};

/// At most this many violations are reported for one value.
const MAX_REPORTED: usize = 10;

/// One way a value does not match its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: the field path (`items[2].name`), empty for the value itself.
    pub path: String,
    /// What: `"" is shorter than 1 character`.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The violations of one value, shown as `a: …; b: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Checks `value` against `T`'s published schema, then deserializes it.
///
/// A whole number written with a fraction (`478.0`) is an integer to JSON Schema and is
/// given to serde as one, so an integer field accepts everything its schema accepts.
///
/// ```
/// use flovyn_sdk::prelude::*;
/// #[derive(serde::Deserialize, ToSchema)]
/// struct Retry {
///     #[schema(minimum = 1, maximum = 10)]
///     times: u32,
/// }
/// let err = flovyn_sdk::validate::decode::<Retry>(serde_json::json!({"times": 0})).err().unwrap();
/// assert_eq!(err.to_string(), "times: 0 is less than the minimum of 1");
/// let ok = flovyn_sdk::validate::decode::<Retry>(serde_json::json!({"times": 3.0})).unwrap();
/// assert_eq!(ok.times, 3);
/// ```
pub fn decode<T: DeserializeOwned + ToSchema + 'static>(mut value: Value) -> Result<T, Violations> {
    check::<T>(&value)?;
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        Violations(vec![Violation {
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }])
    })
}

/// Checks `value` against `T`'s published schema.
pub fn check<T: ToSchema + 'static>(value: &Value) -> Result<(), Violations> {
    check_against(&compiled::<T>(document::<T>), value)
}

/// Reads `T` from a JSON body: straight into `T` when its schema says nothing serde does not
/// already enforce (see [`Compiled::constrained`]) and the body fits it; otherwise through the
/// schema check and [`decode`], which names every violation. Both ways accept exactly the
/// same bodies: the direct read only ever skips a check that cannot fail.
pub(crate) fn read_json<T: DeserializeOwned + ToSchema + 'static>(
    bytes: &[u8],
) -> Result<T, BodyError> {
    if !compiled::<T>(document::<T>).constrained
        && let Ok(value) = serde_json::from_slice::<T>(bytes)
    {
        return Ok(value);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(BodyError::NotJson)?;
    decode::<T>(value).map_err(BodyError::Invalid)
}

/// Why a JSON body was refused ([`read_json`]).
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Not JSON at all.
    NotJson(serde_json::Error),
    /// JSON, but not what the schema (or the type) accepts.
    Invalid(Violations),
}

/// Checks `value` against a compiled schema (see [`compiled`]).
pub(crate) fn check_against(compiled: &Compiled, value: &Value) -> Result<(), Violations> {
    let found: Vec<Violation> = compiled
        .validator
        .iter_errors(value)
        // An unknown field is left to serde (`deny_unknown_fields` is what publishes
        // `additionalProperties: false`), whose message names the field and the known ones.
        .filter(|e| {
            !matches!(
                e.kind(),
                jsonschema::error::ValidationErrorKind::AdditionalProperties { .. }
            )
        })
        .take(MAX_REPORTED)
        .map(|e| {
            let path = field_path(e.instance_path().as_str());
            match e.kind() {
                // Named by the missing field itself: `plugins.tuned.level`, `items[0].name`.
                jsonschema::error::ValidationErrorKind::Required {
                    property: Value::String(field),
                } => Violation {
                    path: if path.is_empty() {
                        field.clone()
                    } else {
                        format!("{path}.{field}")
                    },
                    message: "missing (required)".to_owned(),
                },
                _ => Violation {
                    path,
                    message: e.to_string(),
                },
            }
        })
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(Violations(found))
    }
}

/// The schema `document` builds, compiled on first use and kept under the type `T` (one
/// document per type: wrap `T` in a marker type for a second kind of document).
pub(crate) fn compiled<T: 'static>(document: fn() -> Value) -> Arc<Compiled> {
    per_type::<T, _>(|| compile::<T>(&document()))
}

/// The value `build` makes for the type `K`, made once per process and shared: what the
/// extractors derive from a type (its compiled schema, its parameters) stays off the request
/// path after the first request.
pub(crate) fn per_type<K: 'static, V: Send + Sync + 'static>(build: impl FnOnce() -> V) -> Arc<V> {
    type Cache = RwLock<HashMap<(TypeId, TypeId), Arc<dyn Any + Send + Sync>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (TypeId::of::<K>(), TypeId::of::<V>());
    let found = cache
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    let entry = match found {
        Some(entry) => entry,
        None => {
            let built: Arc<dyn Any + Send + Sync> = Arc::new(build());
            cache
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_insert(built)
                .clone()
        }
    };
    entry
        .downcast::<V>()
        .unwrap_or_else(|_| unreachable!("the cache key holds the value's type"))
}

/// `T`'s schema as the spec publishes it, as one self-contained document.
pub(crate) fn document<T: ToSchema>() -> Value {
    let mut ctx = DocContext::default();
    let root = schema_of::<T>(&mut ctx);
    serde_json::json!({
        "allOf": [root],
        "components": { "schemas": ctx.into_schemas() },
    })
}

/// A type's schema, compiled, and whether checking it can refuse anything its deserialization
/// accepts.
pub(crate) struct Compiled {
    pub(crate) validator: jsonschema::Validator,
    /// Whether the schema states a constraint (a length, a range, a pattern, a format…) beyond
    /// the shape serde enforces itself (types, required fields, the properties of objects and
    /// items of arrays). `false`: a value that deserializes passes the check, which the
    /// extractors then skip on the request path.
    pub(crate) constrained: bool,
}

pub(crate) fn compile<T>(document: &Value) -> Compiled {
    Compiled {
        validator: validator::<T>(document),
        constrained: constrains(document),
    }
}

fn validator<T>(document: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(document)
        .unwrap_or_else(|e| {
            // The schema comes from the type's derive: a failure is a bug in the SDK or in a
            // hand-written `ToSchema`, found on the first request or at startup.
            panic!(
                "the JSON Schema of `{}` does not compile: {e}",
                std::any::type_name::<T>()
            )
        })
}

/// Whether a schema document (with its `components`) states anything beyond the shape serde
/// enforces. Conservative: any keyword not known to be shape-only is a constraint, so an
/// unknown keyword keeps the full check.
fn constrains(document: &Value) -> bool {
    match document {
        Value::Object(map) => map.iter().any(|(key, child)| match key.as_str() {
            // Shape, or words.
            "type" | "required" | "$ref" | "description" | "title" | "default" | "example"
            | "examples" | "deprecated" | "readOnly" | "writeOnly" | "nullable" => false,
            // The width of a number (`int32`, `double`): not a check JSON Schema makes.
            "format" => !matches!(
                child.as_str(),
                Some(
                    "int8"
                        | "int16"
                        | "int32"
                        | "int64"
                        | "uint8"
                        | "uint16"
                        | "uint32"
                        | "uint64"
                        | "float"
                        | "double"
                )
            ),
            // An unknown field is serde's to refuse (`deny_unknown_fields`) either way.
            "additionalProperties" => child.is_object() && constrains(child),
            "items" => constrains(child),
            "allOf" | "anyOf" | "prefixItems" => child
                .as_array()
                .is_some_and(|all| all.iter().any(constrains)),
            // Exactly one must match: shape-only members can still overlap and refuse a value
            // serde takes, except an optional value's `null` beside one other member.
            "oneOf" => match child.as_array().map(Vec::as_slice) {
                Some([a, b]) if is_null(a) => constrains(b),
                Some([a, b]) if is_null(b) => constrains(a),
                _ => true,
            },
            // Names to schemas.
            "properties" => child
                .as_object()
                .is_some_and(|all| all.values().any(constrains)),
            "components" => child
                .get("schemas")
                .and_then(Value::as_object)
                .is_some_and(|all| all.values().any(constrains)),
            _ => true,
        }),
        Value::Bool(_) => false,
        _ => true,
    }
}

fn is_null(schema: &Value) -> bool {
    schema.as_object().is_some_and(|map| {
        map.get("type") == Some(&Value::String("null".to_owned()))
            && map.keys().all(|k| k == "type" || k == "description")
    })
}

/// `/items/2/name` → `items[2].name`.
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

/// Rewrites every float with no fractional part that fits an `i64`/`u64` as that integer.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                // Exact in both directions only inside ±2^53; wider values stay floats.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if f.abs() <= EXACT {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Inner {
        #[schema(pattern = "^[a-z]+$")]
        tag: String,
    }

    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Outer {
        #[schema(min_length = 1, max_length = 3)]
        name: String,
        #[schema(minimum = 1, maximum = 10)]
        count: Option<u32>,
        inner: Vec<Inner>,
        #[schema(format = DateTime)]
        at: Option<String>,
    }

    #[test]
    fn every_violation_is_named_by_its_field() {
        let value = serde_json::json!({
            "name": "long name",
            "count": 11,
            "inner": [{"tag": "ok"}, {"tag": "Not OK"}],
            "at": "yesterday",
        });
        let err = decode::<Outer>(value).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("name: \"long name\" is longer than 3 characters"),
            "{text}"
        );
        assert!(
            text.contains("count: 11 is greater than the maximum of 10"),
            "{text}"
        );
        assert!(
            text.contains("inner[1].tag: \"Not OK\" does not match"),
            "{text}"
        );
        assert!(
            text.contains("at: \"yesterday\" is not a \"date-time\""),
            "{text}"
        );
        assert_eq!(err.0.len(), 4);
    }

    #[test]
    fn a_valid_value_decodes_and_whole_floats_are_integers() {
        let value = serde_json::json!({"name": "abc", "count": 10.0, "inner": [], "at": null});
        let outer = decode::<Outer>(value).unwrap();
        assert_eq!(outer.count, Some(10));
        let value = serde_json::json!({"name": "abc", "count": 2.5, "inner": []});
        let err = decode::<Outer>(value).unwrap_err();
        assert!(
            err.to_string().starts_with("count: 2.5 is not of type"),
            "{err}"
        );
    }

    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Small {
        items: Vec<u8>,
    }

    #[test]
    fn schema_and_serde_errors_both_name_the_field() {
        let err = decode::<Outer>(serde_json::json!({"inner": []})).unwrap_err();
        assert_eq!(err.to_string(), "name: missing (required)");
        // What the schema does not bound, serde still refuses, with the field's path.
        let err = decode::<Small>(serde_json::json!({"items": [1, 300]})).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].path, "items[1]");
        assert!(err.0[0].message.contains("300"), "{err}");
    }

    /// Shape only: strings, a list, an optional nested object, a signed integer.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Plain {
        name: String,
        tags: Vec<String>,
        note: Option<Note>,
        delta: i64,
    }

    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Note {
        text: String,
    }

    fn constrained<T: ToSchema>() -> bool {
        constrains(&document::<T>())
    }

    #[test]
    fn only_a_schema_stating_more_than_its_shape_is_constrained() {
        assert!(!constrained::<Plain>(), "{:#}", document::<Plain>());
        // Lengths, ranges, patterns, formats — here or in a referenced schema.
        assert!(constrained::<Outer>());
        assert!(constrained::<Inner>());
        // An unsigned integer publishes `minimum: 0`: checked, like any minimum.
        assert!(constrained::<Small>());
        // Unknown keywords count as constraints.
        assert!(constrains(
            &serde_json::json!({"type": "string", "x-new": 1})
        ));
        assert!(constrains(
            &serde_json::json!({"oneOf": [{"type": "string"}, {"type": "string"}]})
        ));
        assert!(!constrains(
            &serde_json::json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Note"}]})
        ));
    }

    #[test]
    fn the_direct_read_accepts_and_names_exactly_what_the_check_does() {
        let body = br#"{"name":"a","tags":["x"],"note":{"text":"t"},"delta":-3}"#;
        let plain = read_json::<Plain>(body).unwrap();
        assert_eq!((plain.name.as_str(), plain.delta), ("a", -3));
        // Refused bodies are named by the schema check, as for a constrained type.
        let Err(BodyError::Invalid(err)) = read_json::<Plain>(br#"{"tags":[],"delta":1}"#) else {
            panic!("a body without `name` is refused")
        };
        assert_eq!(err.to_string(), "name: missing (required)");
        let Err(BodyError::Invalid(err)) =
            read_json::<Plain>(br#"{"name":"a","tags":[],"delta":"x"}"#)
        else {
            panic!("a string `delta` is refused")
        };
        assert_eq!(err.to_string(), "delta: \"x\" is not of type \"integer\"");
        // A whole float is an integer for the check, and so for the direct read's fallback.
        let plain = read_json::<Plain>(br#"{"name":"a","tags":[],"delta":4.0}"#).unwrap();
        assert_eq!(plain.delta, 4);
        assert!(matches!(
            read_json::<Plain>(b"{not json"),
            Err(BodyError::NotJson(_))
        ));
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/a/0/b~1c"), "a[0].b/c");
    }
}
