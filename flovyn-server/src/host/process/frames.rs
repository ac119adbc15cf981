//! The host's side of `Handle` as frames (`frames.proto`, decision 0021): one connection to a
//! plugin process's second socket, a task writing the frames of every call, a task reading
//! the plugin's and handing each to its call. A [`Call`] dropped before its end cancels it;
//! every call in flight fails when the connection closes (the process is gone) or the plugin
//! sends a frame that does not read — then the host closes its half too.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use axum::body::Bytes;
use flovyn_protocol::frames::{
    FrameReader, IncomingPart, RequestRef, ToHost, encode, encode_start, read_to_host, write_frames,
};
use flovyn_protocol::pb::{self, handle_frame::Kind};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// What a call receives: the next part, or why it ended without one.
type Event = Result<IncomingPart, tonic::Status>;

/// The calls waiting for frames; `None` once the connection closed. (Keyed by the host's own
/// counter: a fast hash is enough.)
type Calls = Arc<Mutex<Option<HashMap<u64, Arc<Inbox>, foldhash::fast::RandomState>>>>;

/// Where the reader leaves a call's events. (Not a channel: most calls receive one event, and
/// a channel's first block is far larger than the event.)
#[derive(Debug, Default)]
struct Inbox(Mutex<InboxState>);

#[derive(Debug, Default)]
struct InboxState {
    events: VecDeque<Event>,
    /// No event follows those queued (the call ended, or the connection closed).
    closed: bool,
    waker: Option<Waker>,
}

impl Inbox {
    /// Queues `event`, and ends the inbox after it when `last`.
    fn deliver(&self, event: Event, last: bool) {
        let waker = {
            let mut state = lock(&self.0);
            state.events.push_back(event);
            state.closed |= last;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// No event follows those queued.
    fn close(&self) {
        let waker = {
            let mut state = lock(&self.0);
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The next event; `None` once the inbox is closed and empty.
    async fn next(&self) -> Option<Event> {
        std::future::poll_fn(|cx| {
            let mut state = lock(&self.0);
            if let Some(event) = state.events.pop_front() {
                Poll::Ready(Some(event))
            } else if state.closed {
                Poll::Ready(None)
            } else {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }
}

/// Why a call was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The connection is closed.
    Closed,
    /// The request does not fit one frame.
    TooLarge,
}

/// A connection to a plugin process's frames socket.
#[derive(Debug)]
pub(super) struct FrameClient {
    out: UnboundedSender<Bytes>,
    calls: Calls,
    next: AtomicU64,
}

impl FrameClient {
    /// Connects to the socket at `path` and starts the connection's two tasks.
    pub(super) async fn connect(path: &Path) -> std::io::Result<Self> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        let (read, write) = stream.into_split();
        let (out, frames) = unbounded_channel();
        let writer = tokio::spawn(write_frames(write, frames));
        let calls: Calls = Arc::new(Mutex::new(Some(HashMap::default())));
        let reading = read_frames(FrameReader::new(read), calls.clone());
        tokio::spawn(async move {
            reading.await;
            // Nothing more can be answered: closing our half tells the plugin, which drops
            // whatever it still runs for this connection rather than waiting for credit.
            writer.abort();
        });
        Ok(Self {
            out,
            calls,
            next: AtomicU64::new(1),
        })
    }

    /// Whether the connection still carries calls (it closes with the process, or on a frame
    /// that does not read).
    pub(super) fn is_open(&self) -> bool {
        lock(&self.calls).is_some() && !self.out.is_closed()
    }

    /// Sends `request` as a new call.
    pub(super) fn start(
        &self,
        request: &RequestRef<'_>,
        timeout: Duration,
    ) -> Result<Call, Refused> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let frame = encode_start(id, request, timeout_ms).ok_or(Refused::TooLarge)?;
        let inbox = Arc::new(Inbox::default());
        lock(&self.calls)
            .as_mut()
            .ok_or(Refused::Closed)?
            .insert(id, inbox.clone());
        let _ = self.out.send(frame);
        Ok(Call {
            id,
            inbox,
            out: self.out.clone(),
            calls: self.calls.clone(),
            ended: false,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands each frame the plugin sends to its call; at the end, fails those still waiting.
async fn read_frames(mut reader: FrameReader<tokio::net::unix::OwnedReadHalf>, calls: Calls) {
    loop {
        let frame = match reader.next_bytes().await.and_then(|frame| {
            frame
                .map(read_to_host)
                .transpose()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }) {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "a plugin process sent a frame that does not read");
                break;
            }
        };
        let (call, event, ends) = match frame {
            ToHost::Part { call, part } => {
                let last = part.last;
                (call, Ok(part), last)
            }
            ToHost::Other(pb::HandleFrame {
                call,
                kind: Some(Kind::Error(error)),
            }) => (
                call,
                Err(tonic::Status::new(
                    tonic::Code::from_i32(error.code),
                    error.message,
                )),
                true,
            ),
            // Frames only the host sends, or of a newer kind.
            ToHost::Other(_) => continue,
        };
        let inbox = {
            let mut calls = lock(&calls);
            let Some(calls) = calls.as_mut() else { break };
            if ends {
                calls.remove(&call)
            } else {
                calls.get(&call).cloned()
            }
        };
        // A call no longer waiting (cancelled) just misses its frame.
        if let Some(inbox) = inbox {
            inbox.deliver(event, ends);
        }
    }
    // Every call still waiting ends.
    let waiting = lock(&calls).take();
    for inbox in waiting.into_iter().flat_map(HashMap::into_values) {
        inbox.close();
    }
}

/// One call in flight.
#[derive(Debug)]
pub(super) struct Call {
    id: u64,
    inbox: Arc<Inbox>,
    out: UnboundedSender<Bytes>,
    calls: Calls,
    /// Its last part or its error came: nothing to cancel.
    ended: bool,
}

impl Call {
    fn send(&self, kind: Kind) {
        let _ = self.out.send(encode(&pb::HandleFrame {
            call: self.id,
            kind: Some(kind),
        }));
    }

    /// The next part; `None` after the last. An error from the plugin, or `Unavailable` when
    /// the connection closed, ends the call.
    pub(super) async fn next(&mut self) -> Result<Option<IncomingPart>, tonic::Status> {
        if self.ended {
            return Ok(None);
        }
        match self.inbox.next().await {
            Some(Ok(part)) => {
                self.ended = part.last;
                Ok(Some(part))
            }
            Some(Err(status)) => {
                self.ended = true;
                Err(status)
            }
            None => {
                self.ended = true;
                Err(tonic::Status::unavailable(
                    "the connection to the plugin process closed",
                ))
            }
        }
    }

    /// Lets the plugin send `bytes` more of the body (the consumer took that much).
    pub(super) fn grant(&self, bytes: usize) {
        if bytes > 0 && !self.ended {
            let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
            self.send(Kind::Credit(pb::HandleCredit { bytes }));
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.ended {
            if let Some(calls) = lock(&self.calls).as_mut() {
                calls.remove(&self.id);
            }
            self.send(Kind::Cancel(pb::HandleCancel {}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A plugin that breaks the protocol: the call in flight fails, the connection no longer
    /// takes calls, and the plugin sees the host's half closed (so it can drop its calls).
    #[tokio::test]
    async fn a_frame_that_does_not_read_ends_the_connection_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frames.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let client = FrameClient::connect(&path).await.unwrap();
        let (mut plugin, _) = listener.accept().await.unwrap();
        let headers = axum::http::HeaderMap::new();
        let request = RequestRef {
            route: 0,
            method: "GET",
            path: "/api/v1/p/probe/slow",
            query: "",
            headers: &headers,
            body: &[],
            identity_json: None,
            request_id: "",
        };
        let mut call = client.start(&request, Duration::from_secs(5)).unwrap();

        // The start frame arrives whole and reads.
        let mut reader = FrameReader::new(&mut plugin);
        let start = reader.next().await.unwrap().unwrap();
        assert!(matches!(start.kind, Some(Kind::Start(_))), "{start:?}");
        assert!(client.is_open());

        // Four bytes of length, then bytes no `HandleFrame` decodes from.
        plugin
            .write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
            .await
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(5), call.next())
            .await
            .expect("the call ends")
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(!client.is_open());
        assert_eq!(
            client.start(&request, Duration::from_secs(5)).unwrap_err(),
            Refused::Closed
        );

        // The host closed its half: the plugin reads the end of the stream.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), plugin.read_to_end(&mut rest))
            .await
            .expect("the host closes its half");
        assert_eq!(read.unwrap(), rest.len());
    }
}
