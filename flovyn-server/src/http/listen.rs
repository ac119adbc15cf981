//! Accepting and serving connections — HTTP/1.1 and HTTP/2 on one port (gRPC included) —
//! with the limits that keep slow or idle clients from holding the server, and a stop that
//! tells keep-alive clients to go elsewhere. Knows nothing of routes: it serves any service
//! (the server's is `crate::router::App`).
//!
//! - a client has `header_read_timeout` to send a request's headers: from the connection's
//!   start, and again after each response on a keep-alive connection (so the same bound
//!   closes idle connections);
//! - at most `max_connections` are open at once; further clients wait in the listen backlog
//!   (they are not accepted, and not refused) until one closes;
//! - on stop, the listener closes at once; for [`DRAIN_WINDOW`] the open connections are
//!   still served, each HTTP/1 response with `Connection: close`, so a keep-alive client
//!   reconnects (to another replica) instead of finding its connection gone; then the idle
//!   ones close and those with a request under way finish it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, Version, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// How long open connections are still served, with `Connection: close`, after the stop.
pub const DRAIN_WINDOW: Duration = Duration::from_secs(1);

/// The connection limits (`[http]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// For a request's headers, and for an idle keep-alive connection's next request.
    pub header_read_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serves `app` on `listener` until `stop` turns true, then drains (see the module docs) and
/// returns once every connection has closed. Bound the wait with a timeout of your own.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let draining = Arc::new(AtomicBool::new(false));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, draining) = (app.clone(), draining.clone());
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (app, draining) = (app.clone(), draining.clone());
                async move {
                    let http1 = request.version() < Version::HTTP_2;
                    let mut response = match app.oneshot(request.map(axum::body::Body::new)).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    if http1 && draining.load(Ordering::Relaxed) {
                        response
                            .headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(response)
                }
            });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            // A client that sends nothing at all (not even an HTTP/2 preface) is not kept:
            // the protocol detection below would wait for its first bytes for ever.
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let stream = super::parse_errors::JsonParseErrors::new(stream);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    draining.store(true, Ordering::Relaxed);
    // The window ends early once every connection has closed.
    let window = tokio::time::Instant::now() + DRAIN_WINDOW;
    while graceful.count() > 0 && tokio::time::Instant::now() < window {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    graceful.shutdown().await;
}
