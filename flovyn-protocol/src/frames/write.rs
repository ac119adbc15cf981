//! The frames of every request written straight from the `http` types each side holds — the
//! host's request as a `start`, the plugin's response as `part`s: the same bytes as
//! [`encode`](super::encode) gives for the `HandleFrame` built from them, without building it
//! (no owned copy of every header, path and id per request, then dropped).

use prost::bytes::{BufMut as _, Bytes};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::pb;

/// A request as the host forwards it, borrowed from the server's own (`HttpRequest` in
/// `plugin.proto`, field for field).
#[derive(Debug, Clone, Copy)]
pub struct RequestRef<'a> {
    /// The route, by its position in the descriptor's `routes`.
    pub route: u32,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// The caller's identity (JSON), when the request is authenticated.
    pub identity_json: Option<&'a str>,
    pub request_id: &'a str,
}

impl RequestRef<'_> {
    /// The request as its message (for `Handle` over gRPC).
    pub fn to_proto(&self) -> pb::HttpRequest {
        pb::HttpRequest {
            route: self.route,
            method: self.method.to_owned(),
            path: self.path.to_owned(),
            query: self.query.to_owned(),
            headers: crate::headers::to_proto(self.headers),
            body: Bytes::copy_from_slice(self.body),
            identity_json: self.identity_json.map(str::to_owned),
            request_id: self.request_id.to_owned(),
        }
    }

    /// The length of the encoded message.
    fn encoded_len(&self) -> usize {
        scalar_len(1, self.route.into())
            + bytes_len(2, self.method.len())
            + bytes_len(3, self.path.len())
            + bytes_len(4, self.query.len())
            + self
                .headers
                .iter()
                .map(|(name, value)| message_len(5, header_len(name.as_str(), value.as_bytes())))
                .sum::<usize>()
            + bytes_len(6, self.body.len())
            + self.identity_json.map_or(0, |id| message_len(7, id.len()))
            + bytes_len(8, self.request_id.len())
    }

    fn encode_raw(&self, buf: &mut Vec<u8>) {
        put_scalar(1, self.route.into(), buf);
        put_bytes(2, self.method.as_bytes(), buf);
        put_bytes(3, self.path.as_bytes(), buf);
        put_bytes(4, self.query.as_bytes(), buf);
        put_headers(5, self.headers, buf);
        put_bytes(6, self.body, buf);
        if let Some(identity) = self.identity_json {
            // `optional`: present even when empty.
            put_len(7, identity.len(), buf);
            buf.put_slice(identity.as_bytes());
        }
        put_bytes(8, self.request_id.as_bytes(), buf);
    }
}

/// Call `call`'s `start` frame for `request` (`HandleFrame { call, start: HandleStart {
/// request, timeout_ms } }`), as it goes on the wire; `None` when it would exceed
/// [`MAX_FRAME_BYTES`](super::MAX_FRAME_BYTES).
pub fn encode_start(call: u64, request: &RequestRef<'_>, timeout_ms: u32) -> Option<Bytes> {
    let request_len = request.encoded_len();
    let start_len = message_len(1, request_len) + scalar_len(2, timeout_ms.into());
    let frame_len = scalar_len(1, call) + message_len(2, start_len);
    if frame_len > super::MAX_FRAME_BYTES {
        return None;
    }
    let mut buf = Vec::with_capacity(4 + frame_len);
    buf.put_u32(u32::try_from(frame_len).ok()?);
    put_scalar(1, call, &mut buf);
    put_len(2, start_len, &mut buf);
    put_len(1, request_len, &mut buf);
    request.encode_raw(&mut buf);
    put_scalar(2, timeout_ms.into(), &mut buf);
    debug_assert_eq!(buf.len(), 4 + frame_len);
    Some(Bytes::from(buf))
}

/// Call `call`'s response part (`HandleFrame { call, part: HttpResponsePart { head, body, last
/// } }`) as it goes on the wire: `head` (status and headers) in the first part only.
pub fn encode_part(
    call: u64,
    head: Option<(u16, &http::HeaderMap)>,
    body: &[u8],
    last: bool,
) -> Bytes {
    let head_len = head.map(|(status, headers)| {
        scalar_len(1, status.into())
            + headers
                .iter()
                .map(|(name, value)| message_len(2, header_len(name.as_str(), value.as_bytes())))
                .sum::<usize>()
    });
    let part_len = head_len.map_or(0, |len| message_len(1, len))
        + bytes_len(2, body.len())
        + scalar_len(3, last.into());
    let frame_len = scalar_len(1, call) + message_len(3, part_len);
    let mut buf = Vec::with_capacity(4 + frame_len);
    // A part carries at most `PART_BYTES` of body and a head: far below u32.
    buf.put_u32(u32::try_from(frame_len).unwrap_or(u32::MAX));
    put_scalar(1, call, &mut buf);
    put_len(3, part_len, &mut buf);
    if let (Some((status, headers)), Some(head_len)) = (head, head_len) {
        put_len(1, head_len, &mut buf);
        put_scalar(1, status.into(), &mut buf);
        put_headers(2, headers, &mut buf);
    }
    put_bytes(2, body, &mut buf);
    put_scalar(3, last.into(), &mut buf);
    debug_assert_eq!(buf.len(), 4 + frame_len);
    Bytes::from(buf)
}

/// Every header of `headers` as field `tag` (a `Header` each).
fn put_headers(tag: u32, headers: &http::HeaderMap, buf: &mut Vec<u8>) {
    for (name, value) in headers {
        let (name, value) = (name.as_str(), value.as_bytes());
        put_len(tag, header_len(name, value), buf);
        put_bytes(1, name.as_bytes(), buf);
        put_bytes(2, value, buf);
    }
}

fn header_len(name: &str, value: &[u8]) -> usize {
    bytes_len(1, name.len()) + bytes_len(2, value.len())
}

/// A varint field (proto3: absent when zero).
fn scalar_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(value)
    }
}

/// A string or bytes field (proto3: absent when empty).
fn bytes_len(tag: u32, len: usize) -> usize {
    if len == 0 { 0 } else { message_len(tag, len) }
}

/// A field with a length prefix that is always present (a message set, an `optional`).
fn message_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_scalar(tag: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(value, buf);
    }
}

fn put_bytes(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    if !bytes.is_empty() {
        put_len(tag, bytes.len(), buf);
        buf.put_slice(bytes);
    }
}

fn put_len(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::handle_frame::Kind;
    use http::{HeaderMap, HeaderValue};

    fn check(request: &RequestRef<'_>, call: u64, timeout_ms: u32) {
        let built = super::super::encode(&pb::HandleFrame {
            call,
            kind: Some(Kind::Start(pb::HandleStart {
                request: Some(request.to_proto()),
                timeout_ms,
            })),
        });
        assert_eq!(
            encode_start(call, request, timeout_ms).unwrap(),
            built,
            "{request:?}"
        );
    }

    #[test]
    fn the_start_frame_is_the_bytes_of_the_message() {
        let mut headers = HeaderMap::new();
        headers.append("host", HeaderValue::from_static("127.0.0.1:3000"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append("x-empty", HeaderValue::from_static(""));
        let long = "é".repeat(300);
        let body = vec![7u8; 200_000];
        let full = RequestRef {
            route: 3,
            method: "POST",
            path: "/api/v1/p/hello/greeting",
            query: "name=Ada&x=1",
            headers: &headers,
            body: &body,
            identity_json: Some(r#"{"principal_id":"alice"}"#),
            request_id: "req-1",
        };
        check(&full, 1, 30_000);
        check(&full, u64::MAX, u32::MAX);
        check(
            &RequestRef {
                path: &long,
                ..full
            },
            300,
            1,
        );
        // Every field at its default: nothing but the envelope.
        let empty = HeaderMap::new();
        let bare = RequestRef {
            route: 0,
            method: "",
            path: "",
            query: "",
            headers: &empty,
            body: &[],
            identity_json: None,
            request_id: "",
        };
        check(&bare, 0, 0);
        // An empty identity is still an identity (`optional`).
        check(
            &RequestRef {
                identity_json: Some(""),
                ..bare
            },
            2,
            0,
        );
    }

    #[test]
    fn a_part_frame_is_the_bytes_of_the_message() {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append("x-empty", HeaderValue::from_static(""));
        let body = vec![9u8; 70_000];
        // call, head, body, last
        type Case<'a> = (u64, Option<(u16, &'a HeaderMap)>, &'a [u8], bool);
        let cases: [Case<'_>; 6] = [
            (1, Some((200, &headers)), b"{}", true),
            (2, Some((404, &HeaderMap::new())), b"", true),
            (3, Some((0, &headers)), &body, false),
            (u64::MAX, None, &body, false),
            (5, None, b"", true),
            (0, None, b"", false),
        ];
        for (call, head, body, last) in cases {
            let built = super::super::encode(&pb::HandleFrame {
                call,
                kind: Some(Kind::Part(pb::HttpResponsePart {
                    head: head.map(|(status, headers)| pb::HttpResponseHead {
                        status: status.into(),
                        headers: crate::headers::to_proto(headers),
                    }),
                    body: Bytes::copy_from_slice(body),
                    last,
                })),
            });
            assert_eq!(encode_part(call, head, body, last), built, "call {call}");
        }
    }

    #[test]
    fn a_start_frame_beyond_the_limit_is_not_built() {
        let headers = HeaderMap::new();
        let body = vec![0u8; super::super::MAX_FRAME_BYTES];
        let request = RequestRef {
            route: 0,
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
            identity_json: None,
            request_id: "",
        };
        assert!(encode_start(1, &request, 0).is_none());
        let fits = RequestRef {
            body: &body[..body.len() - 64],
            ..request
        };
        let frame = encode_start(1, &fits, 0).unwrap();
        assert!(frame.len() - 4 <= super::super::MAX_FRAME_BYTES);
    }
}
