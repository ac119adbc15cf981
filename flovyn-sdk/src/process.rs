//! A plugin crate as a plugin process: the same plugin source, run by the Flovyn server as a
//! child process speaking `flovyn.plugin.v1` (see `docs/process-plugins.md`).
//!
//! A plugin crate gets an executable with one `[[bin]]` and one line of `main`:
//!
//! ```toml
//! [[bin]]
//! name = "hello-plugin"
//! path = "src/bin/hello_plugin.rs"
//! ```
//!
//! ```ignore
//! // src/bin/hello_plugin.rs
//! flovyn_sdk::process::main!(hello::Hello);
//! ```
//!
//! Started by hand it says what it is and exits: only a host that sets the handshake's
//! environment starts it. It serves on a Unix socket (mode 0600) in the directory the host
//! gives, prints the handshake line, and exits when the host closes its stdin (the host
//! stopped, or died).
//!
//! Built so far: the handshake and `Describe`.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use flovyn_protocol::handshake::{self, HandshakeLine, Network};
use flovyn_protocol::pb;

use crate::LinkedPlugin;

/// The `main` of a plugin executable: `flovyn_sdk::process::main!(MyPlugin);`.
#[macro_export]
macro_rules! __process_main {
    ($plugin:ty) => {
        fn main() -> ::std::process::ExitCode {
            $crate::process::run(<$plugin as $crate::Plugin>::linked())
        }
    };
}

#[doc(inline)]
pub use crate::__process_main as main;

/// Serves `plugin` to the host that started this process; see the module docs.
pub fn run(plugin: &'static LinkedPlugin) -> ExitCode {
    if std::env::var(handshake::MAGIC_COOKIE_KEY).as_deref() != Ok(handshake::MAGIC_COOKIE_VALUE) {
        eprintln!(
            "this is the Flovyn plugin `{}`: the Flovyn server starts it (`[plugins.{}] mode = \"process\"` in flovyn.toml); it is not meant to be run by hand",
            plugin.name, plugin.name
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!(
                "plugin `{}`: cannot start the async runtime: {e}",
                plugin.name
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(plugin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugin `{}`: {e}", plugin.name);
            ExitCode::FAILURE
        }
    }
}

async fn serve(plugin: &'static LinkedPlugin) -> Result<(), String> {
    let offered = std::env::var(handshake::PROTOCOL_VERSIONS_KEY).unwrap_or_default();
    let version = handshake::negotiate(&offered, &[flovyn_protocol::PROTOCOL_VERSION])
        .map_err(|e| e.to_string())?;
    let dir = std::env::var_os(handshake::SOCKET_DIR_KEY)
        .map(PathBuf::from)
        .ok_or_else(|| format!("`{}` is not set", handshake::SOCKET_DIR_KEY))?;
    let path = dir.join(format!("{}.sock", plugin.name));
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|e| format!("cannot listen on `{}`: {e}", path.display()))?;
    restrict(&path)?;

    let line = HandshakeLine {
        core_version: handshake::CORE_VERSION,
        protocol_version: version,
        network: Network::Unix,
        address: path.display().to_string(),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the handshake: {e}"))?;
    drop(stdout);

    let service = pb::plugin_server::PluginServer::new(Describer(plugin));
    let router = tonic::service::Routes::new(service).into_axum_router();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(host_gone())
        .await
        .map_err(|e| format!("serving failed: {e}"));
    let _ = std::fs::remove_file(&path);
    served
}

/// Only the host (this process's user) may connect.
fn restrict(path: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// Resolves when the host closes this process's stdin (it stopped, or died).
async fn host_gone() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    })
    .await;
}

/// `flovyn.plugin.v1.Plugin` for a linked plugin.
struct Describer(&'static LinkedPlugin);

#[tonic::async_trait]
impl pb::plugin_server::Plugin for Describer {
    async fn describe(
        &self,
        _request: tonic::Request<pb::DescribeRequest>,
    ) -> Result<tonic::Response<pb::DescribeResponse>, tonic::Status> {
        Ok(tonic::Response::new(flovyn_protocol::describe_response(
            self.0.descriptor(),
        )))
    }
}
