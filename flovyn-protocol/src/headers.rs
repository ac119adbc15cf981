//! HTTP headers on the wire: `http::HeaderMap` ⇄ `pb::Header`s, in order, repeated names kept.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::pb;

/// Every header of `headers`, in order.
pub fn to_proto(headers: &HeaderMap) -> Vec<pb::Header> {
    headers
        .iter()
        .map(|(name, value)| pb::Header {
            name: name.as_str().to_owned(),
            value: prost::bytes::Bytes::copy_from_slice(value.as_bytes()),
        })
        .collect()
}

/// `headers` appended to `into`; a name or value that is not a valid header is skipped.
pub fn append_from_proto(headers: Vec<pb::Header>, into: &mut HeaderMap) {
    for header in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_maybe_shared(header.value),
        ) {
            into.append(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_survive_the_wire_in_order_with_repeats() {
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append("content-type", HeaderValue::from_static("application/json"));
        let mut back = HeaderMap::new();
        let mut wire = to_proto(&headers);
        wire.push(pb::Header {
            name: "bad name".into(),
            value: prost::bytes::Bytes::from_static(b"x"),
        });
        append_from_proto(wire, &mut back);
        assert_eq!(back, headers);
    }
}
