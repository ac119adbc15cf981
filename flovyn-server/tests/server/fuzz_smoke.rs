//! A few seconds of the `config_load` fuzz target on every test run (see
//! `flovyn-fuzz-smoke`); the coverage-guided run is `scripts/fuzz 300 config_load`.

#[path = "../../fuzz/checks/config_load.rs"]
mod config_load;

#[test]
fn config_load_smoke() {
    let seeds: &[&[u8]] = &[
        b"listen = \"127.0.0.1:9\"\n[http]\nbody_limit_bytes = 10\n\0HTTP__MAX_CONNECTIONS=3\nPLUGINS__WORKER_TOKEN__X=1\n",
        b"listen = \"127.0.0.1:8080\"\n[database]\nurl = \"sqlite::memory:\"\n",
        b"[plugins.hello]\nmode = \"process\"\ncommand = [\"hello-plugin\"]\noptional = true\n",
        b"[plugins.worker-token]\ndefault_expiry_days = 0\n\0PLUGINS__WORKER_TOKEN__DEFAULT_EXPIRY_DAYS=x\n",
        b"\0LOG=debug\nLISTEN=[::1]:1\nDATABASE_URL=postgres://x@/y\n",
        b"[http]\nheader_read_timeout = \"5s\"\nmax_connections = 18446744073709551616\n",
    ];
    let dictionary: &[&[u8]] = &[
        b"[plugins.",
        b"[http]\n",
        b"[database]\n",
        b" = ",
        b"\"",
        b"'''",
        b"\n",
        b"\0",
        b"__",
        b"PLUGINS__",
        b"-1",
        b"1e400",
        b"inf",
        b"\"30s\"",
        b"{ a = 1 }",
        b"[[x]]",
    ];
    let report = flovyn_fuzz_smoke::run("config_load", seeds, dictionary, config_load::check);
    assert!(report.inputs > seeds.len() as u64, "{report:?}");
    // The check writes its config file in a directory of its own per process.
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("flovyn-config-fuzz-{}", std::process::id())),
    );
}
