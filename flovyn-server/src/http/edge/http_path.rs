//! The HTTP path of the edge: steps 1–7 up to the router (see the module docs of
//! [`super`]); the response future ([`super::future`]) does the rest.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::body::HttpBody as _;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::Response;
use flovyn_sdk::BoxFuture;
use flovyn_sdk::auth::Protocol;
use futures_util::FutureExt as _;
use tokio::time::Instant as TokioInstant;
use tower::{Layer, Service, ServiceExt as _};

use super::Edge;
use super::future::{Answering, EdgeFuture, Tail};
use crate::host::routes::PathId;

impl Edge {
    /// Starts answering `request`, `service` (the router) behind everything above. What can
    /// be decided before anything is awaited (request id, the plugin route the path
    /// matches, metrics series, span, the 413 of a declared length over the limit) is done
    /// here; the rest is [`EdgeFuture`].
    pub(super) fn start<S>(self: Arc<Self>, mut request: Request, service: S) -> EdgeFuture
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let started = Instant::now();
        let request_id = crate::http::request_id::of(&request);
        request
            .extensions_mut()
            .insert(flovyn_sdk::host::RequestId(request_id.clone()));
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
        let deadline = TokioInstant::from_std(started) + self.timeout;
        let work: BoxFuture<'static, std::thread::Result<Response>> =
            match crate::http::body_limit::limit(&mut request, self.body_limit) {
                Some(refused) => Box::pin(std::future::ready(Ok(refused))),
                None => {
                    Box::pin(AssertUnwindSafe(self.answer(request, route, service)).catch_unwind())
                }
            };
        // Entering a disabled span on every poll costs a little for nothing.
        let span = (!span.is_disabled()).then_some(span);
        EdgeFuture::http(Box::new(Answering::new(work, deadline, span, tail)))
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
}
