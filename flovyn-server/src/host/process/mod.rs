//! Plugins in their own process (`docs/process-plugins.md`): start the executable with a
//! cleared environment, read its handshake line, connect to the Unix socket it serves on (in a
//! private directory of the host's), ask it what it is (`Describe`) and check the answer with
//! the naming rules — before anything of it is used. Its stdout (after the handshake) and
//! stderr go to the server's log with the plugin's name.
//!
//! - [`backend`]: a started process as a host `Backend` (initialize, routes, deadline, 503s);
//! - [`supervise`]: restarts with backoff, `failed` after too many;
//! - `storage`: the host's storage service bound for one plugin process;
//! - `frames`: `Handle` as frames on the process's second socket (decision 0021);
//! - `sandbox`: the opt-in OS sandbox (decision 0020).
//!
//! Storage goes through the host (`flovyn_sdk::host::storage`); authenticators, authorizers
//! and tasks through `Authenticate`, `Authorize` and `RunTask`. Events are the next step.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use flovyn_protocol::handshake::{self, HandshakeLine, Network};
use flovyn_protocol::pb;
use flovyn_protocol::pb::plugin_client::PluginClient;
use flovyn_protocol::transport::Connection;
use flovyn_sdk::PluginDescriptor;
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, ChildStdin, Command};

pub mod backend;
mod frames;
mod privilege;
mod sandbox;
mod storage;
pub mod supervise;

pub use backend::ProcessBackend;
pub use sandbox::Sandbox;
pub use storage::READABLE_CORE_TABLES;
pub use supervise::{PluginState, RestartPolicy, Status};

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
    /// How long a request may wait for the plugin's answer: then 504.
    pub request_timeout: Duration,
    /// How long it gets to exit when the server stops it: then it is killed.
    pub stop_grace: Duration,
    /// When it is restarted after a crash.
    pub restart: RestartPolicy,
    /// Its resource limits.
    pub limits: ResourceLimits,
    /// The system user it runs as (a name or a number), when not the server's: the server
    /// must run as root to say so. Its supplementary groups are dropped, its group is the
    /// user's own.
    pub user: Option<String>,
    /// The OS sandbox it starts in (decision 0020), when its section asks for one.
    pub sandbox: Option<Sandbox>,
    /// Whether requests go as frames when the process offers a socket for them (decision
    /// 0021); otherwise, and when it offers none, through gRPC `Handle`.
    pub frames: bool,
}

/// Limits the host sets on a plugin process (`prlimit`, soft and hard alike), right after it
/// starts and before its handshake: a resource fence, not a sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Its address space, in bytes (`RLIMIT_AS`): allocations beyond fail.
    pub memory_bytes: Option<u64>,
    /// Its open file descriptors (`RLIMIT_NOFILE`).
    pub open_files: Option<u64>,
}

impl ResourceLimits {
    fn apply(self, pid: u32) -> std::io::Result<()> {
        use rustix::process::{Resource, Rlimit, prlimit};
        let pid = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("no such process id"))?;
        for (resource, value) in [
            (Resource::As, self.memory_bytes),
            (Resource::Nofile, self.open_files),
        ] {
            if let Some(value) = value {
                let limit = Rlimit {
                    current: Some(value),
                    maximum: Some(value),
                };
                prlimit(Some(pid), resource, limit)?;
            }
        }
        Ok(())
    }
}

/// A plugin process that completed the handshake and described itself.
#[derive(Debug)]
pub struct PluginProcess {
    /// What the plugin is (checked).
    pub descriptor: PluginDescriptor,
    /// The negotiated protocol version.
    pub protocol_version: u32,
    client: Option<PluginClient<Connection>>,
    /// The connection, for its `grpc.health.v1` checks.
    connection: Option<Connection>,
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
    /// Starting plugin `name` with `command`, no arguments, and the default timeouts (start
    /// 10 s, request 10 s, stop grace 5 s) and [`RestartPolicy`]; requests as frames when the
    /// process offers them.
    pub fn new(name: impl Into<String>, command: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            command: command.into(),
            args: Vec::new(),
            start_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            stop_grace: Duration::from_secs(5),
            restart: RestartPolicy::default(),
            limits: ResourceLimits::default(),
            user: None,
            sandbox: None,
            frames: true,
        }
    }

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
        let user = match &self.user {
            Some(user) => Some(privilege::RunAs::lookup(user).map_err(|e| self.refused(e))?),
            None => None,
        };
        privilege::hide_server_memory();
        let dir = private_dir().map_err(|e| self.refused(format!("no socket directory: {e}")))?;
        if let Some(user) = &user
            && let Err(e) = user.own(&dir)
        {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(self.refused(format!("cannot give it its directory: {e}")));
        }
        let versions: Vec<String> = OFFERED.iter().map(u32::to_string).collect();
        // The child starts in its own directory: a relative path (`./plugins/x`) still means
        // the server's working directory, as the operator wrote it.
        let program = if self.command.is_relative() && self.command.components().count() > 1 {
            std::env::current_dir().map_or_else(|_| self.command.clone(), |d| d.join(&self.command))
        } else {
            self.command.clone()
        };
        let mut command = Command::new(&program);
        command
            .args(&self.args)
            // Nothing of the server's environment (database URL, admin token) reaches it.
            .env_clear()
            .env(handshake::MAGIC_COOKIE_KEY, handshake::MAGIC_COOKIE_VALUE)
            .env(handshake::PROTOCOL_VERSIONS_KEY, versions.join(","))
            .env(handshake::SOCKET_DIR_KEY, &dir)
            // Its own working directory, not the server's (with flovyn.toml and the database).
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(user) = &user {
            command.uid(user.uid).gid(user.gid);
        }
        if let Some(wanted) = &self.sandbox {
            // A namespace needs the privilege the server has as root, and the child keeps it
            // only when it runs as the server's user (the switch comes before the sandbox).
            let network_namespace = rustix::process::geteuid().is_root() && user.is_none();
            match sandbox::prepare(wanted, &program, &dir, network_namespace) {
                Ok(prepared) => {
                    tracing::info!(plugin = %self.name, sandbox = %prepared.summary(), "plugin process sandboxed");
                    sandbox::confine(&mut command, prepared);
                }
                Err(reason) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(self.refused(format!("no sandbox: {reason}")));
                }
            }
        }
        let spawned = command.spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                // In the sandbox, the executable's interpreter (a script's `#!` line, a virtual
                // environment's Python) must be readable too.
                let hint =
                    if self.sandbox.is_some() && e.kind() == std::io::ErrorKind::PermissionDenied {
                        " (sandboxed: the executable, and the interpreter it names, must be under \
                     the system's directories or in `sandbox_read`)"
                    } else {
                        ""
                    };
                return Err(self.refused(format!("cannot start it: {e}{hint}")));
            }
        };
        if let Some(pid) = child.id()
            && let Err(e) = self.limits.apply(pid)
        {
            let _ = child.start_kill();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(self.refused(format!("cannot set its resource limits: {e}")));
        }
        let stdin = child.stdin.take();
        if let Some(stderr) = child.stderr.take() {
            let name = self.name.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log_stderr_line(&name, &line);
                }
            });
        }
        let mut process = PluginProcess {
            descriptor: PluginDescriptor::new(self.name.clone(), "0.0.0"),
            protocol_version: 0,
            client: None,
            connection: None,
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
                tracing::info!(plugin = %name, stream = "stdout", "{line}");
            }
        });
        let connection = flovyn_protocol::transport::connect_unix(&line.address)
            .await
            .map_err(|e| self.refused(format!("cannot connect to `{}`: {e}", line.address)))?;
        let mut client = pb::plugin_client::PluginClient::new(connection.clone());
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
        process.connection = Some(connection);
        Ok(())
    }
}

impl Drop for PluginProcess {
    // Its socket directory goes with it, however it ends (the child itself is killed on drop).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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

/// One line of a plugin process's stderr into the server's log, with the plugin's name: at the
/// level the line starts with (the SDK writes the plugin's `tracing` events as
/// `<LEVEL> <target>: <message>`), at `warn` when it names none (a panic, a raw `eprintln!`).
fn log_stderr_line(plugin: &str, line: &str) {
    let trimmed = line.trim_start();
    let (level, rest) = match trimmed.split_once(' ') {
        Some((word, rest)) => match word {
            "ERROR" => (Some(tracing::Level::ERROR), rest),
            "WARN" => (Some(tracing::Level::WARN), rest),
            "INFO" => (Some(tracing::Level::INFO), rest),
            "DEBUG" => (Some(tracing::Level::DEBUG), rest),
            "TRACE" => (Some(tracing::Level::TRACE), rest),
            _ => (None, line),
        },
        None => (None, line),
    };
    match level {
        Some(tracing::Level::ERROR) => {
            tracing::error!(plugin = %plugin, stream = "stderr", "{rest}")
        }
        Some(tracing::Level::INFO) => tracing::info!(plugin = %plugin, stream = "stderr", "{rest}"),
        Some(tracing::Level::DEBUG) => {
            tracing::debug!(plugin = %plugin, stream = "stderr", "{rest}")
        }
        Some(tracing::Level::TRACE) => {
            tracing::trace!(plugin = %plugin, stream = "stderr", "{rest}")
        }
        _ => tracing::warn!(plugin = %plugin, stream = "stderr", "{rest}"),
    }
}
