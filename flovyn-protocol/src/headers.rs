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

/// `headers` appended to `into`, as [`append_one`] each.
pub fn append_from_proto(headers: Vec<pb::Header>, into: &mut HeaderMap) {
    for header in headers {
        if !append_one(into, header.name.as_bytes(), header.value) {
            break;
        }
    }
}

/// `name: value` appended to `into` when both are valid (else left out). `false` once `into`
/// holds all a `HeaderMap` can (some 24k names): the caller leaves the rest out — a peer
/// sending that many cannot make the reader panic.
pub fn append_one(into: &mut HeaderMap, name: &[u8], value: prost::bytes::Bytes) -> bool {
    match (
        HeaderName::from_bytes(name),
        HeaderValue::from_maybe_shared(value),
    ) {
        (Ok(name), Ok(value)) => into.try_append(name, value).is_ok(),
        _ => true,
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

    #[test]
    fn more_names_than_a_header_map_holds_are_left_out_not_a_panic() {
        let wire: Vec<pb::Header> = (0..40_000)
            .map(|i| pb::Header {
                name: format!("x-{i}"),
                value: prost::bytes::Bytes::from_static(b"1"),
            })
            .collect();
        let mut back = HeaderMap::new();
        append_from_proto(wire, &mut back);
        assert!(back.len() > 20_000 && back.len() < 40_000, "{}", back.len());
        assert_eq!(back["x-0"], "1");
    }
}
