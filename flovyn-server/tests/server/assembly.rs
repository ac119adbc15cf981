//! Start-up decisions without a database: configuration loading and the plugin plan
//! (duplicates, expected crates, `enabled`, dependency order and its errors).

use std::collections::BTreeMap;
use std::io::Write;

use flovyn_sdk::prelude::*;
use flovyn_sdk::{LinkedPlugin, PluginDescriptor};
use flovyn_server::config::{Config, ConfigError, Sources};
use flovyn_server::startup::{self, StartupError};

#[flovyn_plugin(name = "dep-a", depends_on = ["dep-b"])]
#[derive(Default)]
pub struct DepA;

#[flovyn_plugin(name = "dep-b")]
#[derive(Default)]
pub struct DepB;

#[flovyn_plugin(name = "dep-c", depends_on = ["dep-a", "dep-b"])]
#[derive(Default)]
pub struct DepC;

#[flovyn_plugin(name = "cyc-x", depends_on = ["cyc-y"])]
#[derive(Default)]
pub struct CycX;

#[flovyn_plugin(name = "cyc-y", depends_on = ["cyc-z"])]
#[derive(Default)]
pub struct CycY;

#[flovyn_plugin(name = "cyc-z", depends_on = ["cyc-x"])]
#[derive(Default)]
pub struct CycZ;

#[flovyn_plugin(name = "lonely", depends_on = ["nowhere"])]
#[derive(Default)]
pub struct Lonely;

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TunedConfig {
    pub level: u32,
}

#[test]
fn typed_config_reaches_the_plugin_context() {
    let ctx = flovyn_sdk::PluginContext::new("tuned", serde_json::json!({"level": 7}));
    assert_eq!(ctx.config::<TunedConfig>().unwrap().level, 7);
}

#[flovyn_plugin(name = "tuned", config = TunedConfig)]
#[derive(Default)]
pub struct Tuned;

mod twin_one {
    use flovyn_sdk::prelude::*;
    #[flovyn_plugin(name = "twin")]
    #[derive(Default)]
    pub struct One;
}

mod twin_two {
    use flovyn_sdk::prelude::*;
    #[flovyn_plugin(name = "twin")]
    #[derive(Default)]
    pub struct Two;
}

fn d<P: Plugin>() -> &'static LinkedPlugin {
    P::linked()
}

fn names(list: &[&'static PluginDescriptor]) -> Vec<&'static str> {
    list.iter().map(|p| p.name.as_str()).collect()
}

fn config_with(plugins: &[(&str, serde_json::Value)]) -> Config {
    let mut config = Config::default();
    config.plugins = plugins
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    config
}

#[test]
fn dependencies_start_first_and_ties_go_by_name() {
    let plan = startup::plan_linked(
        &[d::<DepC>(), d::<DepA>(), d::<DepB>()],
        &[],
        &Config::default(),
    )
    .unwrap();
    assert_eq!(names(&plan.enabled), ["dep-b", "dep-a", "dep-c"]);
}

#[test]
fn a_cycle_is_an_error_naming_every_plugin_in_it() {
    let err = startup::plan_linked(
        &[d::<CycX>(), d::<CycY>(), d::<CycZ>(), d::<DepB>()],
        &[],
        &Config::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StartupError::Cycle(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "plugin dependencies form a cycle: cyc-x → cyc-y → cyc-z → cyc-x"
    );
}

#[test]
fn a_missing_dependency_is_named() {
    let err = startup::plan_linked(&[d::<Lonely>()], &[], &Config::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `lonely` depends on `nowhere`, which is not linked into this build"
    );
}

#[test]
fn a_disabled_dependency_is_named() {
    let config = config_with(&[("dep-b", serde_json::json!({"enabled": false}))]);
    let err = startup::plan_linked(&[d::<DepA>(), d::<DepB>()], &[], &config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `dep-a` depends on `dep-b`, which is disabled (`[plugins.dep-b] enabled = false`)"
    );
}

#[test]
fn disabled_plugins_are_left_out() {
    let config = config_with(&[("dep-c", serde_json::json!({"enabled": false}))]);
    let plan =
        startup::plan_linked(&[d::<DepA>(), d::<DepB>(), d::<DepC>()], &[], &config).unwrap();
    assert_eq!(names(&plan.enabled), ["dep-b", "dep-a"]);
    assert_eq!(names(&plan.disabled), ["dep-c"]);
}

#[test]
fn two_crates_with_one_plugin_name_refuse_to_start() {
    let err = startup::plan_linked(
        &[d::<twin_one::One>(), d::<twin_two::Two>()],
        &[],
        &Config::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("plugin name `twin` is registered twice: by crate `flovyn-server` and by crate `flovyn-server`"),
        "{err}"
    );
}

#[test]
fn an_expected_crate_that_registered_nothing_is_named() {
    let err = startup::plan_linked(&[d::<DepB>()], &["audit-log-plugin"], &Config::default())
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "plugin crate `audit-log-plugin` is linked into this build but registered no plugin"
        ),
        "{err}"
    );
}

#[test]
fn this_build_expects_the_example_plugins_and_they_registered() {
    assert!(flovyn_server::linked::EXPECTED_PLUGIN_CRATES.contains(&"hello"));
    let all = flovyn_sdk::host::registry::plugins();
    let plan = startup::plan_linked(
        &all.iter()
            .copied()
            .filter(|p| p.crate_name != "flovyn-server")
            .collect::<Vec<_>>(),
        flovyn_server::linked::EXPECTED_PLUGIN_CRATES,
        &Config::default(),
    )
    .unwrap();
    assert!(names(&plan.enabled).contains(&"hello"));
}

#[test]
fn plugin_sections_are_checked_against_the_plugins() {
    let plugins = [d::<DepB>(), d::<Tuned>()];
    let unknown_plugin = config_with(&[
        ("nope", serde_json::json!({"enabled": true})),
        ("tuned", serde_json::json!({"level": 1})),
    ]);
    let err = startup::plan_linked(&plugins, &[], &unknown_plugin)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `plugins.nope`: no linked plugin is called `nope`"),
        "{err}"
    );

    let no_config = config_with(&[
        ("dep-b", serde_json::json!({"colour": "red"})),
        ("tuned", serde_json::json!({"level": 1})),
    ]);
    let err = startup::plan_linked(&plugins, &[], &no_config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `plugins.dep-b.colour`: plugin `dep-b` takes no configuration"),
        "{err}"
    );

    let bad_key = config_with(&[("tuned", serde_json::json!({"level": 1, "lvl": 2}))]);
    let err = startup::plan_linked(&plugins, &[], &bad_key)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `plugins.tuned.lvl`: unknown field `lvl`, expected `level`"),
        "{err}"
    );

    let bad_enabled = config_with(&[("tuned", serde_json::json!({"enabled": "yes", "level": 1}))]);
    let err = startup::plan_linked(&plugins, &[], &bad_enabled)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `plugins.tuned.enabled`: expected `true` or `false`"),
        "{err}"
    );

    let missing_required = Config::default();
    let err = startup::plan_linked(&plugins, &[], &missing_required)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `plugins.tuned.level`: missing (required)"),
        "{err}"
    );

    let good = config_with(&[("tuned", serde_json::json!({"level": 3}))]);
    let plan = startup::plan_linked(&plugins, &[], &good).unwrap();
    assert_eq!(
        plan.settings["tuned"].settings,
        serde_json::json!({"level": 3})
    );
}

// ---- configuration loading ----

fn env(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_without_file_or_env() {
    let config = Config::load(&Sources {
        env: env(&[]),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8000");
    assert_eq!(config.database_url, "sqlite://flovyn.db?mode=rwc");
    assert_eq!(config.admin_token, None);
}

#[test]
fn file_then_env_then_flags() {
    let f = file(
        "listen = \"127.0.0.1:9000\"\nadmin_token = \"from-file\"\n[plugins.hello]\nenabled = true\n",
    );
    let sources = Sources {
        file: Some(f.path().to_owned()),
        env: env(&[
            ("FLOVYN_ADMIN_TOKEN", "from-env"),
            ("FLOVYN_PLUGINS__HELLO__ENABLED", "false"),
            ("FLOVYN_PLUGINS__WORKER_TOKEN__ENABLED", "false"),
            ("DATABASE_URL", "postgres://db/flovyn"),
            ("FLOVYN_HTTP__BODY_LIMIT_BYTES", "1024"),
        ]),
        listen: Some("127.0.0.1:9100".parse().unwrap()),
    };
    let config = Config::load(&sources).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(config.admin_token.as_deref(), Some("from-env"));
    assert_eq!(config.database_url, "postgres://db/flovyn");
    assert_eq!(config.http.body_limit_bytes, 1024);
    assert_eq!(
        config.plugins["hello"],
        serde_json::json!({"enabled": false})
    );
    assert_eq!(
        config.plugins["worker-token"],
        serde_json::json!({"enabled": false})
    );
}

/// Loads `f` as the config file, with an empty environment.
fn load_file(f: &tempfile::NamedTempFile) -> Result<Config, ConfigError> {
    Config::load(&Sources {
        file: Some(f.path().to_owned()),
        env: env(&[]),
        ..Sources::default()
    })
}

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    let f = file("listne = \"127.0.0.1:9000\"\n");
    let err = load_file(&f).unwrap_err().to_string();
    assert!(err.contains("unknown key `listne`"), "{err}");
    assert!(
        err.contains(&f.path().display().to_string()),
        "names the file: {err}"
    );

    let f = file("[http]\nbody_limit_bytes = \"lots\"\n");
    let err = load_file(&f).unwrap_err().to_string();
    assert!(err.contains("key `http.body_limit_bytes`"), "{err}");

    let err = Config::load(&Sources {
        env: env(&[("FLOVYN_LISTEN", "not an address")]),
        ..Sources::default()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "invalid configuration: key `listen`: invalid socket address syntax (from `FLOVYN_LISTEN`)"
    );

    // `--listen` wins over `FLOVYN_LISTEN`, but does not hide a broken one.
    let err = Config::load(&Sources {
        env: env(&[("FLOVYN_LISTEN", "not an address")]),
        listen: Some("127.0.0.1:9001".parse().unwrap()),
        ..Sources::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("(from `FLOVYN_LISTEN`: `not an address`, which `--listen` overrides)"),
        "{err}"
    );
    let config = Config::load(&Sources {
        env: env(&[("FLOVYN_LISTEN", "127.0.0.1:9002")]),
        listen: Some("127.0.0.1:9001".parse().unwrap()),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(config.listen.port(), 9001);

    // A log filter that does not parse stops start-up, naming where it came from.
    let err = Config::load(&Sources {
        env: env(&[("FLOVYN_LOG", "flovyn_server=loud")]),
        ..Sources::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("key `log`"), "{err}");
    assert!(
        err.contains("`flovyn_server=loud` is not a log filter"),
        "{err}"
    );
    assert!(err.contains("(from `FLOVYN_LOG`)"), "{err}");

    let f = file("[database]\nacquire_timeout_secs = 0\n");
    let err = load_file(&f).unwrap_err().to_string();
    assert!(err.contains("key `database.acquire_timeout_secs`"), "{err}");
    assert!(err.contains("expected a positive number, found 0"), "{err}");
}

#[test]
fn a_named_config_file_must_exist() {
    let err = Config::load(&Sources {
        env: env(&[("FLOVYN_CONFIG", "/nonexistent/flovyn.toml")]),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::MissingFile(_)));
    assert_eq!(
        err.to_string(),
        "config file `/nonexistent/flovyn.toml` does not exist"
    );
}
