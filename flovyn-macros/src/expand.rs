//! Expand stage: the code each macro generates.
//!
//! Generated code names the SDK only through `::flovyn_sdk::__private`, so a plugin depends
//! on `flovyn-sdk` alone. On error the author's item is still emitted next to the errors
//! (with a stub where that avoids a cascade of secondary errors), so IDEs keep working.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{ItemImpl, ItemStruct, LitStr, ReturnType, Type};

use crate::ast::{self, ImplDef, PluginDef, RouteDef};
use crate::attr;
use crate::check;
use crate::ctxt::Ctxt;
use crate::valid::{self, Access, Route};

// ---- #[flovyn_plugin] ----

/// `package` is the package being compiled (for the linking check's message).
pub(crate) fn plugin(args: TokenStream, item: TokenStream, package: &str) -> TokenStream {
    let mut cx = Ctxt::default();
    let item: ItemStruct = match syn::parse2(item.clone()) {
        Ok(s) => s,
        Err(_) => {
            let msg = "`#[flovyn_plugin]` goes on a struct: `#[flovyn_plugin(name = \"my-plugin\")] pub struct MyPlugin;`";
            let err = syn::Error::new(Span::call_site(), msg).to_compile_error();
            return quote!(#err #item);
        }
    };
    let def = ast::parse_plugin(args, item, &mut cx);
    let out = expand_plugin(&def, package, &mut cx);
    let item = &def.item;
    match out {
        Some(out) if !cx.has_errors() => quote!(#item #out),
        _ => {
            let errors = cx.into_compile_errors();
            let events = declared_events(&def);
            quote!(#item #errors #events)
        }
    }
}

/// The declared events stay events when the attribute has errors, so that a mistake in it
/// (a bad name, a misnamed table) is the only error reported, not also every place that
/// publishes one of its events. (The compilation fails anyway: the names are placeholders.)
fn declared_events(def: &PluginDef) -> TokenStream {
    if def.events.is_empty() {
        return TokenStream::new();
    }
    let mut seen = std::collections::HashSet::new();
    let impls = def
        .events
        .iter()
        .filter(|path| seen.insert(quote!(#path).to_string()))
        .map(|path| {
            quote_spanned! {path.span()=>
                impl __fp::Event for #path {
                    const NAME: &'static str = "";
                }
            }
        });
    quote! {
        const _: () = {
            use ::flovyn_sdk::__private as __fp;
            #(#impls)*
        };
    }
}

fn expand_plugin(def: &PluginDef, package: &str, cx: &mut Ctxt) -> Option<TokenStream> {
    let ident = &def.item.ident;
    if !def.item.generics.params.is_empty() {
        cx.error_spanned_by(
            &def.item.generics,
            "a plugin struct cannot be generic: the server builds exactly one of each plugin",
        );
    }
    let name_ok = def.name.as_ref().is_some_and(|n| valid::plugin_name(n, cx));
    let name = def.name.as_ref().map(|n| n.value());
    let plugin = if name_ok { name.as_deref() } else { None };
    if let Some(v) = &def.version {
        valid::version(v, cx);
    }
    for dep in &def.depends_on {
        valid::dependency(dep, name.as_deref(), cx);
    }
    let migrations: Vec<_> = def
        .migrations
        .iter()
        .map(|m| valid::migration(m, plugin, cx))
        .collect();
    check::migration_order(&def.migrations, &migrations, cx);
    let events = plugin.map(|p| valid::events(&def.events, p, cx));
    if cx.has_errors() {
        return None;
    }

    let name = name?;
    let version = match &def.version {
        Some(v) => quote!(#v),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let description = def.description.clone().unwrap_or_default();
    let prefix = flovyn_naming::plugin::table_prefix(&name);
    let grpc_package = flovyn_naming::plugin::grpc_package(&name);
    let grpc_mismatch = format!(
        "a gRPC service of plugin `{name}` must be in the protobuf package `{grpc_package}`: declare `package {grpc_package};` in its .proto file"
    );
    let deps = &def.depends_on;
    let migrations = migrations.into_iter().flatten().map(|m| {
        let (v, n, pg, lite) = (m.version, &m.name, &m.postgres.tokens, &m.sqlite.tokens);
        quote!(__fp::MigrationDescriptor::__new(#v, #n, #pg, #lite))
    });
    let config = match &def.config {
        Some(ty) => quote_spanned! {ty.span()=>
            ::core::option::Option::Some(&__fp::ConfigDescriptor {
                schema: <#ty as __fp::utoipa::PartialSchema>::schema,
                schemas: <#ty as __fp::utoipa::ToSchema>::schemas,
                validate: __fp::validate_config::<#ty>,
            })
        },
        None => quote!(::core::option::Option::None),
    };
    let event_names: Vec<&str> = events.iter().flatten().map(|(_, n)| n.as_str()).collect();
    // Spanned on each type, so a type that cannot be an event is reported there.
    let event_impls = events.iter().flatten().map(|(path, name)| {
        quote_spanned! {path.span()=>
            impl __fp::Event for #path {
                const NAME: &'static str = #name;
            }
        }
    });
    // A plugin crate is linked into a server only if its build script publishes it
    // (`flovyn_build::plugin_crate()`, decision 0010), which also sets this variable for the
    // crate's compilation. Tests define plugins that nothing links from outside.
    let not_linkable = format!(
        "plugin crate `{package}` is not set up to be linked by the servers that depend on it, \
         so its plugins would never register: add `links = \"flovyn-plugin-{package}\"` to its \
         `[package]` table, `flovyn-build` to its `[build-dependencies]`, and a `build.rs` whose \
         `main` calls `flovyn_build::plugin_crate()`"
    );
    let linkable = quote_spanned! {ident.span()=>
        #[cfg(not(test))]
        const _: &str = ::core::env!("FLOVYN_PLUGIN_CRATE", #not_linkable);
    };
    // Spanned on the struct's name: a plugin without a constructor is reported there.
    let parts = quote_spanned!(ident.span()=> || (&&__fp::Probe::<#ident>::new()).parts());
    Some(quote! {
        const _: () = {
            use ::flovyn_sdk::__private as __fp;
            #[allow(unused_imports)]
            use __fp::probe::{ViaDefault as _, ViaPluginImpl as _};

            static __FLOVYN_LINKED: __fp::LinkedPlugin = __fp::LinkedPlugin::__new(
                #name,
                #version,
                #description,
                &[#(#deps),*],
                &[#(#migrations),*],
                ::core::env!("CARGO_PKG_NAME"),
                #parts,
                #config,
                &[#(#event_names),*],
            );

            #(#event_impls)*

            #linkable

            __fp::register_plugin!(__FLOVYN_LINKED);

            impl __fp::Plugin for #ident {
                const NAME: &'static str = #name;
                const VERSION: &'static str = #version;
                const TABLE_PREFIX: &'static str = #prefix;
                const GRPC_PACKAGE: &'static str = #grpc_package;
                const __GRPC_PACKAGE_MISMATCH: &'static str = #grpc_mismatch;
                fn linked() -> &'static __fp::LinkedPlugin {
                    &__FLOVYN_LINKED
                }
            }
        };
    })
}

/// `#[migration]` runs on its own only when written above `#[flovyn_plugin]`: move it below,
/// so that `#[flovyn_plugin]` sees every migration; anywhere else it is an error.
pub(crate) fn stray_migration(args: TokenStream, item: TokenStream) -> TokenStream {
    let Ok(mut st) = syn::parse2::<ItemStruct>(item.clone()) else {
        let err = syn::Error::new(
            Span::call_site(),
            "`#[migration]` goes on a `#[flovyn_plugin]` struct",
        )
        .to_compile_error();
        return quote!(#err #item);
    };
    let Some(pos) = st
        .attrs
        .iter()
        .position(|a| attr::is_attr(a, attr::FLOVYN_PLUGIN))
    else {
        let err = syn::Error::new(
            Span::call_site(),
            "`#[migration]` goes on a struct with `#[flovyn_plugin(name = \"…\")]`; add that attribute above the migrations",
        )
        .to_compile_error();
        return quote!(#err #st);
    };
    let plugin_attr = st.attrs.remove(pos);
    let migration: syn::Attribute = syn::parse_quote!(#[::flovyn_sdk::migration(#args)]);
    st.attrs.insert(0, migration);
    st.attrs.insert(0, plugin_attr);
    quote!(#st)
}

/// `#[route]`, `#[on_start]`, `#[on_stop]`, `#[init]` reached on their own: they are not
/// inside a `#[plugin_impl]` block.
pub(crate) fn stray_member(name: &str, _args: TokenStream, item: TokenStream) -> TokenStream {
    let msg = format!(
        "`#[{name}]` only works on a method inside a `#[plugin_impl]` block: put `#[plugin_impl]` on the `impl` block of the plugin struct"
    );
    let err = syn::Error::new(Span::call_site(), msg).to_compile_error();
    quote!(#err #item)
}

// ---- #[plugin_impl] ----

pub(crate) fn plugin_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(_) => {
            let err = syn::Error::new(Span::call_site(), "`#[plugin_impl]` goes on the `impl` block of a plugin struct: `#[plugin_impl] impl MyPlugin { … }`").to_compile_error();
            return quote!(#err #item);
        }
    };
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            "`#[plugin_impl]` goes on an inherent `impl MyPlugin { … }` block, not a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "a plugin's `impl` block cannot be generic");
    }
    let def = ast::parse_impl(args, item, &mut cx);
    let routes: Vec<Option<Route>> = def
        .routes
        .iter()
        .map(|r| valid::route(r, &mut cx))
        .collect();
    check::routes(&def.routes, &routes, &mut cx);
    for (r, route) in def.routes.iter().zip(&routes) {
        if let Some(route) = route {
            check::path_params(r, route, &mut cx);
        }
    }
    check::hooks(&def, &mut cx);
    check::subscriptions(&def, &mut cx);
    for m in &def.middleware {
        valid::middleware_paths(m, &mut cx);
    }
    for g in &def.grpc {
        if let Some(p) = &g.permission {
            valid::permission(p, &mut cx);
        }
    }
    let intervals: Vec<Option<u64>> = def.tasks.iter().map(|t| valid::task(t, &mut cx)).collect();
    hook_signatures(&def, &mut cx);

    let item = &def.item;
    if cx.has_errors() {
        let errors = cx.into_compile_errors();
        let stub = stub_impl(&def.item.self_ty);
        return quote!(#item #errors #stub);
    }
    let routes: Vec<Route> = routes.into_iter().flatten().collect();
    let generated = expand_impl(&def, &routes, &intervals);
    quote!(#item #generated)
}

/// `EventMeta`, however the path to it is written.
fn is_event_meta(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "EventMeta"))
}

fn hook_signatures(def: &ImplDef, cx: &mut Ctxt) {
    for member in &def.item.items {
        let syn::ImplItem::Fn(f) = member else {
            continue;
        };
        let id = &f.sig.ident;
        let receiver = matches!(f.sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
        if def.on_start.contains(id) || def.on_stop.contains(id) {
            valid::signature(f, "a lifecycle hook", cx);
            if !receiver || f.sig.inputs.len() != 2 {
                cx.error_spanned_by(&f.sig, format!("lifecycle hook `{id}` must be `async fn {id}(&self, ctx: &PluginContext) -> Result<(), PluginError>`"));
            }
        }
        if def.authenticators.iter().any(|a| &a.func == id) {
            valid::signature(f, "the authenticator", cx);
            if !receiver || f.sig.inputs.len() != 2 {
                cx.error_spanned_by(&f.sig, format!("authenticator `{id}` must be `async fn {id}(&self, request: &AuthRequest<'_>) -> AuthOutcome`"));
            }
        }
        if def.authorizers.contains(id) {
            valid::signature(f, "the authorizer", cx);
            if !receiver || f.sig.inputs.len() != 3 {
                cx.error_spanned_by(&f.sig, format!("authorizer `{id}` must be `async fn {id}(&self, identity: &Identity, request: &AuthzRequest<'_>) -> Decision`"));
            }
        }
        if let Some(sub) = def.subscriptions.iter().find(|s| &s.func == id) {
            valid::signature(f, "an event handler", cx);
            let meta_arg = f.sig.inputs.iter().nth(2);
            if !receiver || sub.event.is_none() {
                cx.error_spanned_by(&f.sig, format!("event handler `{id}` must be `async fn {id}(&self, event: SomeEvent) -> Result<(), PluginError>` (or take the `EventMeta` second: `async fn {id}(&self, event: SomeEvent, meta: EventMeta)`)"));
            } else if let Some(syn::FnArg::Typed(meta)) = meta_arg
                && !is_event_meta(&meta.ty)
            {
                cx.error_spanned_by(&meta.ty, format!("the second argument of event handler `{id}` is the event's `EventMeta` (its id, name, publisher and time): `meta: EventMeta`"));
            } else if matches!(f.sig.output, ReturnType::Default) {
                cx.error_spanned_by(&f.sig, format!("event handler `{id}` must return `Result<(), PluginError>`: an error is retried, then the event is dead-lettered"));
            }
        }
        if def.grpc.iter().any(|g| &g.func == id) {
            if f.sig.asyncness.is_some() {
                cx.error_spanned_by(f.sig.asyncness, format!("gRPC service `{id}` is built once at start-up: make it a plain `fn {id}(&self) -> MyServiceServer<…>`"));
            }
            if !receiver
                || f.sig.inputs.len() != 1
                || !matches!(&f.sig.output, ReturnType::Type(_, t) if !matches!(**t, Type::ImplTrait(_)))
            {
                cx.error_spanned_by(&f.sig, format!("gRPC service `{id}` must be `fn {id}(&self) -> MyServiceServer<…>`, returning the tonic-generated server by name"));
            }
        }
        if def.middleware.iter().any(|m| &m.func == id) {
            if f.sig.asyncness.is_some() {
                cx.error_spanned_by(f.sig.asyncness, format!("middleware `{id}` is built once at start-up: make it a plain `fn {id}(&self) -> Middleware`; the request handling inside it is async"));
            }
            if !receiver || f.sig.inputs.len() != 1 || matches!(f.sig.output, ReturnType::Default) {
                cx.error_spanned_by(
                    &f.sig,
                    format!("middleware `{id}` must be `fn {id}(&self) -> Middleware`"),
                );
            }
        }
        if def.tasks.iter().any(|t| &t.func == id) {
            valid::signature(f, "a periodic task", cx);
            if !receiver || f.sig.inputs.len() != 1 {
                cx.error_spanned_by(&f.sig, format!("task `{id}` must be `async fn {id}(&self) -> Result<(), PluginError>`: it keeps what it needs in the plugin"));
            } else if matches!(f.sig.output, ReturnType::Default) {
                cx.error_spanned_by(&f.sig, format!("task `{id}` must return `Result<(), PluginError>`: an error is logged and shown in `/_/plugins`"));
            }
        }
        if def.init.contains(id) {
            valid::signature(f, "the constructor", cx);
            if receiver || f.sig.inputs.len() != 1 {
                cx.error_spanned_by(&f.sig, format!("constructor `{id}` must be `async fn {id}(ctx: &PluginContext) -> Result<Self, PluginError>`"));
            }
        }
    }
}

/// Parts for a block that failed to expand, so the struct's descriptor still type-checks.
fn stub_impl(self_ty: &Type) -> TokenStream {
    quote! {
        const _: () = {
            use ::flovyn_sdk::__private as __fp;
            impl __fp::PluginImpl for #self_ty {
                const PARTS: &'static __fp::PluginParts = &__fp::PluginParts {
                    routes: &[],
                    operations: |_| ::std::vec::Vec::new(),
                    security_scheme: ::core::option::Option::None,
                    has_authorizer: false,
                    subscriptions: &[],
                    tasks: &[],
                    middleware: &[],
                    grpc: &[],
                    construct: |_| ::std::boxed::Box::pin(async {
                        ::core::result::Result::Err(__fp::PluginError::new("this plugin failed to compile"))
                    }),
                };
            }
        };
    }
}

/// Replaces `Self` in types copied out of the impl block into free functions.
struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(p) = ty
            && p.qself.is_none()
            && p.path.is_ident("Self")
        {
            *ty = self.0.clone();
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// The span of a method's return type (its name when it has none), for type errors about
/// what it returns.
fn return_span(def: &ImplDef, f: &syn::Ident) -> Span {
    def.item
        .items
        .iter()
        .find_map(|i| match i {
            syn::ImplItem::Fn(m) if &m.sig.ident == f => Some(match &m.sig.output {
                ReturnType::Type(_, t) => t.span(),
                ReturnType::Default => f.span(),
            }),
            _ => None,
        })
        .unwrap_or_else(|| f.span())
}

fn expand_impl(def: &ImplDef, routes: &[Route], intervals: &[Option<u64>]) -> TokenStream {
    let self_ty = &*def.item.self_ty;
    let state = quote!(__fp::Arc<#self_ty>);
    let mut handlers = Vec::new();
    let mut checks = Vec::new();
    let mut router_calls = Vec::new();
    let mut descriptors = Vec::new();
    let mut operations = Vec::new();

    for (r, route) in def.routes.iter().zip(routes) {
        let fn_name = &r.func.sig.ident;
        let wrapper = format_ident!("__flovyn_route_{}", fn_name);
        let mut types: Vec<Type> = r.extractors().iter().map(|a| (*a.ty).clone()).collect();
        for t in &mut types {
            ReplaceSelf(self_ty).visit_type_mut(t);
        }
        let args: Vec<_> = (0..types.len())
            .map(|i| format_ident!("__arg{}", i))
            .collect();
        let call = if r.has_receiver() {
            quote!(<#self_ty>::#fn_name(&*__this, #(#args),*).await)
        } else {
            quote!({ let _ = __this; <#self_ty>::#fn_name(#(#args),*).await })
        };
        // Spanned on the return type, so a non-`IntoResponse` type is reported there.
        let ret_span = match &r.func.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => r.func.sig.ident.span(),
        };
        let into_response = quote_spanned!(ret_span=> __fp::axum::response::IntoResponse::into_response(__response));
        let respond = quote!(let __response = #call; #into_response);
        // axum sees `(State, Request)`; each argument is read through the SDK's `HandlerArg`
        // (decision 0019), so a type the SDK does not know is one error at the argument, and
        // never a failed `Handler` bound on this generated function.
        let extractions = types.iter().zip(&args).enumerate().map(|(i, (ty, arg))| {
            // Spanned from the type's first token to its last, like the type itself.
            let which = if i + 1 == types.len() {
                quote_spanned!(last_span(ty)=> Last)
            } else {
                quote_spanned!(last_span(ty)=> NotLast)
            };
            let position = quote_spanned!(ty.span()=> __fp::position::#which);
            // Every use of the argument's `HandlerArg` bound is spanned on its type, here and
            // in its documentation: an argument the SDK does not accept gives identical
            // diagnostics, which the compiler reports once.
            let open = quote_spanned!(ty.span()=> <);
            let extract = quote_spanned!(last_span(ty)=> {
                #open #ty as __fp::HandlerArg>::__allowed_at::<#position>();
                #open #ty as __fp::HandlerArg>::extract(&mut __input).await
            });
            quote! {
                let #arg = match #extract {
                    ::core::result::Result::Ok(__value) => __value,
                    ::core::result::Result::Err(__rejection) => return __rejection,
                };
            }
        });
        let input =
            (!types.is_empty()).then(|| quote!(let mut __input = __fp::ArgInput::new(__request);));
        // Dropped before the handler runs: what is left of the request is not carried in the
        // handler's future (smaller, so cheaper to move) and is freed at once.
        let done = (!types.is_empty()).then(|| quote!(::core::mem::drop(__input);));
        handlers.push(quote! {
            #[allow(non_snake_case, clippy::used_underscore_binding)]
            async fn #wrapper(
                __fp::axum::extract::State(__this): __fp::axum::extract::State<#state>,
                __request: __fp::axum::extract::Request,
            ) -> __fp::axum::response::Response {
                #input
                #(#extractions)*
                #done
                #respond
            }
        });

        let ret = match &r.func.sig.output {
            ReturnType::Default => Some(syn::parse_quote!(())),
            ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => None,
            ReturnType::Type(_, ty) => {
                let mut ty = (**ty).clone();
                ReplaceSelf(self_ty).visit_type_mut(&mut ty);
                Some(ty)
            }
        };

        let path = route.path.as_str();
        let routing = format_ident!("{}", route.method.as_str().to_ascii_lowercase());
        router_calls.push(quote!(__fp::axum::routing::#routing(#wrapper).with_state(self.clone())));

        let method = format_ident!("{}", variant(route.method.as_str()));
        let handler_name = fn_name.to_string();
        let access = match &route.access {
            Access::Public => quote!(__fp::Access::Public),
            Access::Authenticated => quote!(__fp::Access::Authenticated),
            Access::Permission(p) => quote!(__fp::Access::Permission(#p)),
        };
        descriptors.push(quote!(__fp::RouteDescriptor::__new(__fp::Method::#method, #path, #handler_name, #access)));

        operations.push(operation(r, route, &types, ret.as_ref()));
    }

    let hook = |list: &[syn::Ident], name: &str| {
        let method = format_ident!("{}", name);
        list.first().map(|h| quote! {
            fn #method<'a>(&'a self, ctx: &'a __fp::PluginContext) -> __fp::BoxFuture<'a, ::core::result::Result<(), __fp::PluginError>> {
                ::std::boxed::Box::pin(<#self_ty>::#h(self, ctx))
            }
        })
    };
    let on_start = hook(&def.on_start, "on_start");
    let on_stop = hook(&def.on_stop, "on_stop");
    let authenticate = def.authenticators.first().map(|a| {
        let f = &a.func;
        quote! {
            fn authenticate<'a>(&'a self, request: &'a __fp::AuthRequest<'a>) -> __fp::BoxFuture<'a, __fp::AuthOutcome> {
                ::std::boxed::Box::pin(<#self_ty>::#f(self, request))
            }
        }
    });
    let authorize = def.authorizers.first().map(|f| {
        quote! {
            fn authorize<'a>(&'a self, identity: &'a __fp::Identity, request: &'a __fp::AuthzRequest<'a>) -> __fp::BoxFuture<'a, __fp::Decision> {
                ::std::boxed::Box::pin(<#self_ty>::#f(self, identity, request))
            }
        }
    });
    let security_scheme = match def.authenticators.first() {
        Some(a) => {
            let name = a.scheme.as_ref().map(|s| s.value()).unwrap_or_default();
            let format = match &a.bearer_format {
                Some(f) => quote!(::core::option::Option::Some(#f)),
                None => quote!(::core::option::Option::None),
            };
            let doc = a.doc.clone().unwrap_or_default();
            quote!(::core::option::Option::Some(__fp::SchemeDescriptor::__new(#name, #format, #doc)))
        }
        None => quote!(::core::option::Option::None),
    };
    let has_authorizer = !def.authorizers.is_empty();
    let mut deliver_arms = Vec::new();
    let mut subscriptions = Vec::new();
    for sub in &def.subscriptions {
        let Some(ty) = &sub.event else { continue };
        let mut ty = ty.clone();
        ReplaceSelf(self_ty).visit_type_mut(&mut ty);
        let f = &sub.func;
        let handler = f.to_string();
        checks.push(quote_spanned!(ty.span()=> __fp::assert_event::<#ty>();));
        let ret_span = return_span(def, f);
        let result = quote_spanned!(ret_span=> ::core::result::Result<(), __fp::PluginError>);
        let meta = sub.with_meta.then(|| quote!(, __meta.clone()));
        // Spanned on the return type, so a handler returning anything else is reported there.
        let call = quote_spanned!(ret_span=> let __result: #result = <#self_ty>::#f(self, __event #meta).await;);
        // The subscription's position in the descriptor's list: how the server names it.
        let index = u32::try_from(subscriptions.len()).unwrap_or(u32::MAX);
        deliver_arms.push(quote! {
            #index => ::std::boxed::Box::pin(async move {
                let __event: #ty = (&&__fp::EventProbe::<#ty>::new()).decode(__payload)?;
                #call
                __result
            }),
        });
        subscriptions.push(quote!(__fp::SubscriptionDescriptor::__new(
            || (&&__fp::EventProbe::<#ty>::new()).event_name(),
            #handler
        )));
    }
    let mut task_arms = Vec::new();
    let mut tasks = Vec::new();
    for (t, interval) in def.tasks.iter().zip(intervals) {
        // A task whose interval does not parse has been reported: it gets no entry.
        let (Some(every), Some(_)) = (&t.every, interval) else {
            continue;
        };
        let f = &t.func;
        let name = f.to_string();
        let result =
            quote_spanned!(return_span(def, f)=> ::core::result::Result<(), __fp::PluginError>);
        let call = quote_spanned!(return_span(def, f)=> let __result: #result = <#self_ty>::#f(self).await;);
        // The task's position in the descriptor's list: how the server names it.
        let index = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
        task_arms.push(quote! {
            #index => ::std::boxed::Box::pin(async move {
                #call
                __result
            }),
        });
        tasks.push(quote!(__fp::TaskDescriptor::__new(#name, #every)));
    }
    let mut middleware_calls = Vec::new();
    let mut middleware = Vec::new();
    for m in &def.middleware {
        let f = &m.func;
        let name = f.to_string();
        let priority = match m.priority {
            Some(p) => quote!(#p),
            None => quote!(__fp::DEFAULT_MIDDLEWARE_PRIORITY),
        };
        let paths = &m.paths;
        // Spanned on the return type, so a method returning anything else is reported there.
        let call = quote_spanned!(return_span(def, f)=> let __m: __fp::Middleware = <#self_ty>::#f(&self););
        middleware_calls.push(quote!({
            #call
            __m
        }));
        middleware
            .push(quote!(__fp::MiddlewareDescriptor::__new(#name, #priority, &[#(#paths),*])));
    }
    let mut grpc_calls = Vec::new();
    let mut grpc = Vec::new();
    let mut grpc_checks = Vec::new();
    for g in &def.grpc {
        let f = &g.func;
        let access = match g.permission.as_ref().map(LitStr::value) {
            Some(p) => quote!(__fp::Access::Permission(#p)),
            None => quote!(__fp::Access::Authenticated),
        };
        let Some(ret) = def.item.items.iter().find_map(|i| match i {
            syn::ImplItem::Fn(m) if &m.sig.ident == f => match &m.sig.output {
                ReturnType::Type(_, t) => Some((**t).clone()),
                ReturnType::Default => None,
            },
            _ => None,
        }) else {
            continue;
        };
        let mut ret = ret;
        ReplaceSelf(self_ty).visit_type_mut(&mut ret);
        let method = f.to_string();
        let span = ret.span();
        grpc_checks.push(quote_spanned! {span=>
            const _: () = {
                if !__fp::grpc_in_plugin_package(
                    <#ret as __fp::NamedService>::NAME,
                    <#self_ty as __fp::Plugin>::NAME,
                ) {
                    ::core::panic!("{}", <#self_ty as __fp::Plugin>::__GRPC_PACKAGE_MISMATCH);
                }
            };
        });
        grpc_calls.push(quote_spanned!(span=> __fp::GrpcService::new(<#self_ty>::#f(&self))));
        grpc.push(quote!(__fp::GrpcDescriptor::__new(#method, <#ret as __fp::NamedService>::NAME, #access)));
    }
    let grpc_fn = (!grpc_calls.is_empty()).then(|| {
        quote! {
            fn grpc_services(self: __fp::Arc<Self>) -> ::std::vec::Vec<__fp::GrpcService> {
                ::std::vec![#(#grpc_calls),*]
            }
        }
    });
    let middleware_fn = (!middleware_calls.is_empty()).then(|| {
        quote! {
            fn middleware(self: __fp::Arc<Self>) -> ::std::vec::Vec<__fp::Middleware> {
                ::std::vec![#(#middleware_calls),*]
            }
        }
    });
    let run_task = (!task_arms.is_empty()).then(|| {
        quote! {
            fn run_task<'a>(&'a self, __task: __fp::TaskId) -> __fp::BoxFuture<'a, ::core::result::Result<(), __fp::PluginError>> {
                match __task.0 {
                    #(#task_arms)*
                    _ => ::std::boxed::Box::pin(async move {
                        ::core::result::Result::Err(__fp::PluginError::new(::std::format!("no task {}", __task)))
                    }),
                }
            }
        }
    });
    let deliver = (!deliver_arms.is_empty()).then(|| {
        quote! {
            fn deliver<'a>(
                &'a self,
                __subscription: __fp::SubscriptionId,
                __payload: &'a str,
                __meta: &'a __fp::EventMeta,
            ) -> __fp::BoxFuture<'a, ::core::result::Result<(), __fp::PluginError>> {
                match __subscription.0 {
                    #(#deliver_arms)*
                    _ => ::std::boxed::Box::pin(async move {
                        ::core::result::Result::Err(__fp::PluginError::new(::std::format!("no subscription {}", __subscription)))
                    }),
                }
            }
        }
    });
    let construct = match def.init.first() {
        Some(init) => quote!(<#self_ty>::#init(&ctx).await?),
        None => quote_spanned!(self_ty.span()=> <#self_ty as __fp::DefaultConstruct>::construct()),
    };

    quote! {
        const _: () = {
            use ::flovyn_sdk::__private as __fp;
            #[allow(unused_imports)]
            use __fp::probe::{ViaEvent as _, ViaNotEvent as _};

            #(#handlers)*

            #(#grpc_checks)*

            #[allow(dead_code, clippy::let_unit_value)]
            fn __flovyn_checks() {
                #(#checks)*
            }

            fn __flovyn_operations(__ctx: &mut __fp::DocContext) -> ::std::vec::Vec<__fp::utoipa::openapi::path::Operation> {
                let mut __ops = ::std::vec::Vec::new();
                #(#operations)*
                __ops
            }

            fn __flovyn_construct(ctx: __fp::PluginContext) -> __fp::BoxFuture<'static, ::core::result::Result<__fp::Arc<dyn __fp::PluginInstance>, __fp::PluginError>> {
                ::std::boxed::Box::pin(async move {
                    let _ = &ctx;
                    let __plugin: #self_ty = #construct;
                    let __instance: __fp::Arc<dyn __fp::PluginInstance> = __fp::Arc::new(__plugin);
                    ::core::result::Result::Ok(__instance)
                })
            }

            impl __fp::PluginInstance for #self_ty {
                fn routes(self: __fp::Arc<Self>) -> ::std::vec::Vec<__fp::axum::routing::MethodRouter> {
                    ::std::vec![#(#router_calls),*]
                }
                fn router(self: __fp::Arc<Self>) -> __fp::axum::Router {
                    __fp::router_at_relative_paths(<#self_ty as __fp::Plugin>::descriptor(), self.routes())
                }
                #on_start
                #on_stop
                #deliver
                #run_task
                #middleware_fn
                #grpc_fn
                #authenticate
                #authorize
            }

            impl __fp::PluginImpl for #self_ty {
                const PARTS: &'static __fp::PluginParts = &__fp::PluginParts {
                    routes: &[#(#descriptors),*],
                    operations: __flovyn_operations,
                    security_scheme: #security_scheme,
                    has_authorizer: #has_authorizer,
                    subscriptions: &[#(#subscriptions),*],
                    tasks: &[#(#tasks),*],
                    middleware: &[#(#middleware),*],
                    grpc: &[#(#grpc),*],
                    construct: __flovyn_construct,
                };
            }
        };
    }
}

fn variant(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The code documenting one route: each argument type and the return type describe
/// themselves; the doc comment gives summary (first line) and description (the rest).
fn operation(r: &RouteDef, route: &Route, types: &[Type], ret: Option<&Type>) -> TokenStream {
    let params: Vec<String> = route.path.params().iter().map(|p| p.to_string()).collect();
    let (summary, description) = match &r.doc {
        Some(doc) => {
            let mut parts = doc.splitn(2, '\n');
            let summary = parts.next().unwrap_or_default().trim().to_owned();
            let rest = parts
                .next()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            (Some(summary), rest)
        }
        None => (None, None),
    };
    let summary = opt_str(summary.as_deref());
    let description = opt_str(description.as_deref());
    let status = route.status.map(|s| quote!(__op.set_declared_status(#s);));
    let errors = route
        .errors
        .iter()
        .map(|e| quote!(__op.declared_error(#e);));
    let args = types.iter().map(|ty| {
        let open = quote_spanned!(ty.span()=> <);
        quote_spanned!(last_span(ty)=> #open #ty as __fp::HandlerArg>::document(&mut __op);)
    });
    let response = match ret {
        Some(ret) => {
            quote_spanned!(ret.span()=> <#ret as __fp::DocumentResponse>::document(&mut __op);)
        }
        // `impl IntoResponse` cannot be named: document the status alone.
        None => {
            let s = route.status.unwrap_or(200);
            quote!(__op.response(#s, "Success", ::core::option::Option::None);)
        }
    };
    quote! {
        {
            let mut __op = __ctx.operation(&[#(#params),*]);
            #status
            #(#args)*
            #response
            #(#errors)*
            __ops.push(__op.finish(#summary, #description));
        }
    }
}

/// The span of a type's last token: with a first token's span, generated code covers the
/// whole type, so an error about it underlines the type as the author wrote it.
fn last_span(ty: &Type) -> Span {
    match quote::ToTokens::to_token_stream(ty).into_iter().last() {
        Some(proc_macro2::TokenTree::Group(g)) => g.span_close(),
        Some(t) => t.span(),
        None => ty.span(),
    }
}

fn opt_str(s: Option<&str>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}
