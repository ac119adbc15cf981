//! Validate stage, one item at a time: plugin name and version, each migration (its file,
//! its SQL under both dialects), each route (method, path, access) and handler signature.
//!
//! The rules themselves live in `flovyn-naming`, shared with the server's run-time
//! re-check; this module maps their verdicts onto the offending tokens.

use std::path::{Path, PathBuf};

use flovyn_naming::route::{Method, RoutePath};
use flovyn_naming::sql::Dialect;
use syn::LitStr;

use crate::ast::{MigrationDef, RouteDef, SqlSource};
use crate::ctxt::Ctxt;

pub(crate) fn plugin_name(lit: &LitStr, cx: &mut Ctxt) -> bool {
    match flovyn_naming::plugin::validate_plugin_name(&lit.value()) {
        Ok(()) => true,
        Err(e) => {
            cx.error_spanned_by(lit, e);
            false
        }
    }
}

pub(crate) fn version(lit: &LitStr, cx: &mut Ctxt) {
    if let Err(e) = flovyn_naming::plugin::validate_version(&lit.value()) {
        cx.error_spanned_by(lit, e);
    }
}

pub(crate) fn dependency(lit: &LitStr, own: Option<&str>, cx: &mut Ctxt) {
    let name = lit.value();
    if let Err(e) = flovyn_naming::plugin::validate_plugin_name(&name) {
        cx.error_spanned_by(lit, format!("in `depends_on`: {e}"));
    } else if own == Some(name.as_str()) {
        cx.error_spanned_by(lit, format!("plugin `{name}` cannot depend on itself"));
    }
}

/// The event types a plugin publishes, each with its name (`worker-token.token-created`),
/// derived from the type's name; a type listed twice, or two with one name, is an error.
pub(crate) fn events<'a>(
    types: &'a [syn::Path],
    plugin: &str,
    cx: &mut Ctxt,
) -> Vec<(&'a syn::Path, String)> {
    let mut out: Vec<(&syn::Path, String)> = Vec::new();
    for path in types {
        let Some(last) = path.segments.last() else {
            continue;
        };
        if !last.arguments.is_none() {
            cx.error_spanned_by(
                &last.arguments,
                "an event type cannot be generic: name a concrete type",
            );
            continue;
        }
        match flovyn_naming::event::event_name(plugin, &last.ident.to_string()) {
            Err(e) => cx.error_spanned_by(path, format!("in `events`: {e}")),
            Ok(name) if out.iter().any(|(_, n)| *n == name) => {
                cx.error_spanned_by(path, format!("event `{name}` is listed twice in `events`"))
            }
            Ok(name) => out.push((path, name)),
        }
    }
    out
}

/// A permission's spelling: lowercase letters, digits, `_`, `-`, `.` and `:`.
pub(crate) fn permission(p: &LitStr, cx: &mut Ctxt) -> Option<String> {
    let s = p.value();
    match flovyn_naming::plugin::validate_permission(&s) {
        Ok(()) => Some(s),
        Err(e) => {
            cx.error_spanned_by(p, e);
            None
        }
    }
}

/// A middleware's path scopes: each must parse (`/x` or `/x/*`).
pub(crate) fn middleware_paths(def: &crate::ast::MiddlewareDef, cx: &mut Ctxt) {
    for path in &def.paths {
        if let Err(e) = flovyn_naming::scope::Scope::parse(&path.value()) {
            cx.error_spanned_by(path, e.to_string());
        }
    }
}

/// A task's interval in milliseconds, or an error on its literal.
pub(crate) fn task(def: &crate::ast::TaskDef, cx: &mut Ctxt) -> Option<u64> {
    let every = def.every.as_ref()?;
    match flovyn_naming::task::parse_interval(&every.value()) {
        Ok(d) => Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        Err(e) => {
            cx.error_spanned_by(every, e.to_string());
            None
        }
    }
}

/// A migration's SQL as read at compile time.
pub(crate) struct Sql {
    /// The text, for checking.
    pub(crate) text: String,
    /// How the generated code embeds it: the literal, or `include_str!` of the file so that
    /// editing the file recompiles the plugin.
    pub(crate) tokens: proc_macro2::TokenStream,
}

/// A migration that passed its own checks.
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) name: String,
    pub(crate) postgres: Sql,
    pub(crate) sqlite: Sql,
}

pub(crate) fn migration(
    def: &MigrationDef,
    plugin: Option<&str>,
    cx: &mut Ctxt,
) -> Option<Migration> {
    let version = def.version.as_ref().and_then(|v| match v.base10_parse::<u32>() {
        Ok(0) | Err(_) => {
            cx.error_spanned_by(v, format!("migration version `{v}` must be a positive integer (1, 2, 3…) that fits in 32 bits"));
            None
        }
        Ok(n) => Some(n),
    });
    let name = def.name.as_ref().and_then(|n| {
        let s = n.value();
        match flovyn_naming::plugin::validate_migration_name(&s) {
            Ok(()) => Some(s),
            Err(e) => {
                cx.error_spanned_by(n, e);
                None
            }
        }
    });
    let postgres = def.postgres.as_ref().and_then(|s| read_sql(s, cx));
    let sqlite = match (&def.postgres, &def.sqlite) {
        // Same source for both: read once.
        (Some(p), Some(l)) if p.lit().value() == l.lit().value() && same_kind(p, l) => {
            postgres.as_ref().map(|p| Sql {
                text: p.text.clone(),
                tokens: p.tokens.clone(),
            })
        }
        (_, Some(l)) => read_sql(l, cx),
        _ => None,
    };
    if let Some(plugin) = plugin {
        let pg = postgres
            .as_ref()
            .map(|p| sql_violations(plugin, p, Dialect::Postgres))
            .unwrap_or_default();
        let lite = sqlite
            .as_ref()
            .map(|l| sql_violations(plugin, l, Dialect::Sqlite))
            .unwrap_or_default();
        let shared =
            matches!((&def.postgres, &def.sqlite), (Some(p), Some(l)) if p.lit() == l.lit());
        report_sql(
            def.postgres.as_ref().map(SqlSource::lit),
            &pg,
            shared.then_some(&lite[..]),
            "PostgreSQL",
            cx,
        );
        report_sql(
            def.sqlite.as_ref().map(SqlSource::lit),
            &lite,
            shared.then_some(&pg[..]),
            "SQLite",
            cx,
        );
        if shared {
            // Reported once, without a database label, when both dialects agree.
            for (v, _) in pg.iter().filter(|v| lite.contains(v)) {
                if let Some(lit) = def.postgres.as_ref().map(SqlSource::lit) {
                    cx.error_spanned_by(lit, format!("migration SQL: {v}"));
                }
            }
        }
    }
    Some(Migration {
        version: version?,
        name: name?,
        postgres: postgres?,
        sqlite: sqlite?,
    })
}

fn same_kind(a: &SqlSource, b: &SqlSource) -> bool {
    matches!(
        (a, b),
        (SqlSource::Inline(_), SqlSource::Inline(_)) | (SqlSource::File(_), SqlSource::File(_))
    )
}

/// Each violation's message, and whether it is a parse error.
fn sql_violations(plugin: &str, sql: &Sql, dialect: Dialect) -> Vec<(String, bool)> {
    match flovyn_naming::sql::check_migration(plugin, &sql.text, dialect) {
        Ok(()) => Vec::new(),
        Err(violations) => violations
            .into_iter()
            .map(|v| {
                let parse = matches!(v.kind, flovyn_naming::sql::ViolationKind::Parse { .. });
                (v.to_string(), parse)
            })
            .collect(),
    }
}

/// Reports the violations found only on `db` (those also in `other` are reported once by
/// the caller). SQL shared by both databases that parses on one only gets a hint.
fn report_sql(
    lit: Option<&LitStr>,
    found: &[(String, bool)],
    other: Option<&[(String, bool)]>,
    db: &str,
    cx: &mut Ctxt,
) {
    let Some(lit) = lit else { return };
    for (v, parse) in found
        .iter()
        .filter(|v| !other.is_some_and(|o| o.contains(v)))
    {
        let hint = if *parse && other.is_some() {
            "; if the SQL differs between databases, give both: `postgres = …, sqlite = …`"
        } else {
            ""
        };
        cx.error_spanned_by(lit, format!("migration SQL ({db}): {v}{hint}"));
    }
}

fn read_sql(source: &SqlSource, cx: &mut Ctxt) -> Option<Sql> {
    match source {
        SqlSource::Inline(lit) => Some(Sql {
            text: lit.value(),
            tokens: quote::quote!(#lit),
        }),
        SqlSource::File(lit) => {
            let rel = lit.value();
            if Path::new(&rel).is_absolute() || rel.starts_with('/') || rel.starts_with('\\') {
                cx.error_spanned_by(lit, format!("migration file `{rel}` must be relative to the crate's directory (where its Cargo.toml is), e.g. `migrations/001_create_things.sql`"));
                return None;
            }
            let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
                cx.error_spanned_by(lit, "`CARGO_MANIFEST_DIR` is not set: build the plugin with cargo to use `file = …`");
                return None;
            };
            let full: PathBuf = Path::new(&dir).join(&rel);
            match std::fs::read_to_string(&full) {
                Ok(text) => {
                    let abs = full.canonicalize().unwrap_or(full);
                    let abs = abs.to_string_lossy().into_owned();
                    let abs = LitStr::new(&abs, lit.span());
                    Some(Sql {
                        text,
                        tokens: quote::quote!(::core::include_str!(#abs)),
                    })
                }
                Err(e) => {
                    cx.error_spanned_by(lit, format!("cannot read migration file `{rel}` (relative to the crate directory, where its Cargo.toml is): {}", io_reason(&e)));
                    None
                }
            }
        }
    }
}

/// The OS error without the platform-specific "(os error N)".
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Who may call a route.
pub(crate) enum Access {
    Public,
    Authenticated,
    Permission(String),
}

/// A route that passed its own checks.
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: RoutePath,
    pub(crate) access: Access,
    pub(crate) status: Option<u16>,
    pub(crate) errors: Vec<u16>,
}

pub(crate) fn route(def: &RouteDef, cx: &mut Ctxt) -> Option<Route> {
    let method = def
        .method
        .as_ref()
        .and_then(|m| match Method::parse(&m.to_string()) {
            Ok(method) => Some(method),
            Err(e) => {
                cx.error_spanned_by(m, e);
                None
            }
        });
    let path = def
        .path
        .as_ref()
        .and_then(|p| match RoutePath::parse(&p.value()) {
            Ok(path) => Some(path),
            Err(e) => {
                cx.error_spanned_by(p, e);
                None
            }
        });
    let access = match (&def.public, &def.permission) {
        (Some(flag), Some(_)) => {
            cx.error_spanned_by(
                flag,
                "a route is either `public` or guarded by a `permission`, not both",
            );
            None
        }
        (Some(_), None) => Some(Access::Public),
        (None, Some(p)) => permission(p, cx).map(Access::Permission),
        (None, None) => Some(Access::Authenticated),
    };
    let status = def
        .status
        .as_ref()
        .and_then(|s| match s.base10_parse::<u16>() {
            Ok(n) if (100..=599).contains(&n) => Some(n),
            _ => {
                cx.error_spanned_by(s, format!("`{s}` is not an HTTP status code (100–599)"));
                None
            }
        });
    let mut errors = Vec::new();
    for e in &def.errors {
        match e.base10_parse::<u16>() {
            Ok(n) if (400..=599).contains(&n) && !errors.contains(&n) => errors.push(n),
            Ok(n) if errors.contains(&n) => {
                cx.error_spanned_by(e, format!("error status {n} is listed twice"))
            }
            _ => cx.error_spanned_by(e, format!("`{e}` is not an HTTP error status (400–599)")),
        }
    }
    signature(&def.func, "a route handler", cx);
    Some(Route {
        method: method?,
        path: path?,
        access: access?,
        status,
        errors,
    })
}

/// Checks what every handler and hook needs: `async`, no generics, `&self` or no receiver.
pub(crate) fn signature(func: &syn::ImplItemFn, role: &str, cx: &mut Ctxt) {
    let sig = &func.sig;
    let name = &sig.ident;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!("`{name}` is {role} and must be `async fn`"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            format!("`{name}` is {role} and cannot be generic"),
        );
    }
    if let Some(syn::FnArg::Receiver(r)) = sig.inputs.first()
        && (r.reference.is_none() || r.mutability.is_some())
    {
        cx.error_spanned_by(r, format!("`{name}` is {role}: take `&self` (the plugin is shared between requests), or no receiver"));
    }
    for input in &sig.inputs {
        if let syn::FnArg::Typed(t) = input
            && matches!(*t.ty, syn::Type::ImplTrait(_))
        {
            cx.error_spanned_by(
                &t.ty,
                format!(
                    "`{name}` is {role}: `impl Trait` arguments are not supported, name the type"
                ),
            );
        }
    }
}
