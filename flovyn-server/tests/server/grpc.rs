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

use crate::http::{ADMIN, Db, Fixture, Mode, create_worker_token, fixture_in, fixture_with, send};
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
    grpc_service_with_the_auth_stack(Mode::Linked).await;
}

/// The same calls with `worker-token` in its own process: the host authenticates and
/// authorises each call, then forwards it on the plugin's connection with the caller.
#[tokio::test]
async fn a_plugin_process_grpc_service_answers_on_the_server_port_with_the_auth_stack() {
    grpc_service_with_the_auth_stack(Mode::Process).await;
}

async fn grpc_service_with_the_auth_stack(mode: Mode) {
    let f = fixture_in(Db::Sqlite, mode, &["worker-token", "protocol-spy"], |_| {})
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

    if mode == Mode::Process {
        // The process killed: its calls answer `Unavailable` (not a hang, not `Internal`),
        // and succeed again once the supervisor restarted it.
        let pid = crate::process::child_named(std::process::id(), "worker-token-pl");
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        let status = client.who_am_i(who_am_i(Some(ADMIN))).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match client.who_am_i(who_am_i(Some(ADMIN))).await {
                Ok(me) => {
                    assert_eq!(me.into_inner().principal_id, "admin");
                    break;
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::Unavailable, "{status}");
                    assert!(std::time::Instant::now() < deadline, "not back: {status}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

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
    // Out of process, one more call succeeded after the restart, and those in between were
    // counted 503 (how many depends on how fast it came back).
    let ok = if mode == Mode::Process { 3 } else { 2 };
    for line in [
        r#"flovyn_http_requests_total{plugin="worker-token",method="POST",status="401"} 2"#
            .to_owned(),
        format!(
            r#"flovyn_http_requests_total{{plugin="worker-token",method="POST",status="200"}} {ok}"#
        ),
    ] {
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
    assert_eq!(
        metrics.contains(r#"{plugin="worker-token",method="POST",status="503"}"#),
        mode == Mode::Process,
        "{metrics}"
    );

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
