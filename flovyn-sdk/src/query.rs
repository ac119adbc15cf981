//! [`Query`]: the query string, checked against the parameters the spec publishes for it
//! (decision 0017).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, Required};

use crate::ApiError;

/// The query string as `T`, a struct deriving `IntoParams` and `Deserialize`.
///
/// Every parameter's constraints from `#[param(...)]` (ranges, lengths, patterns, formats)
/// are checked against the schema the operation publishes before `T` is built; a violation,
/// like a value of the wrong type or an unknown parameter under `deny_unknown_fields`, is
/// answered **400** naming the parameter.
///
/// ```
/// use flovyn_sdk::prelude::*;
///
/// #[derive(serde::Deserialize, IntoParams)]
/// struct Page {
///     /// 1–100.
///     #[param(minimum = 1, maximum = 100)]
///     limit: Option<u32>,
/// }
///
/// async fn list(Query(page): Query<Page>) -> Json<u32> {
///     // `page.limit` is absent or 1–100 here.
///     Json(page.limit.unwrap_or(20))
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Cache key of `T`'s query document (a type may also be a JSON body).
struct QueryOf<T>(PhantomData<T>);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + IntoParams + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        let shape = crate::validate::per_type::<QueryOf<T>, _>(Shape::of::<T>);
        // Nothing to check beyond what the type enforces: read it straight, and come back for
        // the check only to name what is wrong (see `validate::Compiled::constrained`).
        if !shape.compiled.constrained
            && let Ok(query) = serde_urlencoded::from_str::<T>(raw)
        {
            return Ok(Query(query));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("the query string does not decode: {e}")))?;
        let value = shape.typed_values(pairs);
        crate::validate::check_against(&shape.compiled, &value).map_err(|violations| {
            ApiError::bad_request(format!(
                "the query string does not match its parameters: {violations}"
            ))
        })?;
        serde_urlencoded::from_str::<T>(raw)
            .map(Query)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the query string does not match its parameters: {e}"
                ))
            })
    }
}

/// What the extractor needs of `T`, derived once: the parameters as one compiled JSON Schema
/// object, and how to read each parameter's text.
struct Shape {
    compiled: crate::validate::Compiled,
    kinds: BTreeMap<String, Kind>,
}

impl Shape {
    /// A property per parameter, `required` as declared. A parameter whose schema is a `$ref`
    /// accepts any value here (its type still checks it when `T` is built).
    fn of<T: IntoParams>() -> Self {
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut kinds = BTreeMap::new();
        for param in T::into_params(|| Some(ParameterIn::Query)) {
            let schema = match &param.schema {
                Some(RefOr::T(schema)) => serde_json::to_value(schema).unwrap_or(Value::Bool(true)),
                _ => Value::Bool(true),
            };
            if matches!(param.required, Required::True) {
                required.push(Value::String(param.name.clone()));
            }
            kinds.insert(param.name.clone(), Kind::of(param.schema.as_ref()));
            properties.insert(param.name, schema);
        }
        let document = serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
        });
        Self {
            compiled: crate::validate::compile::<QueryOf<T>>(&document),
            kinds,
        }
    }

    /// Query values as the JSON their schema expects: a number where the parameter is a
    /// number (or stays text, which the schema then refuses by name), `true`/`false` for a
    /// boolean, an array for a parameter given several times or declared as one.
    fn typed_values(&self, pairs: Vec<(String, String)>) -> Value {
        let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in pairs {
            grouped.entry(name).or_default().push(value);
        }
        let mut out = Map::new();
        for (name, values) in grouped {
            let kind = self
                .kinds
                .get(&name)
                .copied()
                .unwrap_or(Kind::One(Scalar::Text));
            let value = match kind {
                Kind::Many(item) => Value::Array(values.iter().map(|v| item.read(v)).collect()),
                Kind::One(item) if values.len() > 1 => {
                    Value::Array(values.iter().map(|v| item.read(v)).collect())
                }
                Kind::One(item) => item.read(&values[0]),
            };
            out.insert(name, value);
        }
        Value::Object(out)
    }
}

#[derive(Debug, Clone, Copy)]
enum Scalar {
    Text,
    Number,
    Boolean,
}

/// A parameter given once, or a list of them.
#[derive(Debug, Clone, Copy)]
enum Kind {
    One(Scalar),
    Many(Scalar),
}

impl Kind {
    fn of(schema: Option<&RefOr<Schema>>) -> Kind {
        match schema {
            Some(RefOr::T(Schema::Object(object))) => Kind::One(scalar(&object.schema_type)),
            Some(RefOr::T(Schema::Array(array))) => Kind::Many(match &array.items {
                utoipa::openapi::schema::ArrayItems::RefOrSchema(item) => match item.as_ref() {
                    RefOr::T(Schema::Object(object)) => scalar(&object.schema_type),
                    _ => Scalar::Text,
                },
                utoipa::openapi::schema::ArrayItems::False => Scalar::Text,
            }),
            _ => Kind::One(Scalar::Text),
        }
    }
}

fn scalar(schema_type: &SchemaType) -> Scalar {
    let is = |t: Type| match schema_type {
        SchemaType::Type(one) => *one == t,
        SchemaType::Array(many) => many.contains(&t),
        SchemaType::AnyValue => false,
    };
    if is(Type::Integer) || is(Type::Number) {
        Scalar::Number
    } else if is(Type::Boolean) {
        Scalar::Boolean
    } else {
        Scalar::Text
    }
}

impl Scalar {
    fn read(self, text: &str) -> Value {
        let typed = match self {
            Scalar::Number => text
                .parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| text.parse::<u64>().map(Value::from).ok())
                .or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                }),
            Scalar::Boolean => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Scalar::Text => None,
        };
        typed.unwrap_or_else(|| Value::String(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filter {
        #[param(minimum = 1, maximum = 500)]
        limit: Option<u32>,
        #[param(pattern = "^e[0-9]{1,18}$")]
        cursor: Option<String>,
        #[param(format = DateTime)]
        since: Option<String>,
        flag: Option<bool>,
    }

    /// `T` from the query string `query`, as the extractor reads it.
    async fn query_of<T: DeserializeOwned + IntoParams + 'static>(
        query: &str,
    ) -> Result<T, ApiError> {
        let request = Request::builder()
            .uri(format!("/x?{query}"))
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        Query::<T>::from_request_parts(&mut parts, &())
            .await
            .map(|q| q.0)
    }

    async fn extract(query: &str) -> Result<Filter, ApiError> {
        query_of(query).await
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn constraints_are_enforced_with_the_parameter_named() {
        let e = block_on(extract("limit=0")).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert_eq!(
            e.message(),
            "the query string does not match its parameters: limit: 0 is less than the minimum of 1"
        );
        let e = block_on(extract("limit=many")).unwrap_err();
        assert!(
            e.message()
                .contains("limit: \"many\" is not of types \"null\", \"integer\""),
            "{}",
            e.message()
        );
        let e = block_on(extract("cursor=x1&since=yesterday")).unwrap_err();
        assert!(
            e.message().contains("cursor: \"x1\" does not match"),
            "{}",
            e.message()
        );
        assert!(
            e.message()
                .contains("since: \"yesterday\" is not a \"date-time\""),
            "{}",
            e.message()
        );
        let e = block_on(extract("other=1")).unwrap_err();
        assert!(
            e.message().contains("unknown field `other`"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn valid_queries_decode() {
        let f = block_on(extract(
            "limit=500&cursor=e12&since=2026-01-31T08:00:00Z&flag=true",
        ))
        .unwrap();
        assert_eq!(f.limit, Some(500));
        assert_eq!(f.flag, Some(true));
        let f = block_on(extract("")).unwrap();
        assert_eq!(f.limit, None);
    }

    /// Shape only: read straight into the type on the request path.
    #[derive(Debug, Deserialize, IntoParams)]
    #[allow(dead_code)]
    struct Search {
        q: Option<String>,
        offset: Option<i64>,
    }

    async fn search(query: &str) -> Result<Search, ApiError> {
        query_of(query).await
    }

    #[test]
    fn a_query_of_shape_only_is_read_straight_and_refused_by_name() {
        assert!(
            !crate::validate::per_type::<QueryOf<Search>, _>(Shape::of::<Search>)
                .compiled
                .constrained
        );
        let s = block_on(search("q=lamp&offset=-2")).unwrap();
        assert_eq!((s.q.as_deref(), s.offset), (Some("lamp"), Some(-2)));
        // What the type refuses is named as the schema check names it.
        let e = block_on(search("offset=two")).unwrap_err();
        assert!(
            e.message()
                .contains("offset: \"two\" is not of types \"null\", \"integer\""),
            "{}",
            e.message()
        );
    }
}
