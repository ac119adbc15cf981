//! Start-up and shutdown: the whole sequence of `docs/server.md` up to serving ([`start`]),
//! the state a running server holds ([`AppState`]), and the stop hooks in reverse order
//! ([`AppState::shutdown`]). What runs and in which order is [`plan`](mod@plan)'s.

use std::sync::Arc;
use std::time::Duration;

use flovyn_sdk::events::Events;

use crate::events::{EventEngine, Outbox};
use flovyn_sdk::{LinkedPlugin, PluginContext};

use crate::config::plugins::ProcessSettings;
use crate::config::{Config, ConfigError};
use crate::host::process::{ProcessBackend, ProcessError, ProcessSpec};
use crate::host::{Backend, RunningPlugin};
use crate::http::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::store::db::{Database, DbError};
use crate::store::migrate::{self, MigrateError};

pub mod plan;

pub use plan::{Plan, linked_backends, plan, plan_backends, plan_linked};

/// Why start-up failed. Every variant names the plugins involved.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Database connection.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Migrations.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Two linked crates register the same plugin name.
    #[error("plugin name `{name}` is registered twice: by crate `{first}` and by crate `{second}`")]
    DuplicateName {
        /// The name.
        name: &'static str,
        /// One crate.
        first: &'static str,
        /// The other crate.
        second: &'static str,
    },
    /// A plugin crate this build links registered no plugin.
    #[error(
        "plugin crate `{0}` is linked into this build but registered no plugin: does it put `#[flovyn_plugin]` on a struct, and does it use the same `flovyn-sdk` as the server?"
    )]
    Unregistered(String),
    /// A plugin's descriptor breaks a naming rule (checked again at run time).
    #[error("plugin `{plugin}` is invalid: {message}")]
    Invalid {
        /// The plugin.
        plugin: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A dependency is not linked.
    #[error("plugin `{plugin}` depends on `{dependency}`, which is not linked into this build")]
    MissingDependency {
        /// The dependent plugin.
        plugin: &'static str,
        /// What it needs.
        dependency: &'static str,
    },
    /// A dependency is disabled in the configuration.
    #[error(
        "plugin `{plugin}` depends on `{dependency}`, which is disabled (`[plugins.{dependency}] enabled = false`)"
    )]
    DisabledDependency {
        /// The dependent plugin.
        plugin: &'static str,
        /// What it needs.
        dependency: &'static str,
    },
    /// A plugin's middleware reaches beyond its prefix without the operator's consent.
    #[error(
        "plugin `{plugin}` has middleware `{middleware}` for `{path}`, beyond its own prefix `/api/v1/p/{plugin}/`: allow it with `[plugins.{plugin}] global_middleware = true`, or disable the plugin"
    )]
    GlobalMiddleware {
        /// The plugin.
        plugin: &'static str,
        /// The middleware.
        middleware: &'static str,
        /// The first path beyond the prefix.
        path: &'static str,
    },
    /// A plugin out of process has middleware beyond its prefix, which its process cannot
    /// apply to other plugins' requests.
    #[error(
        "plugin `{plugin}` runs in its own process, and its middleware `{middleware}` for `{path}` reaches beyond its prefix `/api/v1/p/{plugin}/`: a process applies middleware to its own routes only; run the plugin linked, or disable it"
    )]
    ProcessMiddleware {
        /// The plugin.
        plugin: &'static str,
        /// The middleware.
        middleware: &'static str,
        /// The first path beyond the prefix.
        path: &'static str,
    },
    /// The admin token is too short to resist guessing.
    #[error(
        "the admin token (`FLOVYN_ADMIN_TOKEN`) is {0} bytes long; use at least 32 random bytes, e.g. `openssl rand -hex 32`"
    )]
    WeakAdminToken(usize),
    /// Dependencies form a cycle.
    #[error("plugin dependencies form a cycle: {}", .0.join(" → "))]
    Cycle(Vec<&'static str>),
    /// The event deliverers could not start (the outbox's tables).
    #[error("starting event delivery failed: {0}")]
    Events(#[source] sqlx::Error),
    /// A plugin process was refused (and its section does not say `optional = true`).
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The plan names a plugin whose code this server does not have.
    #[error("plugin `{plugin}` is described but its code is not available to this server")]
    NoCode {
        /// The plugin.
        plugin: &'static str,
    },
    /// A constructor or start hook failed.
    #[error("plugin `{plugin}` failed to {stage}: {source}")]
    Plugin {
        /// The plugin.
        plugin: &'static str,
        /// `construct` or `start`.
        stage: &'static str,
        /// What it said.
        #[source]
        source: flovyn_sdk::PluginError,
    },
}

/// Everything a running server holds.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    db: Database,
    plan: Plan,
    plugins: Vec<RunningPlugin>,
    metrics: Metrics,
    events: EventEngine,
    core_events: Events,
    scheduler: Scheduler,
}

impl AppState {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// The database.
    pub fn db(&self) -> &Database {
        &self.inner.db
    }
    /// The running plugins, in start order.
    pub fn plugins(&self) -> &[RunningPlugin] {
        &self.inner.plugins
    }
    /// What was decided at start-up (including disabled plugins).
    pub fn plan(&self) -> &Plan {
        &self.inner.plan
    }
    /// Request metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The event bus the plugins publish and subscribe on.
    pub fn events(&self) -> &EventEngine {
        &self.inner.events
    }

    /// The server's own handle on the outbox, publishing `core.…` events.
    pub fn core_events(&self) -> &Events {
        &self.inner.core_events
    }

    /// Stops the periodic tasks and lets event subscribers finish what is queued (each at
    /// most the shutdown grace), then runs every stop hook in reverse start order; failures
    /// are logged, not fatal.
    pub async fn shutdown(&self) {
        let grace = Duration::from_secs(self.inner.config.http.shutdown_grace_secs);
        self.inner.scheduler.stop(grace).await;
        self.inner.events.stop(grace).await;
        for p in self.inner.plugins.iter().rev() {
            match p.instance.on_stop(&p.context).await {
                Ok(()) => tracing::info!(plugin = %p.descriptor.name, "stopped"),
                Err(e) => {
                    tracing::error!(plugin = %p.descriptor.name, error = %e, "stop hook failed")
                }
            }
        }
    }
}

/// The whole start-up sequence up to (not including) serving.
pub async fn start(
    config: Config,
    registered: &[&'static LinkedPlugin],
) -> Result<AppState, StartupError> {
    start_with(config, registered, crate::linked::EXPECTED_PLUGIN_CRATES).await
}

/// [`start`] with the crates that must have registered given explicitly (tests start
/// subsets of the registry; the binary expects every linked plugin crate).
pub async fn start_with(
    config: Config,
    registered: &[&'static LinkedPlugin],
    expected_crates: &[&str],
) -> Result<AppState, StartupError> {
    if let Some(token) = &config.admin_token
        && token.len() < crate::http::access::MIN_ADMIN_TOKEN_LEN
    {
        return Err(StartupError::WeakAdminToken(token.len()));
    }
    let backends = backends(&config, registered, expected_crates).await?;
    start_backends(config, backends).await
}

/// The backends of every plugin the configuration runs: the linked plugins, but those it
/// runs as processes (`mode = "process"`), whose processes are started and described here. A
/// process that is refused stops start-up, unless its section says `optional = true`.
pub async fn backends(
    config: &Config,
    registered: &[&'static LinkedPlugin],
    expected_crates: &[&str],
) -> Result<Vec<Arc<dyn Backend>>, StartupError> {
    let processes = start_processes(config).await?;
    let mut backends: Vec<Arc<dyn Backend>> = linked_backends(registered, expected_crates)?
        .into_iter()
        .filter(|b| {
            !processes
                .iter()
                .any(|(p, _)| p.plugin == b.descriptor().name)
        })
        .collect();
    for (p, started) in processes {
        match started {
            Ok(backend) => backends.push(Arc::new(backend)),
            Err(e) if p.optional => {
                tracing::warn!(error = %e, "optional plugin left out");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(backends)
}

/// Every plugin process the configuration names, started and described — all at once, so
/// that ten of them take about as long as the slowest — or why it was refused.
pub async fn start_processes(
    config: &Config,
) -> Result<Vec<(ProcessSettings, Result<ProcessBackend, ProcessError>)>, StartupError> {
    let processes = crate::config::plugins::processes(config)?;
    let started = futures_util::future::join_all(processes.iter().map(|p| async move {
        let started = ProcessBackend::start(&process_spec(p)).await;
        if started.is_ok() {
            tracing::info!(plugin = %p.plugin, command = %p.command.display(), "plugin process described itself");
        }
        started
    }))
    .await;
    Ok(processes.into_iter().zip(started).collect())
}

/// How the host runs the plugin process of a `[plugins.<name>]` section.
fn process_spec(p: &ProcessSettings) -> ProcessSpec {
    let mut spec = ProcessSpec::new(&p.plugin, &p.command);
    spec.args.clone_from(&p.args);
    spec.start_timeout = p.start_timeout;
    spec.request_timeout = p.request_timeout;
    spec.restart.max_restarts = p.max_restarts;
    spec.limits.memory_bytes = p.max_memory_mb.map(|mb| mb.saturating_mul(1024 * 1024));
    spec.limits.open_files = p.max_open_files;
    spec.user.clone_from(&p.user);
    spec.sandbox = p.sandbox.as_ref().map(|s| crate::host::process::Sandbox {
        read: s.read.clone(),
        write: s.write.clone(),
    });
    spec.frames = p.frames;
    spec
}

/// The start-up sequence for `backends`, whatever their kind (linked plugins, plugin
/// processes): plan, migrations, construction, scheduler.
pub async fn start_backends(
    config: Config,
    backends: Vec<Arc<dyn Backend>>,
) -> Result<AppState, StartupError> {
    if let Some(token) = &config.admin_token
        && token.len() < crate::http::access::MIN_ADMIN_TOKEN_LEN
    {
        return Err(StartupError::WeakAdminToken(token.len()));
    }
    let plan = plan_backends(&backends, &config)?;
    let db = Database::connect_with(&config.database_url, config.database.options()).await?;
    migrate::run_core(&db).await?;
    // Each migration is logged as it is applied (`store::migrate`).
    migrate::run_plugins(&db, &plan.enabled).await?;
    let mut events = EventEngine::new(db.pool());
    // Plugin processes' access checks reach the authorizers once they are all built.
    let authorizers = Arc::new(flovyn_sdk::auth::LateAuthorize::default());
    let plugins = construct(
        &plan,
        &backends,
        Some(db.plugin_handle()),
        events.outbox(),
        &authorizers,
    )
    .await?;
    authorizers.set(Arc::new(crate::http::access::AuthStack::new(
        crate::http::access::Credentials::new(config.admin_token.as_deref()),
        &plugins,
    )));
    let core_events = Events::to_sink(
        flovyn_sdk::host::naming::event::CORE,
        Arc::new(events.outbox().clone()),
    );
    if let Err(e) = events
        .start(
            db.pool(),
            &config.database_url,
            db.dialect(),
            &plugins,
            &config.events,
        )
        .await
    {
        for p in plugins.iter().rev() {
            let _ = p.instance.on_stop(&p.context).await;
        }
        return Err(StartupError::Events(e));
    }
    let scheduler = Scheduler::start(&db, &plugins);
    let metrics = Metrics::for_running(&plugins, &events);
    Ok(AppState {
        inner: Arc::new(Inner {
            config,
            db,
            plan,
            plugins,
            metrics,
            events,
            core_events,
            scheduler,
        }),
    })
}

/// Builds the enabled plugins in order, subscribes their event handlers, then runs their
/// start hooks in order. On failure, stops the plugins already started (in reverse) before
/// returning the error.
///
/// Every plugin is constructed before any start hook runs, and every subscription is in
/// place by then, so an event published from a start hook reaches every subscriber.
pub async fn construct(
    plan: &Plan,
    backends: &[Arc<dyn Backend>],
    database: Option<flovyn_sdk::Database>,
    outbox: &Outbox,
    authorizers: &Arc<flovyn_sdk::auth::LateAuthorize>,
) -> Result<Vec<RunningPlugin>, StartupError> {
    let mut built: Vec<RunningPlugin> = Vec::with_capacity(plan.enabled.len());
    for &descriptor in &plan.enabled {
        let name = descriptor.name.as_str();
        let settings = plan.settings.get(name).cloned().unwrap_or_default();
        let mut context = PluginContext::new(name, settings.settings)
            .with_events(Events::to_sink(name, Arc::new(outbox.clone())))
            .with_authorizer(authorizers.clone());
        if let Some(db) = &database {
            context = context.with_database(db.clone());
        }
        let backend = backends
            .iter()
            .find(|b| b.descriptor().name == name)
            .ok_or(StartupError::NoCode { plugin: name })?;
        let instance =
            backend
                .start(context.clone())
                .await
                .map_err(|source| StartupError::Plugin {
                    plugin: name,
                    stage: "construct",
                    source,
                })?;
        built.push(RunningPlugin {
            descriptor,
            instance,
            context,
            backend: backend.clone(),
        });
    }
    for (started, p) in built.iter().enumerate() {
        if let Err(source) = p.instance.on_start(&p.context).await {
            for earlier in built[..started].iter().rev() {
                let _ = earlier.instance.on_stop(&earlier.context).await;
            }
            return Err(StartupError::Plugin {
                plugin: &p.descriptor.name,
                stage: "start",
                source,
            });
        }
        tracing::info!(
            plugin = %p.descriptor.name,
            version = %p.descriptor.version,
            "started"
        );
    }
    Ok(built)
}
