//! OpenAPI derived from handler signatures.
//!
//! `#[plugin_impl]` turns every `#[route]` handler into an operation by asking each argument
//! type ([`crate::handler::HandlerArg`]) and the return type ([`DocumentResponse`]) to describe itself,
//! then [`plugin_document`] assembles the plugin's document: full served paths, operationIds
//! namespaced by plugin (`worker_token.create`), the plugin's tag, security requirements
//! and the standard error responses. No annotation is needed where a type can say it.
//!
//! Implement [`DocumentResponse`] for a custom response type (a custom extractor implements
//! [`crate::handler::HandlerArg`], which documents it too).

use std::collections::BTreeMap;

use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Paths,
    RefOr, Required, ResponseBuilder, Schema, tag::TagBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ErrorBody;
use flovyn_naming::route::Method;

/// Name of the bearer security scheme every protected operation requires.
pub const BEARER_SCHEME: &str = "bearer";

/// Shared state while one plugin's operations are documented: the schemas they reference.
#[derive(Debug, Default)]
pub struct DocContext {
    schemas: BTreeMap<String, RefOr<Schema>>,
}

impl DocContext {
    /// Adds `T` and every schema it references to the document's components.
    pub fn add_schemas<T: ToSchema>(&mut self) {
        let mut found = Vec::new();
        T::schemas(&mut found);
        for (name, schema) in found {
            self.schemas.entry(name).or_insert(schema);
        }
    }

    /// Adds `T` itself under its name, and what it references, to the components.
    pub fn add_named<T: ToSchema>(&mut self) {
        self.schemas
            .entry(T::name().into_owned())
            .or_insert_with(T::schema);
        self.add_schemas::<T>();
    }

    /// `schema` with every array item that is a named schema of the components written as a
    /// `$ref` to it: utoipa inlines `T` in a `Vec<T>`, which would give clients (and their
    /// generated code) a second, anonymous copy of the type.
    fn refer_to_components(&self, schema: RefOr<Schema>) -> RefOr<Schema> {
        let RefOr::T(Schema::Array(mut array)) = schema else {
            return schema;
        };
        let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = array.items else {
            return RefOr::T(Schema::Array(array));
        };
        let items = self.refer_to_components(*items);
        let named = match &items {
            RefOr::T(inline) => self.schemas.iter().find_map(|(name, known)| {
                matches!(known, RefOr::T(k) if k == inline).then_some(name.as_str())
            }),
            RefOr::Ref(_) => None,
        };
        let items = match named {
            Some(name) => RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name)),
            None => items,
        };
        array.items = utoipa::openapi::schema::ArrayItems::RefOrSchema(Box::new(items));
        RefOr::T(Schema::Array(array))
    }

    /// The schemas collected so far, by name.
    pub(crate) fn into_schemas(self) -> BTreeMap<String, RefOr<Schema>> {
        self.schemas
    }

    /// Starts documenting one operation whose path has these `{params}`, in order.
    pub fn operation(&mut self, path_params: &'static [&'static str]) -> OperationDoc<'_> {
        OperationDoc {
            ctx: self,
            path_params,
            next_path_param: 0,
            parameters: Vec::new(),
            request_body: None,
            responses: BTreeMap::new(),
            success_status: None,
        }
    }
}

/// One operation being documented; filled in by the handler's argument and return types.
#[derive(Debug)]
pub struct OperationDoc<'a> {
    ctx: &'a mut DocContext,
    path_params: &'static [&'static str],
    next_path_param: usize,
    parameters: Vec<Parameter>,
    request_body: Option<utoipa::openapi::request_body::RequestBody>,
    responses: BTreeMap<String, RefOr<utoipa::openapi::Response>>,
    success_status: Option<u16>,
}

impl OperationDoc<'_> {
    /// The schema context (to register referenced schemas).
    pub fn context(&mut self) -> &mut DocContext {
        self.ctx
    }

    /// Documents the next path parameter(s) of the route template with `schema`.
    pub fn path_param(&mut self, schema: RefOr<Schema>) {
        if let Some(name) = self.path_params.get(self.next_path_param) {
            self.parameters.push(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(schema))
                    .build(),
            );
        }
        self.next_path_param += 1;
    }

    /// Adds parameters (query, header…).
    pub fn parameters(&mut self, params: impl IntoIterator<Item = Parameter>) {
        self.parameters.extend(params);
    }

    /// Sets the request body: `schema` with `content_type`.
    pub fn request_body(&mut self, content_type: &str, schema: RefOr<Schema>) {
        self.request_body = Some(
            RequestBodyBuilder::new()
                .content(
                    content_type,
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .required(Some(Required::True))
                .build(),
        );
    }

    /// The success status declared with `#[route(…, status = 201)]`, if any.
    pub fn declared_status(&self) -> Option<u16> {
        self.success_status
    }

    /// Records `#[route(…, status = …)]` (done by the generated code before the response).
    pub fn set_declared_status(&mut self, status: u16) {
        self.success_status = Some(status);
    }

    /// Adds a response for `status` with an optional body.
    pub fn response(
        &mut self,
        status: u16,
        description: &str,
        body: Option<(&str, RefOr<Schema>)>,
    ) {
        let mut response = ResponseBuilder::new().description(description);
        if let Some((content_type, schema)) = body {
            response = response.content(
                content_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            );
        }
        self.responses
            .insert(status.to_string(), RefOr::T(response.build()));
    }

    /// Adds the JSON error response `status` with the [`ErrorBody`] schema.
    pub fn error_response(&mut self, status: u16, description: &str) {
        self.ctx.add_named::<ErrorBody>();
        self.responses.entry(status.to_string()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(error_body_ref())).build(),
                    )
                    .build(),
            )
        });
    }

    /// Adds the JSON error response `status` declared with `#[route(…, errors = [404])]`.
    pub fn declared_error(&mut self, status: u16) {
        let reason = axum::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        self.error_response(status, reason);
    }

    /// Finishes the operation (identity fields are set by [`plugin_document`]).
    pub fn finish(self, summary: Option<&str>, description: Option<&str>) -> Operation {
        let parameters = (!self.parameters.is_empty()).then_some(self.parameters);
        let mut builder = OperationBuilder::new()
            .summary(summary)
            .description(description)
            .parameters(parameters)
            .request_body(self.request_body);
        for (status, response) in self.responses {
            builder = builder.response(status, response);
        }
        builder.build()
    }
}

fn error_body_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorBody::name()))
}

/// Registers `T` (and what it references) and returns the schema to use for it: a `$ref`
/// to `components` for a plain named type (a struct or enum deriving `ToSchema`), the
/// schema inline otherwise (primitives, collections, and generic types, whose `ToSchema`
/// name does not include their parameters and so could clash).
pub fn schema_of<T: ToSchema>(ctx: &mut DocContext) -> RefOr<Schema> {
    ctx.add_schemas::<T>();
    if is_named::<T>() {
        ctx.add_named::<T>();
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
    } else {
        ctx.refer_to_components(T::schema())
    }
}

/// Well-known leaf types that utoipa names but that read better inline.
const INLINE: &[&str] = &[
    "String",
    "Value",
    "Uuid",
    "Url",
    "Decimal",
    "Date",
    "Time",
    "NaiveDate",
    "NaiveTime",
    "NaiveDateTime",
    "OffsetDateTime",
    "PrimitiveDateTime",
    "Duration",
    "Ulid",
    "TupleUnit",
];

fn is_named<T: ToSchema>() -> bool {
    let full = std::any::type_name::<T>();
    if full.contains(['<', '[', '(', '&']) {
        return false;
    }
    let name = T::name();
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !INLINE.contains(&name.as_ref())
}

/// A handler return type that describes its responses.
#[diagnostic::on_unimplemented(
    message = "handler return type `{Self}` does not describe its responses in OpenAPI",
    note = "return `Json<T>`, `Created<T>`, `NoContent`, `Result<_, ApiError>`…, or implement `flovyn_sdk::openapi::DocumentResponse` for it"
)]
pub trait DocumentResponse {
    /// Adds this type's responses to `op`.
    fn document(op: &mut OperationDoc<'_>);
}

/// A value that can be a path parameter (`Path<T>` with `T` a scalar or a tuple of them).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be documented as path parameters",
    note = "use a scalar (`String`, integers, `bool`) or a tuple of them in `Path<…>`"
)]
pub trait PathParams {
    /// Documents one parameter per path segment this value takes.
    fn document(op: &mut OperationDoc<'_>);
}

macro_rules! scalar_path_params {
    ($($t:ty),*) => {$(
        impl PathParams for $t {
            fn document(op: &mut OperationDoc<'_>) {
                op.path_param(<$t as PartialSchema>::schema());
            }
        }
    )*};
}
scalar_path_params!(
    String, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, bool, char
);

macro_rules! tuple_path_params {
    ($($t:ident),+) => {
        impl<$($t: PathParams),+> PathParams for ($($t,)+) {
            fn document(op: &mut OperationDoc<'_>) {
                $( <$t as PathParams>::document(op); )+
            }
        }
    };
}
tuple_path_params!(A);
tuple_path_params!(A, B);
tuple_path_params!(A, B, C);
tuple_path_params!(A, B, C, D);
tuple_path_params!(A, B, C, D, E);
tuple_path_params!(A, B, C, D, E, F);

// ---- responses ----

/// `201 Created` with a JSON body.
///
/// ```
/// # use flovyn_sdk::prelude::*;
/// async fn create() -> Created<String> { Created(Json("made".to_owned())) }
/// ```
#[derive(Debug, Clone)]
pub struct Created<T>(pub crate::Json<T>);

impl<T: serde::Serialize> axum::response::IntoResponse for Created<T> {
    fn into_response(self) -> axum::response::Response {
        (axum::http::StatusCode::CREATED, self.0).into_response()
    }
}

/// `204 No Content`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContent;

impl axum::response::IntoResponse for NoContent {
    fn into_response(self) -> axum::response::Response {
        axum::http::StatusCode::NO_CONTENT.into_response()
    }
}

fn success(op: &OperationDoc<'_>, default: u16) -> u16 {
    op.declared_status().unwrap_or(default)
}

impl<T: ToSchema> DocumentResponse for crate::Json<T> {
    fn document(op: &mut OperationDoc<'_>) {
        <axum::Json<T> as DocumentResponse>::document(op);
    }
}

impl<T: ToSchema> DocumentResponse for axum::Json<T> {
    fn document(op: &mut OperationDoc<'_>) {
        let schema = schema_of::<T>(op.context());
        let status = success(op, 200);
        op.response(status, "Success", Some(("application/json", schema)));
    }
}

impl<T: ToSchema> DocumentResponse for Created<T> {
    fn document(op: &mut OperationDoc<'_>) {
        let schema = schema_of::<T>(op.context());
        op.response(201, "Created", Some(("application/json", schema)));
    }
}

impl DocumentResponse for NoContent {
    fn document(op: &mut OperationDoc<'_>) {
        op.response(204, "No content", None);
    }
}

impl DocumentResponse for () {
    fn document(op: &mut OperationDoc<'_>) {
        let status = success(op, 200);
        op.response(status, "Success", None);
    }
}

impl DocumentResponse for axum::http::StatusCode {
    fn document(op: &mut OperationDoc<'_>) {
        let status = success(op, 200);
        op.response(status, "Success", None);
    }
}

impl DocumentResponse for String {
    fn document(op: &mut OperationDoc<'_>) {
        let status = success(op, 200);
        op.response(status, "Success", Some(("text/plain", String::schema())));
    }
}

impl DocumentResponse for &'static str {
    fn document(op: &mut OperationDoc<'_>) {
        <String as DocumentResponse>::document(op);
    }
}

impl<T> DocumentResponse for axum::response::Html<T> {
    fn document(op: &mut OperationDoc<'_>) {
        let status = success(op, 200);
        op.response(status, "Success", Some(("text/html", String::schema())));
    }
}

impl DocumentResponse for axum::response::Response {
    fn document(op: &mut OperationDoc<'_>) {
        let status = success(op, 200);
        op.response(status, "Success", None);
    }
}

/// `(StatusCode, body)`: the status is only known at run time, so it comes from
/// `#[route(…, status = …)]` (200 when absent).
impl<T: DocumentResponse> DocumentResponse for (axum::http::StatusCode, T) {
    fn document(op: &mut OperationDoc<'_>) {
        T::document(op);
    }
}

impl<T: DocumentResponse, E: DocumentError> DocumentResponse for Result<T, E> {
    fn document(op: &mut OperationDoc<'_>) {
        T::document(op);
        E::document(op);
    }
}

/// An error type a handler returns in `Result<_, E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a documented error type",
    note = "return `Result<_, flovyn_sdk::ApiError>`, or implement `flovyn_sdk::openapi::DocumentError` for your error"
)]
pub trait DocumentError {
    /// Adds this error's responses to `op`.
    fn document(op: &mut OperationDoc<'_>);
}

impl DocumentError for crate::ApiError {
    fn document(op: &mut OperationDoc<'_>) {
        op.error_response(500, "Internal error");
    }
}

// ---- the plugin's document ----

fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Patch => HttpMethod::Patch,
        Method::Delete => HttpMethod::Delete,
        Method::Head => HttpMethod::Head,
        Method::Options => HttpMethod::Options,
    }
}

/// The operationId of a plugin route: `<plugin_underscored>.<handler>`.
pub fn operation_id(plugin: &str, handler: &str) -> String {
    format!("{}.{}", flovyn_naming::plugin::underscored(plugin), handler)
}

/// The OpenAPI extension naming the permission an operation requires
/// (`"x-flovyn-permission": "worker_token:create"`).
pub const PERMISSION_EXTENSION: &str = "x-flovyn-permission";

/// The full OpenAPI document of one plugin (see the module docs), from its descriptor alone.
/// The security scheme [`BEARER_SCHEME`] names: every protected operation, the server's own
/// included, accepts it. Host API.
pub fn bearer_scheme() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "`Authorization: Bearer <token>`: the admin token, or a credential a plugin authenticator accepts",
            ))
            .build(),
    )
}

pub fn plugin_document(plugin: &flovyn_descriptor::PluginDescriptor) -> OpenApi {
    use flovyn_descriptor::Access;
    let mut ctx = DocContext {
        schemas: plugin.schemas.clone(),
    };
    let mut paths = Paths::new();
    let mut any_protected = false;
    for route in &plugin.routes {
        let mut operation = route.operation.clone();
        operation.operation_id = Some(plugin.operation_id(route));
        operation.tags = Some(vec![plugin.name.clone()]);
        match &route.access {
            Access::Public => operation.security = Some(Vec::new()),
            Access::Authenticated | Access::Permission(_) => {
                any_protected = true;
                operation.security = Some(vec![SecurityRequirement::new(
                    BEARER_SCHEME,
                    Vec::<String>::new(),
                )]);
                let mut doc = ctx.operation(&[]);
                doc.error_response(401, "Missing or invalid credentials");
                if let Access::Permission(p) = &route.access {
                    doc.error_response(403, &format!("The caller lacks the `{p}` permission"));
                    // Machine-readable too, for clients and tooling that check access.
                    let permission = utoipa::openapi::extensions::ExtensionsBuilder::new()
                        .add(PERMISSION_EXTENSION, p.as_str())
                        .build();
                    match &mut operation.extensions {
                        Some(extensions) => extensions.merge(permission),
                        None => operation.extensions = Some(permission),
                    }
                }
                for (status, response) in doc.responses {
                    operation
                        .responses
                        .responses
                        .entry(status)
                        .or_insert(response);
                }
            }
        }
        let full = plugin.served_path(&route.path);
        let item = PathItem::new(http_method(route.method), operation);
        match paths.paths.get_mut(&full) {
            Some(existing) => existing.merge_operations(item),
            None => {
                paths.paths.insert(full, item);
            }
        }
    }
    let mut components = ComponentsBuilder::new().schemas_from_iter(ctx.schemas);
    if any_protected {
        components = components.security_scheme(BEARER_SCHEME, bearer_scheme());
    }
    let description = (!plugin.description.is_empty()).then_some(plugin.description.as_str());
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(format!("{} plugin", plugin.name))
                .version(&plugin.version)
                .description(description)
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some([TagBuilder::new()
            .name(&plugin.name)
            .description(description)
            .build()]))
        .build()
}
