//! Frames as each side reads them. The frame every call starts with on each side is read
//! straight into the form the reader uses — the plugin reads a `start`'s request into
//! [`IncomingRequest`], the host a `part` into [`IncomingPart`] — their fields slices of the
//! frame's buffer, no `String` per field and header; every other frame (and one in any but
//! the plain form the other side writes) is read by prost, which also names what is wrong with
//! a frame that does not read.

use prost::Message as _;
use prost::bytes::{Buf as _, Bytes, BytesMut};
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use crate::pb::{self, HandleFrame, handle_frame::Kind};

/// A frame the plugin received from the host.
#[derive(Debug, PartialEq)]
pub enum ToPlugin {
    /// A new call.
    Start {
        call: u64,
        timeout_ms: u32,
        request: IncomingRequest,
    },
    /// Any other frame.
    Other(HandleFrame),
}

/// A request as the plugin receives it (`HttpRequest` in `plugin.proto`), its fields as they
/// came.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IncomingRequest {
    /// The route, by its position in the descriptor's `routes`.
    pub route: u32,
    pub method: Bytes,
    pub path: Bytes,
    pub query: Bytes,
    /// Name and value, in order, repeated names kept.
    pub headers: Vec<(Bytes, Bytes)>,
    pub body: Bytes,
    /// The caller's identity (JSON), when the request is authenticated.
    pub identity_json: Option<Bytes>,
    pub request_id: Bytes,
}

impl From<pb::HttpRequest> for IncomingRequest {
    fn from(request: pb::HttpRequest) -> Self {
        Self {
            route: request.route,
            method: request.method.into(),
            path: request.path.into(),
            query: request.query.into(),
            headers: request
                .headers
                .into_iter()
                .map(|header| (header.name.into(), header.value))
                .collect(),
            body: request.body,
            identity_json: request.identity_json.map(Bytes::from),
            request_id: request.request_id.into(),
        }
    }
}

impl IncomingRequest {
    /// The request in `http` form: method, path and query, headers, body. A method or a path
    /// that does not parse is an error; a header that is not a valid header is left out.
    pub fn into_http(self) -> Result<http::Request<Bytes>, http::Error> {
        let uri = if self.query.is_empty() {
            self.path
        } else {
            let mut uri = BytesMut::with_capacity(self.path.len() + 1 + self.query.len());
            uri.extend_from_slice(&self.path);
            uri.extend_from_slice(b"?");
            uri.extend_from_slice(&self.query);
            uri.freeze()
        };
        let mut request = http::Request::new(self.body);
        *request.method_mut() = http::Method::from_bytes(&self.method)?;
        *request.uri_mut() = http::Uri::from_maybe_shared(uri)?;
        let headers = request.headers_mut();
        // Room for them all at once, when a map can have it (else it grows as they come).
        let _ = headers.try_reserve(self.headers.len());
        for (name, value) in self.headers {
            if !crate::headers::append_one(headers, &name, value) {
                break;
            }
        }
        Ok(request)
    }
}

/// Reads `frame` (one frame's bytes, without its length), as the plugin.
pub fn read_to_plugin(frame: Bytes) -> Result<ToPlugin, prost::DecodeError> {
    if let Some(start) = read_start(frame.clone()) {
        return Ok(start);
    }
    let frame = HandleFrame::decode(frame)?;
    Ok(match frame.kind {
        Some(Kind::Start(start)) => ToPlugin::Start {
            call: frame.call,
            timeout_ms: start.timeout_ms,
            request: start.request.unwrap_or_default().into(),
        },
        _ => ToPlugin::Other(frame),
    })
}

/// A `start` frame in the plain form (each message field once); `None` for any other frame —
/// and for one that does not read, whose error prost then names.
fn read_start(frame: Bytes) -> Option<ToPlugin> {
    let (call, mut start) = envelope(frame, 2)?;
    let (mut request, mut timeout_ms) = (None, 0);
    while start.has_remaining() {
        let (tag, wire) = decode_key(&mut start).ok()?;
        match (tag, wire) {
            (1, WireType::LengthDelimited) if request.is_none() => {
                request = Some(read_request(delimited(&mut start)?)?);
            }
            (1, _) => return None,
            // A uint32 field takes the low 32 bits of a wider varint, as prost does.
            (2, WireType::Varint) => timeout_ms = decode_varint(&mut start).ok()? as u32,
            (2, _) => return None,
            _ => skip(wire, tag, &mut start)?,
        }
    }
    Some(ToPlugin::Start {
        call,
        timeout_ms,
        request: request.unwrap_or_default(),
    })
}

/// A frame the host received from the plugin.
#[derive(Debug, PartialEq)]
pub enum ToHost {
    /// A part of a call's response.
    Part { call: u64, part: IncomingPart },
    /// Any other frame.
    Other(HandleFrame),
}

/// A part of a response as the host receives it (`HttpResponsePart`), its head in `http` form.
#[derive(Debug, Default, PartialEq)]
pub struct IncomingPart {
    /// In the first part only.
    pub head: Option<IncomingHead>,
    pub body: Bytes,
    /// No part follows.
    pub last: bool,
}

/// A response's status and headers (a header that is not a valid header is left out).
#[derive(Debug, Default, PartialEq)]
pub struct IncomingHead {
    /// As the plugin sent it: not necessarily a valid HTTP status.
    pub status: u32,
    pub headers: http::HeaderMap,
}

impl From<pb::HttpResponsePart> for IncomingPart {
    fn from(part: pb::HttpResponsePart) -> Self {
        Self {
            head: part.head.map(|head| {
                let mut headers = http::HeaderMap::new();
                crate::headers::append_from_proto(head.headers, &mut headers);
                IncomingHead {
                    status: head.status,
                    headers,
                }
            }),
            body: part.body,
            last: part.last,
        }
    }
}

/// Reads `frame` (one frame's bytes, without its length), as the host.
pub fn read_to_host(frame: Bytes) -> Result<ToHost, prost::DecodeError> {
    if let Some(part) = read_part(frame.clone()) {
        return Ok(part);
    }
    let frame = HandleFrame::decode(frame)?;
    Ok(match frame.kind {
        Some(Kind::Part(part)) => ToHost::Part {
            call: frame.call,
            part: part.into(),
        },
        _ => ToHost::Other(frame),
    })
}

/// A `part` frame in the plain form; `None` otherwise (as [`read_start`]).
fn read_part(frame: Bytes) -> Option<ToHost> {
    let (call, mut bytes) = envelope(frame, 3)?;
    let mut part = IncomingPart::default();
    while bytes.has_remaining() {
        let (tag, wire) = decode_key(&mut bytes).ok()?;
        match (tag, wire) {
            (1, WireType::LengthDelimited) if part.head.is_none() => {
                part.head = Some(read_head(delimited(&mut bytes)?)?);
            }
            (2, WireType::LengthDelimited) => part.body = delimited(&mut bytes)?,
            (3, WireType::Varint) => part.last = decode_varint(&mut bytes).ok()? != 0,
            (1..=3, _) => return None,
            _ => skip(wire, tag, &mut bytes)?,
        }
    }
    Some(ToHost::Part { call, part })
}

/// A `HandleFrame`'s call and the bytes of its kind, when the kind is field `kind` (once);
/// `None` for another kind, a kind in several pieces (merged, as protobuf allows), or a frame
/// that does not read.
fn envelope(mut frame: Bytes, kind: u32) -> Option<(u64, Bytes)> {
    let (mut call, mut body) = (0, None);
    while frame.has_remaining() {
        let (tag, wire) = decode_key(&mut frame).ok()?;
        match (tag, wire) {
            (1, WireType::Varint) => call = decode_varint(&mut frame).ok()?,
            // A known field in an unexpected wire type: prost names the error.
            (1, _) => return None,
            (tag, WireType::LengthDelimited) if tag == kind && body.is_none() => {
                body = Some(delimited(&mut frame)?);
            }
            (2..=6, _) => return None,
            _ => skip(wire, tag, &mut frame)?,
        }
    }
    Some((call, body?))
}

fn read_head(mut bytes: Bytes) -> Option<IncomingHead> {
    let mut head = IncomingHead::default();
    let mut full = false;
    while bytes.has_remaining() {
        let (tag, wire) = decode_key(&mut bytes).ok()?;
        match (tag, wire) {
            (1, WireType::Varint) => head.status = decode_varint(&mut bytes).ok()? as u32,
            (2, WireType::LengthDelimited) => {
                let (name, value) = read_header(delimited(&mut bytes)?)?;
                // Past what a map holds, the rest is left out (as `append_from_proto` does).
                full = full || !crate::headers::append_one(&mut head.headers, &name, value);
            }
            (1 | 2, _) => return None,
            _ => skip(wire, tag, &mut bytes)?,
        }
    }
    Some(head)
}

fn read_request(mut bytes: Bytes) -> Option<IncomingRequest> {
    let mut request = IncomingRequest::default();
    while bytes.has_remaining() {
        let (tag, wire) = decode_key(&mut bytes).ok()?;
        match (tag, wire) {
            (1, WireType::Varint) => request.route = decode_varint(&mut bytes).ok()? as u32,
            (2, WireType::LengthDelimited) => request.method = text(&mut bytes)?,
            (3, WireType::LengthDelimited) => request.path = text(&mut bytes)?,
            (4, WireType::LengthDelimited) => request.query = text(&mut bytes)?,
            (5, WireType::LengthDelimited) => {
                request.headers.push(read_header(delimited(&mut bytes)?)?);
            }
            (6, WireType::LengthDelimited) => request.body = delimited(&mut bytes)?,
            (7, WireType::LengthDelimited) => request.identity_json = Some(text(&mut bytes)?),
            (8, WireType::LengthDelimited) => request.request_id = text(&mut bytes)?,
            // A known field in an unexpected wire type.
            (1..=8, _) => return None,
            _ => skip(wire, tag, &mut bytes)?,
        }
    }
    Some(request)
}

fn read_header(mut bytes: Bytes) -> Option<(Bytes, Bytes)> {
    let (mut name, mut value) = (Bytes::new(), Bytes::new());
    while bytes.has_remaining() {
        let (tag, wire) = decode_key(&mut bytes).ok()?;
        match (tag, wire) {
            (1, WireType::LengthDelimited) => name = text(&mut bytes)?,
            (2, WireType::LengthDelimited) => value = delimited(&mut bytes)?,
            (1 | 2, _) => return None,
            _ => skip(wire, tag, &mut bytes)?,
        }
    }
    Some((name, value))
}

/// The next length-delimited field's bytes, sharing the frame's buffer.
fn delimited(bytes: &mut Bytes) -> Option<Bytes> {
    let len = usize::try_from(decode_varint(bytes).ok()?).ok()?;
    (len <= bytes.remaining()).then(|| bytes.split_to(len))
}

/// A `string` field: UTF-8, as protobuf requires.
fn text(bytes: &mut Bytes) -> Option<Bytes> {
    let text = delimited(bytes)?;
    std::str::from_utf8(&text).ok()?;
    Some(text)
}

fn skip(wire: WireType, tag: u32, bytes: &mut Bytes) -> Option<()> {
    skip_field(wire, tag, bytes, DecodeContext::default()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::encode;

    fn request() -> pb::HttpRequest {
        pb::HttpRequest {
            route: 2,
            method: "POST".into(),
            path: "/api/v1/p/hello/greeting".into(),
            query: "name=Ada".into(),
            headers: vec![
                pb::Header {
                    name: "host".into(),
                    value: Bytes::from_static(b"127.0.0.1"),
                },
                pb::Header {
                    name: "x-empty".into(),
                    value: Bytes::new(),
                },
                pb::Header {
                    name: "host".into(),
                    value: Bytes::from_static(b"again"),
                },
            ],
            body: Bytes::from_static(b"{\"a\":1}"),
            identity_json: Some(String::new()),
            request_id: "req-9".into(),
        }
    }

    fn start(call: u64, request: Option<pb::HttpRequest>, timeout_ms: u32) -> HandleFrame {
        HandleFrame {
            call,
            kind: Some(Kind::Start(pb::HandleStart {
                request,
                timeout_ms,
            })),
        }
    }

    /// What prost reads from `wire`, in the same form.
    fn through_prost(wire: Bytes) -> ToPlugin {
        let frame = HandleFrame::decode(wire).unwrap();
        match frame.kind {
            Some(Kind::Start(start)) => ToPlugin::Start {
                call: frame.call,
                timeout_ms: start.timeout_ms,
                request: start.request.unwrap_or_default().into(),
            },
            _ => ToPlugin::Other(frame),
        }
    }

    fn wire(frame: &HandleFrame) -> Bytes {
        encode(frame).slice(4..)
    }

    #[test]
    fn start_frames_read_as_prost_reads_them() {
        let frames = [
            start(1, Some(request()), 30_000),
            start(u64::MAX, Some(pb::HttpRequest::default()), 0),
            start(0, None, 5),
            HandleFrame {
                call: 4,
                kind: Some(Kind::Cancel(pb::HandleCancel {})),
            },
            HandleFrame {
                call: 5,
                kind: Some(Kind::Credit(pb::HandleCredit { bytes: 7 })),
            },
        ];
        for frame in &frames {
            let fast = read_start(wire(frame));
            let is_start = matches!(frame.kind, Some(Kind::Start(_)));
            assert_eq!(fast.is_some(), is_start, "{frame:?}");
            assert_eq!(
                read_to_plugin(wire(frame)).unwrap(),
                through_prost(wire(frame))
            );
        }
        // As the host writes it.
        let ToPlugin::Start { request, .. } = read_to_plugin(wire(&frames[0])).unwrap() else {
            panic!("a start frame");
        };
        let http = request.into_http().unwrap();
        assert_eq!(http.method(), http::Method::POST);
        assert_eq!(http.uri(), "/api/v1/p/hello/greeting?name=Ada");
        let hosts: Vec<_> = http.headers().get_all("host").iter().collect();
        assert_eq!(hosts, ["127.0.0.1", "again"]);
        assert_eq!(http.headers()["x-empty"], "");
        assert_eq!(http.body().as_ref(), b"{\"a\":1}");
    }

    /// Protobuf lets a message come in pieces (merged) and with fields unknown to the reader:
    /// the same request either way.
    #[test]
    fn merged_pieces_and_unknown_fields_read_as_prost_reads_them() {
        let whole = start(3, Some(request()), 9);
        let mut first = request();
        first.headers.truncate(1);
        let mut second = pb::HttpRequest {
            headers: request().headers[1..].to_vec(),
            ..Default::default()
        };
        second.route = 2;
        let mut pieces = wire(&start(3, Some(first.clone()), 9)).to_vec();
        pieces.extend_from_slice(&wire(&start(0, Some(second), 0)));
        let pieces = Bytes::from(pieces);
        assert!(read_start(pieces.clone()).is_none());
        assert_eq!(
            read_to_plugin(pieces.clone()).unwrap(),
            through_prost(pieces)
        );

        // Field 15 (varint 1) after the frame's own: skipped.
        let mut unknown = wire(&whole).to_vec();
        unknown.extend_from_slice(&[15 << 3, 1]);
        let unknown = Bytes::from(unknown);
        assert!(read_start(unknown.clone()).is_some());
        assert_eq!(
            read_to_plugin(unknown.clone()).unwrap(),
            through_prost(unknown)
        );
    }

    fn part(call: u64, head: Option<pb::HttpResponseHead>, body: &[u8], last: bool) -> HandleFrame {
        HandleFrame {
            call,
            kind: Some(Kind::Part(pb::HttpResponsePart {
                head,
                body: Bytes::copy_from_slice(body),
                last,
            })),
        }
    }

    fn host_through_prost(wire: Bytes) -> ToHost {
        let frame = HandleFrame::decode(wire).unwrap();
        match frame.kind {
            Some(Kind::Part(part)) => ToHost::Part {
                call: frame.call,
                part: part.into(),
            },
            _ => ToHost::Other(frame),
        }
    }

    #[test]
    fn part_frames_read_as_prost_reads_them() {
        let head = pb::HttpResponseHead {
            status: 201,
            headers: vec![
                pb::Header {
                    name: "content-type".into(),
                    value: Bytes::from_static(b"application/json"),
                },
                pb::Header {
                    name: "set-cookie".into(),
                    value: Bytes::from_static(b"a=1"),
                },
                pb::Header {
                    name: "set-cookie".into(),
                    value: Bytes::from_static(b"b=2"),
                },
                // Not a header name: left out, both ways.
                pb::Header {
                    name: "bad name".into(),
                    value: Bytes::from_static(b"x"),
                },
            ],
        };
        let frames = [
            part(1, Some(head.clone()), b"{}", true),
            part(2, Some(pb::HttpResponseHead::default()), b"", false),
            part(u64::MAX, None, &[5; 10_000], false),
            part(0, None, b"", true),
            HandleFrame {
                call: 7,
                kind: Some(Kind::Error(pb::HandleError {
                    code: 4,
                    message: "late".into(),
                })),
            },
        ];
        for frame in &frames {
            let is_part = matches!(frame.kind, Some(Kind::Part(_)));
            assert_eq!(read_part(wire(frame)).is_some(), is_part, "{frame:?}");
            assert_eq!(
                read_to_host(wire(frame)).unwrap(),
                host_through_prost(wire(frame))
            );
        }
        let ToHost::Part { call, part: first } = read_to_host(wire(&frames[0])).unwrap() else {
            panic!("a part frame");
        };
        assert_eq!(call, 1);
        let head = first.head.unwrap();
        assert_eq!(head.status, 201);
        let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(head.headers.len(), 3);
        assert_eq!((first.body.as_ref(), first.last), (&b"{}"[..], true));

        // In pieces (a merged head): prost's reading.
        let mut pieces = wire(&part(3, Some(head_only(200)), b"", false)).to_vec();
        pieces.extend_from_slice(&wire(&part(3, Some(head_only(0)), b"x", true)));
        let pieces = Bytes::from(pieces);
        assert!(read_part(pieces.clone()).is_none());
        assert_eq!(
            read_to_host(pieces.clone()).unwrap(),
            host_through_prost(pieces)
        );
        // Cut short: an error.
        let good = wire(&frames[0]);
        assert!(read_to_host(good.slice(..good.len() - 2)).is_err());
    }

    /// Prost's verdict whatever the path: a known field in the wrong wire type is an error,
    /// and a head with more names than a map holds is cut, not a panic.
    #[test]
    fn odd_frames_read_as_prost_reads_them() {
        // `call` as a length-delimited field, then a plain part: prost refuses it.
        let mut odd = vec![0x0a, 0x01, 0x05];
        odd.extend_from_slice(&wire(&part(1, None, b"x", true)));
        let odd = Bytes::from(odd);
        assert!(HandleFrame::decode(odd.clone()).is_err());
        assert!(read_to_host(odd.clone()).is_err());
        assert!(read_to_plugin(odd).is_err());
        // `timeout_ms` as a length-delimited field inside `start`.
        let mut start_bytes = pb::HandleStart {
            request: Some(request()),
            timeout_ms: 0,
        }
        .encode_to_vec();
        start_bytes.extend_from_slice(&[0x12, 0x00]);
        let mut frame = vec![0x08, 0x01, 0x12];
        prost::encoding::encode_varint(start_bytes.len() as u64, &mut frame);
        frame.extend_from_slice(&start_bytes);
        let frame = Bytes::from(frame);
        assert!(HandleFrame::decode(frame.clone()).is_err());
        assert!(read_to_plugin(frame).is_err());

        let crowded = pb::HttpResponseHead {
            status: 200,
            headers: (0..30_000)
                .map(|i| pb::Header {
                    name: format!("x-{i}"),
                    value: Bytes::from_static(b"1"),
                })
                .collect(),
        };
        let frame = wire(&part(2, Some(crowded), b"", true));
        let fast = read_to_host(frame.clone()).unwrap();
        assert_eq!(fast, host_through_prost(frame));
        let ToHost::Part { part: cut, .. } = fast else {
            panic!("a part frame");
        };
        assert!(cut.head.unwrap().headers.len() < 30_000);
    }

    fn head_only(status: u32) -> pb::HttpResponseHead {
        pb::HttpResponseHead {
            status,
            headers: Vec::new(),
        }
    }

    #[test]
    fn a_broken_start_frame_is_an_error() {
        let good = wire(&start(1, Some(request()), 1));
        assert!(read_to_plugin(good.slice(..good.len() - 3)).is_err());
        // The method's bytes are not UTF-8.
        let mut bad = request();
        bad.method = "GET".into();
        let mut bytes = wire(&start(1, Some(bad), 1)).to_vec();
        let at = bytes.windows(3).position(|w| w == b"GET").unwrap();
        bytes[at] = 0xff;
        assert!(read_to_plugin(Bytes::from(bytes)).is_err());
        // A method `http` does not take.
        let mut odd = request();
        odd.method = "GE T".into();
        let ToPlugin::Start { request, .. } =
            read_to_plugin(wire(&start(1, Some(odd), 1))).unwrap()
        else {
            panic!("a start frame");
        };
        assert!(request.into_http().is_err());
    }
}
