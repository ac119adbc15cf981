//! Keeping a plugin process alive: the [`Supervisor`] owns the running process, notices when
//! it exits, restarts it with backoff (handshake, description, `Initialize` again), and gives
//! up after too many restarts in a window — the plugin is then `failed`, with the last exit
//! reason. While the process is down its routes answer 503 (see [`super::backend`]); the
//! state is shown in `GET /_/plugins` and `/metrics`.
//!
//! It does not decide what a request gets; it only says whether there is a process to send
//! it to ([`Supervisor::client`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use flovyn_protocol::pb;
use flovyn_protocol::pb::plugin_client::PluginClient;
use flovyn_protocol::transport::Connection;
use flovyn_sdk::host::storage::StorageService;
use flovyn_sdk::{PluginContext, PluginDescriptor, PluginError};

use super::frames::FrameClient;
use super::storage::{READABLE_CORE_TABLES, Served, serve_storage};
use super::{PluginProcess, ProcessSpec};

/// When a crashed plugin process is started again, and when the host stops trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// At most this many restarts within [`window`](Self::window); one more crash and the
    /// plugin is `failed` (`max_restarts` in the plugin's section; 0 never restarts).
    pub max_restarts: u32,
    /// The window restarts are counted in.
    pub window: Duration,
    /// The wait before the first restart; it doubles with each restart in the window, up to
    /// [`max_backoff`](Self::max_backoff).
    pub first_backoff: Duration,
    /// The longest wait between restarts.
    pub max_backoff: Duration,
    /// How often the process's `grpc.health.v1` check is asked (each with this long to answer).
    pub health_interval: Duration,
    /// Checks failed in a row after which a living process is killed (then restarted).
    pub health_failures: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(60),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            health_interval: Duration::from_secs(1),
            health_failures: 3,
        }
    }
}

/// Where a supervised plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginState {
    /// Its process serves.
    Running,
    /// Its process exited; a new one is being started.
    Restarting,
    /// It crashed too often (or its restart was refused); the host gave up.
    Failed,
    /// The server is stopping it.
    Stopped,
}

impl PluginState {
    /// `running`, `restarting`, `failed` or `stopped`, as `/_/plugins` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::Restarting => "restarting",
            PluginState::Failed => "failed",
            PluginState::Stopped => "stopped",
        }
    }
}

/// A supervised plugin's state, restarts so far, and why its process last ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Where it stands.
    pub state: PluginState,
    /// The process id of the process serving now.
    pub pid: Option<u32>,
    /// Processes started after the first.
    pub restarts: u32,
    /// How the last process ended (`exit status: 3`, `signal: 9 (SIGKILL)`), or why a
    /// restart was refused.
    pub last_exit: Option<String>,
    /// How requests reach the process serving now: `frames` (decision 0021) or `grpc`.
    pub handle: Option<&'static str>,
}

/// Why a request cannot go to the plugin now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// Being restarted: retry after about this long.
    Restarting(Duration),
    /// Failed, or stopping: retrying will not help.
    Gone,
}

/// The process that serves now, as requests reach it.
#[derive(Clone)]
struct Live {
    client: PluginClient<Connection>,
    /// The connection under `client`, for calls to the plugin's own gRPC services.
    connection: Connection,
    /// `Handle` as frames, when the process offers it.
    frames: Option<Arc<FrameClient>>,
    /// The host's storage service for this process; stopped with it.
    _storage: Option<Arc<Served>>,
}

/// Owns one plugin's process and restarts it; see the module docs.
pub struct Supervisor {
    spec: ProcessSpec,
    descriptor: &'static PluginDescriptor,
    context: PluginContext,
    live: RwLock<Option<Live>>,
    status: Mutex<Status>,
    /// Dropped or set when the server stops the plugin: the monitor then stops the process.
    stop: tokio::sync::watch::Sender<bool>,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("plugin", &self.descriptor.name)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Initializes the plugin in `first` (its process, started and described) and watches it
    /// from now on.
    pub(super) async fn launch(
        spec: ProcessSpec,
        descriptor: &'static PluginDescriptor,
        context: PluginContext,
        first: PluginProcess,
    ) -> Result<Arc<Self>, PluginError> {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let supervisor = Arc::new(Self {
            spec,
            descriptor,
            context,
            live: RwLock::new(None),
            status: Mutex::new(Status {
                state: PluginState::Running,
                pid: first.id(),
                restarts: 0,
                last_exit: None,
                handle: None,
            }),
            stop,
            monitor: Mutex::new(None),
        });
        let mut first = first;
        let live = supervisor.initialize(&mut first).await?;
        *supervisor.live.write().unwrap_or_else(|e| e.into_inner()) = Some(live);
        let monitor = tokio::spawn(monitor(Arc::downgrade(&supervisor), first, stopping));
        *supervisor.monitor.lock().unwrap_or_else(|e| e.into_inner()) = Some(monitor);
        Ok(supervisor)
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.descriptor.name
    }

    /// Where the plugin stands now.
    pub fn status(&self) -> Status {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        status.handle = self
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|live| {
                if live.frames.is_some() {
                    "frames"
                } else {
                    "grpc"
                }
            });
        status
    }

    /// A client of the process serving now, or why there is none.
    pub fn client(&self) -> Result<PluginClient<Connection>, Down> {
        self.live(|live| live.client.clone())
    }

    /// The connection to the running process, for its own gRPC services; or why there is
    /// none (as [`client`](Self::client)).
    pub fn connection(&self) -> Result<Connection, Down> {
        self.live(|live| live.connection.clone())
    }

    /// Where requests go as frames, while the process runs and offers it; should that
    /// connection break while the process lives, requests go through gRPC again.
    pub(super) fn frames(&self) -> Option<Arc<FrameClient>> {
        self.live(|live| live.frames.clone())
            .ok()
            .flatten()
            .filter(|frames| frames.is_open())
    }

    fn live<T>(&self, take: impl FnOnce(&Live) -> T) -> Result<T, Down> {
        if let Some(live) = &*self.live.read().unwrap_or_else(|e| e.into_inner()) {
            return Ok(take(live));
        }
        match self.status().state {
            PluginState::Running | PluginState::Restarting => Err(Down::Restarting(
                self.spec.restart.max_backoff.min(Duration::from_secs(1)),
            )),
            PluginState::Failed | PluginState::Stopped => Err(Down::Gone),
        }
    }

    /// Stops the plugin: its process is asked to stop (its stdin closes) and killed after
    /// the spec's grace period. No restart follows.
    pub async fn stop(&self) {
        let grace = self.spec.stop_grace;
        let _ = self.stop.send(true);
        let monitor = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(monitor) = monitor
            && tokio::time::timeout(grace + Duration::from_secs(1), monitor)
                .await
                .is_err()
        {
            tracing::warn!(plugin = %self.plugin(), "the plugin process did not stop in time");
        }
    }

    fn set_status(&self, update: impl FnOnce(&mut Status)) {
        update(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// `Initialize` on a freshly described process, with the host's storage service for it.
    async fn initialize(&self, process: &mut PluginProcess) -> Result<Live, PluginError> {
        let mut client = process
            .client
            .take()
            .ok_or_else(|| PluginError::new("no connection after the handshake"))?;
        let connection = process
            .connection
            .clone()
            .ok_or_else(|| PluginError::new("no connection after the handshake"))?;
        let config: serde_json::Value = self.context.config()?;
        let mut request = pb::InitializeRequest {
            config_json: config.to_string(),
            ..Default::default()
        };
        let storage = match self.context.database() {
            Ok(db) => {
                let token = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                let service = StorageService::new(
                    self.descriptor.name.as_str(),
                    db.clone(),
                    token.clone(),
                    READABLE_CORE_TABLES,
                )
                .publishing(&self.descriptor.events)
                .authorizing(self.context.authorizer().cloned());
                request.dialect = service.dialect().into();
                let path = process.dir.join("host.sock");
                let served = serve_storage(&path, service)
                    .map_err(|e| PluginError::new(format!("storage for the plugin: {e}")))?;
                request.host_address = path.display().to_string();
                request.host_token = token;
                Some(Arc::new(served))
            }
            // A host without a database (tests that need none) offers no storage.
            Err(_) => None,
        };
        let answer = client
            .initialize(request)
            .await
            .map_err(|e| PluginError::new(format!("initialize: {}", e.message())))?
            .into_inner();
        let frames = self.connect_frames(process, &answer.handle_address).await;
        Ok(Live {
            client,
            connection,
            frames,
            _storage: storage,
        })
    }

    /// The connection for `Handle` as frames, when the process named a socket for it in its
    /// directory (and the plugin's section does not say `handle = "grpc"`); without one (or
    /// when it cannot be reached) requests go through gRPC.
    async fn connect_frames(
        &self,
        process: &PluginProcess,
        address: &str,
    ) -> Option<Arc<FrameClient>> {
        if address.is_empty() || !self.spec.frames {
            return None;
        }
        let path = std::path::Path::new(address);
        if !path.starts_with(&process.dir) {
            tracing::warn!(plugin = %self.plugin(), address, "the plugin's frames socket is outside its directory: requests go through gRPC");
            return None;
        }
        match FrameClient::connect(path).await {
            Ok(client) => Some(Arc::new(client)),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin(), address, error = %e, "cannot connect to the plugin's frames socket: requests go through gRPC");
                None
            }
        }
    }

    /// Starts, describes and initializes a new process; refused when it now describes a
    /// different plugin than the one the host planned with.
    async fn restart(&self) -> Result<PluginProcess, String> {
        let mut process = self.spec.start().await.map_err(|e| e.reason)?;
        if process.descriptor != *self.descriptor {
            process.kill().await;
            return Err(
                "the restarted process describes the plugin differently than at start-up \
                 (restart the server to take a new version)"
                    .to_owned(),
            );
        }
        match self.initialize(&mut process).await {
            Ok(live) => {
                *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(live);
                Ok(process)
            }
            Err(e) => {
                process.kill().await;
                Err(e.to_string())
            }
        }
    }
}

/// Resolves when the server stops the plugin, or the supervisor is gone.
async fn stop_requested(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// `exit status: 3`, `signal: 9 (SIGKILL)`; or why the host ended it.
fn exit_reason(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::Other => e.to_string(),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

/// Resolves once the process failed `policy.health_failures` `grpc.health.v1` checks in a
/// row (no answer within the interval, or not `SERVING`); never without a connection.
async fn unhealthy(connection: Option<Connection>, policy: RestartPolicy) {
    use tonic_health::pb::health_check_response::ServingStatus;
    let Some(connection) = connection else {
        return std::future::pending().await;
    };
    let mut health = tonic_health::pb::health_client::HealthClient::new(connection);
    let mut failures = 0;
    loop {
        tokio::time::sleep(policy.health_interval).await;
        let check = health.check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        });
        let serving = matches!(
            tokio::time::timeout(policy.health_interval, check).await,
            Ok(Ok(answer)) if answer.get_ref().status() == ServingStatus::Serving
        );
        failures = if serving { 0 } else { failures + 1 };
        if failures >= policy.health_failures.max(1) {
            return;
        }
    }
}

/// Watches the process; restarts it when it exits; stops it when asked (or when the
/// supervisor is gone).
async fn monitor(
    supervisor: Weak<Supervisor>,
    mut process: PluginProcess,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    loop {
        let policy = match supervisor.upgrade() {
            Some(this) => this.spec.restart,
            None => return,
        };
        let exited = tokio::select! {
            status = process.child.wait() => status,
            () = stop_requested(&mut stopping) => {
                finish(&supervisor, process).await;
                return;
            }
            () = unhealthy(process.connection.clone(), policy) => {
                if let Some(this) = supervisor.upgrade() {
                    tracing::warn!(plugin = %this.plugin(), failures = policy.health_failures, "plugin process does not answer its health check: killing it");
                }
                let _ = process.child.start_kill();
                let status = process.child.wait().await;
                let reason = format!(
                    "killed after {} failed health checks ({})",
                    policy.health_failures,
                    exit_reason(status)
                );
                Err(std::io::Error::other(reason))
            }
        };
        let Some(this) = supervisor.upgrade() else {
            return;
        };
        let mut last_exit = exit_reason(exited);
        *this.live.write().unwrap_or_else(|e| e.into_inner()) = None;
        let _ = std::fs::remove_dir_all(&process.dir);
        tracing::warn!(plugin = %this.plugin(), exit = %last_exit, "plugin process ended");
        this.set_status(|s| {
            s.state = PluginState::Restarting;
            s.pid = None;
            s.last_exit = Some(last_exit.clone());
        });
        process = loop {
            let now = Instant::now();
            while restarts
                .front()
                .is_some_and(|at| now.duration_since(*at) > policy.window)
            {
                restarts.pop_front();
            }
            if restarts.len() >= policy.max_restarts as usize {
                tracing::error!(
                    plugin = %this.plugin(),
                    exit = %last_exit,
                    restarts = restarts.len(),
                    "plugin failed: too many restarts; not restarting it again"
                );
                this.set_status(|s| {
                    s.state = PluginState::Failed;
                    s.last_exit = Some(last_exit.clone());
                });
                return;
            }
            let exponent = u32::try_from(restarts.len()).unwrap_or(u32::MAX).min(16);
            let backoff = policy
                .first_backoff
                .saturating_mul(2_u32.saturating_pow(exponent))
                .min(policy.max_backoff);
            restarts.push_back(Instant::now());
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop_requested(&mut stopping) => {
                    this.set_status(|s| s.state = PluginState::Stopped);
                    return;
                }
            }
            match this.restart().await {
                Ok(started) => {
                    this.set_status(|s| {
                        s.state = PluginState::Running;
                        s.pid = started.id();
                        s.restarts += 1;
                    });
                    tracing::info!(plugin = %this.plugin(), pid = ?started.id(), "plugin process restarted");
                    break started;
                }
                Err(reason) => {
                    tracing::warn!(plugin = %this.plugin(), %reason, "restarting the plugin process failed");
                    last_exit = reason;
                    this.set_status(|s| s.last_exit = Some(last_exit.clone()));
                }
            }
        };
    }
}

/// The server stops the plugin: no more requests go to it; the process is asked to stop
/// (`Shutdown`: it runs its stop hook, with its storage still served), then its stdin closes
/// and it gets what is left of the grace period to exit.
async fn finish(supervisor: &Weak<Supervisor>, process: PluginProcess) {
    let Some(this) = supervisor.upgrade() else {
        process.stop(Duration::from_secs(5)).await;
        return;
    };
    let live = this.live.write().unwrap_or_else(|e| e.into_inner()).take();
    this.set_status(|s| {
        s.state = PluginState::Stopped;
        s.pid = None;
    });
    let grace = this.spec.stop_grace;
    let started = Instant::now();
    if let Some(mut live) = live {
        match tokio::time::timeout(grace, live.client.shutdown(pb::ShutdownRequest {})).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {}
            Ok(Err(status)) => {
                tracing::warn!(plugin = %this.plugin(), error = %status.message(), "the plugin's stop hook failed");
            }
            Err(_) => {
                tracing::warn!(plugin = %this.plugin(), "the plugin did not answer Shutdown within its grace period");
            }
        }
        drop(live);
    }
    process.stop(grace.saturating_sub(started.elapsed())).await;
}
