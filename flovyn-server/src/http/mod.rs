//! The request path, one concern a file: [`edge`] orders them around every request
//! (request id, span, body limit, timeout, panics, JSON errors), [`access`] authenticates and
//! enforces each route's access, [`metrics`] counts, [`middleware`] runs the plugins'
//! `#[middleware]`, [`grpc`] serves the plugins' gRPC services. Uses the host's route table;
//! knows nothing of start-up.

pub mod access;
pub mod edge;
pub mod grpc;
pub mod metrics;
pub mod middleware;
