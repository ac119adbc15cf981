//! The server's OpenAPI surface: the merged document and the routes that serve it.
//!
//! This module owns
//! - [`merged`]: every plugin's document (already carrying full paths, namespaced
//!   operationIds and its tag, see `flovyn_sdk::openapi`) merged under the server's info —
//!   the one source of truth for `flovyn-server openapi`, `GET /api-docs/openapi.json` and
//!   the docs UI;
//! - [`routes`]: `GET /api-docs/openapi.json` and the interactive docs at `/docs`
//!   (Swagger UI, vendored into the binary: the page loads nothing from outside the server
//!   and its online validator badge is switched off, so it works with no internet access).
//!
//! Schema names live in one `components.schemas` namespace. Plugins that share a schema
//! with identical content (the SDK's `ErrorBody`, say) share one entry; when two plugins
//! define the same name with different content, each of them gets its own entry named
//! `<plugin_underscored>.<Name>`, and the references inside that plugin's operations are
//! rewritten to match. Nothing is silently dropped.

mod core;

use std::collections::{BTreeMap, BTreeSet};

use flovyn_sdk::PluginDescriptor;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the merged document is served.
pub const SPEC_PATH: &str = "/api-docs/openapi.json";

/// Where the interactive docs are served (`/docs` redirects to `/docs/`).
pub const DOCS_PATH: &str = "/docs";

const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// The server's document with every plugin in `plugins` merged in, in the order given
/// (the registry's order: by name). Tags are sorted by name.
pub fn merged<'a>(plugins: impl IntoIterator<Item = &'a PluginDescriptor>) -> OpenApi {
    let plugins: Vec<&PluginDescriptor> = plugins.into_iter().collect();
    let mut doc = merge_documents(
        std::iter::once((flovyn_naming::event::CORE, core::document())).chain(
            plugins
                .iter()
                .map(|p| (p.name.as_str(), flovyn_sdk::openapi::plugin_document(p))),
        ),
    );
    add_authenticator_schemes(&mut doc, &plugins);
    doc
}

/// Every plugin authenticator's security scheme joins `components`, and every protected
/// operation accepts it as an alternative to the core bearer token: the stack tries them
/// all, so any of them authenticates. Public operations keep `security: []`.
fn add_authenticator_schemes(doc: &mut OpenApi, plugins: &[&PluginDescriptor]) {
    let schemes: Vec<_> = plugins
        .iter()
        .filter_map(|p| p.authenticator.as_ref())
        .collect();
    if schemes.is_empty() {
        return;
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for scheme in &schemes {
        components
            .security_schemes
            .insert(scheme.name.clone(), scheme.scheme.clone().into());
    }
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let Some(security) = &mut operation.security else {
                continue;
            };
            if security.is_empty() {
                continue;
            }
            for scheme in &schemes {
                security.push(utoipa::openapi::security::SecurityRequirement::new(
                    &scheme.name,
                    Vec::<String>::new(),
                ));
            }
        }
    }
}

/// The routes serving `spec`: the JSON document at [`SPEC_PATH`] and Swagger UI at
/// [`DOCS_PATH`], pointed at it. Merge them into the application router; they need no
/// state and no credentials.
pub fn routes<S>(spec: OpenApi) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let config = Config::new([SPEC_PATH])
        // The default sends the spec's URL to validator.swagger.io and shows its badge.
        .validator_url("none")
        .display_operation_id(true)
        .deep_linking(true);
    SwaggerUi::new(DOCS_PATH)
        .url(SPEC_PATH, spec)
        .config(config)
        .into()
}

/// Merges plugin documents, given as `(plugin name, document)`, under the server's info.
fn merge_documents<'a>(plugins: impl IntoIterator<Item = (&'a str, OpenApi)>) -> OpenApi {
    let mut docs: Vec<(&'a str, OpenApi)> = plugins.into_iter().collect();

    let clashing = clashing_schemas(&docs);
    if !clashing.is_empty() {
        for (plugin, doc) in &mut docs {
            namespace_schemas(plugin, doc, &clashing);
        }
    }

    let mut merged = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Flovyn")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("The Flovyn server and its plugins."))
                .license(Some(
                    utoipa::openapi::LicenseBuilder::new()
                        .name("MIT")
                        .identifier(Some("MIT"))
                        .build(),
                ))
                .build(),
        )
        // Relative: the document describes the server that serves it, wherever it listens.
        .servers(Some([utoipa::openapi::Server::new("/")]))
        .build();
    for (_, doc) in docs {
        merged.merge(doc);
    }
    if let Some(tags) = &mut merged.tags {
        tags.sort_by(|a, b| a.name.cmp(&b.name));
    }
    merged
}

/// The schema names that mean different things in different plugins: defined by more than
/// one plugin with different content, or with the same text referring to such a name
/// (whose target differs per plugin).
fn clashing_schemas(docs: &[(&str, OpenApi)]) -> BTreeSet<String> {
    let mut definitions: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, doc) in docs {
        for (name, schema) in doc.components.iter().flat_map(|c| &c.schemas) {
            definitions
                .entry(name)
                .or_default()
                .push(serde_json::to_string(schema).unwrap_or_default());
        }
    }
    definitions.retain(|_, texts| texts.len() > 1);
    let mut clashing: BTreeSet<String> = definitions
        .iter()
        .filter(|(_, texts)| texts.iter().any(|t| *t != texts[0]))
        .map(|(name, _)| (*name).to_owned())
        .collect();
    loop {
        let refers_to_clashing = |text: &String| {
            clashing
                .iter()
                .any(|c| text.contains(&format!("\"{SCHEMA_REF_PREFIX}{c}\"")))
        };
        let more: Vec<String> = definitions
            .iter()
            .filter(|(name, texts)| {
                !clashing.contains(**name) && texts.iter().any(refers_to_clashing)
            })
            .map(|(name, _)| (*name).to_owned())
            .collect();
        if more.is_empty() {
            return clashing;
        }
        clashing.extend(more);
    }
}

/// Renames the schemas of `doc` listed in `names` to `<plugin_underscored>.<Name>` and
/// rewrites every reference to them.
fn namespace_schemas(plugin: &str, doc: &mut OpenApi, names: &BTreeSet<String>) {
    let prefix = flovyn_naming::plugin::underscored(plugin);
    let rename = |location: &mut String| {
        if let Some(name) = location.strip_prefix(SCHEMA_REF_PREFIX)
            && names.contains(name)
        {
            *location = format!("{SCHEMA_REF_PREFIX}{prefix}.{name}");
        }
    };
    refs::in_document(doc, &rename);
    if let Some(components) = &mut doc.components {
        let schemas = std::mem::take(&mut components.schemas);
        components.schemas = schemas
            .into_iter()
            .map(|(name, schema)| match names.contains(&name) {
                true => (format!("{prefix}.{name}"), schema),
                false => (name, schema),
            })
            .collect();
    }
}

/// Every operation of a path, whatever its method.
fn operations(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
        &mut item.query,
    ]
    .into_iter()
    .flatten()
}

/// Visits every schema reference (`$ref` location) a document can hold where the SDK (or a
/// hand-written plugin document) puts schemas: parameters, request and response bodies,
/// headers, components, and schemas nested in schemas.
mod refs {
    use utoipa::openapi::path::{Operation, Parameter};
    use utoipa::openapi::request_body::RequestBody;
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Discriminator};
    use utoipa::openapi::{Content, Header, OpenApi, RefOr, Response, Schema};

    type Visit<'a> = &'a dyn Fn(&mut String);

    pub(super) fn in_document(doc: &mut OpenApi, f: Visit<'_>) {
        for item in doc.paths.paths.values_mut() {
            parameters(item.parameters.as_mut(), f);
            for op in super::operations(item) {
                operation(op, f);
            }
        }
        if let Some(c) = &mut doc.components {
            c.schemas.values_mut().for_each(|s| ref_or_schema(s, f));
            c.responses.values_mut().for_each(|r| response(r, f));
            c.parameters.values_mut().for_each(|p| parameter(p, f));
            c.request_bodies
                .values_mut()
                .for_each(|b| request_body(b, f));
            c.headers.values_mut().for_each(|h| header(h, f));
        }
    }

    fn operation(op: &mut Operation, f: Visit<'_>) {
        parameters(op.parameters.as_mut(), f);
        if let Some(body) = &mut op.request_body {
            request_body(body, f);
        }
        op.responses
            .responses
            .values_mut()
            .for_each(|r| response(r, f));
    }

    fn parameters(list: Option<&mut Vec<RefOr<Parameter>>>, f: Visit<'_>) {
        list.into_iter().flatten().for_each(|p| parameter(p, f));
    }

    fn parameter(p: &mut RefOr<Parameter>, f: Visit<'_>) {
        if let RefOr::T(p) = p
            && let Some(s) = &mut p.schema
        {
            ref_or_schema(s, f);
        }
    }

    fn request_body(body: &mut RefOr<RequestBody>, f: Visit<'_>) {
        if let RefOr::T(body) = body {
            body.content.values_mut().for_each(|c| content(c, f));
        }
    }

    fn response(r: &mut RefOr<Response>, f: Visit<'_>) {
        if let RefOr::T(r) = r {
            r.content.values_mut().for_each(|c| content(c, f));
            r.headers.values_mut().for_each(|h| header(h, f));
        }
    }

    fn header(h: &mut RefOr<Header>, f: Visit<'_>) {
        if let RefOr::T(h) = h
            && let Some(s) = &mut h.schema
        {
            ref_or_schema(s, f);
        }
    }

    fn content(c: &mut RefOr<Content>, f: Visit<'_>) {
        if let RefOr::T(c) = c {
            c.schema.iter_mut().for_each(|s| ref_or_schema(s, f));
            c.item_schema.iter_mut().for_each(|s| ref_or_schema(s, f));
        }
    }

    fn ref_or_schema(s: &mut RefOr<Schema>, f: Visit<'_>) {
        match s {
            RefOr::Ref(r) => f(&mut r.ref_location),
            RefOr::T(s) => schema(s, f),
        }
    }

    fn discriminator(d: Option<&mut Discriminator>, f: Visit<'_>) {
        d.into_iter()
            .flat_map(|d| d.mapping.values_mut())
            .for_each(f);
    }

    fn schema(s: &mut Schema, f: Visit<'_>) {
        match s {
            Schema::Object(o) => {
                o.properties.values_mut().for_each(|p| ref_or_schema(p, f));
                if let Some(extra) = &mut o.additional_properties
                    && let AdditionalProperties::RefOr(extra) = extra.as_mut()
                {
                    ref_or_schema(extra, f);
                }
                if let Some(names) = &mut o.property_names {
                    schema(names, f);
                }
                if let Some(c) = &mut o.content_schema {
                    ref_or_schema(c, f);
                }
            }
            Schema::Array(a) => {
                if let ArrayItems::RefOrSchema(items) = &mut a.items {
                    ref_or_schema(items, f);
                }
                a.prefix_items.iter_mut().for_each(|p| schema(p, f));
                if let Some(c) = &mut a.content_schema {
                    ref_or_schema(c, f);
                }
            }
            Schema::OneOf(o) => {
                o.items.iter_mut().for_each(|i| ref_or_schema(i, f));
                discriminator(o.discriminator.as_mut(), f);
            }
            Schema::AllOf(o) => {
                o.items.iter_mut().for_each(|i| ref_or_schema(i, f));
                discriminator(o.discriminator.as_mut(), f);
            }
            Schema::AnyOf(o) => {
                o.items.iter_mut().for_each(|i| ref_or_schema(i, f));
                discriminator(o.discriminator.as_mut(), f);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode, header};
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;

    fn doc(value: Value) -> OpenApi {
        serde_json::from_value(value).unwrap()
    }

    /// A plugin document referring to its `Thing` schema from every kind of place.
    fn plugin_doc(plugin: &str, schema: Value) -> OpenApi {
        let thing = json!({"$ref": "#/components/schemas/Thing"});
        doc(json!({
            "openapi": "3.1.0",
            "info": {"title": plugin, "version": "1.0.0"},
            "paths": {
                format!("/api/v1/p/{plugin}/thing"): {"post": {
                    "operationId": format!("{plugin}.thing"),
                    "tags": [plugin],
                    "parameters": [{"name": "q", "in": "query", "required": false, "schema": thing}],
                    "requestBody": {"content": {"application/json": {
                        "schema": {"type": "array", "items": thing}
                    }}},
                    "responses": {"200": {
                        "description": "ok",
                        "headers": {"x-thing": {"schema": thing}},
                        "content": {"application/json": {
                            "schema": {"type": "object", "properties": {
                                "thing": thing,
                                "error": {"$ref": "#/components/schemas/ErrorBody"},
                            }}
                        }}
                    }}
                }}
            },
            "components": {"schemas": {
                "Thing": schema,
                "Either": {
                    "oneOf": [thing, {"type": "null"}],
                    "discriminator": {"propertyName": "kind", "mapping": {"thing": "#/components/schemas/Thing"}},
                },
                "ErrorBody": {"type": "object"},
            }},
            "tags": [{"name": plugin}],
        }))
    }

    fn json_of(doc: &OpenApi) -> Value {
        serde_json::to_value(doc).unwrap()
    }

    #[test]
    fn identical_schemas_are_shared_and_keep_their_names() {
        let merged = json_of(&merge_documents([
            (
                "b-plugin",
                plugin_doc("b-plugin", json!({"type": "string"})),
            ),
            (
                "a-plugin",
                plugin_doc("a-plugin", json!({"type": "string"})),
            ),
        ]));
        let schemas = merged["components"]["schemas"].as_object().unwrap();
        assert_eq!(
            schemas.keys().collect::<Vec<_>>(),
            ["Either", "ErrorBody", "Thing"],
            "{merged:#}"
        );
        assert_eq!(merged["info"]["title"], "Flovyn");
        assert_eq!(
            merged["tags"],
            json!([{"name": "a-plugin"}, {"name": "b-plugin"}])
        );
        assert_eq!(merged["paths"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn clashing_schemas_are_namespaced_per_plugin_with_their_references() {
        let merged = json_of(&merge_documents([
            (
                "a-plugin",
                plugin_doc("a-plugin", json!({"type": "string"})),
            ),
            (
                "b-plugin",
                plugin_doc("b-plugin", json!({"type": "integer"})),
            ),
        ]));
        let schemas = &merged["components"]["schemas"];
        assert_eq!(
            schemas.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "ErrorBody",
                "a_plugin.Either",
                "a_plugin.Thing",
                "b_plugin.Either",
                "b_plugin.Thing"
            ],
            "{merged:#}"
        );
        let text = merged.to_string();
        assert!(
            !text.contains("\"#/components/schemas/Thing\""),
            "{merged:#}"
        );
        // Six references per plugin: parameter, request items, header, property, oneOf,
        // discriminator mapping.
        for underscored in ["a_plugin", "b_plugin"] {
            let location = format!("\"#/components/schemas/{underscored}.Thing\"");
            assert_eq!(
                text.matches(&location).count(),
                6,
                "{location} in {merged:#}"
            );
        }
        assert_eq!(schemas["a_plugin.Thing"]["type"], "string");
        assert_eq!(schemas["b_plugin.Thing"]["type"], "integer");
        for (plugin, underscored) in [("a-plugin", "a_plugin"), ("b-plugin", "b_plugin")] {
            let props = &merged["paths"][format!("/api/v1/p/{plugin}/thing")]["post"]["responses"]
                ["200"]["content"]["application/json"]["schema"]["properties"];
            assert_eq!(
                props["thing"]["$ref"],
                format!("#/components/schemas/{underscored}.Thing")
            );
            assert_eq!(props["error"]["$ref"], "#/components/schemas/ErrorBody");
        }
    }

    #[test]
    fn no_plugins_is_still_a_document() {
        let merged = json_of(&merge_documents([]));
        assert_eq!(merged["openapi"], "3.1.0");
        assert_eq!(merged["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    async fn get(router: &axum::Router, uri: &str) -> (StatusCode, http::HeaderMap, String) {
        let response = router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn routes_serve_the_document_and_an_offline_ui() {
        let spec = merge_documents([(
            "a-plugin",
            plugin_doc("a-plugin", json!({"type": "string"})),
        )]);
        let router: axum::Router = routes(spec.clone());

        let (status, _, body) = get(&router, SPEC_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json_of(&spec)
        );

        let (status, headers, _) = get(&router, "/docs").await;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(headers[header::LOCATION], "/docs/");

        let (status, headers, html) = get(&router, "/docs/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(html.contains("swagger-ui-bundle.js"), "{html}");

        let (status, _, init) = get(&router, "/docs/swagger-initializer.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            init.contains(&format!("\"url\": \"{SPEC_PATH}\"")),
            "{init}"
        );
        assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");

        for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
            let (status, _, _) = get(&router, &format!("/docs/{asset}")).await;
            assert_eq!(status, StatusCode::OK, "{asset}");
        }
    }
}
