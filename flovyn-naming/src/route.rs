//! HTTP routes of a plugin: the methods a route may use, the syntax of the path template a
//! plugin declares, and where that template is served.
//!
//! A plugin declares paths relative to its own root (`/tokens/{id}`); the server nests them
//! under [`PLUGIN_API_PREFIX`]`/<plugin>`. Templates use `{param}` captures, which is both
//! axum 0.8's and OpenAPI's syntax, so one string serves the router and the spec.
//!
//! This module owns the template syntax and overlap detection. Which handler a route calls
//! and how parameters are typed belong to the macros.
//!
//! ```
//! use flovyn_naming::route::{Method, RoutePath, served_path};
//!
//! let path = RoutePath::parse("/tokens/{id}").unwrap();
//! assert_eq!(path.params(), ["id"]);
//! assert_eq!(served_path("worker-token", &path), "/api/v1/p/worker-token/tokens/{id}");
//! assert_eq!(Method::parse("delete").unwrap(), Method::Delete);
//!
//! let err = RoutePath::parse("/tokens/:id").unwrap_err();
//! assert!(err.message().contains("write `{id}`"));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::text::quoted;

/// Where every plugin's routes are mounted: a plugin's path `/x` is served at
/// `/api/v1/p/<plugin>/x`.
pub const PLUGIN_API_PREFIX: &str = "/api/v1/p";

/// A route method or path that breaks the routing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    message: String,
}

impl RouteError {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// The human-readable message, e.g. ``route path `tokens` must start with `/`: write `/tokens` ``.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RouteError {}

/// An HTTP method a plugin route may use.
///
/// `TRACE` and `CONNECT` are left out on purpose: neither is something a plugin API should
/// serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// Every method, in the order error messages list them.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Head,
        Method::Options,
    ];

    /// Parses a method name, ignoring ASCII case (`GET`, `get` and `Get` are all
    /// [`Method::Get`]).
    ///
    /// ```
    /// use flovyn_naming::route::Method;
    ///
    /// assert_eq!(Method::parse("Patch").unwrap(), Method::Patch);
    /// assert!(Method::parse("FETCH").unwrap_err().message().contains("`OPTIONS`"));
    /// ```
    pub fn parse(s: &str) -> Result<Method, RouteError> {
        if let Some(method) = Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
        {
            return Ok(method);
        }
        let expected = Method::ALL
            .iter()
            .map(|m| format!("`{}`", m.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let message = if s.is_empty() {
            format!("HTTP method must not be empty: expected one of {expected}")
        } else {
            format!(
                "unknown HTTP method `{}`: expected one of {expected}",
                quoted(s)
            )
        };
        Err(RouteError::new(message))
    }

    /// The method's canonical upper-case name, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::parse(s)
    }
}

/// One `/`-separated segment of a [`RoutePath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment<'a> {
    /// A segment matched as written, e.g. `tokens`.
    Literal(&'a str),
    /// A `{name}` capture; holds the name without braces.
    Param(&'a str),
}

/// A validated route path template, relative to the plugin's root.
///
/// Rules, each checked by [`RoutePath::parse`]:
/// - it starts with `/`; `/` alone is the plugin's root;
/// - no trailing `/` (except the root) and no empty segment (`//`);
/// - a literal segment uses only RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~`,
///   and is not `.` or `..` (clients remove those before sending);
/// - a parameter is a whole segment `{name}` with a snake_case name `[a-z_][a-z0-9_]*`
///   (not `_` alone), so it maps onto a Rust binding and an OpenAPI parameter unchanged;
///   names are unique within a path;
/// - `:name` captures (axum 0.7 and earlier) and wildcards (`*`, `{*rest}`) are rejected:
///   axum 0.8 no longer accepts the first, and OpenAPI cannot describe the second.
///
/// A valid path is stored exactly as written: there is nothing to normalize once the rules
/// hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoutePath {
    path: String,
}

impl RoutePath {
    /// Validates `path` against the rules listed on [`RoutePath`].
    ///
    /// ```
    /// use flovyn_naming::route::RoutePath;
    ///
    /// assert!(RoutePath::parse("/").is_ok());
    /// assert!(RoutePath::parse("/tokens/{token_id}/uses").is_ok());
    /// let err = RoutePath::parse("tokens").unwrap_err();
    /// assert_eq!(err.message(), "route path `tokens` must start with `/`: write `/tokens`");
    /// ```
    pub fn parse(path: &str) -> Result<RoutePath, RouteError> {
        check_path(path)?;
        Ok(RoutePath {
            path: path.to_owned(),
        })
    }

    /// The path as written, e.g. `/tokens/{id}`.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether this is the plugin's root path `/`.
    pub fn is_root(&self) -> bool {
        self.path == "/"
    }

    /// The names of the `{param}` captures, in order.
    pub fn params(&self) -> Vec<&str> {
        self.segments()
            .into_iter()
            .filter_map(|segment| match segment {
                Segment::Param(name) => Some(name),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// The segments between the `/`s, in order; empty for the root path `/`.
    ///
    /// ```
    /// use flovyn_naming::route::{RoutePath, Segment};
    ///
    /// let path = RoutePath::parse("/tokens/{id}").unwrap();
    /// assert_eq!(path.segments(), [Segment::Literal("tokens"), Segment::Param("id")]);
    /// ```
    pub fn segments(&self) -> Vec<Segment<'_>> {
        if self.is_root() {
            return Vec::new();
        }
        self.path[1..]
            .split('/')
            .map(|segment| {
                match segment
                    .strip_prefix('{')
                    .and_then(|rest| rest.strip_suffix('}'))
                {
                    Some(name) => Segment::Param(name),
                    None => Segment::Literal(segment),
                }
            })
            .collect()
    }
}

impl fmt::Display for RoutePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl FromStr for RoutePath {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoutePath::parse(s)
    }
}

/// The full path `path` is served at for `plugin`: [`PLUGIN_API_PREFIX`]`/<plugin><path>`.
///
/// The root path `/` is served at the plugin's prefix itself, without a trailing slash
/// (`/api/v1/p/hello`), which is what axum 0.8 matches for a `/` route nested under that
/// prefix; no other served path ends with `/` either.
///
/// ```
/// use flovyn_naming::route::{RoutePath, served_path};
///
/// let root = RoutePath::parse("/").unwrap();
/// assert_eq!(served_path("hello", &root), "/api/v1/p/hello");
/// ```
pub fn served_path(plugin: &str, path: &RoutePath) -> String {
    if path.is_root() {
        format!("{PLUGIN_API_PREFIX}/{plugin}")
    } else {
        format!("{PLUGIN_API_PREFIX}/{plugin}{}", path.as_str())
    }
}

/// Whether some request path would match both templates: they have as many segments, and
/// at each position the literals are equal or at least one side is a parameter.
///
/// `/tokens/{id}` and `/tokens/{token_id}` conflict, and so do `/tokens/{id}` and
/// `/tokens/new`: the router would prefer the literal, but a reader of the API (or its
/// OpenAPI document) could not tell which route `/tokens/new` reaches.
///
/// ```
/// use flovyn_naming::route::{RoutePath, conflicts};
///
/// let a = RoutePath::parse("/tokens/{id}").unwrap();
/// let b = RoutePath::parse("/tokens/{token_id}").unwrap();
/// let c = RoutePath::parse("/tokens/{id}/uses").unwrap();
/// assert!(conflicts(&a, &b));
/// assert!(!conflicts(&a, &c));
/// ```
pub fn conflicts(a: &RoutePath, b: &RoutePath) -> bool {
    let (a, b) = (a.segments(), b.segments());
    a.len() == b.len()
        && a.iter().zip(&b).all(|pair| match pair {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            _ => true,
        })
}

fn check_path(path: &str) -> Result<(), RouteError> {
    let shown = quoted(path);
    if path.is_empty() {
        return Err(RouteError::new(
            "route path must not be empty: write `/` for the plugin's root".into(),
        ));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(RouteError::new(format!(
            "route path `{shown}` must start with `/`: write `{}`",
            quoted(&tidy(&format!("/{path}")))
        )));
    };
    if rest.is_empty() {
        return Ok(());
    }
    if rest.ends_with('/') {
        return Err(RouteError::new(format!(
            "route path `{shown}` must not end with `/`: write `{}`",
            quoted(&tidy(path))
        )));
    }
    if path.contains("//") {
        return Err(RouteError::new(format!(
            "route path `{shown}` has an empty segment (`//`): write `{}`",
            quoted(&tidy(path))
        )));
    }

    let mut params: Vec<&str> = Vec::new();
    for segment in rest.split('/') {
        if let Some(name) = check_segment(path, segment)? {
            if params.contains(&name) {
                return Err(RouteError::new(format!(
                    "route path `{shown}` uses the parameter `{{{name}}}` twice: give each \
                     parameter its own name"
                )));
            }
            params.push(name);
        }
    }
    Ok(())
}

/// Checks one segment; returns the parameter name when it is a `{param}`.
fn check_segment<'a>(path: &str, segment: &'a str) -> Result<Option<&'a str>, RouteError> {
    let shown = quoted(path);
    if segment.starts_with('*') || segment.starts_with("{*") {
        return Err(RouteError::new(format!(
            "wildcard segment `{}` in route path `{shown}` is not supported: OpenAPI cannot \
             describe it",
            quoted(segment)
        )));
    }
    if let Some(name) = segment.strip_prefix(':').filter(|name| !name.is_empty()) {
        let fixed = path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(n) => format!("{{{n}}}"),
                None => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        return Err(RouteError::new(format!(
            "route path `{shown}` uses `:{}`; write `{{{}}}` (axum 0.8 and OpenAPI syntax): `{}`",
            quoted(name),
            quoted(name),
            quoted(&fixed)
        )));
    }
    if segment.contains(['{', '}']) {
        return check_param_segment(path, segment).map(Some);
    }
    if segment == "." || segment == ".." {
        return Err(RouteError::new(format!(
            "route path `{shown}` contains the dot segment `{segment}`: clients remove dot \
             segments before sending a request, so it could never match"
        )));
    }
    if let Some(bad) = segment.chars().find(|&c| !is_unreserved(c)) {
        return Err(RouteError::new(format!(
            "route path `{shown}` contains {}, which is not allowed in a literal segment: use \
             only ASCII letters, digits, `-`, `.`, `_` and `~`{}",
            describe_char(bad),
            char_hint(bad)
        )));
    }
    Ok(None)
}

/// Checks a segment that contains a brace; returns the parameter name.
fn check_param_segment<'a>(path: &str, segment: &'a str) -> Result<&'a str, RouteError> {
    let shown = quoted(path);
    let mut depth = 0usize;
    for c in segment.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                return Err(RouteError::new(format!(
                    "unbalanced `}}` in route path `{shown}`: a parameter is written `{{name}}`"
                )));
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    if depth > 0 {
        return Err(RouteError::new(format!(
            "unbalanced `{{` in route path `{shown}`: close the parameter with `}}`"
        )));
    }
    let whole = segment
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|name| !name.contains(['{', '}']));
    let Some(name) = whole else {
        let example = segment
            .split(['{', '}'])
            .nth(1)
            .filter(|name| is_param_name(name))
            .unwrap_or("id");
        return Err(RouteError::new(format!(
            "segment `{}` of route path `{shown}` mixes a parameter with other text: a \
             parameter must be a whole segment, e.g. `/{{{example}}}`",
            quoted(segment)
        )));
    };
    if name.is_empty() {
        return Err(RouteError::new(format!(
            "route path `{shown}` has an unnamed parameter `{{}}`: name it, e.g. `{{id}}`"
        )));
    }
    if !is_param_name(name) {
        let fix = match snake_case(name) {
            Some(fix) => format!("write `{{{fix}}}`"),
            None => "e.g. `{token_id}`".to_owned(),
        };
        return Err(RouteError::new(format!(
            "parameter name `{}` in route path `{shown}` is not snake_case: use lowercase ASCII \
             letters, digits and `_`, not starting with a digit; {fix}",
            quoted(name)
        )));
    }
    Ok(name)
}

/// `[a-z_][a-z0-9_]*` but not `_`, which is no binding name in Rust.
fn is_param_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z' | b'_'))
        && name != "_"
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `tokenId` → `token_id`, `token-id` → `token_id`, when the result is a valid name.
fn snake_case(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        match c {
            '-' | ' ' => out.push('_'),
            c if c.is_ascii_uppercase() => {
                if previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
        previous = Some(c);
    }
    is_param_name(&out).then_some(out)
}

/// RFC 3986 unreserved characters: the ones a client never percent-encodes, so the path is
/// matched exactly as written.
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '`' => "a backtick".to_owned(),
        c if c.is_control() => format!("the control character `{}`", c.escape_default()),
        c if !c.is_ascii() => format!("the non-ASCII character `{c}`"),
        c => format!("`{c}`"),
    }
}

fn char_hint(c: char) -> &'static str {
    match c {
        '?' => " (query parameters are not part of the path)",
        '#' => " (fragments are never sent to the server)",
        '%' => " (percent-encoded characters cannot be matched reliably)",
        _ => "",
    }
}

/// `path` with repeated `/` collapsed and no trailing `/`: the suggested spelling.
fn tidy(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &str) -> String {
        RoutePath::parse(path).unwrap_err().message().to_owned()
    }

    #[test]
    fn parses_methods_case_insensitively() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Ok(m));
            assert_eq!(Method::parse(&m.as_str().to_lowercase()), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!("Get".parse::<Method>(), Ok(Method::Get));
    }

    #[test]
    fn rejects_unknown_methods_listing_valid_ones() {
        assert_eq!(
            Method::parse("FETCH").unwrap_err().message(),
            "unknown HTTP method `FETCH`: expected one of `GET`, `POST`, `PUT`, `PATCH`, \
             `DELETE`, `HEAD`, `OPTIONS`"
        );
        assert!(
            Method::parse("")
                .unwrap_err()
                .message()
                .starts_with("HTTP method must not be empty")
        );
        assert!(Method::parse(" GET").is_err());
        assert!(Method::parse("TRACE").is_err());
    }

    #[test]
    fn accepts_valid_paths() {
        for path in [
            "/",
            "/tokens",
            "/tokens/{id}",
            "/tokens/{token_id}/uses/{use_id}",
            "/v1.2/a-b_c~d",
            "/{_private}",
            "/{id2}",
        ] {
            let parsed = RoutePath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(parsed.as_str(), path);
            assert_eq!(parsed.to_string(), path);
        }
    }

    #[test]
    fn lists_params_and_segments() {
        let path = RoutePath::parse("/tokens/{token_id}/uses/{use_id}").unwrap();
        assert_eq!(path.params(), ["token_id", "use_id"]);
        assert_eq!(
            path.segments(),
            [
                Segment::Literal("tokens"),
                Segment::Param("token_id"),
                Segment::Literal("uses"),
                Segment::Param("use_id"),
            ]
        );
        let root = RoutePath::parse("/").unwrap();
        assert!(root.is_root());
        assert!(root.segments().is_empty());
        assert!(root.params().is_empty());
    }

    #[test]
    fn requires_leading_slash() {
        assert_eq!(
            err("tokens"),
            "route path `tokens` must start with `/`: write `/tokens`"
        );
        assert_eq!(
            err("tokens/"),
            "route path `tokens/` must start with `/`: write `/tokens`"
        );
        assert!(err("").starts_with("route path must not be empty"));
    }

    #[test]
    fn rejects_trailing_slash_and_empty_segments() {
        assert_eq!(
            err("/tokens/"),
            "route path `/tokens/` must not end with `/`: write `/tokens`"
        );
        assert_eq!(
            err("//"),
            "route path `//` must not end with `/`: write `/`"
        );
        assert_eq!(
            err("/tokens//{id}"),
            "route path `/tokens//{id}` has an empty segment (`//`): write `/tokens/{id}`"
        );
    }

    #[test]
    fn rejects_colon_params() {
        assert_eq!(
            err("/tokens/:id"),
            "route path `/tokens/:id` uses `:id`; write `{id}` (axum 0.8 and OpenAPI syntax): \
             `/tokens/{id}`"
        );
        assert!(err("/a/:x/b/:y").ends_with("`/a/{x}/b/{y}`"));
    }

    #[test]
    fn rejects_wildcards() {
        assert_eq!(
            err("/files/{*rest}"),
            "wildcard segment `{*rest}` in route path `/files/{*rest}` is not supported: \
             OpenAPI cannot describe it"
        );
        assert!(err("/files/*").starts_with("wildcard segment `*` in route path `/files/*`"));
        assert!(err("/files/*rest").starts_with("wildcard segment `*rest`"));
    }

    #[test]
    fn rejects_bad_braces() {
        assert_eq!(
            err("/tokens/{id"),
            "unbalanced `{` in route path `/tokens/{id`: close the parameter with `}`"
        );
        assert!(err("/tokens/id}").starts_with("unbalanced `}` in route path `/tokens/id}`"));
        assert!(err("/tokens/}{").starts_with("unbalanced `}`"));
        assert!(err("/files/{name}.json").contains("must be a whole segment, e.g. `/{name}`"));
        assert!(err("/{a}{b}").contains("mixes a parameter with other text"));
        assert!(err("/{{id}}").contains("mixes a parameter with other text"));
        assert!(err("/{}").contains("unnamed parameter `{}`"));
    }

    #[test]
    fn rejects_bad_param_names() {
        assert!(err("/{tokenId}").ends_with("not starting with a digit; write `{token_id}`"));
        assert!(err("/{token-id}").ends_with("write `{token_id}`"));
        assert!(err("/{1st}").ends_with("e.g. `{token_id}`"));
        assert!(err("/{_}").contains("parameter name `_`"));
        assert!(err("/{é}").contains("is not snake_case"));
    }

    #[test]
    fn rejects_duplicate_params() {
        assert_eq!(
            err("/a/{id}/b/{id}"),
            "route path `/a/{id}/b/{id}` uses the parameter `{id}` twice: give each parameter \
             its own name"
        );
    }

    #[test]
    fn rejects_reserved_characters() {
        assert_eq!(
            err("/to ken"),
            "route path `/to ken` contains a space, which is not allowed in a literal segment: \
             use only ASCII letters, digits, `-`, `.`, `_` and `~`"
        );
        assert!(err("/tokens?x=1").contains("contains `?`, which"));
        assert!(err("/tokens?x=1").ends_with("(query parameters are not part of the path)"));
        assert!(err("/a#b").contains("contains `#`"));
        assert!(err("/a%20b").contains("contains `%`"));
        assert!(err("/café").contains("the non-ASCII character `é`"));
        assert!(err("/a\tb").contains("the control character `\\t`"));
        assert!(err("/a:b").contains("contains `:`"));
    }

    #[test]
    fn rejects_dot_segments() {
        assert!(err("/a/../b").contains("dot segment `..`"));
        assert!(err("/.").contains("dot segment `.`"));
        assert!(RoutePath::parse("/.well-known").is_ok());
    }

    #[test]
    fn serves_under_the_plugin_prefix() {
        let path = RoutePath::parse("/tokens/{id}").unwrap();
        assert_eq!(
            served_path("worker-token", &path),
            "/api/v1/p/worker-token/tokens/{id}"
        );
        let root = RoutePath::parse("/").unwrap();
        assert_eq!(served_path("worker-token", &root), "/api/v1/p/worker-token");
    }

    #[test]
    fn detects_conflicting_templates() {
        let p = |s: &str| RoutePath::parse(s).unwrap();
        assert!(conflicts(&p("/tokens/{id}"), &p("/tokens/{token_id}")));
        assert!(conflicts(&p("/tokens/{id}"), &p("/tokens/new")));
        assert!(conflicts(&p("/{a}/x"), &p("/y/{b}")));
        assert!(conflicts(&p("/"), &p("/")));
        assert!(!conflicts(&p("/"), &p("/{id}")));
        assert!(!conflicts(&p("/tokens"), &p("/token")));
        assert!(!conflicts(&p("/tokens/{id}"), &p("/tokens/{id}/uses")));
        assert!(!conflicts(&p("/a/{id}"), &p("/b/{id}")));
    }
}
