//! Table names as the database sees them, and who owns them.
//!
//! Owns identifier folding and the prefix arithmetic (`p_<plugin>__`); knows nothing about
//! statements.

use sqlparser::ast::{Expr, Ident, ObjectName, ObjectNamePart};

use crate::plugin::validate_plugin_name;

/// The name an identifier denotes: unquoted identifiers fold to lower case (PostgreSQL's
/// rule, and harmless on SQLite, which compares names case-insensitively); quoted ones
/// (`"…"`, `` `…` ``, `[…]`) keep their case.
///
/// Folding is ASCII-only, as in PostgreSQL: `É` stays `É` either way.
pub(super) fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_ascii_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

/// The folded last part of a possibly schema-qualified name: `public."p_x__T"` → `p_x__T`.
///
/// The schema is not checked: ownership is decided by the table name alone.
pub(super) fn table_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => fold(ident),
        // Dialect-specific name functions (e.g. Snowflake's `IDENTIFIER(…)`) hide the real
        // name; show them as written so the violation still points somewhere.
        Some(part @ ObjectNamePart::Function(_)) => part.to_string(),
        None => String::new(),
    }
}

/// The table named by a `SELECT … INTO <target>` expression, if it names one.
pub(super) fn table_name_of_expr(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(fold(ident)),
        Expr::CompoundIdentifier(parts) => parts.last().map(fold),
        _ => None,
    }
}

/// The folded name of the table a `schema.table.column` name belongs to.
pub(super) fn table_of_column(name: &ObjectName) -> Option<String> {
    let parts = &name.0;
    if parts.len() < 2 {
        return None;
    }
    match &parts[parts.len() - 2] {
        ObjectNamePart::Identifier(ident) => Some(fold(ident)),
        part @ ObjectNamePart::Function(_) => Some(part.to_string()),
    }
}

/// Who a (folded) table name belongs to, from the point of view of one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    /// Starts with the plugin's own prefix and has a name after it.
    Own,
    /// Carries another plugin's prefix; holds that plugin's underscored name.
    Other(String),
    /// Anything else: core tables, and misspelled or bare plugin tables.
    Unprefixed,
}

/// The plugin-specific naming context: the plugin's underscored name and table prefix.
#[derive(Debug, Clone)]
pub(super) struct Namespace {
    underscored: String,
    prefix: String,
}

impl Namespace {
    pub(super) fn new(plugin: &str) -> Self {
        Self {
            underscored: crate::plugin::underscored(plugin),
            prefix: crate::plugin::table_prefix(plugin),
        }
    }

    pub(super) fn owner(&self, table: &str) -> Owner {
        if table.len() > self.prefix.len() && table.starts_with(&self.prefix) {
            return Owner::Own;
        }
        match plugin_of(table) {
            Some((plugin, _)) if plugin != self.underscored => Owner::Other(plugin.to_owned()),
            _ => Owner::Unprefixed,
        }
    }

    /// The name this plugin should use instead of `table`: its own prefix followed by the
    /// part of `table` that is not a prefix already.
    pub(super) fn suggestion(&self, table: &str) -> String {
        let prefix = &self.prefix;
        // A quoted name that only differs in case from our prefix: keep the rest as written.
        let rest = match table.get(..prefix.len()) {
            Some(head) if head.eq_ignore_ascii_case(prefix) => &table[prefix.len()..],
            _ => match plugin_of(table) {
                Some((_, rest)) => rest,
                None => table,
            },
        };
        if rest.is_empty() {
            format!("{prefix}<table>")
        } else {
            format!("{prefix}{rest}")
        }
    }
}

/// Splits `p_<plugin>__<rest>` into the underscored plugin name and the rest, when the part
/// between `p_` and the first `__` is a valid underscored plugin name.
///
/// The first `__` ends the prefix because underscored plugin names never contain two
/// underscores in a row.
pub(crate) fn plugin_of(table: &str) -> Option<(&str, &str)> {
    let after = table.strip_prefix("p_")?;
    let end = after.find("__")?;
    let plugin = &after[..end];
    let valid = !plugin.contains('-') && validate_plugin_name(&plugin.replace('_', "-")).is_ok();
    valid.then(|| (plugin, &after[end + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plugin_prefixes() {
        assert_eq!(
            plugin_of("p_audit_log__events"),
            Some(("audit_log", "events"))
        );
        assert_eq!(plugin_of("p_a__b__c"), Some(("a", "b__c")));
        assert_eq!(plugin_of("p_a__"), Some(("a", "")));
        assert_eq!(plugin_of("p___x"), None);
        assert_eq!(plugin_of("p_A__x"), None);
        assert_eq!(plugin_of("p_a-b__x"), None);
        assert_eq!(plugin_of("p_1a__x"), None);
        assert_eq!(plugin_of("tenant"), None);
        assert_eq!(plugin_of("p_x_y"), None);
    }

    #[test]
    fn decides_ownership() {
        let ns = Namespace::new("worker-token");
        assert_eq!(ns.owner("p_worker_token__tokens"), Owner::Own);
        assert_eq!(ns.owner("p_worker_token___x"), Owner::Own);
        assert_eq!(ns.owner("p_worker_token__"), Owner::Unprefixed);
        assert_eq!(ns.owner("P_worker_token__x"), Owner::Unprefixed);
        assert_eq!(ns.owner("tokens"), Owner::Unprefixed);
        assert_eq!(
            ns.owner("p_audit_log__events"),
            Owner::Other("audit_log".to_owned())
        );
        assert_eq!(
            ns.owner("p_worker__token__x"),
            Owner::Other("worker".to_owned())
        );
    }

    #[test]
    fn suggests_own_names() {
        let ns = Namespace::new("worker-token");
        assert_eq!(ns.suggestion("tokens"), "p_worker_token__tokens");
        assert_eq!(
            ns.suggestion("p_audit_log__events"),
            "p_worker_token__events"
        );
        assert_eq!(
            ns.suggestion("P_Worker_Token__Tokens"),
            "p_worker_token__Tokens"
        );
        assert_eq!(ns.suggestion("p_worker_token__"), "p_worker_token__<table>");
        assert_eq!(ns.suggestion("p_other__"), "p_worker_token__<table>");
        assert_eq!(ns.suggestion(""), "p_worker_token__<table>");
        assert_eq!(ns.suggestion("é"), "p_worker_token__é");
    }
}
