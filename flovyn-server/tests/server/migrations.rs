//! Core and plugin migrations, each scenario on SQLite (a temp file) and on a real
//! PostgreSQL: what a user sees — ledger rows, tables, error messages — and the locking that
//! lets several servers start on one database.
//!
//! Well-behaved test plugins are declared with the real macros (they register in this test
//! binary's registry, like any linked plugin). Variants that must not run elsewhere — an
//! edited migration, a failing one, a removed one — are plain descriptors built here and
//! passed explicitly, so no other test that migrates "every registered plugin" trips on
//! them.

use std::time::Duration;

use flovyn_sdk::descriptor::Migration;
use flovyn_sdk::prelude::*;
use flovyn_sdk::{Dialect, Plugin, PluginDescriptor};
use flovyn_server::store::db::Database;
use flovyn_server::store::migrate::{
    self, AppliedMigration, CORE, DEFAULT_TENANT_ID, MIGRATION_LOCK_KEY, MigrateError,
    MigrationLock,
};
use sqlx::Row;

use crate::support::db::{TestDb, on_both_databases};

/// Two tables, the first referencing the core `tenant` table, the second a multi-statement
/// migration (table, index, a row) — `raw_sql` must run all of it.
#[flovyn_plugin(name = "mig-ok")]
#[migration(
    1,
    "create_a",
    sql = "CREATE TABLE p_mig_ok__a (id BIGINT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenant(id))"
)]
#[migration(
    2,
    "create_b",
    sql = "CREATE TABLE p_mig_ok__b (id BIGINT PRIMARY KEY, a BIGINT REFERENCES p_mig_ok__a(id));
           CREATE INDEX p_mig_ok__b_by_a ON p_mig_ok__b (a);
           INSERT INTO p_mig_ok__a (id, tenant_id) VALUES (1, 'default');"
)]
#[derive(Default)]
pub struct MigOk;

/// Enough migrations that concurrent runs would collide if the locking were wrong.
#[flovyn_plugin(name = "mig-many")]
#[migration(1, "one", sql = "CREATE TABLE p_mig_many__t1 (id BIGINT PRIMARY KEY)")]
#[migration(2, "two", sql = "CREATE TABLE p_mig_many__t2 (id BIGINT PRIMARY KEY)")]
#[migration(3, "three", sql = "INSERT INTO p_mig_many__t1 (id) VALUES (3)")]
#[migration(4, "four", sql = "INSERT INTO p_mig_many__t2 (id) VALUES (4)")]
#[migration(5, "five", sql = "CREATE TABLE p_mig_many__t5 (id BIGINT PRIMARY KEY)")]
#[migration(6, "six", sql = "INSERT INTO p_mig_many__t5 (id) VALUES (6)")]
#[derive(Default)]
pub struct MigMany;

fn mig_ok() -> &'static PluginDescriptor {
    <MigOk as Plugin>::descriptor()
}

fn mig_many() -> &'static PluginDescriptor {
    <MigMany as Plugin>::descriptor()
}

/// A descriptor with the given migrations (same SQL on both databases) and no code behind
/// it. Leaked: the server holds descriptors as `'static`, and a test process is short.
fn plugin(
    name: &'static str,
    migrations: &[(u32, &'static str, &'static str)],
) -> &'static PluginDescriptor {
    let mut descriptor = PluginDescriptor::new(name, "0.1.0");
    descriptor.migrations = migrations
        .iter()
        .map(|&(version, name, sql)| Migration {
            version,
            name: name.to_owned(),
            postgres: sql.to_owned(),
            sqlite: sql.to_owned(),
        })
        .collect();
    Box::leak(Box::new(descriptor))
}

on_both_databases!(
    core_migrations_are_idempotent_and_create_the_default_tenant,
    plugin_migrations_apply_once,
    failing_migration_leaves_nothing_behind,
    edited_migration_is_refused_before_any_sql_runs,
    removed_migration_is_refused,
    new_migration_below_an_applied_one_is_refused,
    naming_rules_are_rechecked_at_run_time,
    concurrent_runs_apply_each_migration_once,
);

async fn ledger(db: &Database) -> Vec<AppliedMigration> {
    migrate::applied(db).await.unwrap_or_else(|e| panic!("{e}"))
}

/// (plugin, version) of every ledger row.
async fn ledger_keys(db: &Database) -> Vec<(String, u32)> {
    ledger(db)
        .await
        .into_iter()
        .map(|row| (row.plugin, row.version))
        .collect()
}

fn key(plugin: &str, version: u32) -> (String, u32) {
    (plugin.to_owned(), version)
}

async fn table_exists(db: &Database, table: &str) -> bool {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let count: i64 = sqlx::query(sql)
        .bind(table)
        .fetch_one(db.pool())
        .await
        .and_then(|row| row.try_get(0))
        .unwrap();
    count == 1
}

fn is_rfc3339_utc(s: &str) -> bool {
    // 2025-01-31T08:15:02.120Z
    let b = s.as_bytes();
    s.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && s.ends_with('Z')
}

async fn core_migrations_are_idempotent_and_create_the_default_tenant(t: TestDb) {
    let db = t.connect().await;
    for _ in 0..3 {
        migrate::run_core(&db).await.unwrap();
    }
    // A second server process (pool) finds nothing to do either.
    migrate::run_core(&t.connect().await).await.unwrap();

    let rows = ledger(&db).await;
    assert_eq!(rows.len(), migrate::core_migrations().len(), "{rows:?}");
    let first = &rows[0];
    assert_eq!((first.plugin.as_str(), first.version), (CORE, 1));
    assert_eq!(first.name, "create_tenant");
    assert_eq!(
        first.checksum,
        migrate::core_migrations()[0].checksum(db.dialect())
    );
    assert!(is_rfc3339_utc(&first.applied_at), "{}", first.applied_at);
    assert!(first.execution_ms >= 0);

    let tenants = sqlx::query("SELECT id, name, created_at FROM tenant")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(tenants.len(), 1);
    let id: String = tenants[0].try_get("id").unwrap();
    let name: String = tenants[0].try_get("name").unwrap();
    let created_at: String = tenants[0].try_get("created_at").unwrap();
    assert_eq!((id.as_str(), name.as_str()), (DEFAULT_TENANT_ID, "default"));
    assert!(is_rfc3339_utc(&created_at), "{created_at}");

    // The default tenant is ensured on every start, not only by the first migration.
    sqlx::query("DELETE FROM tenant")
        .execute(db.pool())
        .await
        .unwrap();
    migrate::run_core(&db).await.unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM tenant WHERE id = 'default'")
        .fetch_one(db.pool())
        .await
        .and_then(|row| row.try_get(0))
        .unwrap();
    assert_eq!(count, 1);
}

async fn plugin_migrations_apply_once(t: TestDb) {
    let db = t.ready().await;
    let applied = migrate::run_plugins(&db, &[mig_ok()]).await.unwrap();
    let dialect = db.dialect();
    assert_eq!(
        applied
            .iter()
            .map(|row| (row.plugin.as_str(), row.version, row.name.as_str()))
            .collect::<Vec<_>>(),
        [("mig-ok", 1, "create_a"), ("mig-ok", 2, "create_b")]
    );
    for (row, migration) in applied.iter().zip(&mig_ok().migrations) {
        assert_eq!(row.checksum, migration.checksum(dialect));
        assert!(is_rfc3339_utc(&row.applied_at), "{}", row.applied_at);
    }
    // Every statement of the multi-statement migration ran.
    assert!(table_exists(&db, "p_mig_ok__a").await);
    assert!(table_exists(&db, "p_mig_ok__b").await);
    sqlx::query("INSERT INTO p_mig_ok__b (id, a) VALUES (7, 1)")
        .execute(db.pool())
        .await
        .unwrap();

    // A restart, and a second server, apply nothing.
    assert_eq!(migrate::run_plugins(&db, &[mig_ok()]).await.unwrap(), []);
    let other = t.ready().await;
    assert_eq!(migrate::run_plugins(&other, &[mig_ok()]).await.unwrap(), []);

    // The ledger is what the first run reported, after the core rows.
    let rows = ledger(&db).await;
    assert_eq!(rows[0].plugin, CORE);
    let plugin_rows: Vec<_> = rows.into_iter().filter(|row| row.plugin != CORE).collect();
    assert_eq!(plugin_rows, applied);
}

async fn failing_migration_leaves_nothing_behind(t: TestDb) {
    let db = t.ready().await;
    let failing = plugin(
        "mig-fail",
        &[
            (
                1,
                "create_ok",
                "CREATE TABLE p_mig_fail__ok (id BIGINT PRIMARY KEY)",
            ),
            (
                2,
                "create_x",
                // The first statement succeeds, the second fails at run time.
                "CREATE TABLE p_mig_fail__x (id BIGINT PRIMARY KEY);
                 INSERT INTO p_mig_fail__missing (id) VALUES (1);",
            ),
            (
                3,
                "create_y",
                "CREATE TABLE p_mig_fail__y (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    let err = migrate::run_plugins(&db, &[failing]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, MigrateError::Failed { version: 2, .. }),
        "{err:?}"
    );
    for expected in ["mig-fail", "v2", "create_x", "p_mig_fail__missing"] {
        assert!(text.contains(expected), "`{expected}` missing from: {text}");
    }
    let database_says = match db.dialect() {
        Dialect::Sqlite => "no such table",
        Dialect::Postgres => "does not exist",
    };
    assert!(text.contains(database_says), "{text}");

    // v1 stays applied; v2 left no table and no row; v3 never ran.
    assert!(table_exists(&db, "p_mig_fail__ok").await);
    assert!(!table_exists(&db, "p_mig_fail__x").await);
    assert!(!table_exists(&db, "p_mig_fail__y").await);
    let keys = ledger_keys(&db).await;
    assert!(keys.contains(&key("mig-fail", 1)), "{keys:?}");
    assert!(!keys.contains(&key("mig-fail", 2)), "{keys:?}");
    assert!(!keys.contains(&key("mig-fail", 3)), "{keys:?}");

    // The lock did not outlive the failure: another session takes it at once…
    if db.dialect() == Dialect::Postgres {
        assert!(
            try_migration_lock(&t.url).await,
            "the migration lock is still held"
        );
    }
    // …and a fixed plugin migrates on the same pool.
    let fixed = plugin(
        "mig-fail",
        &[
            (
                1,
                "create_ok",
                "CREATE TABLE p_mig_fail__ok (id BIGINT PRIMARY KEY)",
            ),
            (
                2,
                "create_x",
                "CREATE TABLE p_mig_fail__x (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    let applied = migrate::run_plugins(&db, &[fixed]).await.unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].version, 2);
}

async fn edited_migration_is_refused_before_any_sql_runs(t: TestDb) {
    let db = t.ready().await;
    let original = plugin(
        "mig-edit",
        &[(
            1,
            "create_t",
            "CREATE TABLE p_mig_edit__t (id BIGINT PRIMARY KEY)",
        )],
    );
    migrate::run_plugins(&db, &[original]).await.unwrap();

    // One comment added to the applied migration, and a new migration after it.
    let edited = plugin(
        "mig-edit",
        &[
            (
                1,
                "create_t",
                "CREATE TABLE p_mig_edit__t (id BIGINT PRIMARY KEY) -- why",
            ),
            (
                2,
                "create_u",
                "CREATE TABLE p_mig_edit__u (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    // mig-ok comes first and is fine: it must not run either, the check precedes all SQL.
    let err = migrate::run_plugins(&db, &[mig_ok(), edited])
        .await
        .unwrap_err();
    let dialect = db.dialect();
    let was = original.migrations[0].checksum(dialect);
    let now = edited.migrations[0].checksum(dialect);
    let text = err.to_string();
    for expected in ["mig-edit", "v1", "create_t", was.as_str(), now.as_str()] {
        assert!(text.contains(expected), "`{expected}` missing from: {text}");
    }
    assert!(
        matches!(err, MigrateError::Edited { version: 1, .. }),
        "{err:?}"
    );

    assert!(!table_exists(&db, "p_mig_edit__u").await);
    assert!(!table_exists(&db, "p_mig_ok__a").await);
    let rows = ledger(&db).await;
    let edit_rows: Vec<_> = rows.iter().filter(|row| row.plugin == "mig-edit").collect();
    assert_eq!(edit_rows.len(), 1);
    assert_eq!(edit_rows[0].checksum, was);
    assert!(!rows.iter().any(|row| row.plugin == "mig-ok"));

    // Refused on every start, not only the first.
    assert!(matches!(
        migrate::run_plugins(&db, &[edited]).await,
        Err(MigrateError::Edited { .. })
    ));
}

async fn removed_migration_is_refused(t: TestDb) {
    let db = t.ready().await;
    let full = plugin(
        "mig-gone",
        &[
            (
                1,
                "create_t",
                "CREATE TABLE p_mig_gone__t (id BIGINT PRIMARY KEY)",
            ),
            (
                2,
                "create_u",
                "CREATE TABLE p_mig_gone__u (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    migrate::run_plugins(&db, &[full]).await.unwrap();

    let shrunk = plugin(
        "mig-gone",
        &[
            (
                1,
                "create_t",
                "CREATE TABLE p_mig_gone__t (id BIGINT PRIMARY KEY)",
            ),
            (
                3,
                "create_v",
                "CREATE TABLE p_mig_gone__v (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    let err = migrate::run_plugins(&db, &[shrunk]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, MigrateError::Vanished { version: 2, .. }),
        "{err:?}"
    );
    for expected in ["mig-gone", "v2", "create_u", "no longer has it"] {
        assert!(text.contains(expected), "`{expected}` missing from: {text}");
    }
    assert!(!table_exists(&db, "p_mig_gone__v").await);
    assert!(!ledger_keys(&db).await.contains(&key("mig-gone", 3)));
}

async fn new_migration_below_an_applied_one_is_refused(t: TestDb) {
    let db = t.ready().await;
    let first = plugin(
        "mig-order",
        &[
            (
                1,
                "create_t",
                "CREATE TABLE p_mig_order__t (id BIGINT PRIMARY KEY)",
            ),
            (
                3,
                "create_v",
                "CREATE TABLE p_mig_order__v (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    migrate::run_plugins(&db, &[first]).await.unwrap();
    let inserted = plugin(
        "mig-order",
        &[
            (
                1,
                "create_t",
                "CREATE TABLE p_mig_order__t (id BIGINT PRIMARY KEY)",
            ),
            (
                2,
                "create_u",
                "CREATE TABLE p_mig_order__u (id BIGINT PRIMARY KEY)",
            ),
            (
                3,
                "create_v",
                "CREATE TABLE p_mig_order__v (id BIGINT PRIMARY KEY)",
            ),
        ],
    );
    let err = migrate::run_plugins(&db, &[inserted]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            MigrateError::OutOfOrder {
                version: 2,
                latest_applied: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("mig-order") && text.contains("create_u"),
        "{text}"
    );
    assert!(!table_exists(&db, "p_mig_order__u").await);
}

async fn naming_rules_are_rechecked_at_run_time(t: TestDb) {
    let db = t.ready().await;
    // The macros would reject this at compile time; a hand-made descriptor (or a future
    // out-of-process plugin) must still be stopped by the server.
    let rogue = plugin(
        "mig-rogue",
        &[
            (
                1,
                "create_own",
                "CREATE TABLE p_mig_rogue__own (id BIGINT PRIMARY KEY)",
            ),
            (
                2,
                "create_tokens",
                "CREATE TABLE tokens (id TEXT PRIMARY KEY)",
            ),
        ],
    );
    let err = migrate::run_plugins(&db, &[rogue]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, MigrateError::Naming { version: 2, .. }),
        "{err:?}"
    );
    for expected in [
        "mig-rogue",
        "v2",
        "create_tokens",
        "tokens",
        "p_mig_rogue__tokens",
    ] {
        assert!(text.contains(expected), "`{expected}` missing from: {text}");
    }
    // Checked before any SQL: not even the valid v1 ran.
    assert!(!table_exists(&db, "p_mig_rogue__own").await);
    assert!(!table_exists(&db, "tokens").await);
    assert!(
        !ledger_keys(&db)
            .await
            .iter()
            .any(|(plugin, _)| plugin == "mig-rogue")
    );
}

/// Four servers (pools) start on one database at once: core and plugin migrations each
/// applied exactly once, and nobody fails.
async fn concurrent_runs_apply_each_migration_once(t: TestDb) {
    const SERVERS: usize = 4;
    let url = t.url.clone();
    let mut handles = Vec::new();
    for _ in 0..SERVERS {
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let db = Database::connect(&url).await.map_err(|e| e.to_string())?;
            migrate::run_core(&db).await.map_err(|e| e.to_string())?;
            migrate::run_plugins(&db, &[mig_ok(), mig_many()])
                .await
                .map_err(|e| e.to_string())
        }));
    }
    let mut applied = Vec::new();
    for handle in handles {
        applied.extend(handle.await.unwrap().unwrap_or_else(|e| panic!("{e}")));
    }
    let expected: Vec<(String, u32)> = [mig_ok(), mig_many()]
        .iter()
        .flat_map(|p| p.migrations.iter().map(|m| key(&p.name, m.version)))
        .collect();
    let mut reported: Vec<(String, u32)> = applied
        .into_iter()
        .map(|row| (row.plugin, row.version))
        .collect();
    reported.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(
        reported, sorted_expected,
        "each migration reported applied once"
    );

    let db = t.connect().await;
    let keys: Vec<_> = ledger_keys(&db)
        .await
        .into_iter()
        .filter(|(plugin, _)| plugin != CORE)
        .collect();
    assert_eq!(keys, sorted_expected);
    let core_rows = ledger_keys(&db)
        .await
        .into_iter()
        .filter(|(p, _)| p == CORE)
        .count();
    assert_eq!(core_rows, migrate::core_migrations().len());
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM p_mig_many__t1")
        .fetch_one(db.pool())
        .await
        .and_then(|row| row.try_get(0))
        .unwrap();
    assert_eq!(rows, 1, "the data migration ran once");
    let tenants: i64 = sqlx::query("SELECT COUNT(*) FROM tenant")
        .fetch_one(db.pool())
        .await
        .and_then(|row| row.try_get(0))
        .unwrap();
    assert_eq!(tenants, 1);
}

/// Whether a new session can take the migration lock right now (and releases it again).
async fn try_migration_lock(url: &str) -> bool {
    use sqlx::Connection as _;
    let mut conn = sqlx::postgres::PgConnection::connect(url).await.unwrap();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    if got {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    got
}

/// While one server holds the lock, another's migrations wait; they go ahead once it is
/// released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_serializes_migrating_servers() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let db = t.ready().await;
    let lock = MigrationLock::acquire(&db).await.unwrap();
    assert!(!try_migration_lock(&t.url).await);

    let other = t.connect().await;
    let waiting = tokio::spawn(async move { migrate::run_plugins(&other, &[mig_ok()]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "ran while another server held the lock"
    );
    assert!(!table_exists(&db, "p_mig_ok__a").await);

    lock.release().await;
    let applied = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("still waiting after the lock was released")
        .unwrap()
        .unwrap();
    assert_eq!(applied.len(), 2);
    assert!(try_migration_lock(&t.url).await);
}

/// A lock guard dropped without `release` (a panic, a cancelled start-up) still frees the
/// lock: its connection is closed rather than returned to the pool holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_is_freed_when_its_guard_is_dropped() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let db = t.ready().await;

    let lock = MigrationLock::acquire(&db).await.unwrap();
    assert!(!try_migration_lock(&t.url).await);
    drop(lock);
    // The server notices the closed socket asynchronously: allow it a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !try_migration_lock(&t.url).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lock still held 5 s after its guard was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A panic inside a task holding the lock: same.
    let db2 = db.clone();
    let panicked = tokio::spawn(async move {
        let _lock = MigrationLock::acquire(&db2).await.unwrap();
        panic!("start-up failed while holding the lock");
    })
    .await;
    assert!(panicked.is_err());
    let applied = tokio::time::timeout(
        Duration::from_secs(10),
        migrate::run_plugins(&db, &[mig_ok()]),
    )
    .await
    .expect("blocked by a lock whose holder panicked")
    .unwrap();
    assert_eq!(applied.len(), 2);
}
