//! Attribute names and keys (one place for every spelling), and the generic parser for
//! attribute argument lists: positional values followed by `key = value` pairs and flags.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, Token};

use crate::ctxt::Ctxt;

// attribute names
pub(crate) const FLOVYN_PLUGIN: &str = "flovyn_plugin";
pub(crate) const MIGRATION: &str = "migration";
pub(crate) const ROUTE: &str = "route";
pub(crate) const ON_START: &str = "on_start";
pub(crate) const ON_STOP: &str = "on_stop";
pub(crate) const INIT: &str = "init";
pub(crate) const AUTHENTICATOR: &str = "authenticator";
pub(crate) const AUTHORIZER: &str = "authorizer";
pub(crate) const SUBSCRIBE: &str = "subscribe";
pub(crate) const TASK: &str = "task";
pub(crate) const MIDDLEWARE: &str = "middleware";
pub(crate) const GRPC_SERVICE: &str = "grpc_service";

// `#[grpc_service(…)]` keys
pub(crate) const GRPC_KEYS: &[&str] = &[PERMISSION];

// `#[middleware(…)]` keys
pub(crate) const PRIORITY: &str = "priority";
pub(crate) const PATHS: &str = "paths";
pub(crate) const MIDDLEWARE_KEYS: &[&str] = &[PRIORITY, PATHS];

// `#[task(…)]` keys
pub(crate) const EVERY: &str = "every";
pub(crate) const TASK_KEYS: &[&str] = &[EVERY];

// `#[authenticator(…)]` keys
pub(crate) const SCHEME: &str = "scheme";
pub(crate) const BEARER_FORMAT: &str = "bearer_format";
pub(crate) const AUTHENTICATOR_KEYS: &[&str] = &[SCHEME, BEARER_FORMAT];

// `#[flovyn_plugin(…)]` keys
pub(crate) const NAME: &str = "name";
pub(crate) const VERSION: &str = "version";
pub(crate) const DESCRIPTION: &str = "description";
pub(crate) const DEPENDS_ON: &str = "depends_on";
pub(crate) const CONFIG: &str = "config";
pub(crate) const EVENTS: &str = "events";
pub(crate) const PLUGIN_KEYS: &[&str] = &[NAME, VERSION, DESCRIPTION, DEPENDS_ON, CONFIG, EVENTS];

// `#[migration(…)]` keys
pub(crate) const SQL: &str = "sql";
pub(crate) const FILE: &str = "file";
pub(crate) const POSTGRES: &str = "postgres";
pub(crate) const SQLITE: &str = "sqlite";
pub(crate) const POSTGRES_FILE: &str = "postgres_file";
pub(crate) const SQLITE_FILE: &str = "sqlite_file";
pub(crate) const MIGRATION_KEYS: &[&str] =
    &[SQL, FILE, POSTGRES, SQLITE, POSTGRES_FILE, SQLITE_FILE];

// `#[route(…)]` keys
pub(crate) const PUBLIC: &str = "public";
pub(crate) const PERMISSION: &str = "permission";
pub(crate) const STATUS: &str = "status";
pub(crate) const ERRORS: &str = "errors";
pub(crate) const ROUTE_KEYS: &[&str] = &[PUBLIC, PERMISSION, STATUS, ERRORS];

/// One argument of an attribute.
pub(crate) enum Arg {
    /// A value without a key: `GET`, `"/path"`, `1`.
    Positional(Expr),
    /// `key = value`.
    Named { key: Ident, value: Expr },
    /// A bare flag after the positional arguments: `public`.
    Flag(Ident),
}

/// A parsed argument list.
pub(crate) struct Args {
    pub(crate) positional: Vec<Expr>,
    pub(crate) named: Vec<(Ident, Option<Expr>)>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let exprs = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for expr in exprs {
            match classify(expr) {
                // A bare identifier is positional until the first named argument.
                Arg::Flag(ident) if named.is_empty() => {
                    positional.push(Expr::Path(syn::ExprPath {
                        attrs: Vec::new(),
                        qself: None,
                        path: ident.into(),
                    }))
                }
                Arg::Flag(ident) => named.push((ident, None)),
                Arg::Positional(e) => positional.push(e),
                Arg::Named { key, value } => named.push((key, Some(value))),
            }
        }
        Ok(Args { positional, named })
    }
}

fn classify(expr: Expr) -> Arg {
    match expr {
        Expr::Assign(assign) => match &*assign.left {
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => Arg::Named {
                key: p.path.get_ident().cloned().expect("checked"),
                value: *assign.right,
            },
            _ => Arg::Positional(Expr::Assign(assign)),
        },
        Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            Arg::Flag(p.path.get_ident().cloned().expect("checked"))
        }
        other => Arg::Positional(other),
    }
}

impl Args {
    /// Parses the argument list, recording a parse error in `cx`.
    pub(crate) fn parse_into(tokens: proc_macro2::TokenStream, cx: &mut Ctxt) -> Option<Args> {
        match syn::parse2::<Args>(tokens) {
            Ok(a) => Some(a),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        }
    }

    /// The `key = value` list of `#[name(…)]` (empty for `#[name]`), with every key
    /// checked against `valid` and any positional argument reported with `usage`; `None`
    /// when the list does not parse (the error is recorded).
    pub(crate) fn keyed(
        attr: &syn::Attribute,
        name: &str,
        valid: &[&str],
        usage: &str,
        cx: &mut Ctxt,
    ) -> Option<Args> {
        let tokens = match attr_args(attr) {
            Ok(t) => t,
            Err(e) => {
                cx.syn_error(e);
                return None;
            }
        };
        let args = Args::parse_into(tokens, cx)?;
        for p in &args.positional {
            cx.error_spanned_by(p, format!("unexpected argument: {usage}"));
        }
        args.check_keys(name, valid, cx);
        Some(args)
    }

    /// Records an error for every key not in `valid` and for every key given twice.
    pub(crate) fn check_keys(&self, attr: &str, valid: &[&str], cx: &mut Ctxt) {
        let mut seen: Vec<String> = Vec::new();
        for (key, _) in &self.named {
            let k = key.to_string();
            if !valid.contains(&k.as_str()) {
                cx.error_spanned_by(
                    key,
                    format!(
                        "unknown key `{k}` in `#[{attr}]`: expected one of: {}",
                        list(valid)
                    ),
                );
            } else if seen.contains(&k) {
                cx.error_spanned_by(key, format!("duplicate key `{k}` in `#[{attr}]`"));
            }
            seen.push(k);
        }
    }

    /// The value of `key = value`, or `None` when absent. A flag form records an error.
    pub(crate) fn value(&self, key: &str, cx: &mut Ctxt) -> Option<&Expr> {
        let (ident, value) = self.named.iter().find(|(k, _)| k == key)?;
        if value.is_none() {
            cx.error_spanned_by(ident, format!("`{key}` needs a value: `{key} = …`"));
        }
        value.as_ref()
    }

    /// Whether the bare flag `key` is present. A `key = value` form records an error.
    pub(crate) fn flag(&self, key: &str, cx: &mut Ctxt) -> Option<&Ident> {
        let (ident, value) = self.named.iter().find(|(k, _)| k == key)?;
        if let Some(v) = value {
            cx.error_spanned_by(
                v,
                format!("`{key}` is a flag and takes no value: write `{key}`"),
            );
        }
        Some(ident)
    }
}

/// `` `a`, `b`, `c` ``
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The string literal in `expr`, or an error naming what was expected.
pub(crate) fn lit_str(expr: &Expr, what: &str, cx: &mut Ctxt) -> Option<syn::LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.clone()),
        other => {
            cx.error_spanned_by(other, format!("expected {what} as a string literal"));
            None
        }
    }
}

/// Whether an attribute's path ends with `name` (`#[migration]`, `#[flovyn_sdk::migration]`).
pub(crate) fn is_attr(attr: &syn::Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// The argument tokens of `#[name(…)]` (empty for `#[name]`).
pub(crate) fn attr_args(attr: &syn::Attribute) -> syn::Result<proc_macro2::TokenStream> {
    match &attr.meta {
        syn::Meta::Path(_) => Ok(proc_macro2::TokenStream::new()),
        syn::Meta::List(l) => Ok(l.tokens.clone()),
        syn::Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "expected `#[name(…)]`, found `#[name = …]`",
        )),
    }
}

/// The text of the doc comments in `attrs`, lines trimmed, or `None` when there are none.
pub(crate) fn doc_comment(attrs: &[syn::Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_owned());
        }
    }
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// A span for "the whole attribute" errors when there is no better token.
pub(crate) fn call_site() -> Span {
    Span::call_site()
}
