//! Plugins in their own process (`docs/process-plugins.md`): start the executable with a
//! cleared environment, read its handshake line, connect to the Unix socket it serves on (in a
//! private directory of the host's), ask it what it is (`Describe`) and check the answer with
//! the naming rules — before anything of it is used.
//!
//! [`ProcessBackend`] makes a started plugin a [`Backend`]: `Initialize` builds it with its
//! configuration section, and its routes forward each request (authenticated and authorised
//! by the host already) through `Handle`. Built so far: start, handshake, describe, check,
//! initialize, routes, stop. Tasks, events, authenticators through the protocol, the
//! `mode = "process"` configuration, supervision and storage are the next steps.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use std::sync::Arc;

use axum::response::IntoResponse as _;
use flovyn_protocol::handshake::{self, HandshakeLine, Network};
use flovyn_protocol::pb;
use flovyn_protocol::pb::plugin_client::PluginClient;
use flovyn_sdk::host::PluginInstance;
use flovyn_sdk::host::storage::StorageService;
use flovyn_sdk::{ApiError, BoxFuture, Identity, PluginContext, PluginDescriptor, PluginError};
use tonic::transport::Channel;

use super::Backend;
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, ChildStdin, Command};

/// How to start one plugin process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The plugin's name, as the configuration has it: the process must describe that plugin.
    pub name: String,
    /// The executable.
    pub command: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How long it may take to print its handshake line and answer `Describe`.
    pub start_timeout: Duration,
}

/// A plugin process that completed the handshake and described itself.
#[derive(Debug)]
pub struct PluginProcess {
    /// What the plugin is (checked).
    pub descriptor: PluginDescriptor,
    /// The negotiated protocol version.
    pub protocol_version: u32,
    client: Option<PluginClient<Channel>>,
    child: Child,
    /// Held open: the plugin exits when it closes (this host stopped, or died).
    stdin: Option<ChildStdin>,
    dir: PathBuf,
}

/// Why a plugin process was refused. The message names the plugin and the reason.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` (process `{command}`) was refused: {reason}")]
pub struct ProcessError {
    /// The plugin.
    pub plugin: String,
    /// Its executable.
    pub command: String,
    /// What went wrong.
    pub reason: String,
}

/// The protocol versions this host speaks, as the handshake offers them.
const OFFERED: &[u32] = &[flovyn_protocol::PROTOCOL_VERSION];

impl ProcessSpec {
    fn refused(&self, reason: impl Into<String>) -> ProcessError {
        ProcessError {
            plugin: self.name.clone(),
            command: self.command.display().to_string(),
            reason: reason.into(),
        }
    }

    /// Starts the plugin, shakes hands, and asks what it is. On any failure the process is
    /// killed and its socket directory removed.
    pub async fn start(&self) -> Result<PluginProcess, ProcessError> {
        let dir = private_dir().map_err(|e| self.refused(format!("no socket directory: {e}")))?;
        let versions: Vec<String> = OFFERED.iter().map(u32::to_string).collect();
        let spawned = Command::new(&self.command)
            .args(&self.args)
            // Nothing of the server's environment (database URL, admin token) reaches it.
            .env_clear()
            .env(handshake::MAGIC_COOKIE_KEY, handshake::MAGIC_COOKIE_VALUE)
            .env(handshake::PROTOCOL_VERSIONS_KEY, versions.join(","))
            .env(handshake::SOCKET_DIR_KEY, &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(self.refused(format!("cannot start it: {e}")));
            }
        };
        let stdin = child.stdin.take();
        let mut process = PluginProcess {
            descriptor: PluginDescriptor::new(self.name.clone(), "0.0.0"),
            protocol_version: 0,
            client: None,
            child,
            stdin,
            dir,
        };
        match tokio::time::timeout(self.start_timeout, self.handshake(&mut process)).await {
            Ok(Ok(())) => Ok(process),
            Ok(Err(e)) => {
                process.kill().await;
                Err(e)
            }
            Err(_) => {
                process.kill().await;
                Err(self.refused(format!(
                    "no handshake and description within {:?}",
                    self.start_timeout
                )))
            }
        }
    }

    async fn handshake(&self, process: &mut PluginProcess) -> Result<(), ProcessError> {
        let stdout = process
            .child
            .stdout
            .take()
            .ok_or_else(|| self.refused("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => {
                let status = process.child.wait().await.ok();
                return Err(self.refused(format!(
                    "it exited before the handshake ({})",
                    status.map_or("unknown status".to_owned(), |s| s.to_string())
                )));
            }
            Err(e) => return Err(self.refused(format!("cannot read its stdout: {e}"))),
        };
        let line = HandshakeLine::parse(&line, OFFERED).map_err(|e| self.refused(e.to_string()))?;
        if line.network != Network::Unix || !Path::new(&line.address).starts_with(&process.dir) {
            return Err(self.refused(format!(
                "it serves on `{}`, not on a socket in the directory the host gave",
                line.address
            )));
        }
        // Later lines on its stdout go to the log, with the plugin's name.
        let name = self.name.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(plugin = %name, "{line}");
            }
        });
        let mut client = pb::plugin_client::PluginClient::new(
            flovyn_protocol::transport::connect_unix(&line.address)
                .await
                .map_err(|e| self.refused(format!("cannot connect to `{}`: {e}", line.address)))?,
        );
        let answer = client
            .describe(pb::DescribeRequest {})
            .await
            .map_err(|e| self.refused(format!("`Describe` failed: {}", e.message())))?
            .into_inner();
        let descriptor = flovyn_protocol::read_describe_response(answer)
            .map_err(|e| self.refused(format!("its descriptor does not read: {e}")))?;
        if let Err(errors) = descriptor.check() {
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(self.refused(format!(
                "its descriptor breaks the naming rules: {}",
                all.join("; ")
            )));
        }
        if descriptor.name != self.name {
            return Err(self.refused(format!(
                "it describes plugin `{}`, not `{}`",
                descriptor.name, self.name
            )));
        }
        process.descriptor = descriptor;
        process.protocol_version = line.protocol_version;
        process.client = Some(client);
        Ok(())
    }
}

impl PluginProcess {
    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Asks the plugin to stop (its stdin closes) and waits up to `grace`; then kills it.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    async fn kill(&mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory only this user can enter, for one plugin's socket.
fn private_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("flovyn-plugin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// A started plugin process as a host [`Backend`]. The host keeps its descriptor for the
/// server's life (like a linked plugin's).
#[derive(Debug)]
pub struct ProcessBackend {
    descriptor: &'static PluginDescriptor,
    command: String,
    client: PluginClient<Channel>,
    /// The process: killed when the last holder (this backend, or the instance it started)
    /// is dropped.
    process: Arc<PluginProcess>,
}

impl ProcessBackend {
    /// Starts the process of `spec` and makes it a backend (see [`ProcessSpec::start`]).
    pub async fn start(spec: &ProcessSpec) -> Result<Self, ProcessError> {
        let mut process = spec.start().await?;
        let client = process
            .client
            .take()
            .ok_or_else(|| spec.refused("no connection after the handshake"))?;
        let descriptor: &'static PluginDescriptor = Box::leak(Box::new(process.descriptor.clone()));
        Ok(Self {
            descriptor,
            command: spec.command.display().to_string(),
            client,
            process: Arc::new(process),
        })
    }
}

impl Backend for ProcessBackend {
    fn descriptor(&self) -> &'static PluginDescriptor {
        self.descriptor
    }

    fn origin(&self) -> String {
        format!("process `{}`", self.command)
    }

    fn check_config(&self, _section: &serde_json::Value) -> Result<(), String> {
        // The plugin checks its section itself when it is initialized (start).
        Ok(())
    }

    fn start(
        &self,
        context: PluginContext,
    ) -> BoxFuture<'static, Result<Arc<dyn PluginInstance>, PluginError>> {
        let mut client = self.client.clone();
        let descriptor = self.descriptor;
        let process = self.process.clone();
        Box::pin(async move {
            let config: serde_json::Value = context.config()?;
            let mut initialize = pb::InitializeRequest {
                config_json: config.to_string(),
                ..Default::default()
            };
            let storage = match context.database() {
                Ok(db) => {
                    let token = format!(
                        "{}{}",
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    );
                    let service = StorageService::new(
                        descriptor.name.as_str(),
                        db.clone(),
                        token.clone(),
                        READABLE_CORE_TABLES,
                    );
                    initialize.dialect = service.dialect().into();
                    let path = process.dir.join("host.sock");
                    let served = serve_storage(&path, service)
                        .map_err(|e| PluginError::new(format!("storage for the plugin: {e}")))?;
                    initialize.host_address = path.display().to_string();
                    initialize.host_token = token;
                    Some(served)
                }
                // A host without a database (tests that need none) offers no storage.
                Err(_) => None,
            };
            client
                .initialize(initialize)
                .await
                .map_err(|e| PluginError::new(format!("initialize: {}", e.message())))?;
            let instance: Arc<dyn PluginInstance> = Arc::new(ProcessInstance {
                descriptor,
                client,
                _storage: storage,
                _process: process,
            });
            Ok(instance)
        })
    }
}

/// A running plugin process, as the host drives it.
struct ProcessInstance {
    descriptor: &'static PluginDescriptor,
    client: PluginClient<Channel>,
    /// The host's storage service for it: stopped (its open transactions rolled back) when
    /// the instance goes.
    _storage: Option<Served>,
    _process: Arc<PluginProcess>,
}

/// The core tables a plugin process may read through the host's storage (it writes only
/// its own): `tenant`, which plugin tables reference.
pub const READABLE_CORE_TABLES: &[&str] = &["tenant"];

/// A task serving a plugin's storage; aborted when dropped.
struct Served(tokio::task::JoinHandle<()>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `service` on a new Unix socket at `path` (mode 0600, in the plugin's private
/// directory).
fn serve_storage(path: &Path, service: StorageService) -> std::io::Result<Served> {
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

impl PluginInstance for ProcessInstance {
    fn routes(self: Arc<Self>) -> Vec<axum::routing::MethodRouter> {
        self.descriptor
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| {
                let method = axum::http::Method::from_bytes(route.method.as_str().as_bytes())
                    .unwrap_or(axum::http::Method::GET);
                let filter = axum::routing::MethodFilter::try_from(method)
                    .unwrap_or(axum::routing::MethodFilter::GET);
                let client = self.client.clone();
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                axum::routing::on(filter, move |request: axum::extract::Request| {
                    forward(client.clone(), index, request)
                })
            })
            .collect()
    }
}

/// One request to the plugin, through `Handle`.
async fn forward(
    mut client: PluginClient<Channel>,
    route: u32,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        // The edge's limit on the body, reached while reading it.
        Err(_) => {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the limit",
            )
            .into_response();
        }
    };
    let call = pb::HttpRequest {
        route,
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: flovyn_protocol::headers::to_proto(&parts.headers),
        body: body.to_vec(),
        identity_json: parts
            .extensions
            .get::<Identity>()
            .and_then(|who| serde_json::to_string(who).ok()),
        // A client-sent request id (the edge keeps generated ones off the request).
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    let answer = match client.handle(call).await {
        Ok(answer) => answer.into_inner(),
        Err(e) => {
            tracing::error!(error = %e.message(), "plugin process did not answer");
            return ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the plugin is not available right now; retry later",
            )
            .into_response();
        }
    };
    let mut response = axum::response::Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() = u16::try_from(answer.status)
        .ok()
        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
        .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    flovyn_protocol::headers::append_from_proto(answer.headers, response.headers_mut());
    response
}
