//! The command line: `serve` (the default), `migrate`, `plugins`, `openapi`,
//! `config-schema`, `new-plugin`; and [`main`], the entry point of the server binary and of a server of
//! one's own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Config, Sources};
use crate::startup::{self, AppState};

/// The Flovyn server: serves every plugin linked into this build.
#[derive(Debug, Parser)]
#[command(name = "flovyn-server", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file [default: ./flovyn.toml when present; env: FLOVYN_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8000; env: FLOVYN_LISTEN]
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations, start the plugins and serve HTTP (the default).
    Serve,
    /// Apply core and plugin migrations, then exit.
    Migrate,
    /// List the plugins: name, version, routes, migrations; those the configuration runs as
    /// processes are started to describe themselves (or shown as failed, with the reason).
    /// Needs no database.
    Plugins,
    /// Print the merged OpenAPI document as JSON, plugin processes included. Needs no
    /// database.
    Openapi,
    /// Print the JSON Schema of the configuration (`flovyn.toml`), every linked plugin's
    /// section included. Needs no database.
    ConfigSchema,
    /// Write a new plugin crate: a migration, a public and two permissioned routes, a
    /// config section and passing tests in the real server assembly.
    NewPlugin {
        /// The plugin's name (kebab-case, e.g. `bookmarks`); also the crate's.
        name: String,
        /// The directory to create the crate in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Depend on the SDK from this git repository [default: by path, on the checkout
        /// this server was built from].
        #[arg(long, value_name = "URL")]
        git: Option<String>,
    },
}

/// The entry point of a server binary: parses the command line and runs it on a new tokio
/// runtime. `linked` lists the plugin crates the binary's own build script links, besides
/// those this library links ([`crate::linked`]); every one must register at start-up.
/// [`main!`](crate::main) calls it.
pub fn main(linked: &[&'static str]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(Cli::parse().run_linking(linked))
}

/// The plugin crates that must register: those this library links and `linked`.
pub fn expected_plugin_crates(linked: &[&'static str]) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = crate::linked::EXPECTED_PLUGIN_CRATES
        .iter()
        .chain(linked)
        .copied()
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

impl Cli {
    /// Runs the command; the exit code is non-zero on any error, which is printed.
    pub async fn run(self) -> ExitCode {
        self.run_linking(&[]).await
    }

    /// [`Cli::run`] in a binary whose build script links plugin crates of its own (`linked`,
    /// see [`main`]).
    pub async fn run_linking(self, linked: &[&'static str]) -> ExitCode {
        let expected = expected_plugin_crates(linked);
        let sources = Sources {
            file: self.config.clone(),
            env: None,
            listen: self.listen,
        };
        let result = match self.command.unwrap_or(Command::Serve) {
            Command::Plugins => match load(&sources) {
                Ok(config) => plugins(&config).await,
                Err(e) => Err(e),
            },
            Command::Openapi => match load(&sources) {
                Ok(config) => openapi(&config).await,
                Err(e) => Err(e),
            },
            Command::ConfigSchema => config_schema(),
            Command::NewPlugin { name, dir, git } => new_plugin(&name, &dir, git),
            Command::Migrate => match load(&sources) {
                Ok(config) => migrate(config, &expected).await,
                Err(e) => Err(e),
            },
            Command::Serve => match load(&sources) {
                Ok(config) => serve(config, &expected).await,
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn new_plugin(name: &str, dir: &std::path::Path, git: Option<String>) -> Result<(), BoxError> {
    use crate::scaffold::{ScaffoldError, SdkSource};
    let sdk = match git {
        Some(url) => SdkSource::Git(url),
        None => SdkSource::built_from().ok_or(ScaffoldError::NoSdk)?,
    };
    let path = crate::scaffold::new_plugin(name, dir, &sdk)?;
    println!("created plugin `{name}` in {}", path.display());
    println!();
    println!("  cd {} && cargo test", path.display());
    println!();
    println!(
        "To serve it, add `{name} = {{ path = \"…\" }}` to the server crate's [dependencies] (see its README.md)."
    );
    Ok(())
}

fn load(sources: &Sources) -> Result<Config, BoxError> {
    let config = Config::load(sources)?;
    init_tracing(&config.log);
    Ok(config)
}

/// Logs go to stderr, so that stdout stays clean for `openapi` and `plugins`; colours only
/// when stderr is a terminal (a log file or a collector gets plain text).
pub fn init_tracing(filter: &str) {
    // The configuration checked the filter already (`Config::load`).
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// The descriptors of the plugins linked into this binary (no database, no config).
fn linked() -> Vec<&'static flovyn_sdk::PluginDescriptor> {
    flovyn_sdk::host::registry::plugins()
        .into_iter()
        .map(|p| p.descriptor())
        .collect()
}

/// A plugin as `plugins` and `openapi` see it.
enum Listed {
    Linked(&'static flovyn_sdk::PluginDescriptor),
    Process {
        settings: Box<crate::config::plugins::ProcessSettings>,
        described: Result<&'static flovyn_sdk::PluginDescriptor, String>,
    },
}

impl Listed {
    fn name(&self) -> &str {
        match self {
            Self::Linked(d) => &d.name,
            Self::Process { settings, .. } => &settings.plugin,
        }
    }
    fn descriptor(&self) -> Option<&'static flovyn_sdk::PluginDescriptor> {
        match self {
            Self::Linked(d) => Some(d),
            Self::Process { described, .. } => described.as_ref().ok().copied(),
        }
    }
}

/// The linked plugins, but those `config` runs as processes, which are started here to
/// describe themselves (and stopped again), sorted by name.
async fn listed(config: &Config) -> Result<Vec<Listed>, BoxError> {
    use crate::host::Backend as _;
    let processes = startup::start_processes(config).await?;
    let mut all: Vec<Listed> = linked()
        .into_iter()
        .filter(|d| !processes.iter().any(|(p, _)| p.plugin == d.name))
        .map(Listed::Linked)
        .collect();
    for (settings, started) in processes {
        let described = started.map(|b| b.descriptor()).map_err(|e| e.reason);
        all.push(Listed::Process {
            settings: Box::new(settings),
            described,
        });
    }
    all.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(all)
}

async fn plugins(config: &Config) -> Result<(), BoxError> {
    let all = listed(config).await?;
    let mut refused = Vec::new();
    for entry in &all {
        if let Listed::Process {
            settings,
            described: Err(reason),
        } = entry
        {
            println!("{}", settings.plugin);
            println!("  process   {}", settings.command.display());
            println!("  failed    {reason}");
            if !settings.optional {
                refused.push(settings.plugin.clone());
            }
            continue;
        }
        let Some(p) = entry.descriptor() else {
            continue;
        };
        println!("{} {}", p.name, p.version);
        if let Listed::Process { settings, .. } = entry {
            println!("  process   {}", settings.command.display());
        }
        if !p.description.is_empty() {
            println!("  {}", p.description.lines().next().unwrap_or_default());
        }
        if !p.depends_on.is_empty() {
            println!("  depends on {}", p.depends_on.join(", "));
        }
        for r in &p.routes {
            println!(
                "  route     {:<7} {}",
                r.method.as_str(),
                p.served_path(&r.path)
            );
        }
        for m in &p.migrations {
            println!("  migration {:<7} {}", m.version, m.name);
        }
        for e in &p.events {
            println!("  publishes {e}");
        }
        for s in &p.subscriptions {
            println!("  handles   {} with {}", s.event, s.handler);
        }
        for t in &p.tasks {
            println!("  task      {:<7} {}", t.every, t.name);
        }
        for g in &p.grpc_services {
            println!("  grpc      {}", g.service);
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "plugin process(es) refused, the server would not start: {}",
            refused.join(", ")
        )
        .into())
    }
}

async fn openapi(config: &Config) -> Result<(), BoxError> {
    let mut descriptors = Vec::new();
    for entry in listed(config).await? {
        match (&entry, entry.descriptor()) {
            (_, Some(d)) => descriptors.push(d),
            (
                Listed::Process {
                    settings,
                    described: Err(reason),
                },
                None,
            ) if !settings.optional => {
                return Err(format!(
                    "plugin `{}` (process) was refused: {reason}",
                    settings.plugin
                )
                .into());
            }
            _ => {}
        }
    }
    let doc = crate::api::openapi::merged(descriptors);
    println!("{}", doc.to_pretty_json()?);
    Ok(())
}

fn config_schema() -> Result<(), BoxError> {
    let doc = crate::config::schema::document(&linked());
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

async fn migrate(config: Config, expected: &[&str]) -> Result<(), BoxError> {
    let backends =
        startup::backends(&config, &flovyn_sdk::host::registry::plugins(), expected).await?;
    let plan = startup::plan_backends(&backends, &config)?;
    let db =
        crate::store::db::Database::connect_with(&config.database_url, config.database.options())
            .await?;
    crate::store::migrate::run_core(&db).await?;
    let applied = crate::store::migrate::run_plugins(&db, &plan.enabled).await?;
    if applied.is_empty() {
        println!("nothing to apply");
    }
    for m in applied {
        println!(
            "applied {} {} {} ({} ms)",
            m.plugin, m.version, m.name, m.execution_ms
        );
    }
    Ok(())
}

async fn serve(config: Config, expected: &[&str]) -> Result<(), BoxError> {
    let listen = config.listen;
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let state =
        startup::start_with(config, &flovyn_sdk::host::registry::plugins(), expected).await?;
    let router = crate::router::build_router(state.clone());
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            // Started plugins and tasks are stopped as at any other shutdown.
            state.shutdown().await;
            return Err(format!("cannot listen on {listen}: {e}").into());
        }
    };
    tracing::info!(%listen, plugins = state.plugins().len(), "serving");
    serve_until(listener, router, &state, grace, shutdown_signal()).await
}

/// Serves until `shutdown` completes (SIGTERM or SIGINT for the binary); then stops
/// accepting, waits for in-flight requests for at most `grace`, and runs the plugins' stop
/// hooks in reverse order.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: crate::router::App,
    state: &AppState,
    grace: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BoxError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = &state.config().http;
    let limits = crate::http::listen::ConnectionLimits {
        header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
        max_connections: http.max_connections,
    };
    let server = tokio::spawn(crate::http::listen::serve(listener, app, limits, stop_rx));
    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "in-flight requests did not finish in time; cancelled"
        ),
    }
    state.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
