//! Start-up assembly and shutdown: which plugins run, in which order, and their lifecycle.
//!
//! [`plan`] is pure (registry + config → ordered plugin list, or an error naming the
//! plugins involved); [`start`] runs the whole sequence of `docs/server.md` against a
//! database; [`AppState::shutdown`] runs the stop hooks in reverse order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use flovyn_sdk::events::{EventBus, Events};
use flovyn_sdk::{LinkedPlugin, PluginContext, PluginDescriptor, PluginInstance};

use crate::config::plugins::PluginSettings;
use crate::config::{self, Config, ConfigError};
use crate::db::{Database, DbError};
use crate::metrics::Metrics;
use crate::migrate::{self, MigrateError};
use crate::tasks::Scheduler;

/// A plugin that is constructed and started.
pub struct RunningPlugin {
    /// What the plugin is.
    pub descriptor: &'static PluginDescriptor,
    /// The plugin itself.
    pub instance: Arc<dyn PluginInstance>,
    /// The context its hooks receive.
    pub context: PluginContext,
}

impl std::fmt::Debug for RunningPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningPlugin")
            .field("name", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}

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
    /// The admin token is too short to resist guessing.
    #[error(
        "the admin token (`FLOVYN_ADMIN_TOKEN`) is {0} bytes long; use at least 32 random bytes, e.g. `openssl rand -hex 32`"
    )]
    WeakAdminToken(usize),
    /// Dependencies form a cycle.
    #[error("plugin dependencies form a cycle: {}", .0.join(" → "))]
    Cycle(Vec<&'static str>),
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

/// Which plugins run, in start order, and which are disabled.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Enabled plugins in dependency order (ties by name).
    pub enabled: Vec<&'static PluginDescriptor>,
    /// Disabled plugins, by name.
    pub disabled: Vec<&'static PluginDescriptor>,
    /// Settings of every plugin.
    pub settings: BTreeMap<&'static str, PluginSettings>,
}

/// The linked plugins' descriptors, once the link-time facts hold: no plugin name registered
/// by two crates, and every crate this build links (`expected_crates`) registered a plugin.
pub fn linked_descriptors(
    registered: &[&'static LinkedPlugin],
    expected_crates: &[&str],
) -> Result<Vec<&'static PluginDescriptor>, StartupError> {
    let mut sorted = registered.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(b.name).then(a.crate_name.cmp(b.crate_name)));
    for pair in sorted.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(StartupError::DuplicateName {
                name: pair[0].name,
                first: pair[0].crate_name,
                second: pair[1].crate_name,
            });
        }
    }
    for krate in expected_crates {
        if !sorted.iter().any(|p| p.crate_name == *krate) {
            return Err(StartupError::Unregistered((*krate).to_owned()));
        }
    }
    Ok(sorted.iter().map(|p| p.descriptor()).collect())
}

/// The plan of the plugins linked into this binary: [`linked_descriptors`], then [`plan`]
/// with each section checked against its plugin's config type. `start` and
/// `flovyn-server migrate` plan this way.
pub fn plan_linked(
    registered: &[&'static LinkedPlugin],
    expected_crates: &[&str],
    config: &Config,
) -> Result<Plan, StartupError> {
    let descriptors = linked_descriptors(registered, expected_crates)?;
    plan(&descriptors, config, &linked_config_check(registered))
}

/// Checks a plugin's configuration section against the config type it declares.
pub type ConfigCheck<'a> = &'a dyn Fn(&PluginDescriptor, &serde_json::Value) -> Result<(), String>;

/// Decides what runs, from the plugins' descriptors alone: unique names, the naming rules
/// (the host's check of each descriptor), `enabled` and each config section (checked with
/// `check_config`), the dependency order, one owner per gRPC service, and middleware
/// beyond a plugin's prefix only with the operator's consent.
pub fn plan(
    plugins: &[&'static PluginDescriptor],
    config: &Config,
    check_config: ConfigCheck<'_>,
) -> Result<Plan, StartupError> {
    let mut sorted = plugins.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in sorted.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(StartupError::Invalid {
                plugin: &pair[0].name,
                message: "two plugins have this name".to_owned(),
            });
        }
    }
    for p in &sorted {
        if let Err(errors) = p.check() {
            let message = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(StartupError::Invalid {
                plugin: &p.name,
                message,
            });
        }
    }
    let settings = config::plugins::resolve(config, &sorted, check_config)?;
    let (enabled, disabled): (Vec<_>, Vec<_>) = sorted
        .iter()
        .copied()
        .partition(|p| settings.get(p.name.as_str()).is_none_or(|s| s.enabled));
    let enabled = dependency_order(&enabled, &disabled, &sorted)?;
    let mut services: BTreeMap<&'static str, &'static str> = BTreeMap::new();
    for p in &enabled {
        for g in &p.grpc_services {
            if services.insert(&g.service, &p.name).is_some() {
                return Err(StartupError::Invalid {
                    plugin: &p.name,
                    message: format!("gRPC service `{}` is declared twice", g.service),
                });
            }
        }
    }
    for p in &enabled {
        if settings
            .get(p.name.as_str())
            .is_some_and(|s| s.global_middleware)
        {
            continue;
        }
        for m in &p.middleware {
            let beyond = m.paths.iter().find(|path| {
                flovyn_naming::scope::Scope::parse(path).is_ok_and(|s| !s.within_plugin(&p.name))
            });
            if let Some(path) = beyond {
                return Err(StartupError::GlobalMiddleware {
                    plugin: &p.name,
                    middleware: &m.name,
                    path,
                });
            }
        }
    }
    Ok(Plan {
        enabled,
        disabled,
        settings,
    })
}

/// Topological order of `enabled` (ties broken by name, so the order is stable).
fn dependency_order(
    enabled: &[&'static PluginDescriptor],
    disabled: &[&'static PluginDescriptor],
    all: &[&'static PluginDescriptor],
) -> Result<Vec<&'static PluginDescriptor>, StartupError> {
    let by_name: BTreeMap<&'static str, &'static PluginDescriptor> =
        enabled.iter().map(|p| (p.name.as_str(), *p)).collect();
    for p in enabled {
        for dep in &p.depends_on {
            if by_name.contains_key(dep.as_str()) {
                continue;
            }
            let known = all.iter().any(|d| d.name == *dep);
            return Err(match (known, disabled.iter().any(|d| d.name == *dep)) {
                (true, true) => StartupError::DisabledDependency {
                    plugin: &p.name,
                    dependency: dep,
                },
                _ => StartupError::MissingDependency {
                    plugin: &p.name,
                    dependency: dep,
                },
            });
        }
    }
    let mut remaining: BTreeMap<&'static str, BTreeSet<&'static str>> = enabled
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut order = Vec::with_capacity(enabled.len());
    while !remaining.is_empty() {
        let ready: Option<&'static str> = remaining
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(n, _)| *n);
        let Some(next) = ready else {
            return Err(StartupError::Cycle(find_cycle(&remaining)));
        };
        remaining.remove(next);
        for deps in remaining.values_mut() {
            deps.remove(next);
        }
        order.push(by_name[next]);
    }
    Ok(order)
}

/// One cycle among `remaining` (every node there has an unmet dependency), as
/// `a → b → a`.
fn find_cycle(remaining: &BTreeMap<&'static str, BTreeSet<&'static str>>) -> Vec<&'static str> {
    let start = remaining.keys().next().copied().unwrap_or_default();
    let mut path: Vec<&'static str> = vec![start];
    loop {
        let current = *path.last().unwrap_or(&start);
        let Some(next) = remaining
            .get(current)
            .and_then(|d| d.iter().next())
            .copied()
        else {
            break;
        };
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(next);
            return cycle;
        }
        path.push(next);
    }
    path
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
    events: Arc<EventBus>,
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
    pub fn events(&self) -> &Arc<EventBus> {
        &self.inner.events
    }

    /// The server's own handle on the bus, publishing `core.…` events.
    pub fn core_events(&self) -> &Events {
        &self.inner.core_events
    }

    /// Stops the periodic tasks and lets event subscribers finish what is queued (each at
    /// most the shutdown grace), then runs every stop hook in reverse start order; failures
    /// are logged, not fatal.
    pub async fn shutdown(&self) {
        let grace = Duration::from_secs(self.inner.config.http.shutdown_grace_secs);
        self.inner.scheduler.stop(grace).await;
        self.inner.events.close(grace).await;
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
        && token.len() < crate::access::MIN_ADMIN_TOKEN_LEN
    {
        return Err(StartupError::WeakAdminToken(token.len()));
    }
    let plan = plan_linked(registered, expected_crates, &config)?;
    let db = Database::connect(&config.database_url).await?;
    migrate::run_core(&db).await?;
    let applied = migrate::run_plugins(&db, &plan.enabled).await?;
    for m in &applied {
        tracing::info!(plugin = %m.plugin, version = m.version, name = %m.name, execution_ms = m.execution_ms, "migration applied");
    }
    let events = Arc::new(EventBus::default());
    let plugins = match construct(&plan, registered, Some(db.plugin_handle()), &events).await {
        Ok(plugins) => plugins,
        Err(e) => {
            events.close(Duration::ZERO).await;
            return Err(e);
        }
    };
    let core_events = events.handle(flovyn_sdk::naming::event::CORE);
    let scheduler = Scheduler::start(&db, &plugins);
    let metrics = Metrics::new(plan.enabled.iter().map(|p| p.name.as_str()));
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

/// The config check of linked plugins: each section is deserialized into the config type the
/// plugin declared, so the error names the offending key.
pub fn linked_config_check<'a>(
    linked: &'a [&'static LinkedPlugin],
) -> impl Fn(&PluginDescriptor, &serde_json::Value) -> Result<(), String> + 'a {
    move |plugin, section| match linked.iter().find(|l| l.name == plugin.name) {
        Some(code) => code.validate_config(section),
        None => Ok(()),
    }
}

/// Builds the enabled plugins in order, subscribes their event handlers, then runs their
/// start hooks in order. On failure, stops the plugins already started (in reverse) before
/// returning the error.
///
/// Every plugin is constructed before any start hook runs, and every subscription is in
/// place by then, so an event published from a start hook reaches every subscriber.
pub async fn construct(
    plan: &Plan,
    linked: &[&'static LinkedPlugin],
    database: Option<flovyn_sdk::Database>,
    events: &Arc<EventBus>,
) -> Result<Vec<RunningPlugin>, StartupError> {
    let mut built: Vec<RunningPlugin> = Vec::with_capacity(plan.enabled.len());
    for &descriptor in &plan.enabled {
        let name = descriptor.name.as_str();
        let settings = plan.settings.get(name).cloned().unwrap_or_default();
        let mut context = PluginContext::new(name, settings.settings).with_events(events);
        if let Some(db) = &database {
            context = context.with_database(db.clone());
        }
        let code = linked
            .iter()
            .find(|l| l.name == name)
            .ok_or(StartupError::NoCode { plugin: name })?;
        let instance =
            code.construct(context.clone())
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
        });
    }
    for p in &built {
        p.instance.clone().subscribe(p.context.events());
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
