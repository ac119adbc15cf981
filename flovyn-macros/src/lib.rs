//! Procedural macros of the Flovyn plugin SDK.
//!
//! Use them through `flovyn-sdk`, where they are re-exported and documented. Each entry
//! point only converts token streams and calls into the stages:
//! [`attr`] (argument lists) → [`ast`] (parse) → [`valid`] / [`check`] (validate, one item
//! and across items) → [`expand`] (generate), with errors collected in [`ctxt`].

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod valid;

#[cfg(test)]
mod snapshots;

use proc_macro::TokenStream;

/// `#[flovyn_plugin(name = "…", …)]` on a struct. Documented in `flovyn_sdk`.
#[proc_macro_attribute]
pub fn flovyn_plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    expand::plugin(args.into(), item.into(), &package).into()
}

/// `#[migration(version, "name", sql = "…" | file = "…")]`. Documented in `flovyn_sdk`.
#[proc_macro_attribute]
pub fn migration(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_migration(args.into(), item.into()).into()
}

/// `#[plugin_impl]` on a plugin's impl block. Documented in `flovyn_sdk`.
#[proc_macro_attribute]
pub fn plugin_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin_impl(args.into(), item.into()).into()
}

/// `#[route(METHOD, "/path", …)]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::ROUTE, args.into(), item.into()).into()
}

/// `#[on_start]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::ON_START, args.into(), item.into()).into()
}

/// `#[on_stop]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn on_stop(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::ON_STOP, args.into(), item.into()).into()
}

/// `#[init]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn init(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::INIT, args.into(), item.into()).into()
}

/// `#[authenticator(scheme = "…")]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn authenticator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::AUTHENTICATOR, args.into(), item.into()).into()
}

/// `#[subscribe]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn subscribe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::SUBSCRIBE, args.into(), item.into()).into()
}

/// `#[task(every = "…")]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::TASK, args.into(), item.into()).into()
}

/// `#[middleware(priority = …, paths = […])]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn middleware(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::MIDDLEWARE, args.into(), item.into()).into()
}

/// `#[grpc_service]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn grpc_service(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::GRPC_SERVICE, args.into(), item.into()).into()
}

/// `#[authorizer]`, valid only inside `#[plugin_impl]`.
#[proc_macro_attribute]
pub fn authorizer(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_member(attr::AUTHORIZER, args.into(), item.into()).into()
}
