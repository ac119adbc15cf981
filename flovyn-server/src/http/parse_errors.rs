//! The responses hyper writes by itself, before any service sees a request — a request line
//! or headers it cannot parse (400), a URI too long (414), headers too large (431), an HTTP
//! version it does not speak (505) — as every other error: JSON `{"error":{…}}` with a request
//! id. Hyper writes them as a bare head with `content-length: 0` and closes the connection,
//! and offers no hook to change them, so [`JsonParseErrors`] wraps the connection's socket and
//! replaces exactly such a head on its way out.
//!
//! Recognised only as a whole write that is one complete HTTP/1.1 head, status 4xx or 5xx,
//! `content-length: 0`: the service's own error responses all carry a JSON body, so this is
//! hyper's alone. Everything else passes through untouched.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's socket whose hyper-written error heads become JSON error responses.
#[derive(Debug)]
pub struct JsonParseErrors<T> {
    inner: T,
    /// The replacement being written, and how much of it is out.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<T> JsonParseErrors<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

/// The JSON response for `head`, when it is one of hyper's bodiless error heads.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    // Every write passes here: two comparisons settle it for all but a small 4xx/5xx head
    // (hyper's are about 100 bytes).
    if head.len() > 256 || !(head.starts_with(b"HTTP/1.1 4") || head.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let rest = text.strip_prefix("HTTP/1.1 ")?;
    if !text.ends_with("\r\n\r\n") || text.matches("\r\n\r\n").count() != 1 {
        return None;
    }
    let status: u16 = rest.get(..3)?.parse().ok()?;
    let status = StatusCode::from_u16(status).ok()?;
    let bodiless = text
        .split("\r\n")
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"));
    if !(status.is_client_error() || status.is_server_error()) || !bodiless {
        return None;
    }
    let message = match status {
        StatusCode::URI_TOO_LONG => "the request's URI is longer than the server accepts",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's headers are larger than the server accepts"
        }
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => "the request's HTTP version is not supported",
        _ if status.is_client_error() => "the request is not valid HTTP/1.1",
        _ => "the server could not read the request",
    };
    let id = uuid::Uuid::new_v4();
    let error = flovyn_sdk::ApiError::new(status, super::errors::code(status), message);
    let body = serde_json::to_vec(&error.body()).ok()?;
    tracing::info!(status = status.as_u16(), request_id = %id, "{message}");
    let mut response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    Some(response)
}

impl<T: AsyncWrite + Unpin> JsonParseErrors<T> {
    /// Writes the pending replacement; `len` bytes of the caller's are then reported written.
    fn poll_replacing(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<std::io::Result<usize>> {
        while let Some((bytes, written)) = &mut self.replacing {
            if *written == bytes.len() {
                self.replacing = None;
                return Poll::Ready(Ok(len));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(len))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonParseErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.replacing.is_none()
            && let Some(json) = replacement(buf)
        {
            self.replacing = Some((json, 0));
        }
        if self.replacing.is_some() {
            return self.poll_replacing(cx, buf.len());
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let mut parts = bufs.iter().filter(|b| !b.is_empty());
        if self.replacing.is_none()
            && let (Some(head), None) = (parts.next(), parts.next())
            && let Some(json) = replacement(head)
        {
            self.replacing = Some((json, 0));
        }
        if self.replacing.is_some() {
            let len = bufs.iter().map(|b| b.len()).sum();
            return self.poll_replacing(cx, len);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.replacing.is_some() {
            ready!(self.poll_replacing(cx, 0))?;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.replacing.is_some() {
            ready!(self.poll_replacing(cx, 0))?;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::replacement;

    #[test]
    fn hypers_bare_error_heads_become_json() {
        let head = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 03:24:41 GMT\r\n\r\n";
        let json = String::from_utf8(replacement(head).unwrap()).unwrap();
        assert!(json.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{json}");
        assert!(
            json.contains("\r\ncontent-type: application/json\r\n"),
            "{json}"
        );
        assert!(json.contains("\r\nx-request-id: "), "{json}");
        assert!(json.ends_with(r#"{"error":{"code":"uri_too_long","message":"the request's URI is longer than the server accepts"}}"#), "{json}");
    }

    #[test]
    fn anything_else_passes() {
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 52\r\n\r\n",
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"{\"HTTP/1.1 414 \":1}",
            b"",
        ] {
            assert_eq!(replacement(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
