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
//! 7. the router (axum's: routing, 404, 405, extractors, the handler), then JSON errors:
//!    any 4xx/5xx that is not JSON yet (axum's 405 and extractor rejections, panics)
//!    becomes `{"error":{"code":…,"message":…}}`; a 5xx never carries internals, only the
//!    request id;
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
use flovyn_sdk::auth::Protocol;
use flovyn_sdk::{ApiError, BoxFuture};
use futures_util::FutureExt as _;
use tokio::time::{Instant as TokioInstant, Sleep};
use tower::{Layer, Service, ServiceExt as _};

use crate::host::routes::PathId;
use crate::http::access::Gate;
use crate::http::metrics::{Metrics, Series};

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the request path needs, built once per server.
#[derive(Debug)]
pub struct Edge {
    gate: Gate,
    metrics: Metrics,
    /// The metrics series of each plugin route, by [`PathId::index`]: a request to a
    /// plugin route finds its series without a second look at its path.
    route_series: Box<[Series]>,
    timeout: Duration,
    body_limit: usize,
}

impl Edge {
    /// The request path of a server: `gate` checks access, `metrics` counts, requests time
    /// out after `timeout` and bodies may not exceed `body_limit` bytes.
    pub fn new(gate: Gate, metrics: Metrics, timeout: Duration, body_limit: usize) -> Self {
        let table = gate.table();
        let route_series = table
            .routes()
            .map(|route| metrics.series_of_plugin(table.plugin_of(route)))
            .collect();
        Self {
            route_series,
            gate,
            metrics,
            timeout,
            body_limit,
        }
    }

    /// Starts answering `request`, `service` (the router) behind everything above. What can
    /// be decided before anything is awaited (request id, the plugin route the path
    /// matches, metrics series, span, the 413 of a declared length over the limit) is done
    /// here; the rest is [`EdgeFuture`].
    fn start<S>(self: Arc<Self>, mut request: Request, service: S) -> EdgeFuture
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let started = Instant::now();
        let request_id = request_id(&request);
        let route = self.gate.table().route(request.uri().path());
        let series = match route {
            Some(route) => self.route_series[route.index()],
            None => self
                .metrics
                .series(self.gate.table().owner_of_path(request.uri().path())),
        };
        let span = tracing::debug_span!(
            target: "flovyn_server::request",
            "request",
            method = %request.method(),
            path = request.uri().path(),
            plugin = series.plugin(),
            request_id = request_id.to_str().unwrap_or(""),
        );
        let tail = Tail {
            edge: self.clone(),
            started,
            request_id,
            method: request.method().clone(),
            // For the log line of a failed request (sharing the request's bytes, no copy).
            uri: request.uri().clone(),
            series,
        };
        let work: BoxFuture<'static, std::thread::Result<Response>> = match self
            .limit_body(&mut request)
        {
            Some(refused) => Box::pin(std::future::ready(Ok(refused))),
            None => Box::pin(AssertUnwindSafe(self.answer(request, route, service)).catch_unwind()),
        };
        EdgeFuture {
            state: State::Http(Box::new(Answering {
                deadline: TokioInstant::from_std(started) + tail.edge.timeout,
                work,
                timer: None,
                // Entering a disabled span on every poll costs a little for nothing.
                span: (!span.is_disabled()).then_some(span),
                converting: None,
                tail: Some(tail),
            })),
        }
    }

    /// A gRPC call: request id, authentication (every gRPC method needs a caller), the
    /// plugin's service under the panic catcher, metrics. No body limit or request timeout:
    /// gRPC has its own message limits and deadlines, and streams may be long. Refusals and
    /// failures are gRPC statuses, which is what a gRPC client reads.
    async fn handle_grpc(self: Arc<Self>, mut request: Request, grpc: axum::Router) -> Response {
        let started = Instant::now();
        let request_id = request_id(&request);
        let method = request.method().clone();
        let series = self
            .metrics
            .series(self.gate.table().owner_of_grpc(request.uri().path()));
        let path = request.uri().path().to_owned();
        let work = async {
            self.gate.identify(&mut request, Protocol::Grpc).await;
            if let Some(refused) = self
                .gate
                .enforce_grpc(request.uri().path(), request.extensions())
                .await
            {
                return crate::http::grpc::status(refused);
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
                crate::http::grpc::status(tonic::Status::internal(format!(
                    "internal error (request id {id})"
                )))
            }
        };
        let counted = crate::http::grpc::metrics_status(&response);
        self.finish(&mut response, request_id, series, &method, counted, started);
        response
    }

    /// What every response gets last: the request id echoed, and the request counted.
    fn finish(
        &self,
        response: &mut Response,
        request_id: HeaderValue,
        series: Series,
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

    /// Step 6 and the router of step 7: who is calling and may they, then `service` (the
    /// router) answers.
    /// `route` is the plugin route the request's path matched, if any. [`EdgeFuture`] runs
    /// it under the timeout and the panic catcher.
    async fn answer<S>(
        self: Arc<Self>,
        mut request: Request,
        route: Option<PathId>,
        service: S,
    ) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        self.gate.identify(&mut request, Protocol::Http).await;
        if let Some(refused) = self
            .gate
            .enforce(request.method(), route, request.extensions())
            .await
        {
            return refused;
        }
        let response = if request.body().is_end_stream() {
            service.oneshot(request).await
        } else {
            // The extractors' own limit (axum's default is 2 MiB), set to the server's.
            // A request without a body has nothing to limit and skips it.
            let service = DefaultBodyLimit::max(self.body_limit).layer(service);
            service.oneshot(request).await
        };
        match response {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    fn timed_out(&self) -> Response {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request took longer than {} s",
                self.timeout.as_secs_f64()
            ),
        )
        .into_response()
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

fn too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .into_response()
}

/// The request's id: the client's `x-request-id` when it sent a usable one, a new UUID
/// otherwise. It is in the request's span and on the response; the request itself is left
/// as the client sent it.
fn request_id(request: &Request) -> HeaderValue {
    if let Some(id) = request.headers().get(REQUEST_ID)
        && !id.is_empty()
    {
        return id.clone();
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// Whether `response` is an error that is not JSON yet (axum's 405, extractor rejections,
/// panics), which [`json_error`] rewrites.
fn needs_json_body(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

/// The standard error body for an error response that is not JSON: a 4xx keeps its text
/// as the message, a 5xx says only "internal error" with the request id.
async fn json_error(response: Response, request_id: HeaderValue) -> Response {
    let status = response.status();
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
    type Future = EdgeFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The route's readiness is awaited in the response future (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let edge = self.edge.clone();
        if crate::http::grpc::is_grpc(&request) {
            let grpc = self.grpc.clone();
            return EdgeFuture {
                state: State::Grpc(Box::pin(edge.handle_grpc(request, grpc))),
            };
        }
        edge.start(request, self.route.clone())
    }
}

/// The response future of [`EdgeService`].
///
/// Written by hand rather than as one `async` block: an `async` block holding the others
/// (authentication, access check, the router's future, the error rewriting) was 3 KiB,
/// moved and allocated whole for every request. Here the work that awaits (`Edge::answer`)
/// is one boxed future of its own, and what the response gets when it is ready
/// ([`Tail`]) is plain data.
pub struct EdgeFuture {
    state: State,
}

impl std::fmt::Debug for EdgeFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeFuture").finish_non_exhaustive()
    }
}

enum State {
    Http(Box<Answering>),
    Grpc(BoxFuture<'static, Response>),
    Done,
}

/// An HTTP request being answered.
struct Answering {
    /// `Edge::answer` under the panic catcher (or the 413 of step 3, ready).
    work: BoxFuture<'static, std::thread::Result<Response>>,
    deadline: TokioInstant,
    /// Armed only when the work does not finish on its first poll: a request answered
    /// without waiting (most are) never touches the timer wheel.
    timer: Option<Pin<Box<Sleep>>>,
    /// The request's span, when its level is enabled.
    span: Option<tracing::Span>,
    /// The rewriting of a non-JSON error into the standard body, once the work is done.
    converting: Option<BoxFuture<'static, Response>>,
    tail: Option<Tail>,
}

/// What the response gets once it is ready: the error log line, the request id, metrics.
struct Tail {
    edge: Arc<Edge>,
    started: Instant,
    request_id: HeaderValue,
    method: axum::http::Method,
    uri: axum::http::Uri,
    series: Series,
}

impl Answering {
    /// The response once it is ready, with step 8 done. The work, its dropping and the
    /// error rewriting run in the request's span; the log line of a failed request is
    /// outside it (it carries the same fields itself).
    fn poll_response(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        // `None` unless the span's level is enabled: nothing is cloned then.
        let span = self.span.clone();
        let response = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            std::task::ready!(self.poll_answer(cx))
        };
        Poll::Ready(self.finish(response))
    }

    /// Steps 4–7: the work under the timeout, then the error body rewritten if needed.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        if self.converting.is_none() {
            let response = match self.work.as_mut().poll(cx) {
                Poll::Ready(Ok(response)) => response,
                // The payload is never sent: it may hold internals (the panic hook has
                // printed it for the operator). `json_error` turns this into the body
                // with the id.
                Poll::Ready(Err(_panic)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                Poll::Pending => {
                    let deadline = self.deadline;
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    match timer.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) => self.tail().edge.timed_out(),
                    }
                }
            };
            // The work (and its timer) is done with: free what it holds now.
            self.work = Box::pin(std::future::pending());
            self.timer = None;
            if !needs_json_body(&response) {
                return Poll::Ready(response);
            }
            let request_id = self.tail().request_id.clone();
            self.converting = Some(Box::pin(json_error(response, request_id)));
        }
        self.converting
            .as_mut()
            .expect("set above")
            .as_mut()
            .poll(cx)
    }

    fn tail(&self) -> &Tail {
        self.tail
            .as_ref()
            .expect("an answered request is not polled again")
    }

    /// Step 8, and the log line of a failed request.
    fn finish(&mut self, mut response: Response) -> Response {
        let tail = self
            .tail
            .take()
            .expect("an answered request is not polled again");
        let status = response.status();
        if status.is_server_error() {
            tracing::error!(
                method = %tail.method,
                path = tail.uri.path(),
                plugin = tail.series.plugin(),
                request_id = tail.request_id.to_str().unwrap_or(""),
                status = status.as_u16(),
                "request failed",
            );
        }
        tail.edge.finish(
            &mut response,
            tail.request_id,
            tail.series,
            &tail.method,
            status.as_u16(),
            tail.started,
        );
        response
    }
}

impl Drop for Answering {
    /// A request dropped before its answer (the client went away) drops the handler's
    /// future in the request's span, as it was polled: what it logs while dropping keeps
    /// the request's fields.
    fn drop(&mut self) {
        if let Some(span) = &self.span {
            let _entered = span.enter();
            self.work = Box::pin(std::future::pending());
            self.converting = None;
        }
    }
}

impl Future for EdgeFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match &mut self.state {
            State::Http(answering) => std::task::ready!(answering.poll_response(cx)),
            State::Grpc(call) => std::task::ready!(call.as_mut().poll(cx)),
            State::Done => panic!("`EdgeFuture` polled after completion"),
        };
        self.state = State::Done;
        Poll::Ready(Ok(response))
    }
}
