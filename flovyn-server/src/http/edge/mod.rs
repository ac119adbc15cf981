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
//! (`grpc_path`).
//!
//! Why one hand-written service in front of the router rather than one `Router::layer` call
//! per concern (axum wraps every route in one more boxed service per call):
//! `docs/decisions/0008-one-layer-per-request.md`.
//! The concerns themselves live in their modules (`request_id`, `body_limit`, `access`,
//! `errors`, `metrics`); this module only puts them in order: the HTTP path in
//! `http_path`, the gRPC path in `grpc_path`, the hand-written response future in
//! `future`.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use tower::Service;

use crate::http::access::Gate;
use crate::http::metrics::{Metrics, Series};

mod future;
mod grpc_path;
mod http_path;

pub use crate::http::request_id::REQUEST_ID;
pub use future::EdgeFuture;

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
        crate::http::request_id::echo(response, request_id);
        self.metrics.record(
            series,
            method.as_str(),
            status,
            started.elapsed().as_secs_f64(),
        );
    }
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
            return EdgeFuture::grpc(Box::pin(edge.handle_grpc(request, grpc)));
        }
        edge.start(request, self.route.clone())
    }
}
