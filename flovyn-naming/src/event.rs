//! Event names: `<publisher>.<event>`, both kebab-case — `worker-token.token-created`.
//!
//! A plugin's events are namespaced by the plugin that publishes them, as its tables and
//! routes are; the event part is derived from the event's Rust type name
//! (`TokenCreated` → `token-created`), so the two cannot drift apart. The server's own
//! events use the reserved publisher [`CORE`].
//!
//! ```
//! use flovyn_naming::event::{event_name, publisher, validate_event_name};
//!
//! assert_eq!(event_name("worker-token", "TokenCreated").unwrap(), "worker-token.token-created");
//! assert_eq!(publisher("worker-token.token-created"), Some("worker-token"));
//! assert!(validate_event_name("core.tenant-created").is_ok());
//! assert!(validate_event_name("tenant-created").is_err());
//! ```

use crate::plugin::{NameError, is_kebab_case, validate_plugin_name};
use crate::text::quoted;

/// The publisher of the server's own events (`core.tenant-created`); no plugin may take
/// the name.
pub const CORE: &str = "core";

/// The event name `plugin` publishes a type named `type_name` under: the type name in
/// kebab-case after the plugin name and a dot.
///
/// Fails when the type name has no kebab-case form (it is not UpperCamelCase ASCII).
pub fn event_name(plugin: &str, type_name: &str) -> Result<String, NameError> {
    let event = kebab_from_camel(type_name).ok_or_else(|| {
        NameError::new(format!(
            "event type `{}` has no kebab-case event name: name it in UpperCamelCase ASCII, e.g. `TokenCreated` (→ `{plugin}.token-created`)",
            quoted(type_name)
        ))
    })?;
    Ok(format!("{plugin}.{event}"))
}

/// `TokenCreated` → `token-created`; `None` unless the input is UpperCamelCase ASCII.
fn kebab_from_camel(name: &str) -> Option<String> {
    if !name.starts_with(|c: char| c.is_ascii_uppercase())
        || !name.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.char_indices() {
        if c.is_ascii_uppercase() {
            let previous = name[..i].chars().next_back();
            if previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    is_kebab_case(&out).then_some(out)
}

/// The publisher part of an event name: `worker-token` in `worker-token.token-created`.
pub fn publisher(name: &str) -> Option<&str> {
    name.split_once('.').map(|(publisher, _)| publisher)
}

/// Checks that `name` is `<publisher>.<event>`: a plugin name (or [`CORE`]), a dot, and a
/// kebab-case event.
pub fn validate_event_name(name: &str) -> Result<(), NameError> {
    let shape = || {
        NameError::new(format!(
            "event name `{}` is not `<plugin>.<event>` in kebab-case, e.g. `worker-token.token-created`",
            quoted(name)
        ))
    };
    let (publisher, event) = name.split_once('.').ok_or_else(shape)?;
    if publisher != CORE {
        validate_plugin_name(publisher).map_err(|_| shape())?;
    }
    if !is_kebab_case(event) {
        return Err(shape());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_event_part_from_the_type_name() {
        for (ty, name) in [
            ("TokenCreated", "worker-token.token-created"),
            ("Revoked", "worker-token.revoked"),
            ("Step2Done", "worker-token.step2-done"),
        ] {
            assert_eq!(event_name("worker-token", ty).unwrap(), name);
            assert_eq!(validate_event_name(name), Ok(()));
        }
    }

    #[test]
    fn refuses_type_names_without_a_kebab_form() {
        for ty in ["tokenCreated", "Token_Created", "Tökens", ""] {
            let m = event_name("worker-token", ty).unwrap_err().to_string();
            assert!(m.contains("has no kebab-case event name"), "{ty}: {m}");
        }
    }

    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "token-created",
            ".x",
            "Worker.x",
            "worker-token.",
            "a.B",
            "a.b.c",
        ] {
            let m = validate_event_name(bad).unwrap_err().to_string();
            assert!(m.contains("is not `<plugin>.<event>`"), "{bad}: {m}");
        }
    }
}
