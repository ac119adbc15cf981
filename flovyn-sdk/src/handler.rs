//! What a route handler may take: the [`HandlerArg`] trait and its implementations.
//!
//! `#[plugin_impl]` does not hand the author's handler to axum as it is written. It generates a
//! wrapper that axum sees as `(State, Request)` and reads each argument from the request
//! through [`HandlerArg`], in order. Each argument type therefore says, in one impl, both how
//! it is read and how it appears in the OpenAPI operation, and an argument the SDK does not
//! know is reported once, at the argument, with the list of what a handler may take — never as
//! a cascade of axum's own trait errors about a generated function (decision 0019).
//!
//! An argument reads either the request's head (method, URI, headers, extensions: it may be
//! anywhere in the list) or its body (only the last argument may): [`HandlerArg::Reads`].
//!
//! This module owns the per-type extraction and documentation of arguments; the wire-level
//! checks of a body or a query string belong to [`crate::Json`] and [`crate::Query`], and the
//! operation being built to [`crate::openapi`].

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
pub use axum::response::Response;

use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::openapi::{OperationDoc, PathParams, schema_of};
use crate::{ApiError, Identity};

/// The request a handler's arguments are read from, one argument after the other.
///
/// An argument that reads the head borrows it ([`ArgInput::head`]); the last argument may take
/// the whole request, body included ([`ArgInput::take_request`]).
#[derive(Debug)]
pub struct ArgInput {
    head: Parts,
    body: Option<Body>,
}

impl ArgInput {
    /// Splits `request` for its arguments to read.
    pub fn new(request: Request) -> Self {
        let (head, body) = request.into_parts();
        Self {
            head,
            body: Some(body),
        }
    }

    /// The request's head: method, URI, headers and extensions.
    pub fn head(&mut self) -> &mut Parts {
        &mut self.head
    }

    /// The whole request, body included, for the last argument. `None` once taken.
    pub fn take_request(&mut self) -> Option<Request> {
        let body = self.body.take()?;
        let head = std::mem::replace(&mut self.head, Request::new(()).into_parts().0);
        Some(Request::from_parts(head, body))
    }

    /// Reads an axum extractor from the head: how an argument type that is also an axum
    /// [`FromRequestParts`] implements [`HandlerArg::extract`].
    pub async fn from_head<T: FromRequestParts<()>>(&mut self) -> Result<T, Response> {
        T::from_request_parts(&mut self.head, &())
            .await
            .map_err(IntoResponse::into_response)
    }

    /// Reads an axum extractor from the whole request, body included: how a body-reading
    /// argument type that is also an axum [`FromRequest`] implements [`HandlerArg::extract`].
    pub async fn from_request<T: FromRequest<()>>(&mut self) -> Result<T, Response> {
        let request = self.take_request().ok_or_else(|| {
            ApiError::internal("the request body was read by an earlier argument").into_response()
        })?;
        T::from_request(request, &())
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// [`HandlerArg::Reads`] of an argument that reads the request's head: it may be anywhere.
#[derive(Debug)]
pub enum ReadsHead {}

/// [`HandlerArg::Reads`] of an argument that reads the request's body: it must be last.
#[derive(Debug)]
pub enum ReadsBody {}

/// A type a `#[route]` handler may take as an argument: how it is read from the request and
/// how it appears in the operation's OpenAPI.
///
/// Implemented for the SDK's extractors ([`crate::Json`], [`crate::Query`], [`Identity`],
/// [`crate::auth::Authz`]) and axum's that fit a plugin (`Path`, `Extension`, `MatchedPath`,
/// `HeaderMap`, `Method`, `Uri`, `String`, `Bytes`, `Request`). A custom extractor implements
/// it too:
///
/// ```
/// use flovyn_sdk::handler::{ArgInput, HandlerArg, ReadsHead, Response};
/// use flovyn_sdk::ApiError;
/// use axum::response::IntoResponse;
///
/// /// The tenant a request names in its `X-Tenant` header.
/// struct TenantHeader(String);
///
/// impl HandlerArg for TenantHeader {
///     type Reads = ReadsHead;
///
///     async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
///         let value = input.head().headers.get("x-tenant").and_then(|v| v.to_str().ok());
///         match value {
///             Some(v) => Ok(TenantHeader(v.to_owned())),
///             None => Err(ApiError::bad_request("no `X-Tenant` header").into_response()),
///         }
///     }
/// }
/// ```
///
/// A type that already implements axum's `FromRequestParts` reads itself with
/// `input.from_head().await` ([`ArgInput::from_head`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument",
    label = "not something a route handler can take",
    note = "a handler takes `&self` and any of: `Path<T>` (path parameters), `Query<T>` (the query string), `Identity` (the caller; `Option<Identity>` on a public route), `Authz`, `Extension<T>`, `MatchedPath`, `HeaderMap`, `Method`, `Uri`; and, as its last argument, one of `Json<T>` (a JSON body), `String` or `Bytes` (a raw body) or `Request`",
    note = "`Json` and `Query` are the prelude's (`flovyn_sdk::Json`, `flovyn_sdk::Query`): they enforce the schema they publish; `axum::Json`, `axum::extract::Query` and `axum::extract::State` are refused (a plugin's state is `&self`)",
    note = "an extractor of your own implements `flovyn_sdk::handler::HandlerArg`"
)]
pub trait HandlerArg: Sized + Send {
    /// What it reads: [`ReadsHead`] (any position) or [`ReadsBody`] (last only).
    type Reads;

    /// Reads the argument; a rejection is the response the caller gets.
    fn extract(input: &mut ArgInput) -> impl Future<Output = Result<Self, Response>> + Send;

    /// Adds this argument's parameters, body and error responses to `op` (nothing by default).
    fn document(op: &mut OperationDoc<'_>) {
        let _ = op;
    }

    /// The generated wrapper's check that this argument may stand at position `P`: only the
    /// last argument may read the body. Not meant to be overridden.
    #[doc(hidden)]
    fn __allowed_at<P>()
    where
        Self::Reads: AllowedAt<P>,
    {
    }
}

/// An argument's position in the handler: [`Last`] or [`NotLast`].
pub mod position {
    /// The handler's last argument: may read the body.
    #[derive(Debug)]
    pub enum Last {}
    /// Any argument but the last: reads the head only.
    #[derive(Debug)]
    pub enum NotLast {}
}

/// Whether an argument reading `Self` may stand at position `P`.
#[diagnostic::on_unimplemented(
    message = "an argument that reads the request body must be the handler's last",
    label = "reads the body, but is not the last argument",
    note = "`Json<T>`, `String`, `Bytes` and `Request` read the body: a handler takes at most one of them, last"
)]
pub trait AllowedAt<P> {}
impl AllowedAt<position::Last> for ReadsHead {}
impl AllowedAt<position::NotLast> for ReadsHead {}
impl AllowedAt<position::Last> for ReadsBody {}

macro_rules! from_head {
    ($($(#[$meta:meta])* [$($gen:tt)*] $ty:ty),* $(,)?) => {$(
        $(#[$meta])*
        impl<$($gen)*> HandlerArg for $ty {
            type Reads = ReadsHead;
            async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
                input.from_head().await
            }
        }
    )*};
}

from_head!(
    [] Identity,
    [] crate::auth::Authz,
    [T: Clone + Send + Sync + 'static] axum::Extension<T>,
    [T: Clone + Send + Sync + 'static] Option<axum::Extension<T>>,
    [] MatchedPath,
    [] Option<MatchedPath>,
    [] HeaderMap,
    [] Method,
    [] Uri,
);

/// The caller on a route that admits anonymous callers: `None` when no credentials were sent.
/// Credentials that could not be checked (an authenticator unavailable) are still a 503.
impl HandlerArg for Option<Identity> {
    type Reads = ReadsHead;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        Identity::of(input.head()).map_err(IntoResponse::into_response)
    }
}

impl<T: PathParams + DeserializeOwned + Send> HandlerArg for Path<T> {
    type Reads = ReadsHead;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        input.from_head().await
    }
    fn document(op: &mut OperationDoc<'_>) {
        T::document(op);
        op.error_response(
            400,
            "A path parameter does not decode (not UTF-8 once percent-decoded, or not of its type)",
        );
    }
}

impl<T: DeserializeOwned + IntoParams + Send + 'static> HandlerArg for crate::Query<T> {
    type Reads = ReadsHead;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        input.from_head().await
    }
    fn document(op: &mut OperationDoc<'_>) {
        op.parameters(T::into_params(|| Some(ParameterIn::Query)));
        op.error_response(
            400,
            "The query string does not match its parameters (every violated constraint is named)",
        );
    }
}

impl<T: DeserializeOwned + ToSchema + Send + 'static> HandlerArg for crate::Json<T> {
    type Reads = ReadsBody;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        input.from_request().await
    }
    fn document(op: &mut OperationDoc<'_>) {
        let schema = schema_of::<T>(op.context());
        op.request_body("application/json", schema);
        op.error_response(400, "The request body is not valid JSON");
        op.error_response(413, "The request body is too large");
        op.error_response(415, "The request body is not `application/json`");
        op.error_response(
            422,
            "The request body does not match its schema (every violated constraint is named)",
        );
    }
}

impl HandlerArg for String {
    type Reads = ReadsBody;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        input.from_request().await
    }
    fn document(op: &mut OperationDoc<'_>) {
        op.request_body("text/plain", String::schema());
    }
}

impl HandlerArg for Bytes {
    type Reads = ReadsBody;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        input.from_request().await
    }
}

impl HandlerArg for Request {
    type Reads = ReadsBody;
    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        input.from_request().await
    }
}
