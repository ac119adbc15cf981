/// Issues and verifies worker tokens.
#[derive(Default)]
pub struct WorkerToken;
const _: () = {
    use ::flovyn_sdk::__private as __fp;
    #[allow(unused_imports)]
    use __fp::probe::{ViaDefault as _, ViaPluginImpl as _};
    static __FLOVYN_LINKED: __fp::LinkedPlugin = __fp::LinkedPlugin::__new(
        "worker-token",
        "0.1.0",
        "Issues and verifies worker tokens.",
        &["audit-log"],
        &[
            __fp::MigrationDescriptor::__new(
                1u32,
                "create_tokens",
                "CREATE TABLE p_worker_token__tokens (id BIGINT PRIMARY KEY)",
                "CREATE TABLE p_worker_token__tokens (id BIGINT PRIMARY KEY)",
            ),
            __fp::MigrationDescriptor::__new(
                2u32,
                "index_tokens",
                "CREATE INDEX p_worker_token__by_id ON p_worker_token__tokens (id)",
                "CREATE INDEX p_worker_token__by_id ON p_worker_token__tokens (id)",
            ),
        ],
        ::core::env!("CARGO_PKG_NAME"),
        || (&&__fp::Probe::<WorkerToken>::new()).parts(),
        ::core::option::Option::None,
        &["worker-token.token-created", "worker-token.token-revoked"],
    );
    impl __fp::Event for TokenCreated {
        const NAME: &'static str = "worker-token.token-created";
    }
    impl __fp::Event for events::TokenRevoked {
        const NAME: &'static str = "worker-token.token-revoked";
    }
    #[cfg(not(test))]
    const _: &str = ::core::env!(
        "FLOVYN_PLUGIN_CRATE",
        "plugin crate `worker-token` is not set up to be linked by the servers that depend on it, so its plugins would never register: add `links = \"flovyn-plugin-worker-token\"` to its `[package]` table, `flovyn-build` to its `[build-dependencies]`, and a `build.rs` whose `main` calls `flovyn_build::plugin_crate()`"
    );
    __fp::register_plugin!(__FLOVYN_LINKED);
    impl __fp::Plugin for WorkerToken {
        const NAME: &'static str = "worker-token";
        const VERSION: &'static str = "0.1.0";
        const TABLE_PREFIX: &'static str = "p_worker_token__";
        const GRPC_PACKAGE: &'static str = "flovyn.plugins.worker_token.v1";
        const __GRPC_PACKAGE_MISMATCH: &'static str = "a gRPC service of plugin `worker-token` must be in the protobuf package `flovyn.plugins.worker_token.v1`: declare `package flovyn.plugins.worker_token.v1;` in its .proto file";
        fn linked() -> &'static __fp::LinkedPlugin {
            &__FLOVYN_LINKED
        }
    }
};
