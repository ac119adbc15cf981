//! The host's storage service for one plugin process, served on a socket of the plugin's
//! own (`flovyn_sdk::host::storage` is the service; this module binds it and says which core
//! tables a plugin may read).

use std::path::Path;

use flovyn_sdk::host::storage::StorageService;

/// The core tables a plugin process may read through the host's storage (it writes only
/// its own): `tenant`, which plugin tables reference.
pub const READABLE_CORE_TABLES: &[&str] = &["tenant"];

/// A task serving a plugin's storage; aborted when dropped.
#[derive(Debug)]
pub(super) struct Served(tokio::task::JoinHandle<()>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `service` on a new Unix socket at `path` (mode 0600, in the plugin's private
/// directory).
pub(super) fn serve_storage(path: &Path, service: StorageService) -> std::io::Result<Served> {
    let listener = tokio::net::UnixListener::bind(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let router = tonic::service::Routes::new(service.into_server()).into_axum_router();
    Ok(Served(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the storage service for a plugin process stopped");
        }
    })))
}
