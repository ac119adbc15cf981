//! Parse stage: turns attribute arguments and items into typed values, keeping the original
//! syntax nodes so that later checks can point at the offending token.
//!
//! Parsing records errors for malformed input (wrong literal kind, unknown key); rule checks
//! (naming, SQL, duplicates) belong to [`crate::valid`] and [`crate::check`].

use syn::{Expr, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, ItemStruct, LitInt, LitStr, Type};

use crate::attr::{self, Args, lit_str};
use crate::ctxt::Ctxt;

/// `#[flovyn_plugin(…)]` with the struct it is on.
pub(crate) struct PluginDef {
    pub(crate) item: ItemStruct,
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<LitStr>,
    pub(crate) description: Option<String>,
    pub(crate) depends_on: Vec<LitStr>,
    pub(crate) config: Option<Type>,
    /// The event types the plugin publishes (`events = [TokenCreated]`).
    pub(crate) events: Vec<syn::Path>,
    pub(crate) migrations: Vec<MigrationDef>,
}

/// Where a migration's SQL comes from.
pub(crate) enum SqlSource {
    /// Inline string literal.
    Inline(LitStr),
    /// A file relative to the crate's manifest directory.
    File(LitStr),
}

impl SqlSource {
    pub(crate) fn lit(&self) -> &LitStr {
        match self {
            SqlSource::Inline(l) | SqlSource::File(l) => l,
        }
    }
}

/// One `#[migration(…)]`.
pub(crate) struct MigrationDef {
    pub(crate) version: Option<LitInt>,
    pub(crate) name: Option<LitStr>,
    pub(crate) postgres: Option<SqlSource>,
    pub(crate) sqlite: Option<SqlSource>,
}

pub(crate) fn parse_plugin(
    args: proc_macro2::TokenStream,
    mut item: ItemStruct,
    cx: &mut Ctxt,
) -> PluginDef {
    let mut def = PluginDef {
        name: None,
        version: None,
        description: attr::doc_comment(&item.attrs),
        depends_on: Vec::new(),
        config: None,
        events: Vec::new(),
        migrations: Vec::new(),
        item: item.clone(),
    };
    if let Some(args) = Args::parse_into(args, cx) {
        for p in &args.positional {
            cx.error_spanned_by(
                p,
                format!(
                    "unexpected argument: `#[flovyn_plugin]` takes keys: {}",
                    attr::list(attr::PLUGIN_KEYS)
                ),
            );
        }
        args.check_keys(attr::FLOVYN_PLUGIN, attr::PLUGIN_KEYS, cx);
        match args.value(attr::NAME, cx) {
            Some(v) => def.name = lit_str(v, "the plugin name", cx),
            None => cx.error_at(
                attr::call_site(),
                "missing plugin name: write `#[flovyn_plugin(name = \"my-plugin\")]`",
            ),
        }
        if let Some(v) = args.value(attr::VERSION, cx) {
            def.version = lit_str(v, "the plugin version", cx);
        }
        if let Some(v) = args.value(attr::DESCRIPTION, cx) {
            def.description = lit_str(v, "the description", cx).map(|s| s.value());
        }
        if let Some(v) = args.value(attr::DEPENDS_ON, cx) {
            match v {
                Expr::Array(a) => {
                    for e in &a.elems {
                        if let Some(s) = lit_str(e, "a plugin name", cx) {
                            def.depends_on.push(s);
                        }
                    }
                }
                other => cx.error_spanned_by(
                    other,
                    "expected a list of plugin names: `depends_on = [\"other-plugin\"]`",
                ),
            }
        }
        if let Some(v) = args.value(attr::EVENTS, cx) {
            let usage = "expected a list of event types: `events = [TokenCreated, TokenRevoked]`";
            match v {
                Expr::Array(a) => {
                    for e in &a.elems {
                        match e {
                            Expr::Path(p) if p.qself.is_none() => def.events.push(p.path.clone()),
                            other => cx.error_spanned_by(other, usage),
                        }
                    }
                }
                other => cx.error_spanned_by(other, usage),
            }
        }
        if let Some(v) = args.value(attr::CONFIG, cx) {
            match syn::parse2::<Type>(quote::quote!(#v)) {
                Ok(t) => def.config = Some(t),
                Err(_) => cx.error_spanned_by(v, "expected a type: `config = MyConfig`"),
            }
        }
    }

    // Take the `#[migration]` attributes off the struct; the rest stay.
    let mut kept = Vec::new();
    for a in item.attrs.drain(..) {
        if attr::is_attr(&a, attr::MIGRATION) {
            def.migrations.push(parse_migration(a, cx));
        } else if attr::is_attr(&a, attr::FLOVYN_PLUGIN) {
            cx.error_spanned_by(&a, "`#[flovyn_plugin]` is given twice on this struct");
        } else {
            kept.push(a);
        }
    }
    item.attrs = kept;
    def.item = item;
    def
}

fn parse_migration(a: syn::Attribute, cx: &mut Ctxt) -> MigrationDef {
    let mut def = MigrationDef {
        version: None,
        name: None,
        postgres: None,
        sqlite: None,
    };
    let tokens = match attr::attr_args(&a) {
        Ok(t) => t,
        Err(e) => {
            cx.syn_error(e);
            return def;
        }
    };
    let usage =
        "write `#[migration(1, \"create_things\", file = \"migrations/001_create_things.sql\")]`";
    let Some(args) = Args::parse_into(tokens, cx) else {
        return def;
    };
    args.check_keys(attr::MIGRATION, attr::MIGRATION_KEYS, cx);
    let mut pos = args.positional.iter();
    match pos.next() {
        Some(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        })) => def.version = Some(i.clone()),
        Some(other) => cx.error_spanned_by(
            other,
            format!("expected the migration version as an integer literal: {usage}"),
        ),
        None => cx.error_spanned_by(&a, format!("missing migration version and name: {usage}")),
    }
    match pos.next() {
        Some(e) => def.name = lit_str(e, "the migration name", cx),
        None if def.version.is_some() => {
            cx.error_spanned_by(&a, format!("missing migration name: {usage}"))
        }
        None => {}
    }
    for extra in pos {
        cx.error_spanned_by(extra, format!("unexpected argument: {usage}"));
    }

    let mut get = |key: &str| args.value(key, cx).and_then(|v| lit_str(v, "a string", cx));
    let sql = get(attr::SQL).map(SqlSource::Inline);
    let file = get(attr::FILE).map(SqlSource::File);
    let pg = get(attr::POSTGRES).map(SqlSource::Inline);
    let lite = get(attr::SQLITE).map(SqlSource::Inline);
    let pg_file = get(attr::POSTGRES_FILE).map(SqlSource::File);
    let lite_file = get(attr::SQLITE_FILE).map(SqlSource::File);

    let both: Vec<SqlSource> = sql.into_iter().chain(file).collect();
    let pgs: Vec<SqlSource> = pg.into_iter().chain(pg_file).collect();
    let lites: Vec<SqlSource> = lite.into_iter().chain(lite_file).collect();
    let conflict = "give the SQL once: either `sql = …` / `file = …` for both databases, or `postgres = …` / `postgres_file = …` together with `sqlite = …` / `sqlite_file = …`";
    if both.len() + pgs.len().max(lites.len()) > 1 || pgs.len() > 1 || lites.len() > 1 {
        cx.error_spanned_by(
            &a,
            format!("migration has more than one SQL source: {conflict}"),
        );
        return def;
    }
    match (both.into_iter().next(), pgs.into_iter().next(), lites.into_iter().next()) {
        (Some(s), None, None) => {
            def.sqlite = Some(match &s {
                SqlSource::Inline(l) => SqlSource::Inline(l.clone()),
                SqlSource::File(l) => SqlSource::File(l.clone()),
            });
            def.postgres = Some(s);
        }
        (None, Some(p), Some(l)) => {
            def.postgres = Some(p);
            def.sqlite = Some(l);
        }
        (None, Some(_), None) => cx.error_spanned_by(&a, "migration has PostgreSQL SQL but no SQLite variant: add `sqlite = …` or `sqlite_file = …`"),
        (None, None, Some(_)) => cx.error_spanned_by(&a, "migration has SQLite SQL but no PostgreSQL variant: add `postgres = …` or `postgres_file = …`"),
        (None, None, None) if def.version.is_some() => {
            cx.error_spanned_by(&a, format!("migration has no SQL: add `sql = \"…\"` or `file = \"…\"`, e.g. {usage}"))
        }
        _ => {}
    }
    def
}

// ---- #[plugin_impl] ----

/// A `#[plugin_impl]` block.
pub(crate) struct ImplDef {
    pub(crate) item: ItemImpl,
    pub(crate) routes: Vec<RouteDef>,
    pub(crate) on_start: Vec<Ident>,
    pub(crate) on_stop: Vec<Ident>,
    pub(crate) init: Vec<Ident>,
    pub(crate) authenticators: Vec<AuthenticatorDef>,
    pub(crate) authorizers: Vec<Ident>,
    pub(crate) subscriptions: Vec<SubscribeDef>,
    pub(crate) tasks: Vec<TaskDef>,
    pub(crate) middleware: Vec<MiddlewareDef>,
    /// `#[grpc_service]` methods.
    pub(crate) grpc: Vec<GrpcDef>,
}

/// One `#[grpc_service(permission = "…")]` method: `fn name(&self) -> FooServer<…>`.
pub(crate) struct GrpcDef {
    pub(crate) func: Ident,
    pub(crate) permission: Option<LitStr>,
}

/// One `#[middleware(priority = …, paths = […])]` method: `fn name(&self) -> Middleware`.
pub(crate) struct MiddlewareDef {
    pub(crate) func: Ident,
    pub(crate) priority: Option<i32>,
    pub(crate) paths: Vec<LitStr>,
}

/// One `#[task(every = "…")]` method: `async fn name(&self) -> Result<(), PluginError>`.
pub(crate) struct TaskDef {
    pub(crate) func: Ident,
    pub(crate) every: Option<LitStr>,
}

/// One `#[subscribe]` method: `async fn on_x(&self, event: X) -> Result<(), PluginError>`,
/// optionally with a second argument, the `EventMeta`.
pub(crate) struct SubscribeDef {
    pub(crate) func: Ident,
    /// The event type, when the signature has one or two typed arguments.
    pub(crate) event: Option<Type>,
    /// Whether the method takes the `EventMeta` too.
    pub(crate) with_meta: bool,
}

/// One `#[authenticator(…)]` method.
pub(crate) struct AuthenticatorDef {
    pub(crate) func: Ident,
    pub(crate) scheme: Option<LitStr>,
    pub(crate) bearer_format: Option<LitStr>,
    pub(crate) doc: Option<String>,
}

/// One `#[route(…)]` handler.
pub(crate) struct RouteDef {
    pub(crate) method: Option<Ident>,
    pub(crate) path: Option<LitStr>,
    pub(crate) public: Option<Ident>,
    pub(crate) permission: Option<LitStr>,
    pub(crate) status: Option<LitInt>,
    pub(crate) errors: Vec<LitInt>,
    pub(crate) func: ImplItemFn,
    pub(crate) doc: Option<String>,
}

impl RouteDef {
    /// Whether the handler takes `&self`.
    pub(crate) fn has_receiver(&self) -> bool {
        matches!(self.func.sig.inputs.first(), Some(FnArg::Receiver(_)))
    }

    /// The handler's extractor arguments (without the receiver), as (pattern, type).
    pub(crate) fn extractors(&self) -> Vec<&syn::PatType> {
        self.func
            .sig
            .inputs
            .iter()
            .filter_map(|a| match a {
                FnArg::Typed(t) => Some(t),
                FnArg::Receiver(_) => None,
            })
            .collect()
    }
}

pub(crate) fn parse_impl(
    args: proc_macro2::TokenStream,
    mut item: ItemImpl,
    cx: &mut Ctxt,
) -> ImplDef {
    if !args.is_empty() {
        cx.error_spanned_by(&args, "`#[plugin_impl]` takes no arguments");
    }
    let mut def = ImplDef {
        item: item.clone(),
        routes: Vec::new(),
        on_start: Vec::new(),
        on_stop: Vec::new(),
        init: Vec::new(),
        authenticators: Vec::new(),
        authorizers: Vec::new(),
        subscriptions: Vec::new(),
        tasks: Vec::new(),
        middleware: Vec::new(),
        grpc: Vec::new(),
    };
    for member in &mut item.items {
        let ImplItem::Fn(func) = member else { continue };
        let mut kept = Vec::new();
        let attrs = std::mem::take(&mut func.attrs);
        // The handler as written, without its `#[route]` (kept for the route's own checks).
        let mut original = func.clone();
        original.attrs = attrs
            .iter()
            .filter(|a| !attr::is_attr(a, attr::ROUTE))
            .cloned()
            .collect();
        for a in attrs {
            if attr::is_attr(&a, attr::ROUTE) {
                if let Some(r) = parse_route(a, original.clone(), cx) {
                    def.routes.push(r);
                }
            } else if attr::is_attr(&a, attr::ON_START) {
                no_args(&a, cx);
                def.on_start.push(func.sig.ident.clone());
            } else if attr::is_attr(&a, attr::ON_STOP) {
                no_args(&a, cx);
                def.on_stop.push(func.sig.ident.clone());
            } else if attr::is_attr(&a, attr::INIT) {
                no_args(&a, cx);
                def.init.push(func.sig.ident.clone());
            } else if attr::is_attr(&a, attr::AUTHORIZER) {
                no_args(&a, cx);
                def.authorizers.push(func.sig.ident.clone());
            } else if attr::is_attr(&a, attr::SUBSCRIBE) {
                no_args(&a, cx);
                let typed: Vec<&Type> = func
                    .sig
                    .inputs
                    .iter()
                    .filter_map(|i| match i {
                        FnArg::Typed(t) => Some(&*t.ty),
                        FnArg::Receiver(_) => None,
                    })
                    .collect();
                def.subscriptions.push(SubscribeDef {
                    func: func.sig.ident.clone(),
                    event: match typed.as_slice() {
                        [ty] | [ty, _] => Some((*ty).clone()),
                        _ => None,
                    },
                    with_meta: typed.len() == 2,
                });
            } else if attr::is_attr(&a, attr::GRPC_SERVICE) {
                def.grpc.push(parse_grpc(&a, func, cx));
            } else if attr::is_attr(&a, attr::MIDDLEWARE) {
                def.middleware.push(parse_middleware(&a, func, cx));
            } else if attr::is_attr(&a, attr::TASK) {
                def.tasks.push(parse_task(&a, func, cx));
            } else if attr::is_attr(&a, attr::AUTHENTICATOR) {
                def.authenticators.push(parse_authenticator(&a, func, cx));
            } else {
                kept.push(a);
            }
        }
        func.attrs = kept;
    }
    def.item = item;
    def
}

fn parse_authenticator(a: &syn::Attribute, func: &ImplItemFn, cx: &mut Ctxt) -> AuthenticatorDef {
    let mut def = AuthenticatorDef {
        func: func.sig.ident.clone(),
        scheme: None,
        bearer_format: None,
        doc: attr::doc_comment(&func.attrs),
    };
    let usage = "write `#[authenticator(scheme = \"my_scheme\")]`";
    let Some(args) = Args::keyed(a, attr::AUTHENTICATOR, attr::AUTHENTICATOR_KEYS, usage, cx)
    else {
        return def;
    };
    match args.value(attr::SCHEME, cx) {
        Some(v) => def.scheme = lit_str(v, "the security scheme name", cx),
        None => cx.error_spanned_by(a, format!("missing security scheme name: {usage}")),
    }
    if let Some(v) = args.value(attr::BEARER_FORMAT, cx) {
        def.bearer_format = lit_str(v, "the bearer format", cx);
    }
    def
}

fn parse_task(a: &syn::Attribute, func: &ImplItemFn, cx: &mut Ctxt) -> TaskDef {
    let mut def = TaskDef {
        func: func.sig.ident.clone(),
        every: None,
    };
    let usage = "write `#[task(every = \"1h\")]`";
    let Some(args) = Args::keyed(a, attr::TASK, attr::TASK_KEYS, usage, cx) else {
        return def;
    };
    match args.value(attr::EVERY, cx) {
        Some(v) => def.every = lit_str(v, "the interval", cx),
        None => cx.error_spanned_by(a, format!("missing interval: {usage}")),
    }
    def
}

fn parse_grpc(a: &syn::Attribute, func: &ImplItemFn, cx: &mut Ctxt) -> GrpcDef {
    let mut def = GrpcDef {
        func: func.sig.ident.clone(),
        permission: None,
    };
    let usage = "write `#[grpc_service]` or `#[grpc_service(permission = \"my_plugin:read\")]`";
    let Some(args) = Args::keyed(a, attr::GRPC_SERVICE, attr::GRPC_KEYS, usage, cx) else {
        return def;
    };
    if let Some(v) = args.value(attr::PERMISSION, cx) {
        def.permission = lit_str(v, "the permission", cx);
    }
    def
}

fn parse_middleware(a: &syn::Attribute, func: &ImplItemFn, cx: &mut Ctxt) -> MiddlewareDef {
    let mut def = MiddlewareDef {
        func: func.sig.ident.clone(),
        priority: None,
        paths: Vec::new(),
    };
    let usage = "write `#[middleware(priority = 10, paths = [\"/api/v1/*\"])]` (both optional)";
    let Some(args) = Args::keyed(a, attr::MIDDLEWARE, attr::MIDDLEWARE_KEYS, usage, cx) else {
        return def;
    };
    if let Some(v) = args.value(attr::PRIORITY, cx) {
        let value = match v {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => i.base10_parse::<i32>().ok(),
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                expr,
                ..
            }) => match &**expr {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(i),
                    ..
                }) => i.base10_parse::<i32>().ok().map(|n| -n),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(n) => def.priority = Some(n),
            None => cx.error_spanned_by(
                v,
                "expected the priority as an integer literal: `priority = 10`",
            ),
        }
    }
    if let Some(v) = args.value(attr::PATHS, cx) {
        let usage = "expected a list of paths: `paths = [\"/api/v1/*\"]`";
        match v {
            Expr::Array(arr) => {
                for e in &arr.elems {
                    if let Some(s) = lit_str(e, "a path", cx) {
                        def.paths.push(s);
                    }
                }
            }
            other => cx.error_spanned_by(other, usage),
        }
    }
    def
}

fn no_args(a: &syn::Attribute, cx: &mut Ctxt) {
    if !matches!(a.meta, syn::Meta::Path(_)) {
        let name = a
            .path()
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        cx.error_spanned_by(a, format!("`#[{name}]` takes no arguments"));
    }
}

fn parse_route(a: syn::Attribute, func: ImplItemFn, cx: &mut Ctxt) -> Option<RouteDef> {
    let usage = "write `#[route(GET, \"/things/{id}\")]`";
    let tokens = match attr::attr_args(&a) {
        Ok(t) => t,
        Err(e) => {
            cx.syn_error(e);
            return None;
        }
    };
    let doc = attr::doc_comment(&func.attrs);
    let mut def = RouteDef {
        method: None,
        path: None,
        public: None,
        permission: None,
        status: None,
        errors: Vec::new(),
        func,
        doc,
    };
    let args = Args::parse_into(tokens, cx)?;
    args.check_keys(attr::ROUTE, attr::ROUTE_KEYS, cx);
    let mut pos = args.positional.iter();
    match pos.next() {
        Some(Expr::Path(p)) if p.path.get_ident().is_some() => {
            def.method = p.path.get_ident().cloned()
        }
        Some(other) => cx.error_spanned_by(
            other,
            format!("expected an HTTP method such as `GET` or `POST`: {usage}"),
        ),
        None => cx.error_spanned_by(&a, format!("missing HTTP method and path: {usage}")),
    }
    match pos.next() {
        Some(e) => def.path = lit_str(e, "the route path", cx),
        None if def.method.is_some() => {
            cx.error_spanned_by(&a, format!("missing route path: {usage}"))
        }
        None => {}
    }
    for extra in pos {
        if let Expr::Path(p) = extra
            && let Some(i) = p.path.get_ident()
        {
            if attr::ROUTE_KEYS.contains(&i.to_string().as_str()) {
                continue;
            }
            cx.error_spanned_by(
                i,
                format!(
                    "unknown key `{i}` in `#[route]`: expected one of: {}",
                    attr::list(attr::ROUTE_KEYS)
                ),
            );
            continue;
        }
        cx.error_spanned_by(extra, format!("unexpected argument: {usage}"));
    }
    // `public` may also appear among the leading bare identifiers (`#[route(GET, "/", public)]`
    // parses it as a flag; `#[route(GET, public)]` would not have a path anyway).
    def.public = args.flag(attr::PUBLIC, cx).cloned().or_else(|| {
        args.positional.iter().skip(2).find_map(|e| match e {
            Expr::Path(p) if p.path.is_ident(attr::PUBLIC) => p.path.get_ident().cloned(),
            _ => None,
        })
    });
    if let Some(v) = args.value(attr::PERMISSION, cx) {
        def.permission = lit_str(v, "the permission", cx);
    }
    if let Some(v) = args.value(attr::ERRORS, cx) {
        let usage = "expected a list of HTTP error statuses: `errors = [404, 409]`";
        match v {
            Expr::Array(a) => {
                for e in &a.elems {
                    match e {
                        Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Int(i),
                            ..
                        }) => def.errors.push(i.clone()),
                        other => cx.error_spanned_by(other, usage),
                    }
                }
            }
            other => cx.error_spanned_by(other, usage),
        }
    }
    if let Some(v) = args.value(attr::STATUS, cx) {
        match v {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => def.status = Some(i.clone()),
            other => cx.error_spanned_by(
                other,
                "expected an HTTP status code as an integer literal: `status = 201`",
            ),
        }
    }
    Some(def)
}
