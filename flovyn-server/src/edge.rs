//! The request path: what every request passes through around the router, as one tower
//! service ([`EdgeService`]) that `router::build_router` puts in front of the whole axum
//! `Router`. For each request, in order:
//!
//! 1. request id: `x-request-id` kept when the client sent one, generated otherwise, and
//!    echoed on the response;
//! 2. a tracing span `request` (method, path, plugin, request id) at `debug` level, target
//!    `flovyn_server::request`; failed requests (5xx) are logged at `error` with the same
//!    fields whatever the level;
//! 3. body-size limit: 413 at once when the declared length is over the limit, and a body
//!    that grows past it fails to read (the extractors answer 413);
//! 4. request timeout (408), covering authentication and the handler;
//! 5. panic catching: a panicking handler gives a 500, and the server keeps serving;
//! 6. authentication ([`Gate::identify`]) and, on a plugin route, the route's access check
//!    ([`Gate::enforce`]: 401 / 403);
//! 7. the router (axum's: routing, 404, 405, extractors, the handler), then JSON errors: any 4xx/5xx that is not JSON yet (axum's 405 and
//!    extractor rejections, panics) becomes `{"error":{"code":…,"message":…}}`; a 5xx never
//!    carries internals, only the request id;
//! 8. metrics: per plugin, count by method and status, and latency.
//!
//! gRPC calls (`content-type: application/grpc…`) take a shorter path to the plugins'
//! gRPC services: request id, authentication (required), panic catching and metrics
//! (`Edge::handle_grpc`).
//!
//! Why one hand-written service in front of the router rather than one `Router::layer` call
//! per concern (axum wraps every route in one more boxed service per call):
//! `docs/decisions/0008-one-layer-per-request.md`.
//! The concerns themselves live in their modules (`access`, `metrics`); this module only
//! puts them in order.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody as _};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flovyn_sdk::{ApiError, BoxFuture};
use futures_util::FutureExt as _;
use tokio::time::{Instant as TokioInstant, Sleep};
use tower::{Layer, Service, ServiceExt as _};
use tracing::Instrument as _;

use crate::access::Gate;
use crate::metrics::Metrics;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the request path needs, built once per server.
#[derive(Debug)]
pub struct Edge {
    gate: Gate,
    metrics: Metrics,
    timeout: Duration,
    body_limit: usize,
}

impl Edge {
    /// The request path of a server: `gate` checks access, `metrics` counts, requests time
    /// out after `timeout` and bodies may not exceed `body_limit` bytes.
    pub fn new(gate: Gate, metrics: Metrics, timeout: Duration, body_limit: usize) -> Self {
        Self {
            gate,
            metrics,
            timeout,
            body_limit,
        }
    }

    /// `request` through everything above, `route` answering it.
    async fn handle<S>(&self, mut request: Request, route: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let started = Instant::now();
        let request_id = request_id(&mut request);
        let method = request.method().clone();
        // For the log line of a failed request (sharing the request's bytes, no copy).
        let uri = request.uri().clone();
        let series = self.metrics.series(uri.path());
        let plugin = series.plugin();
        let span = tracing::debug_span!(
            target: "flovyn_server::request",
            "request",
            method = %method,
            path = uri.path(),
            plugin,
            request_id = request_id.to_str().unwrap_or(""),
        );
        let deadline = tokio::time::Instant::from_std(started) + self.timeout;
        let response = async {
            let response = match self.limit_body(&mut request) {
                Some(refused) => refused,
                None => self.answer(request, route, deadline).await,
            };
            json_errors(response, &request_id).await
        };
        // Entering a disabled span on every poll costs a little for nothing.
        let mut response = if span.is_disabled() {
            response.await
        } else {
            response.instrument(span).await
        };
        let status = response.status();
        if status.is_server_error() {
            tracing::error!(
                method = %method,
                path = uri.path(),
                plugin,
                request_id = request_id.to_str().unwrap_or(""),
                status = status.as_u16(),
                "request failed",
            );
        }
        self.finish(
            &mut response,
            request_id,
            &series,
            &method,
            status.as_u16(),
            started,
        );
        response
    }

    /// A gRPC call: request id, authentication (every gRPC method needs a caller), the
    /// plugin's service under the panic catcher, metrics. No body limit or request timeout:
    /// gRPC has its own message limits and deadlines, and streams may be long. Refusals and
    /// failures are gRPC statuses, which is what a gRPC client reads.
    async fn handle_grpc(&self, mut request: Request, grpc: axum::Router) -> Response {
        let started = Instant::now();
        let request_id = request_id(&mut request);
        let method = request.method().clone();
        let plugin = crate::grpc::plugin_of(request.uri().path());
        let series = self
            .metrics
            .series_of_plugin(plugin.as_deref().unwrap_or("unknown"));
        let path = request.uri().path().to_owned();
        let work = async {
            self.gate.identify(&mut request).await;
            if let Some(refused) = self
                .gate
                .enforce_grpc(request.uri().path(), request.extensions())
                .await
            {
                return crate::grpc::status(refused);
            }
            match grpc.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
        let mut response = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(response) => response,
            Err(_panic) => {
                let id = request_id.to_str().unwrap_or("");
                tracing::error!(path, request_id = id, "gRPC call panicked");
                crate::grpc::status(tonic::Status::internal(format!(
                    "internal error (request id {id})"
                )))
            }
        };
        let counted = crate::grpc::metrics_status(&response);
        self.finish(
            &mut response,
            request_id,
            &series,
            &method,
            counted,
            started,
        );
        response
    }

    /// What every response gets last: the request id echoed, and the request counted.
    fn finish(
        &self,
        response: &mut Response,
        request_id: HeaderValue,
        series: &crate::metrics::Series<'_>,
        method: &axum::http::Method,
        status: u16,
        started: Instant,
    ) {
        response
            .headers_mut()
            .entry(REQUEST_ID)
            .or_insert(request_id);
        self.metrics.record(
            series,
            method.as_str(),
            status,
            started.elapsed().as_secs_f64(),
        );
    }

    /// Steps 4–6: access, then the route, under the timeout and the panic catcher.
    async fn answer<S>(&self, mut request: Request, route: S, deadline: TokioInstant) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let work = async {
            self.gate.identify(&mut request).await;
            if let Some(refused) = self
                .gate
                .enforce(request.method(), request.uri().path(), request.extensions())
                .await
            {
                return refused;
            }
            let response = if request.body().is_end_stream() {
                route.oneshot(request).await
            } else {
                // The extractors' own limit (axum's default is 2 MiB), set to the server's.
                // A request without a body has nothing to limit and skips it.
                let route = DefaultBodyLimit::max(self.body_limit).layer(route);
                route.oneshot(request).await
            };
            match response {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
        match until(deadline, AssertUnwindSafe(work).catch_unwind()).await {
            Some(Ok(response)) => response,
            // The payload is never sent: it may hold internals (the panic hook has printed
            // it for the operator). `json_errors` turns this into the body with the id.
            Some(Err(_panic)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            None => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request took longer than {} s",
                    self.timeout.as_secs_f64()
                ),
            )
            .into_response(),
        }
    }

    /// The 413 of a body declared larger than the limit; otherwise caps the body, unless
    /// it is known to be empty (most GETs), which costs nothing.
    fn limit_body(&self, request: &mut Request) -> Option<Response> {
        let body = request.body();
        if body.is_end_stream() {
            return None;
        }
        if body.size_hint().lower() > self.body_limit as u64 {
            return Some(too_large(self.body_limit));
        }
        let limit = self.body_limit;
        let body = std::mem::replace(request.body_mut(), Body::empty());
        *request.body_mut() = Body::new(http_body_util::Limited::new(body, limit));
        None
    }
}

/// `future`'s output, or `None` once `deadline` has passed. Unlike `tokio::time::timeout`,
/// the timer is armed only when the future does not finish on its first poll: a request
/// answered without waiting (most are) never touches the timer wheel.
async fn until<F: Future>(deadline: TokioInstant, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

fn too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .into_response()
}

/// The request's id: the client's `x-request-id` when it sent a usable one, a new UUID
/// otherwise (set on the request, so handlers and `json_errors` see it).
fn request_id(request: &mut Request) -> HeaderValue {
    if let Some(id) = request.headers().get(REQUEST_ID)
        && !id.is_empty()
    {
        return id.clone();
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    let id = HeaderValue::from_str(id).expect("a UUID is a valid header value");
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// Error responses that are not JSON yet become the standard error body.
async fn json_errors(response: Response, request_id: &HeaderValue) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = if status.is_server_error() {
        let id = request_id.to_str().unwrap_or("none");
        format!("internal error (request id {id})")
    } else {
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_lowercase()
        } else {
            text
        }
    };
    let error = ApiError::new(status, code(status), message);
    let body = serde_json::to_vec(&error.body()).unwrap_or_default();
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The machine-readable code for a status: `method_not_allowed`, `payload_too_large`…
fn code(status: StatusCode) -> String {
    if status.is_server_error() {
        return "internal".to_owned();
    }
    status
        .canonical_reason()
        .map(|r| r.to_lowercase().replace([' ', '-'], "_").replace('\'', ""))
        .unwrap_or_else(|| format!("http_{}", status.as_u16()))
}

/// A service (the server's router) behind [`Edge`], and the gRPC router beside it.
#[derive(Debug, Clone)]
pub struct EdgeService<S> {
    edge: Arc<Edge>,
    route: S,
    grpc: axum::Router,
}

impl<S> EdgeService<S> {
    /// `route` behind `edge`; gRPC calls go to `grpc`, on their own shorter path.
    pub fn new(edge: Edge, route: S, grpc: axum::Router) -> Self {
        Self {
            edge: Arc::new(edge),
            route,
            grpc,
        }
    }
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The route's readiness is awaited in the response future (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let edge = self.edge.clone();
        if crate::grpc::is_grpc(&request) {
            let grpc = self.grpc.clone();
            return Box::pin(async move { Ok(edge.handle_grpc(request, grpc).await) });
        }
        let route = self.route.clone();
        Box::pin(async move { Ok(edge.handle(request, route).await) })
    }
}
