//! Feeds arbitrary UTF-8 to the route-path parser, and every path it accepts to the helpers
//! that take a parsed path.
//!
//! The macros run `RoutePath::parse` inside the compiler and the server at startup, so it
//! must answer every input; a panic (e.g. slicing inside a multi-byte character) is a
//! finding. For accepted paths the target also checks what the docs promise: the path is
//! stored as written, `params` are the `Param` segments, a path conflicts with itself, and
//! `conflicts` is symmetric.
//!
//! Shared by the libFuzzer binary (`fuzz_targets/route_path.rs`) and the test suite's short
//! smoke run; it panics when the property does not hold.

use flovyn_naming::route::{RoutePath, Segment, conflicts, served_path};

/// Checks the target's property on one input.
pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = match RoutePath::parse(text) {
        Ok(path) => path,
        Err(e) => {
            assert!(!e.message().is_empty(), "an error must say why");
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(path.as_str(), text, "a valid path is stored as written");
    assert_eq!(path.to_string(), text);

    let served = served_path("worker-token", &path);
    assert!(served.starts_with("/api/v1/p/worker-token"));
    assert!(
        !served.ends_with('/'),
        "no served path ends with `/`: {served}"
    );

    let segments = path.segments();
    assert_eq!(segments.is_empty(), path.is_root());
    let params = path.params();
    let from_segments: Vec<&str> = segments
        .iter()
        .filter_map(|s| match s {
            Segment::Param(name) => Some(*name),
            Segment::Literal(_) => None,
        })
        .collect();
    assert_eq!(params, from_segments);

    assert!(conflicts(&path, &path), "a path conflicts with itself");
    let reparsed: RoutePath = text.parse().expect("a valid path parses again");
    assert_eq!(reparsed, path);
    for fixed in ["/", "/tokens/{id}", "/tokens/new", "/tokens/{id}/uses"] {
        let fixed = RoutePath::parse(fixed).expect("fixture is valid");
        assert_eq!(conflicts(&path, &fixed), conflicts(&fixed, &path));
    }
}
