//! Expansion snapshots: what the main macro shapes generate, pretty-printed and compared
//! with committed files under `tests/expand/`, so that review sees generated code change.
//!
//! Regenerate after an intended change with `FLOVYN_BLESS=1 cargo test -p flovyn-macros`.

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

fn snapshot(name: &str, generated: TokenStream) {
    let file: syn::File = syn::parse2(generated).expect("generated code parses as a file");
    let pretty = prettyplease::unparse(&file);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expand")
        .join(format!("{name}.expanded.rs"));
    if std::env::var_os("FLOVYN_BLESS").is_some() {
        std::fs::write(&path, &pretty).expect("write snapshot");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with FLOVYN_BLESS=1",
            path.display()
        )
    });
    assert!(
        committed == pretty,
        "expansion of `{name}` changed; review and run with FLOVYN_BLESS=1 to accept:\n{pretty}"
    );
}

#[test]
fn plugin_struct_with_migrations() {
    let out = crate::expand::plugin(
        quote!(
            name = "worker-token",
            version = "0.1.0",
            depends_on = ["audit-log"],
            events = [TokenCreated, events::TokenRevoked]
        ),
        quote! {
            /// Issues and verifies worker tokens.
            #[migration(1, "create_tokens", sql = "CREATE TABLE p_worker_token__tokens (id BIGINT PRIMARY KEY)")]
            #[migration(2, "index_tokens",
                postgres = "CREATE INDEX p_worker_token__by_id ON p_worker_token__tokens (id)",
                sqlite = "CREATE INDEX p_worker_token__by_id ON p_worker_token__tokens (id)")]
            #[derive(Default)]
            pub struct WorkerToken;
        },
        "worker-token",
    );
    snapshot("plugin_struct", out);
}

#[test]
fn plugin_impl_block() {
    let out = crate::expand::plugin_impl(
        quote!(),
        quote! {
            impl WorkerToken {
                #[init]
                async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
                    Ok(WorkerToken)
                }

                #[on_start]
                async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
                    Ok(())
                }

                #[subscribe]
                async fn on_tenant(&self, event: TenantCreated) -> Result<(), PluginError> {
                    Ok(())
                }

                #[task(every = "1h")]
                async fn prune(&self) -> Result<(), PluginError> {
                    Ok(())
                }

                #[grpc_service]
                fn worker_tokens(&self) -> WorkerTokensServer<Api> {
                    WorkerTokensServer::new(Api)
                }

                #[middleware(priority = 10, paths = ["/api/v1/*"])]
                fn stamp(&self) -> Middleware {
                    Middleware::from_fn(stamp)
                }

                /// Create a worker token.
                ///
                /// The secret is shown once.
                #[route(POST, "/tokens", permission = "worker_token:create")]
                async fn create(&self, who: Identity, Json(body): Json<NewToken>) -> Result<Created<CreatedToken>, ApiError> {
                    todo!()
                }

                /// Revoke a token.
                #[route(DELETE, "/tokens/{id}", permission = "worker_token:revoke")]
                async fn revoke(&self, Path(id): Path<String>) -> Result<NoContent, ApiError> {
                    todo!()
                }
            }
        },
    );
    snapshot("plugin_impl", out);
}

#[test]
fn errors_are_reported_together_next_to_the_item() {
    let out = crate::expand::plugin(
        quote!(name = "Bad_Name", colour = "red"),
        quote!(
            pub struct Bad;
        ),
        "bad",
    );
    snapshot("plugin_errors", out);
}
