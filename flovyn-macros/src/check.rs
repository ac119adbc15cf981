//! Validate stage across items: migration order, duplicate and conflicting routes, path
//! parameters against the handler's `Path` extractor, and at most one of each hook.

use flovyn_naming::route::conflicts;

use crate::ast::{ImplDef, MigrationDef, RouteDef};
use crate::ctxt::Ctxt;
use crate::valid::{Migration, Route};

/// Versions strictly increasing in declaration order, each used once.
pub(crate) fn migration_order(
    defs: &[MigrationDef],
    migrations: &[Option<Migration>],
    cx: &mut Ctxt,
) {
    let mut previous: Option<(u32, String)> = None;
    let mut seen: Vec<(u32, String)> = Vec::new();
    for (def, m) in defs.iter().zip(migrations) {
        let (Some(m), Some(lit)) = (m, &def.version) else {
            continue;
        };
        if let Some((_, holder)) = seen.iter().find(|(v, _)| *v == m.version) {
            cx.error_spanned_by(
                lit,
                format!(
                    "duplicate migration version {}: `{holder}` already has it; each version is used once per plugin, so give `{}` a version of its own",
                    m.version, m.name
                ),
            );
        } else if let Some((prev, prev_name)) = &previous
            && m.version <= *prev
        {
            cx.error_spanned_by(lit, format!(
                    "migration versions must increase in declaration order: {} (`{}`) comes after {} (`{prev_name}`); move it or give it a version above {prev}",
                    m.version, m.name, prev
                ));
        }
        seen.push((m.version, m.name.clone()));
        if previous.as_ref().is_none_or(|(p, _)| m.version > *p) {
            previous = Some((m.version, m.name.clone()));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for (def, m) in defs.iter().zip(migrations) {
        let (Some(m), Some(lit)) = (m, &def.name) else {
            continue;
        };
        if names.contains(&m.name.as_str()) {
            cx.error_spanned_by(
                lit,
                format!(
                    "duplicate migration name `{}`: give each migration its own name",
                    m.name
                ),
            );
        }
        names.push(&m.name);
    }
}

/// No two routes match the same requests with the same method, and conflicting templates
/// (which the router cannot tell apart) use the same parameter names.
pub(crate) fn routes(defs: &[RouteDef], routes: &[Option<Route>], cx: &mut Ctxt) {
    for (i, (def, route)) in defs.iter().zip(routes).enumerate() {
        let Some(route) = route else { continue };
        for (other_def, other) in defs[..i].iter().zip(&routes[..i]) {
            let Some(other) = other else { continue };
            if !conflicts(&route.path, &other.path) {
                continue;
            }
            let span = def
                .path
                .as_ref()
                .map(|p| p.span())
                .unwrap_or_else(proc_macro2::Span::call_site);
            if route.method == other.method {
                cx.error_at(
                    span,
                    format!(
                        "duplicate route `{} {}`: handler `{}` already serves it",
                        route.method,
                        route.path.as_str(),
                        other_def.func.sig.ident
                    ),
                );
                break;
            } else if route.path.as_str() != other.path.as_str() {
                cx.error_at(span, format!(
                    "route path `{}` overlaps `{}` (handler `{}`) with different parameter names: use the same names in both",
                    route.path.as_str(), other.path.as_str(), other_def.func.sig.ident
                ));
                break;
            }
        }
    }
}

/// The last path segment of a type (`axum::extract::Path<T>` → `Path`), with its generics.
fn last_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

/// Every `{param}` of the path is taken by a `Path<…>` argument, where the macro can tell:
/// no `Path` at all, a `Path` on a route without parameters, or a tuple of the wrong length.
pub(crate) fn path_params(def: &RouteDef, route: &Route, cx: &mut Ctxt) {
    let params = route.path.params();
    let path_args: Vec<&syn::PatType> = def
        .extractors()
        .into_iter()
        .filter(|a| last_segment(&a.ty).is_some_and(|s| s.ident == "Path"))
        .collect();
    let handler = &def.func.sig.ident;
    let listed = params
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match (params.len(), path_args.as_slice()) {
        (0, []) => {}
        (n, []) => {
            let example = if n == 1 {
                format!("`Path({0}): Path<String>`", params[0])
            } else {
                format!("`Path(({})): Path<({})>`", params.join(", "), vec!["String"; n].join(", "))
            };
            cx.error_spanned_by(
                &def.func.sig.ident,
                format!("route `{}` has path parameter{} {listed} but handler `{handler}` takes no `Path` argument: add {example}",
                    route.path.as_str(), if n == 1 { "" } else { "s" }),
            );
        }
        (0, [arg, ..]) => cx.error_spanned_by(
            &arg.ty,
            format!("handler `{handler}` takes a `Path` argument but route `{}` has no `{{param}}`", route.path.as_str()),
        ),
        (n, [arg]) => {
            let Some(inner) = last_segment(&arg.ty).and_then(|s| match &s.arguments {
                syn::PathArguments::AngleBracketed(a) => a.args.first(),
                _ => None,
            }) else {
                return;
            };
            let syn::GenericArgument::Type(inner) = inner else { return };
            let taken = match inner {
                syn::Type::Tuple(t) => Some(t.elems.len()),
                // A scalar takes exactly one parameter; a struct is checked at run time.
                syn::Type::Path(p) if is_scalar(p) => Some(1),
                _ => None,
            };
            if let Some(taken) = taken
                && taken != n {
                    cx.error_spanned_by(inner, format!(
                        "route `{}` has {n} path parameter{} ({listed}) but `{}` takes {taken}",
                        route.path.as_str(), if n == 1 { "" } else { "s" }, quote::quote!(#inner).to_string().replace(' ', "")
                    ));
                }
        }
        (_, [_, second, ..]) => cx.error_spanned_by(&second.ty, format!("handler `{handler}` takes more than one `Path` argument: take all parameters in one `Path<(…)>`")),
    }
}

fn is_scalar(p: &syn::TypePath) -> bool {
    const SCALARS: &[&str] = &[
        "String", "str", "bool", "char", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16",
        "u32", "u64", "u128", "usize", "Uuid",
    ];
    p.path
        .get_ident()
        .is_some_and(|i| SCALARS.contains(&i.to_string().as_str()))
}

/// One `#[subscribe]` method per event type: two would each get every event, which is
/// never what the author meant. Types are compared as written (`TenantCreated` and
/// `core::TenantCreated` look different here).
pub(crate) fn subscriptions(def: &ImplDef, cx: &mut Ctxt) {
    let mut seen: Vec<(String, &syn::Ident)> = Vec::new();
    for s in &def.subscriptions {
        let Some(ty) = &s.event else { continue };
        let key = quote::quote!(#ty).to_string();
        match seen.iter().find(|(k, _)| *k == key) {
            Some((_, first)) => cx.error_spanned_by(
                ty,
                format!(
                    "`{}` and `{first}` both subscribe to `{key}`: handle an event type in one `#[subscribe]` method",
                    s.func
                ),
            ),
            None => seen.push((key, &s.func)),
        }
    }
}

/// At most one `#[init]`, `#[on_start]`, `#[on_stop]`, `#[authenticator]` and
/// `#[authorizer]`.
pub(crate) fn hooks(def: &ImplDef, cx: &mut Ctxt) {
    let authenticators: Vec<syn::Ident> =
        def.authenticators.iter().map(|a| a.func.clone()).collect();
    for (name, list) in [
        ("init", &def.init),
        ("on_start", &def.on_start),
        ("on_stop", &def.on_stop),
        ("authenticator", &authenticators),
        ("authorizer", &def.authorizers),
    ] {
        for extra in list.iter().skip(1) {
            cx.error_spanned_by(
                extra,
                format!(
                    "more than one `#[{name}]` method: `{}` is already the plugin's `#[{name}]`",
                    list[0]
                ),
            );
        }
    }
}
