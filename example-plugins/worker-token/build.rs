//! Publishes this plugin crate to the servers that depend on it (`links` metadata), so they
//! link it with no edit naming it; compiles the plugin's `.proto` files with protox (pure
//! Rust: no `protoc` needed) and generates the tonic server and client.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    flovyn_build::plugin_crate();
    let protos = ["proto/flovyn/plugins/worker_token/v1/worker_tokens.proto"];
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
