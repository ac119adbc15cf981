//! The worker-facing gRPC API (`flovyn.plugins.worker_token.v1.WorkerTokens`), served on the
//! server's port: a worker presents its token as `authorization: Bearer fwt_…` metadata.

use flovyn_sdk::Identity;
use tonic::{Request, Response, Status};

/// The generated protobuf messages, server and client.
pub mod pb {
    #![allow(
        missing_docs,
        missing_debug_implementations,
        unreachable_pub,
        clippy::all
    )]
    tonic::include_proto!("flovyn.plugins.worker_token.v1");
}

pub use pb::worker_tokens_client::WorkerTokensClient;
pub use pb::worker_tokens_server::WorkerTokensServer;

/// The service's implementation; the server has authenticated the caller before it runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerTokensApi;

#[tonic::async_trait]
impl pb::worker_tokens_server::WorkerTokens for WorkerTokensApi {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let who = request
            .extensions()
            .get::<Identity>()
            .ok_or_else(|| Status::unauthenticated("no credential"))?;
        Ok(Response::new(pb::WhoAmIResponse {
            principal_id: who.principal_id.clone(),
            principal_type: who.principal_type.as_str().to_owned(),
            tenant: who.tenant.clone().unwrap_or_default(),
        }))
    }
}
