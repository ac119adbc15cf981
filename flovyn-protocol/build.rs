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
        // Bodies and header values as `Bytes`: decoded from a frame they share its buffer
        // rather than being copied out, and go into `http` types without another copy.
        .bytes(".flovyn.plugin.v1.Header.value")
        .bytes(".flovyn.plugin.v1.HttpRequest.body")
        .bytes(".flovyn.plugin.v1.HttpResponsePart.body")
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
