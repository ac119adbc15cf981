//! Generates the Rust side of the `flovyn.plugin.v1` contract from the `.proto` files with
//! protox (pure Rust: no `protoc` needed) and tonic.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/flovyn/plugin/v1/descriptor.proto",
        "proto/flovyn/plugin/v1/plugin.proto",
        "proto/flovyn/plugin/v1/host.proto",
        "proto/flovyn/plugin/v1/frames.proto",
    ];
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
