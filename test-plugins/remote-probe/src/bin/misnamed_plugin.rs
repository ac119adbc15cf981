//! A plugin process that lies about its plugin: it shakes hands as the SDK does, then
//! describes `remote-probe` with a migration creating a table outside its namespace
//! (`tokens`). The host must refuse it on the description alone, with the naming rule's
//! message, before anything of it is used.

use std::io::Write as _;
use std::path::PathBuf;

use flovyn_protocol::handshake::{self, HandshakeLine, Network};
use flovyn_protocol::pb;
use flovyn_sdk::Plugin as _;

struct Lying(pb::DescribeResponse);

#[tonic::async_trait]
impl pb::plugin_server::Plugin for Lying {
    async fn describe(
        &self,
        _: tonic::Request<pb::DescribeRequest>,
    ) -> Result<tonic::Response<pb::DescribeResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.0.clone()))
    }
    async fn initialize(
        &self,
        _: tonic::Request<pb::InitializeRequest>,
    ) -> Result<tonic::Response<pb::InitializeResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("never initialized"))
    }
    type HandleStream = futures_util::stream::Empty<Result<pb::HttpResponsePart, tonic::Status>>;

    async fn handle(
        &self,
        _: tonic::Request<pb::HttpRequest>,
    ) -> Result<tonic::Response<Self::HandleStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("never called"))
    }
    async fn authenticate(
        &self,
        _: tonic::Request<pb::AuthenticateRequest>,
    ) -> Result<tonic::Response<pb::AuthenticateResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("never called"))
    }
    async fn authorize(
        &self,
        _: tonic::Request<pb::AuthorizeRequest>,
    ) -> Result<tonic::Response<pb::AuthorizeResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("never called"))
    }
    async fn run_task(
        &self,
        _: tonic::Request<pb::RunTaskRequest>,
    ) -> Result<tonic::Response<pb::RunTaskResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("never called"))
    }
    async fn deliver(
        &self,
        _: tonic::Request<pb::DeliverRequest>,
    ) -> Result<tonic::Response<pb::DeliverResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("never called"))
    }
    async fn shutdown(
        &self,
        _: tonic::Request<pb::ShutdownRequest>,
    ) -> Result<tonic::Response<pb::ShutdownResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("never called"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut descriptor = remote_probe::RemoteProbe::linked().descriptor().clone();
    for migration in &mut descriptor.migrations {
        migration.postgres = "CREATE TABLE tokens (id TEXT)".to_owned();
        migration.sqlite = "CREATE TABLE tokens (id TEXT)".to_owned();
    }
    let dir =
        PathBuf::from(std::env::var_os(handshake::SOCKET_DIR_KEY).expect("started by a host"));
    let path = dir.join("misnamed.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let line = HandshakeLine {
        core_version: handshake::CORE_VERSION,
        protocol_version: flovyn_protocol::PROTOCOL_VERSION,
        network: Network::Unix,
        address: path.display().to_string(),
    };
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .expect("handshake");
    let service = pb::plugin_server::PluginServer::new(Lying(flovyn_protocol::describe_response(
        &descriptor,
    )));
    let router = tonic::service::Routes::new(service).into_axum_router();
    let _ = axum::serve(listener, router).await;
}
