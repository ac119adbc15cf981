//! Plugin identity: the plugin name, its version, and the names derived from the plugin
//! name (the underscored form and the table prefix).
//!
//! This module owns the spelling rules only. Uniqueness of names across the linked plugins
//! is the server's business, and what a migration may do with its prefix is
//! [`crate::sql`]'s.
//!
//! ```
//! use flovyn_naming::plugin::{table_prefix, underscored, validate_plugin_name};
//!
//! assert!(validate_plugin_name("worker-token").is_ok());
//! assert_eq!(underscored("worker-token"), "worker_token");
//! assert_eq!(table_prefix("worker-token"), "p_worker_token__");
//!
//! let err = validate_plugin_name("Worker_Token").unwrap_err();
//! assert!(err.message().contains("did you mean `worker-token`?"));
//! ```

use std::fmt;

use crate::text::quoted;

/// Longest plugin name, in characters.
///
/// The table prefix is `p_` + name + `__`, so a 40-character name leaves 19 bytes of
/// PostgreSQL's 63-byte identifier limit for the table's own name: enough for real tables,
/// and long names would otherwise be silently truncated by the database.
pub const MAX_PLUGIN_NAME_LEN: usize = 40;

/// Names no plugin may take: the server publishes its own events as `core.<event>`.
pub const RESERVED_NAMES: &[&str] = &["core"];

/// A plugin name or version that breaks the naming rules.
///
/// The message is meant to be shown as is: lowercase, the offending name in backticks, the
/// rule, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    message: String,
}

impl NameError {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// The human-readable message, e.g. ``plugin name must not be empty``.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NameError {}

/// Checks that `name` is a valid plugin name: kebab-case `[a-z][a-z0-9]*(-[a-z0-9]+)*`,
/// 1 to [`MAX_PLUGIN_NAME_LEN`] characters.
///
/// Kebab-case keeps the name usable unchanged in URLs (`/api/v1/p/<name>`) and lets
/// [`underscored`] map it one-to-one onto SQL and Rust identifiers: since `_` is not allowed
/// in a name, `worker_token` can only come from `worker-token`.
///
/// ```
/// use flovyn_naming::plugin::validate_plugin_name;
///
/// assert!(validate_plugin_name("audit-log").is_ok());
/// assert!(validate_plugin_name("audit--log").is_err());
/// assert!(validate_plugin_name("2fa").is_err());
/// ```
pub fn validate_plugin_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::new(
            "plugin name must not be empty: use a kebab-case name such as `worker-token`".into(),
        ));
    }
    if !is_kebab_case(name) {
        let rule = "use lowercase ASCII letters, digits and single `-` between words, \
                    starting with a letter";
        let message = match suggest_kebab_case(name) {
            Some(fix) => format!(
                "plugin name `{}` is not kebab-case: {rule}; did you mean `{fix}`?",
                quoted(name)
            ),
            None => format!(
                "plugin name `{}` is not kebab-case: {rule} (e.g. `worker-token`)",
                quoted(name)
            ),
        };
        return Err(NameError::new(message));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(NameError::new(format!(
            "plugin name `{name}` is reserved for the server itself (its events are `{name}.…`): choose another name"
        )));
    }
    // Kebab-case is ASCII, so bytes are characters here.
    if name.len() > MAX_PLUGIN_NAME_LEN {
        return Err(NameError::new(format!(
            "plugin name `{}` is {} characters long; the limit is {MAX_PLUGIN_NAME_LEN}",
            quoted(name),
            name.len()
        )));
    }
    Ok(())
}

/// `[a-z][a-z0-9]*(-[a-z0-9]+)*`, written out so the crate needs no regex engine.
pub(crate) fn is_kebab_case(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    if !first.is_ascii_lowercase() {
        return false;
    }
    let mut previous_was_dash = false;
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => previous_was_dash = false,
            b'-' if !previous_was_dash => previous_was_dash = true,
            _ => return false,
        }
    }
    !previous_was_dash
}

/// The obvious kebab-case spelling of `name`, when there is one: `Worker_Token`,
/// `worker token` and `WorkerToken` all become `worker-token`. Returns `None` when the
/// result would still be invalid (e.g. it starts with a digit or keeps other characters).
pub(crate) fn suggest_kebab_case(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        match c {
            '_' | ' ' | '-' => {
                if !out.is_empty() && !out.ends_with('-') {
                    out.push('-');
                }
            }
            c if c.is_ascii_uppercase() => {
                // A word boundary in camelCase: `workerToken`, `Auth2Log`.
                if previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                    && !out.ends_with('-')
                {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
        previous = Some(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    let valid = is_kebab_case(&out) && out.len() <= MAX_PLUGIN_NAME_LEN;
    (valid && out != name).then_some(out)
}

/// The plugin name with `-` replaced by `_`: the form used in SQL and Rust identifiers.
///
/// ```
/// assert_eq!(flovyn_naming::plugin::underscored("worker-token"), "worker_token");
/// ```
pub fn underscored(plugin: &str) -> String {
    plugin.replace('-', "_")
}

/// The prefix every table of `plugin` must carry: `p_<underscored name>__`.
///
/// The double underscore ends the prefix unambiguously, because an underscored plugin name
/// never contains two underscores in a row: `p_audit_log__events` can only belong to
/// `audit-log`.
///
/// ```
/// assert_eq!(flovyn_naming::plugin::table_prefix("worker-token"), "p_worker_token__");
/// ```
pub fn table_prefix(plugin: &str) -> String {
    format!("p_{}__", underscored(plugin))
}

/// The protobuf package of `plugin`'s gRPC services: `flovyn.plugins.<underscored name>.v1`.
///
/// ```
/// assert_eq!(flovyn_naming::plugin::grpc_package("worker-token"), "flovyn.plugins.worker_token.v1");
/// ```
pub fn grpc_package(plugin: &str) -> String {
    format!("flovyn.plugins.{}.v1", underscored(plugin))
}

/// Whether `service` (a full protobuf service name such as
/// `flovyn.plugins.worker_token.v1.WorkerTokens`) sits directly in `plugin`'s package
/// ([`grpc_package`]), with no further package segment. A `const fn`, so that the macros can
/// check it at compile time.
///
/// ```
/// use flovyn_naming::plugin::in_grpc_package;
///
/// assert!(in_grpc_package("flovyn.plugins.worker_token.v1.WorkerTokens", "worker-token"));
/// assert!(!in_grpc_package("flovyn.plugins.worker_token.v2.WorkerTokens", "worker-token"));
/// ```
pub const fn in_grpc_package(service: &str, plugin: &str) -> bool {
    const HEAD: &[u8] = b"flovyn.plugins.";
    const TAIL: &[u8] = b".v1.";
    let s = service.as_bytes();
    let p = plugin.as_bytes();
    if s.len() <= HEAD.len() + p.len() + TAIL.len() {
        return false;
    }
    let mut i = 0;
    while i < HEAD.len() {
        if s[i] != HEAD[i] {
            return false;
        }
        i += 1;
    }
    let mut j = 0;
    while j < p.len() {
        let want = if p[j] == b'-' { b'_' } else { p[j] };
        if s[i + j] != want {
            return false;
        }
        j += 1;
    }
    i += p.len();
    let mut k = 0;
    while k < TAIL.len() {
        if s[i + k] != TAIL[k] {
            return false;
        }
        k += 1;
    }
    i += TAIL.len();
    // The service's own name: no further package segments.
    while i < s.len() {
        if s[i] == b'.' {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks that `permission` is lowercase letters, digits, `_`, `-`, `.` and `:` — the form
/// routes and gRPC services require (`worker_token:create`).
///
/// ```
/// use flovyn_naming::plugin::validate_permission;
///
/// assert!(validate_permission("worker_token:create").is_ok());
/// assert!(validate_permission("Tokens:Create").is_err());
/// ```
pub fn validate_permission(permission: &str) -> Result<(), NameError> {
    let ok = !permission.is_empty()
        && permission.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '.' | '-')
        });
    if ok {
        Ok(())
    } else {
        Err(NameError::new(format!(
            "permission `{}` must be lowercase letters, digits, `_`, `-`, `.` and `:`, e.g. `worker_token:create`",
            quoted(permission)
        )))
    }
}

/// Checks that a migration's name is snake_case: lowercase letters, digits and `_`, starting
/// with a letter (`create_tokens`).
///
/// ```
/// use flovyn_naming::plugin::validate_migration_name;
///
/// assert!(validate_migration_name("create_tokens").is_ok());
/// assert!(validate_migration_name("CreateTokens").is_err());
/// ```
pub fn validate_migration_name(name: &str) -> Result<(), NameError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(NameError::new(format!(
            "migration name `{}` must be snake_case (lowercase letters, digits and `_`, starting with a letter), e.g. `create_tokens`",
            quoted(name)
        )))
    }
}

/// Checks that `version` is a [semantic version](https://semver.org) `MAJOR.MINOR.PATCH`,
/// optionally with pre-release and build parts (`0.1.0`, `1.2.3-alpha.1`, `1.0.0+build.5`).
///
/// ```
/// use flovyn_naming::plugin::validate_version;
///
/// assert!(validate_version("1.2.3-alpha.1").is_ok());
/// let err = validate_version("1.0").unwrap_err();
/// assert!(err.message().contains("use `MAJOR.MINOR.PATCH`"));
/// ```
pub fn validate_version(version: &str) -> Result<(), NameError> {
    match semver::Version::parse(version) {
        Ok(_) => Ok(()),
        Err(reason) => Err(NameError::new(format!(
            "version `{}` is not semantic versioning ({reason}): use `MAJOR.MINOR.PATCH`, e.g. `0.1.0`",
            quoted(version)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<(), NameError>) -> String {
        result.unwrap_err().message().to_owned()
    }

    #[test]
    fn accepts_kebab_case_names() {
        for name in ["a", "hello", "worker-token", "audit-log", "a1-b2-c3", "x9"] {
            assert_eq!(validate_plugin_name(name), Ok(()), "{name}");
        }
        let longest = "a".repeat(MAX_PLUGIN_NAME_LEN);
        assert_eq!(validate_plugin_name(&longest), Ok(()));
    }

    #[test]
    fn rejects_empty_name() {
        assert!(message(validate_plugin_name("")).starts_with("plugin name must not be empty"));
    }

    #[test]
    fn rejects_non_kebab_case_with_suggestion() {
        let m = message(validate_plugin_name("Worker_Token"));
        assert!(
            m.starts_with("plugin name `Worker_Token` is not kebab-case:"),
            "{m}"
        );
        assert!(m.ends_with("did you mean `worker-token`?"), "{m}");

        for (bad, fix) in [
            ("worker token", "worker-token"),
            ("worker_token", "worker-token"),
            ("WorkerToken", "worker-token"),
            ("workerToken", "worker-token"),
            ("worker--token", "worker-token"),
            ("worker-token-", "worker-token"),
            ("HELLO", "hello"),
            ("-hello", "hello"),
        ] {
            let m = message(validate_plugin_name(bad));
            assert!(m.contains(&format!("did you mean `{fix}`?")), "{bad}: {m}");
        }
    }

    #[test]
    fn rejects_non_kebab_case_without_suggestion() {
        for bad in ["2fa", "héllo", "a.b", "worker/token", "_"] {
            let m = message(validate_plugin_name(bad));
            assert!(m.contains("is not kebab-case"), "{bad}: {m}");
            assert!(!m.contains("did you mean"), "{bad}: {m}");
            assert!(m.contains("(e.g. `worker-token`)"), "{bad}: {m}");
        }
    }

    #[test]
    fn rejects_reserved_names() {
        let m = message(validate_plugin_name("core"));
        assert!(m.starts_with("plugin name `core` is reserved"), "{m}");
        assert_eq!(validate_plugin_name("core-extras"), Ok(()));
    }

    #[test]
    fn rejects_long_names() {
        let name = "a".repeat(45);
        let m = message(validate_plugin_name(&name));
        assert_eq!(
            m,
            format!("plugin name `{name}` is 45 characters long; the limit is 40")
        );
    }

    #[test]
    fn quotes_huge_names_shortened() {
        let name = "A".repeat(10_000);
        let m = message(validate_plugin_name(&name));
        assert!(m.len() < 400, "{m}");
        assert!(m.contains('…'));
    }

    #[test]
    fn derives_underscored_name_and_prefix() {
        assert_eq!(underscored("worker-token"), "worker_token");
        assert_eq!(underscored("hello"), "hello");
        assert_eq!(table_prefix("audit-log"), "p_audit_log__");
    }

    #[test]
    fn accepts_semantic_versions() {
        for v in [
            "0.1.0",
            "1.2.3",
            "1.2.3-alpha.1",
            "1.0.0+build.5",
            "10.20.30",
        ] {
            assert_eq!(validate_version(v), Ok(()), "{v}");
        }
    }

    #[test]
    fn rejects_other_versions_quoting_the_parser() {
        let m = message(validate_version("1.0"));
        assert_eq!(
            m,
            "version `1.0` is not semantic versioning (unexpected end of input while parsing \
             minor version number): use `MAJOR.MINOR.PATCH`, e.g. `0.1.0`"
        );
        for v in ["", "v1.0.0", "1.0.0.0", "01.0.0", "latest"] {
            let m = message(validate_version(v));
            assert!(m.contains("is not semantic versioning ("), "{v}: {m}");
        }
    }

    #[test]
    fn name_error_displays_its_message() {
        let err = validate_plugin_name("").unwrap_err();
        assert_eq!(err.to_string(), err.message());
    }
}
