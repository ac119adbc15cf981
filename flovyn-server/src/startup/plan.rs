//! Which plugins run, and in which order: [`plan`] decides from the plugins' descriptors
//! alone (or an error naming the plugins involved); [`linked_backends`] checks the link-time
//! facts of the plugins linked into this binary first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flovyn_sdk::{LinkedPlugin, PluginDescriptor};

use super::StartupError;
use crate::config::plugins::{ConfigCheck, PluginSettings};
use crate::config::{self, Config};
use crate::host::Backend;
use crate::host::linked::Linked;

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

/// The backends of the plugins linked into this binary, once the link-time facts hold: no
/// plugin name registered by two crates, and every crate this build links
/// (`expected_crates`) registered a plugin.
pub fn linked_backends(
    registered: &[&'static LinkedPlugin],
    expected_crates: &[&str],
) -> Result<Vec<Arc<dyn Backend>>, StartupError> {
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
    Ok(sorted
        .iter()
        .map(|p| Arc::new(Linked(p)) as Arc<dyn Backend>)
        .collect())
}

/// The plan of `backends`: [`plan`] on their descriptors, each config section checked by
/// the plugin's backend. `start` and `flovyn-server migrate` plan this way.
pub fn plan_backends(backends: &[Arc<dyn Backend>], config: &Config) -> Result<Plan, StartupError> {
    let descriptors: Vec<&'static PluginDescriptor> =
        backends.iter().map(|b| b.descriptor()).collect();
    // Every backend's migration SQL has been checked already — a linked plugin's by its
    // macros at compile time, a process's when its descriptor arrived — and each pending
    // migration is checked again before it runs: start-up does not parse it all again.
    let check_config = |plugin: &PluginDescriptor, section: &serde_json::Value| match backends
        .iter()
        .find(|b| b.descriptor().name == plugin.name)
    {
        Some(backend) => backend.check_config(section),
        None => Ok(()),
    };
    let plan = plan_checking(&descriptors, config, &check_config, Checks::Names)?;
    for backend in backends.iter().filter(|b| b.applies_middleware()) {
        let p = backend.descriptor();
        if !plan.enabled.iter().any(|e| e.name == p.name) {
            continue;
        }
        for m in &p.middleware {
            if let Some(path) = beyond_prefix(m, &p.name) {
                return Err(StartupError::ProcessMiddleware {
                    plugin: &p.name,
                    middleware: &m.name,
                    path,
                });
            }
        }
    }
    Ok(plan)
}

/// The first path of `m`'s scopes beyond `plugin`'s own prefix.
fn beyond_prefix<'a>(m: &'a flovyn_sdk::descriptor::Middleware, plugin: &str) -> Option<&'a str> {
    m.paths
        .iter()
        .find(|path| {
            flovyn_naming::scope::Scope::parse(path).is_ok_and(|s| !s.within_plugin(plugin))
        })
        .map(String::as_str)
}

/// How much of each descriptor [`plan`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// Everything ([`PluginDescriptor::check`]).
    All,
    /// Everything but the migrations' SQL ([`PluginDescriptor::check_names`]).
    Names,
}

/// [`plan_backends`] of the plugins linked into this binary ([`linked_backends`]).
pub fn plan_linked(
    registered: &[&'static LinkedPlugin],
    expected_crates: &[&str],
    config: &Config,
) -> Result<Plan, StartupError> {
    plan_backends(&linked_backends(registered, expected_crates)?, config)
}

/// Decides what runs, from the plugins' descriptors alone: unique names, the naming rules
/// (the host's check of each descriptor), `enabled` and each config section (checked with
/// `check_config`), the dependency order, one owner per gRPC service, and middleware
/// beyond a plugin's prefix only with the operator's consent.
pub fn plan(
    plugins: &[&'static PluginDescriptor],
    config: &Config,
    check_config: ConfigCheck<'_>,
) -> Result<Plan, StartupError> {
    plan_checking(plugins, config, check_config, Checks::All)
}

fn plan_checking(
    plugins: &[&'static PluginDescriptor],
    config: &Config,
    check_config: ConfigCheck<'_>,
    checks: Checks,
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
        let checked = match checks {
            Checks::All => p.check(),
            Checks::Names => p.check_names(),
        };
        if let Err(errors) = checked {
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
            if let Some(path) = beyond_prefix(m, &p.name) {
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
