//! The response future of the edge, written by hand (decision 0008).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flovyn_sdk::BoxFuture;
use tokio::time::{Instant as TokioInstant, Sleep};

use super::Edge;
use crate::http::errors::{json_error, needs_json_body};
use crate::http::metrics::Series;

/// The response future of [`EdgeService`](super::EdgeService).
///
/// Written by hand rather than as one `async` block: an `async` block holding the others
/// (authentication, access check, the router's future, the error rewriting) was 3 KiB,
/// moved and allocated whole for every request. Here the work that awaits (`Edge::answer`)
/// is one boxed future of its own, and what the response gets when it is ready
/// (`Tail`) is plain data.
pub struct EdgeFuture {
    state: State,
}

impl EdgeFuture {
    pub(super) fn http(answering: Box<Answering>) -> Self {
        Self {
            state: State::Http(answering),
        }
    }

    pub(super) fn grpc(call: BoxFuture<'static, Response>) -> Self {
        Self {
            state: State::Grpc(call),
        }
    }
}

impl std::fmt::Debug for EdgeFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeFuture").finish_non_exhaustive()
    }
}

enum State {
    Http(Box<Answering>),
    Grpc(BoxFuture<'static, Response>),
    Done,
}

/// An HTTP request being answered.
pub(super) struct Answering {
    /// `Edge::answer` under the panic catcher (or the 413 of step 3, ready).
    work: BoxFuture<'static, std::thread::Result<Response>>,
    deadline: TokioInstant,
    /// Armed only when the work does not finish on its first poll: a request answered
    /// without waiting (most are) never touches the timer wheel.
    timer: Option<Pin<Box<Sleep>>>,
    /// The request's span, when its level is enabled.
    span: Option<tracing::Span>,
    /// The rewriting of a non-JSON error into the standard body, once the work is done.
    converting: Option<BoxFuture<'static, Response>>,
    tail: Option<Tail>,
}

/// What the response gets once it is ready: the error log line, the request id, metrics.
pub(super) struct Tail {
    pub(super) edge: Arc<Edge>,
    pub(super) started: Instant,
    pub(super) request_id: HeaderValue,
    pub(super) method: axum::http::Method,
    pub(super) uri: axum::http::Uri,
    pub(super) series: Series,
}

impl Answering {
    /// `work` (steps 6–7 under the panic catcher) to finish by `deadline`; `span` is the
    /// request's span, `None` when its level is disabled.
    pub(super) fn new(
        work: BoxFuture<'static, std::thread::Result<Response>>,
        deadline: TokioInstant,
        span: Option<tracing::Span>,
        tail: Tail,
    ) -> Self {
        Self {
            work,
            deadline,
            timer: None,
            span,
            converting: None,
            tail: Some(tail),
        }
    }

    /// The response once it is ready, with step 8 done. The work, its dropping and the
    /// error rewriting run in the request's span; the log line of a failed request is
    /// outside it (it carries the same fields itself).
    fn poll_response(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        // `None` unless the span's level is enabled: nothing is cloned then.
        let span = self.span.clone();
        let response = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            std::task::ready!(self.poll_answer(cx))
        };
        Poll::Ready(self.finish(response))
    }

    /// Steps 4–7: the work under the timeout, then the error body rewritten if needed.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        if self.converting.is_none() {
            let response = match self.work.as_mut().poll(cx) {
                Poll::Ready(Ok(response)) => response,
                // The payload is never sent: it may hold internals (the panic hook has
                // printed it for the operator). `json_error` turns this into the body
                // with the id.
                Poll::Ready(Err(_panic)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                Poll::Pending => {
                    let deadline = self.deadline;
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    match timer.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) => crate::http::errors::timed_out(self.tail().edge.timeout),
                    }
                }
            };
            // The work (and its timer) is done with: free what it holds now.
            self.work = Box::pin(std::future::pending());
            self.timer = None;
            if !needs_json_body(&response) {
                return Poll::Ready(response);
            }
            let request_id = self.tail().request_id.clone();
            self.converting = Some(Box::pin(json_error(response, request_id)));
        }
        self.converting
            .as_mut()
            .expect("set above")
            .as_mut()
            .poll(cx)
    }

    fn tail(&self) -> &Tail {
        self.tail
            .as_ref()
            .expect("an answered request is not polled again")
    }

    /// Step 8, and the log line of a failed request.
    fn finish(&mut self, mut response: Response) -> Response {
        let tail = self
            .tail
            .take()
            .expect("an answered request is not polled again");
        let status = response.status();
        if status.is_server_error() {
            tracing::error!(
                method = %tail.method,
                path = tail.uri.path(),
                plugin = tail.series.plugin(),
                request_id = tail.request_id.to_str().unwrap_or(""),
                status = status.as_u16(),
                "request failed",
            );
        }
        tail.edge.finish(
            &mut response,
            tail.request_id,
            tail.series,
            &tail.method,
            status.as_u16(),
            tail.started,
        );
        response
    }
}

impl Drop for Answering {
    /// A request dropped before its answer (the client went away) drops the handler's
    /// future in the request's span, as it was polled: what it logs while dropping keeps
    /// the request's fields.
    fn drop(&mut self) {
        if let Some(span) = &self.span {
            let _entered = span.enter();
            self.work = Box::pin(std::future::pending());
            self.converting = None;
        }
    }
}

impl Future for EdgeFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match &mut self.state {
            State::Http(answering) => std::task::ready!(answering.poll_response(cx)),
            State::Grpc(call) => std::task::ready!(call.as_mut().poll(cx)),
            State::Done => panic!("`EdgeFuture` polled after completion"),
        };
        self.state = State::Done;
        Poll::Ready(Ok(response))
    }
}
