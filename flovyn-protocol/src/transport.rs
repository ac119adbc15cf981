//! How the two sides reach each other: gRPC over a Unix socket in the host's private
//! directory, in both directions (the host calls the plugin's `Plugin` service, the plugin
//! calls the host's `Host` service), and the metadata key that names the caller to `Host`.
//!
//! A [`Connection`] is one HTTP/2 connection that calls go straight onto. tonic's `Channel`
//! is not used: it hands every call through a queue to a worker task of its own (its
//! `Buffer`) and reconnects by itself, both of which the two sides do not need — a connection
//! lives as long as the process at its other end, and the host's supervisor makes a new one
//! for a new process. Measured in BENCHMARKS.md ("Plugins out of process").

use std::path::PathBuf;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The metadata key carrying the plugin's token on every call to the host's `Host` service.
pub const HOST_TOKEN_METADATA: &str = "flovyn-plugin-token";

/// The binary metadata key with which the host forwards a call to one of the plugin's own gRPC
/// services: the caller, authenticated and authorised by the host (`flovyn_sdk::Identity` as
/// JSON). Binary (`-bin`): base64 on the wire, bytes in every gRPC library.
pub const IDENTITY_METADATA: &str = "flovyn-identity-bin";

/// The authority every call names; unused, since the connection has one end.
const AUTHORITY: &str = "flovyn-plugin.invalid";

/// One HTTP/2 connection to the other side, for tonic's generated clients
/// (`PluginClient<Connection>`, `HostClient<Connection>`). Cheap to clone: clones share the
/// connection, whose frames a spawned task reads and writes. Once the other side is gone,
/// every call fails with `Unavailable`.
#[derive(Debug, Clone)]
pub struct Connection {
    send: SendRequest<tonic::body::Body>,
}

/// Why a call could not be made on the connection.
pub type Error = hyper::Error;

/// Connects to the Unix socket at `path` and starts the connection's task.
pub async fn connect_unix(path: impl Into<PathBuf>) -> Result<Connection, std::io::Error> {
    let stream = tokio::net::UnixStream::connect(path.into()).await?;
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        // It ends when either side closes; the calls in flight then fail.
        let _ = connection.await;
    });
    Ok(Connection { send })
}

impl tower::Service<http::Request<tonic::body::Body>> for Connection {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.send.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        // tonic's clients give the path alone; HTTP/2 wants the scheme and authority too.
        let mut parts = std::mem::take(request.uri_mut()).into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(Authority::from_static(AUTHORITY));
        *request.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        Box::pin(self.send.send_request(request))
    }
}
