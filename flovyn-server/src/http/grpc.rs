//! gRPC on the server's port: every running plugin's `#[grpc_service]`s in one router,
//! reached by requests whose `content-type` is `application/grpc…` (the edge sends them
//! here after authenticating them, see `edge`), and the gRPC-shaped refusals (a gRPC client
//! reads `grpc-status`, not the HTTP status).

use axum::Router;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;

use crate::host::RunningPlugin;

/// The router of every plugin's gRPC services (`/<package>.<Service>/<Method>`). Unknown
/// services answer `Unimplemented`, also when no plugin serves gRPC.
pub fn router(plugins: &[RunningPlugin]) -> Router {
    let mut router = Router::new();
    for p in plugins {
        for service in p.instance.clone().grpc_services() {
            let path = format!("/{}/{{*method}}", service.name());
            router = router.route_service(&path, service.into_service());
        }
    }
    router.fallback(|| async { status(tonic::Status::unimplemented("no such gRPC service")) })
}

/// Whether `request` is a gRPC call.
pub fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A trailers-only gRPC response carrying `status`.
pub fn status(status: tonic::Status) -> Response {
    status.into_http::<axum::body::Body>()
}

/// The HTTP status a gRPC response is counted under in `/metrics`: a trailers-only
/// response carries its `grpc-status` in its headers (refusals, unknown services, panics),
/// mapped as gRPC's HTTP mapping does (`Unauthenticated` → 401, `Internal` → 500, …); a call
/// that reached the service sends its status in trailers, after the response is counted, and
/// is counted 200.
pub fn metrics_status(response: &Response) -> u16 {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32);
    match code {
        None | Some(tonic::Code::Ok) => response.status().as_u16(),
        Some(tonic::Code::Unauthenticated) => 401,
        Some(tonic::Code::PermissionDenied) => 403,
        Some(tonic::Code::NotFound | tonic::Code::Unimplemented) => 404,
        Some(tonic::Code::InvalidArgument) => 400,
        Some(tonic::Code::Unavailable) => 503,
        Some(tonic::Code::DeadlineExceeded) => 504,
        Some(_) => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_only_statuses_are_counted_as_their_http_equivalent() {
        for (status, counted) in [
            (tonic::Status::unauthenticated("x"), 401),
            (tonic::Status::unimplemented("x"), 404),
            (tonic::Status::internal("x"), 500),
            (tonic::Status::unavailable("x"), 503),
        ] {
            assert_eq!(metrics_status(&super::status(status)), counted);
        }
        assert_eq!(metrics_status(&Response::default()), 200);
    }
}
