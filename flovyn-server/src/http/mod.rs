//! The request path, one concern a file: [`edge`] orders them around every request (and
//! holds the span, the timeout, the panic catcher), [`request_id`] names the request,
//! [`body_limit`] caps its body, [`access`] authenticates and enforces each route's access,
//! [`errors`] makes every error JSON, [`metrics`] counts, [`middleware`] runs the plugins'
//! `#[middleware]`, [`grpc`] serves the plugins' gRPC services; [`listen`] accepts and serves
//! the connections (header-read timeout, connection cap, draining stop). Uses the host's
//! route table; knows nothing of start-up.

pub mod access;
pub mod body_limit;
pub mod edge;
pub mod errors;
pub mod grpc;
pub mod listen;
pub mod metrics;
pub mod middleware;
pub mod parse_errors;
pub mod request_id;
