//! gRPC on the server's port: the worker-token plugin's `WorkerTokens` service called
//! through a tonic client over HTTP/2, with and without credentials, next to plain HTTP/1.1
//! requests on the same listener.

use std::net::SocketAddr;
use std::sync::Mutex;

use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use worker_token::grpc::WorkerTokensClient;
use worker_token::grpc::pb::WhoAmIRequest;

use flovyn_sdk::auth::{AuthOutcome, AuthRequest, Protocol};
use flovyn_sdk::prelude::*;

use crate::http::{ADMIN, Db, Fixture, create_worker_token, fixture_with, send};
use crate::support::process;

/// What protocol each authenticated request came in on, as authenticators see it.
static PROTOCOLS: Mutex<Vec<(String, Protocol)>> = Mutex::new(Vec::new());

/// An authenticator that only watches.
#[flovyn_plugin(name = "protocol-spy")]
#[derive(Debug, Default)]
pub struct ProtocolSpy;

#[plugin_impl]
impl ProtocolSpy {
    /// Recognises nothing; records the protocol.
    #[authenticator(scheme = "spy")]
    async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        PROTOCOLS
            .lock()
            .unwrap()
            .push((request.path().to_owned(), request.protocol()));
        AuthOutcome::NotMine
    }
}

/// Serves `f`'s application on a loopback port, as `flovyn-server serve` does.
async fn serve(f: &Fixture) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = f.router.clone();
    tokio::spawn(async move {
        axum::serve(listener, tower::make::Shared::new(app))
            .await
            .unwrap();
    });
    addr
}

fn who_am_i(token: Option<&str>) -> tonic::Request<WhoAmIRequest> {
    let mut request = tonic::Request::new(WhoAmIRequest {});
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

#[tokio::test]
async fn a_plugin_grpc_service_answers_on_the_server_port_with_the_auth_stack() {
    let f = fixture_with(Db::Sqlite, &["worker-token", "protocol-spy"], |_| {})
        .await
        .unwrap();
    let addr = serve(&f).await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = WorkerTokensClient::new(channel);

    // Without credentials, and with a wrong one: refused as gRPC says it.
    for token in [None, Some("fwt_not_a_real_token")] {
        let status = client.who_am_i(who_am_i(token)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}: {status}");
    }

    // The admin, and a worker with a token created over HTTP.
    let me = client
        .who_am_i(who_am_i(Some(ADMIN)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.principal_id.as_str(), me.principal_type.as_str()),
        ("admin", "admin")
    );

    let (token, created) = create_worker_token(&f, json!({"display_name": "build-host-1"})).await;
    let response = client.who_am_i(who_am_i(Some(&token))).await.unwrap();
    assert!(response.metadata().get("x-request-id").is_some());
    let me = response.into_inner();
    assert_eq!(
        me.principal_id,
        format!("worker-token:{}", created["id"].as_str().unwrap())
    );
    assert_eq!(
        (me.principal_type.as_str(), me.tenant.as_str()),
        ("worker", "default")
    );

    // An unknown service on the same port.
    let mut grpc = tonic::client::Grpc::new(client_channel(addr).await);
    grpc.ready().await.unwrap();
    let path = "/flovyn.plugins.nope.v1.Nothing/Do".parse().unwrap();
    let status = grpc
        .unary::<WhoAmIRequest, WhoAmIRequest, _>(
            who_am_i(Some(ADMIN)),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status}");

    // Plain HTTP/1.1 on the same listener (a blocking client, off the runtime's thread).
    let r = tokio::task::spawn_blocking(move || process::get(addr, "/_/health", &[]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");

    // Authenticators were told which protocol each request used.
    let seen = PROTOCOLS.lock().unwrap().clone();
    assert!(seen.contains(&(
        "/flovyn.plugins.worker_token.v1.WorkerTokens/WhoAmI".to_owned(),
        Protocol::Grpc
    )));
    assert!(seen.contains(&("/_/health".to_owned(), Protocol::Http)));

    // Counted under the plugin, refusals under their HTTP equivalent.
    let metrics = send(&f.router, crate::http::get("/metrics")).await.body;
    for line in [
        r#"flovyn_http_requests_total{plugin="worker-token",method="POST",status="401"} 2"#,
        r#"flovyn_http_requests_total{plugin="worker-token",method="POST",status="200"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }

    // The service is listed for the operator.
    let list = send(&f.router, crate::http::get_as("/_/plugins", ADMIN))
        .await
        .json();
    assert_eq!(list[1]["name"], "worker-token");
    assert_eq!(
        list[1]["grpc_services"],
        json!([{"service": "flovyn.plugins.worker_token.v1.WorkerTokens", "access": "authenticated"}])
    );
}

/// A gRPC service whose every call panics (a hand-written stand-in for a generated server).
#[derive(Clone)]
pub struct PanickingServer;

impl flovyn_sdk::grpc::NamedService for PanickingServer {
    const NAME: &'static str = "flovyn.plugins.grpc_bomb.v1.Bomb";
}

impl tower::Service<flovyn_sdk::grpc::Request> for PanickingServer {
    type Response = flovyn_sdk::grpc::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: flovyn_sdk::grpc::Request) -> Self::Future {
        Box::pin(async { panic!("secret internals in a gRPC handler") })
    }
}

/// Serves `PanickingServer`, to callers with `grpc_bomb:detonate`.
#[flovyn_plugin(name = "grpc-bomb")]
#[derive(Debug, Default)]
pub struct GrpcBomb;

#[plugin_impl]
impl GrpcBomb {
    #[grpc_service(permission = "grpc_bomb:detonate")]
    fn bomb(&self) -> PanickingServer {
        PanickingServer
    }
}

#[tokio::test]
async fn a_service_permission_is_enforced_and_a_panic_answers_internal_without_its_text() {
    let f = fixture_with(Db::Sqlite, &["grpc-bomb", "worker-token"], |_| {})
        .await
        .unwrap();
    let addr = serve(&f).await;
    let mut grpc = tonic::client::Grpc::new(client_channel(addr).await);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<WhoAmIRequest, WhoAmIRequest, _>(
            who_am_i(Some(ADMIN)),
            "/flovyn.plugins.grpc_bomb.v1.Bomb/Go".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status}");
    assert!(
        status.message().starts_with("internal error (request id "),
        "{status}"
    );
    assert!(!status.message().contains("secret"), "{status}");

    // A worker lacks the service's permission.
    let (token, _) = create_worker_token(&f, json!({"display_name": "w"})).await;
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<WhoAmIRequest, WhoAmIRequest, _>(
            who_am_i(Some(&token)),
            "/flovyn.plugins.grpc_bomb.v1.Bomb/Go".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status}");
    assert!(status.message().contains("grpc_bomb:detonate"), "{status}");

    // The server goes on serving.
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<WhoAmIRequest, WhoAmIRequest, _>(
            who_am_i(None),
            "/flovyn.plugins.grpc_bomb.v1.Bomb/Go".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status}");
}

async fn client_channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}
