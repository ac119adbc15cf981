//! The wire contract between the Flovyn host and plugins outside its binary: protobuf package
//! `flovyn.plugin.v1`, generated from the `.proto` files in `proto/` (the contract other
//! languages build against), and the conversion between the plugin descriptor and its
//! protobuf form.
//!
//! This crate owns the contract and the conversions; it starts no process and decides
//! nothing (the host does, see `docs/process-plugins.md`).

use flovyn_descriptor::PluginDescriptor;

mod convert;
pub mod frames;
pub mod handshake;
pub mod headers;
pub mod transport;

pub use convert::{DecodeError, descriptor_from_proto, descriptor_to_proto};

/// The generated messages and services of `flovyn.plugin.v1`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all
)]
pub mod pb {
    tonic::include_proto!("flovyn.plugin.v1");
}

/// The protocol version this crate speaks (the `v1` of the package).
pub const PROTOCOL_VERSION: u32 = 1;

/// The `Describe` answer for `descriptor`.
pub fn describe_response(descriptor: &PluginDescriptor) -> pb::DescribeResponse {
    pb::DescribeResponse {
        format: flovyn_descriptor::FORMAT_VERSION,
        plugin: Some(descriptor_to_proto(descriptor)),
    }
}

/// The descriptor a `Describe` answer carries; refused when its format is not this host's,
/// or a field does not read (an unknown method, an operation that is not OpenAPI JSON…).
/// The naming rules are checked after, with [`PluginDescriptor::check`].
pub fn read_describe_response(
    response: pb::DescribeResponse,
) -> Result<PluginDescriptor, DecodeError> {
    if response.format != flovyn_descriptor::FORMAT_VERSION {
        return Err(DecodeError::new(format!(
            "descriptor format {} is not supported: this host reads format {}",
            response.format,
            flovyn_descriptor::FORMAT_VERSION
        )));
    }
    let plugin = response
        .plugin
        .ok_or_else(|| DecodeError::new("the answer carries no descriptor".to_owned()))?;
    descriptor_from_proto(plugin)
}
