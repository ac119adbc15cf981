//! The gRPC path of the edge: request id, authentication (every gRPC method needs a
//! caller), the plugin's service under the panic catcher, metrics.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use flovyn_sdk::auth::Protocol;
use futures_util::FutureExt as _;
use tower::ServiceExt as _;

use super::Edge;

impl Edge {
    /// A gRPC call: request id, authentication (every gRPC method needs a caller), the
    /// plugin's service under the panic catcher, metrics. No body limit or request timeout:
    /// gRPC has its own message limits and deadlines, and streams may be long. Refusals and
    /// failures are gRPC statuses, which is what a gRPC client reads.
    pub(super) async fn handle_grpc(
        self: Arc<Self>,
        mut request: Request,
        grpc: axum::Router,
    ) -> Response {
        let started = Instant::now();
        let request_id = crate::http::request_id::of(&request);
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
}
