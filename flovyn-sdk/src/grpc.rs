//! gRPC services plugins serve on the server's port, next to their HTTP routes.
//!
//! A plugin's `.proto` files declare package `flovyn.plugins.<plugin with - as _>.v1`; its
//! build script compiles them (with `protox` and `tonic-prost-build`: no `protoc` needed),
//! and a `#[grpc_service]` method of its `#[plugin_impl]` block returns the generated tonic
//! server. The macro checks **at compile time**, from the generated service's full name,
//! that the service is in the plugin's package; the server checks again at start-up.
//!
//! The server routes a request to gRPC when its `content-type` is `application/grpc…`
//! (HTTP/2, plain text or behind a TLS terminator), after the auth stack has run with
//! [`Protocol::Grpc`](crate::auth::Protocol::Grpc): a service's methods need an
//! authenticated caller (`Unauthenticated` otherwise), and find the caller's
//! [`Identity`](crate::Identity) in `request.extensions()`.

use std::convert::Infallible;

use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt as _};

pub use tonic::server::NamedService;

/// The request type a gRPC service handles on the server.
pub type Request = axum::extract::Request;
/// The response type.
pub type Response = axum::response::Response;

/// A plugin's gRPC service, ready to be routed: its full name and the service itself.
#[derive(Clone)]
pub struct GrpcService {
    name: &'static str,
    service: BoxCloneSyncService<Request, Response, Infallible>,
}

impl std::fmt::Debug for GrpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcService")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl GrpcService {
    /// Wraps a tonic-generated server (`WorkerTokensServer::new(…)`).
    pub fn new<S, B>(service: S) -> Self
    where
        S: Service<Request, Response = http::Response<B>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        GrpcService {
            name: S::NAME,
            service: BoxCloneSyncService::new(
                service.map_response(|r| r.map(axum::body::Body::new)),
            ),
        }
    }

    /// A service that is served elsewhere: `service` takes each call to `name` there (a host
    /// forwarding to the plugin process that serves it).
    pub fn forwarding<S>(name: &'static str, service: S) -> Self
    where
        S: Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        GrpcService {
            name,
            service: BoxCloneSyncService::new(service),
        }
    }

    /// The service's full protobuf name (`flovyn.plugins.worker_token.v1.WorkerTokens`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The service, for the server's router.
    pub fn into_service(self) -> BoxCloneSyncService<Request, Response, Infallible> {
        self.service
    }
}

/// Whether `service` (a full protobuf service name) sits directly in `plugin`'s package; see
/// [`flovyn_naming::plugin::in_grpc_package`]. A `const fn`, so that the macros check it at
/// compile time.
pub const fn in_plugin_package(service: &str, plugin: &str) -> bool {
    flovyn_naming::plugin::in_grpc_package(service, plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_must_sit_directly_in_its_plugins_package() {
        let ok = "flovyn.plugins.worker_token.v1.WorkerTokens";
        assert!(in_plugin_package(ok, "worker-token"));
        for (service, plugin) in [
            ("flovyn.plugins.worker_token.v1.WorkerTokens", "worker"),
            (
                "flovyn.plugins.worker-token.v1.WorkerTokens",
                "worker-token",
            ),
            (
                "flovyn.plugins.worker_token.v2.WorkerTokens",
                "worker-token",
            ),
            (
                "flovyn.plugins.worker_token.v1.sub.WorkerTokens",
                "worker-token",
            ),
            ("flovyn.plugins.worker_token.v1.", "worker-token"),
            ("acme.v1.WorkerTokens", "worker-token"),
        ] {
            assert!(
                !in_plugin_package(service, plugin),
                "{service} for {plugin}"
            );
        }
    }
}
