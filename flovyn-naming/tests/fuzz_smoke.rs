//! A few seconds of each flovyn-naming fuzz target on every test run (see
//! `flovyn-fuzz-smoke`); the coverage-guided runs are `scripts/fuzz`.

#[path = "../fuzz/checks/check_migration.rs"]
mod check_migration;
#[path = "../fuzz/checks/route_path.rs"]
mod route_path;

#[test]
fn route_path_smoke() {
    let seeds: &[&[u8]] = &[
        b"/",
        b"/tokens",
        b"/tokens/{id}",
        b"/tokens/{id}/uses",
        b"/a-b_c/{x}/{y}",
        b"//",
        b"/{*rest}",
        b"/tokens/",
        b"/caf\xc3\xa9/{\xc3\xa9}",
    ];
    let dictionary: &[&[u8]] = &[
        b"{",
        b"}",
        b"/",
        b"{id}",
        b"{*",
        b"::",
        b"%2F",
        b"\xc3\xa9",
        b"..",
    ];
    let report = flovyn_fuzz_smoke::run("route_path", seeds, dictionary, route_path::check);
    assert!(report.inputs > seeds.len() as u64, "{report:?}");
}

#[test]
fn check_migration_smoke() {
    let seeds: &[&[u8]] = &[
        include_bytes!("../../example-plugins/worker-token/migrations/001_create_tokens.sql"),
        include_bytes!("../../example-plugins/audit-log/migrations/001_create_events.postgres.sql"),
        include_bytes!("../../example-plugins/audit-log/migrations/001_create_events.sqlite.sql"),
        include_bytes!("../../example-plugins/audit-log/migrations/002_event_ids.sql"),
        include_bytes!("../../example-plugins/hello/migrations/001_create_greetings.sql"),
        b"ALTER TABLE p_worker_token__tokens RENAME TO tenant;",
        b"DROP TABLE public.\"p_worker_token__T\"; CREATE INDEX i ON `p_worker_token__x` (a);",
        b"INSERT INTO p_worker_token__tokens SELECT * FROM tenant;",
    ];
    let dictionary: &[&[u8]] = &[
        b"CREATE TABLE ",
        b"CREATE INDEX i ON ",
        b"ALTER TABLE ",
        b" RENAME TO ",
        b"DROP TABLE ",
        b"p_worker_token__",
        b"p_other__t",
        b"tenant",
        b"\"",
        b"`",
        b"[",
        b"(",
        b";",
        b"--",
        b"/*",
        b"$$",
        b"WITH RECURSIVE ",
        b"SELECT ",
    ];
    let report =
        flovyn_fuzz_smoke::run("check_migration", seeds, dictionary, check_migration::check);
    assert!(report.inputs > seeds.len() as u64, "{report:?}");
}
