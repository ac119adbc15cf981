//! Middleware path scopes: which requests a plugin's middleware sees.
//!
//! A scope is a served path (`/api/v1/p/audit-log/events`), matched exactly, or a prefix
//! ending in `/*` (`/api/v1/*`), matching the prefix itself and every path below it. A
//! middleware without scopes gets its plugin's own prefix ([`own_scope`]). A scope outside the
//! plugin's prefix ([`within_plugin`] is false) sees other plugins' and the server's requests,
//! which the operator must allow.
//!
//! ```
//! use flovyn_naming::scope::Scope;
//!
//! let api = Scope::parse("/api/v1/*").unwrap();
//! assert!(api.matches("/api/v1") && api.matches("/api/v1/p/hello/greeting"));
//! assert!(!api.matches("/api/v10") && !api.matches("/_/health"));
//! assert!(Scope::parse("/api/*/x").is_err());
//! ```

use crate::route::{PLUGIN_API_PREFIX, RouteError};
use crate::text::quoted;

/// One parsed scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// This path exactly.
    Exact(String),
    /// This path and everything below it (`/x/*` is stored as `/x`; `/*` as the empty
    /// string, matching every path).
    Prefix(String),
}

impl Scope {
    /// Parses `/exact/path` or `/prefix/*`.
    pub fn parse(text: &str) -> Result<Scope, RouteError> {
        let bad = |why: &str| {
            RouteError::new(format!(
                "middleware path `{}` {why}: write a served path such as `/api/v1/p/my-plugin/items`, or a prefix ending in `/*` such as `/api/v1/*`",
                quoted(text)
            ))
        };
        if !text.starts_with('/') {
            return Err(bad("must start with `/`"));
        }
        if text.contains(['{', '}']) {
            return Err(bad("cannot hold `{…}` captures"));
        }
        if text.contains("//") || text.chars().any(char::is_whitespace) {
            return Err(bad("has an empty segment or whitespace"));
        }
        match text.strip_suffix("/*") {
            Some(prefix) if !prefix.contains('*') => Ok(Scope::Prefix(prefix.to_owned())),
            _ if text.contains('*') => Err(bad("may use `*` only as its last segment, `/*`")),
            _ if text.len() > 1 && text.ends_with('/') => Err(bad(
                "must not end with `/` (write `/x/*` for everything below `/x`)",
            )),
            _ => Ok(Scope::Exact(text.to_owned())),
        }
    }

    /// Whether a request for `path` is in this scope.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Scope::Exact(p) => path == p,
            Scope::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }

    /// Whether the scope stays inside `plugin`'s own prefix (`/api/v1/p/<plugin>`).
    pub fn within_plugin(&self, plugin: &str) -> bool {
        let own = format!("{PLUGIN_API_PREFIX}/{plugin}");
        let path = match self {
            Scope::Exact(p) | Scope::Prefix(p) => p,
        };
        path.strip_prefix(own.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// The scope of a middleware that names none: its plugin's prefix and everything below.
pub fn own_scope(plugin: &str) -> Scope {
    Scope::Prefix(format!("{PLUGIN_API_PREFIX}/{plugin}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_themselves_and_below_only() {
        let s = Scope::parse("/api/v1/p/hello/*").unwrap();
        for path in [
            "/api/v1/p/hello",
            "/api/v1/p/hello/",
            "/api/v1/p/hello/greeting",
        ] {
            assert!(s.matches(path), "{path}");
        }
        for path in ["/api/v1/p/hello-world", "/api/v1/p", "/"] {
            assert!(!s.matches(path), "{path}");
        }
        assert!(Scope::parse("/*").unwrap().matches("/_/health"));
        let exact = Scope::parse("/api/v1/me").unwrap();
        assert!(exact.matches("/api/v1/me") && !exact.matches("/api/v1/me/x"));
    }

    #[test]
    fn knows_whether_it_stays_in_the_plugins_prefix() {
        assert!(own_scope("hello").within_plugin("hello"));
        assert!(
            Scope::parse("/api/v1/p/hello/greeting")
                .unwrap()
                .within_plugin("hello")
        );
        assert!(
            !Scope::parse("/api/v1/p/hello-x/*")
                .unwrap()
                .within_plugin("hello")
        );
        assert!(!Scope::parse("/api/v1/*").unwrap().within_plugin("hello"));
    }

    #[test]
    fn refuses_malformed_scopes_saying_why() {
        for (text, why) in [
            ("api/*", "must start with `/`"),
            ("/items/{id}", "cannot hold `{…}` captures"),
            ("/a//b", "has an empty segment"),
            ("/api/*/x", "may use `*` only as its last segment"),
            ("/api*", "may use `*` only as its last segment"),
            ("/api/", "must not end with `/`"),
        ] {
            let m = Scope::parse(text).unwrap_err().to_string();
            assert!(m.contains(why), "{text}: {m}");
        }
    }
}
