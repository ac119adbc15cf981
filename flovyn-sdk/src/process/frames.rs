//! `Handle` as frames on the plugin's second socket (`frames.proto`, decision 0021): each
//! `start` runs as its own task through [`Served::respond`](super::Served), its response goes
//! back as parts — a whole body in one, any other piece by piece within the call's credit — and
//! `cancel` (or the host closing the connection) drops the task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use flovyn_protocol::frames::{
    FrameReader, INITIAL_CREDIT, IncomingRequest, ToPlugin, encode, encode_part, read_to_plugin,
    write_frames,
};
use flovyn_protocol::pb::{self, handle_frame::Kind};
use futures_util::StreamExt as _;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use super::Served;

/// The calls in flight on one connection: how to drop each, and its credit.
type Calls = Arc<Mutex<HashMap<u64, (AbortHandle, Arc<Semaphore>)>>>;

/// Serves every connection the host makes to `listener` (it makes one).
pub(super) async fn serve(listener: UnixListener, served: Arc<Served>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, served.clone()));
    }
}

async fn connection(stream: UnixStream, served: Arc<Served>) {
    let (read, write) = stream.into_split();
    let (out, frames) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(write_frames(write, frames));
    let calls: Calls = Arc::default();
    let mut reader = FrameReader::new(read);
    // A frame that does not read ends the connection, as the host's side does.
    while let Ok(Some(frame)) = reader.next_bytes().await {
        let Ok(frame) = read_to_plugin(frame) else {
            break;
        };
        let (id, kind) = match frame {
            ToPlugin::Start {
                call: id,
                timeout_ms: _,
                request,
            } => {
                let credit = Arc::new(Semaphore::new(INITIAL_CREDIT as usize));
                let task = {
                    let (served, out, credit, calls) =
                        (served.clone(), out.clone(), credit.clone(), calls.clone());
                    async move {
                        call(served, id, request, out, credit).await;
                        lock(&calls).remove(&id);
                    }
                };
                // Spawned with the map locked, so the call cannot end (and leave the map)
                // before it is in it. Boxed first: the call's future (the plugin's router and
                // handler within) is large, and is moved into the task; a box moves as a pointer.
                let mut in_flight = lock(&calls);
                let handle = tokio::spawn(Box::pin(task));
                in_flight.insert(id, (handle.abort_handle(), credit));
                continue;
            }
            ToPlugin::Other(frame) => (frame.call, frame.kind),
        };
        match kind {
            Some(Kind::Cancel(_)) => {
                if let Some((abort, _)) = lock(&calls).remove(&id) {
                    abort.abort();
                }
            }
            Some(Kind::Credit(pb::HandleCredit { bytes })) => {
                if let Some((_, credit)) = lock(&calls).get(&id) {
                    credit.add_permits(bytes as usize);
                }
            }
            // Frames only the plugin sends, or of a newer kind: nothing to do.
            Some(Kind::Start(_) | Kind::Part(_) | Kind::Error(_)) | None => {}
        }
    }
    // The host closed the connection (or broke it): nothing in flight has anyone to answer.
    for (_, (abort, _)) in lock(&calls).drain() {
        abort.abort();
    }
    drop(out);
    let _ = writer.await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one call and sends its answer.
async fn call(
    served: Arc<Served>,
    id: u64,
    request: IncomingRequest,
    out: UnboundedSender<Bytes>,
    credit: Arc<Semaphore>,
) {
    let send = |kind: Kind| {
        let _ = out.send(encode(&pb::HandleFrame {
            call: id,
            kind: Some(kind),
        }));
    };
    let error = |status: tonic::Status| {
        Kind::Error(pb::HandleError {
            code: status.code() as i32,
            message: status.message().to_owned(),
        })
    };
    let response = match served.respond(request).await {
        Ok(response) => response,
        Err(status) => return send(error(status)),
    };
    let part = |head: Option<&axum::http::response::Parts>, body: &[u8], last| {
        let head = head.map(|head| (head.status.as_u16(), &head.headers));
        let _ = out.send(encode_part(id, head, body, last));
    };
    let body = match super::answer(response).await {
        Ok(super::Answer::Whole(head, body)) => return part(Some(&head), &body, true),
        Ok(super::Answer::Streamed(head, body)) => {
            part(Some(&head), &[], false);
            body
        }
        Err(status) => return send(error(status)),
    };
    let mut body = body.into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                return send(error(tonic::Status::internal(format!(
                    "response body: {e}"
                ))));
            }
        };
        for piece in super::pieces(chunk) {
            // Within the call's credit: a host that does not take the parts holds this call
            // back, and only this one.
            let Ok(permits) = credit
                .acquire_many(u32::try_from(piece.len()).unwrap_or(u32::MAX))
                .await
            else {
                return;
            };
            permits.forget();
            part(None, &piece, false);
        }
    }
    part(None, &[], true);
}
