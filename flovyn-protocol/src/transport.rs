//! How the two sides reach each other: gRPC over a Unix socket in the host's private
//! directory, in both directions (the host calls the plugin's `Plugin` service, the plugin
//! calls the host's `Host` service), and the metadata key that names the caller to `Host`.

use std::path::PathBuf;

use tonic::transport::{Channel, Endpoint, Error};

/// The metadata key carrying the plugin's token on every call to the host's `Host` service.
pub const HOST_TOKEN_METADATA: &str = "flovyn-plugin-token";

/// A gRPC channel over the Unix socket at `path`, connected once now.
pub async fn connect_unix(path: impl Into<PathBuf>) -> Result<Channel, Error> {
    let path = path.into();
    // The URI is required by the API and unused: every connection goes to `path`.
    Endpoint::from_static("http://flovyn-plugin.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}
