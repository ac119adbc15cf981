//! Migrations: the server's core tables, then each plugin's migrations in dependency order,
//! recorded in the `_plugin_migrations` ledger.
//!
//! This module owns the ledger (its table, rows and checksums), the core migrations, the
//! lock that keeps replicas from migrating at the same time, and the run-time re-check of
//! the SQL naming rules. It does not decide the plugin order (the caller passes plugins in
//! dependency order) and builds nothing else.
//!
//! A run goes:
//! 1. take the migration lock ([`MigrationLock`]: a PostgreSQL advisory lock; on SQLite
//!    only a connection) and create the ledger table if missing;
//! 2. read the ledger *after* taking the lock and verify, before any SQL runs: every
//!    applied row still exists in its plugin with the same checksum, no new migration sits
//!    below an applied version, and every pending migration passes the naming rules;
//! 3. apply each pending migration in order, each in one transaction together with its
//!    ledger row (SQLite: `BEGIN IMMEDIATE`, then re-check the ledger inside the
//!    transaction, since another process may have applied it meanwhile);
//! 4. release the lock, on success and on error.
//!
//! Core migrations are recorded in the same ledger under the plugin name [`CORE`] (`_core`
//! cannot be a plugin name: plugin names start with a letter) and go through the same
//! checks. Add a core migration by appending a new version to [`core_migrations`]; never
//! edit an applied one.

mod ledger;
mod lock;

use std::fmt;
use std::time::Instant;

use flovyn_naming::sql::SqlViolation;
use flovyn_sdk::Dialect;
use flovyn_sdk::descriptor::{Migration, PluginDescriptor};
use sqlx::{AnyConnection, Connection};

use crate::store::db::Database;

pub use lock::{MIGRATION_LOCK_KEY, MigrationLock};

/// The ledger's plugin name for the server's own (core) migrations.
pub const CORE: &str = "_core";

/// The id (and name) of the tenant every database has from its first start.
pub const DEFAULT_TENANT_ID: &str = "default";

/// `tenant`: the core table every tenant-scoped plugin table may reference (`tenant(id)`).
/// `created_at` is RFC 3339 UTC text, like the ledger's `applied_at`.
const CREATE_TENANT: &str = "CREATE TABLE tenant (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
)";

/// `task_run`: the core table of task schedules and last results (the scheduler's).
pub const CREATE_TASK_RUN: &str = "CREATE TABLE task_run (
    plugin TEXT NOT NULL,
    task TEXT NOT NULL,
    next_due_ms BIGINT NOT NULL,
    last_started_at TEXT,
    last_finished_at TEXT,
    last_result TEXT,
    last_error TEXT,
    last_replica TEXT,
    PRIMARY KEY (plugin, task)
)";

static CORE_MIGRATIONS: std::sync::LazyLock<[Migration; 3]> = std::sync::LazyLock::new(|| {
    let core = |version: u32, name: &str, sql: &str| Migration {
        version,
        name: name.to_owned(),
        postgres: sql.to_owned(),
        sqlite: sql.to_owned(),
    };
    [
        core(1, "create_tenant", CREATE_TENANT),
        core(2, "create_task_run", CREATE_TASK_RUN),
        Migration {
            version: 3,
            name: "create_event_outbox".to_owned(),
            postgres: crate::events::outbox::create_outbox(Dialect::Postgres),
            sqlite: crate::events::outbox::create_outbox(Dialect::Sqlite),
        },
    ]
});

/// The server's own migrations, recorded under [`CORE`], in version order.
pub fn core_migrations() -> &'static [Migration] {
    &*CORE_MIGRATIONS
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct AppliedMigration {
    /// Plugin name ([`CORE`] for the server's own migrations).
    pub plugin: String,
    /// Migration version (stored as `BIGINT`; a value that is not a positive `u32` is a
    /// decoding error).
    #[sqlx(try_from = "i64")]
    pub version: u32,
    /// Migration name.
    pub name: String,
    /// SHA-256 of the SQL that ran.
    pub checksum: String,
    /// When it was applied (RFC 3339, UTC).
    pub applied_at: String,
    /// How long it took.
    pub execution_ms: i64,
}

/// Why migrating failed. Every variant but [`MigrateError::Database`] and
/// [`MigrateError::Failed`] is found before any migration SQL runs.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// An applied migration's SQL changed since it was applied.
    #[error(
        "migration {plugin} v{version} `{name}` was changed after it was applied: the ledger \
         records checksum {applied_checksum}, the plugin's {dialect} SQL now has checksum \
         {current_checksum}; restore the applied SQL and put the change in a new migration \
         (nothing was migrated)"
    )]
    Edited {
        /// Plugin name.
        plugin: &'static str,
        /// Migration version.
        version: u32,
        /// Migration name (as the plugin has it now).
        name: &'static str,
        /// The checksum in the ledger.
        applied_checksum: String,
        /// The checksum of the plugin's SQL now.
        current_checksum: String,
        /// Whose SQL was compared.
        dialect: Dialect,
    },
    /// The ledger records a migration the plugin no longer has.
    #[error(
        "migration {plugin} v{version} `{name}` is recorded as applied (at {applied_at}) but \
         the plugin no longer has it; restore it (nothing was migrated)"
    )]
    Vanished {
        /// Plugin name.
        plugin: &'static str,
        /// Migration version.
        version: u32,
        /// Migration name, as recorded.
        name: String,
        /// When it was applied.
        applied_at: String,
    },
    /// A migration that is not applied has a lower version than one that is.
    #[error(
        "migration {plugin} v{version} `{name}` is not applied but v{latest_applied} already \
         is: a new migration needs a version above every applied one (nothing was migrated)"
    )]
    OutOfOrder {
        /// Plugin name.
        plugin: &'static str,
        /// The new migration's version.
        version: u32,
        /// The new migration's name.
        name: &'static str,
        /// The highest applied version.
        latest_applied: u32,
    },
    /// A pending migration breaks the table naming rules (re-checked at run time; the
    /// macros check them at compile time too).
    #[error(
        "migration {plugin} v{version} `{name}` breaks the naming rules for {dialect}: {} \
         (nothing was migrated)",
        Violations(.violations)
    )]
    Naming {
        /// Plugin name.
        plugin: &'static str,
        /// Migration version.
        version: u32,
        /// Migration name.
        name: &'static str,
        /// Whose SQL was checked.
        dialect: Dialect,
        /// What is wrong.
        violations: Vec<SqlViolation>,
    },
    /// A migration's SQL (or its ledger row) failed; its transaction was rolled back.
    #[error(
        "migration {plugin} v{version} `{name}` failed on {dialect}: {message} (rolled back: \
         nothing of it was applied)"
    )]
    Failed {
        /// Plugin name.
        plugin: &'static str,
        /// Migration version.
        version: u32,
        /// Migration name.
        name: &'static str,
        /// Which database.
        dialect: Dialect,
        /// The database's message.
        message: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Talking to the database failed outside a migration (lock, ledger).
    #[error("cannot {action}: {source}")]
    Database {
        /// What was being done, e.g. `read the migration ledger`.
        action: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl MigrateError {
    fn db(action: &'static str, source: sqlx::Error) -> Self {
        Self::Database { action, source }
    }
}

/// `; `-separated violations, for [`MigrateError::Naming`].
struct Violations<'a>(&'a [SqlViolation]);

impl fmt::Display for Violations<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

/// Applies the core migrations and makes sure the default tenant exists. Idempotent.
pub async fn run_core(db: &Database) -> Result<(), MigrateError> {
    let mut lock = MigrationLock::acquire(db).await?;
    let result = run_core_locked(&mut lock, db.dialect()).await;
    lock.release().await;
    result
}

async fn run_core_locked(conn: &mut AnyConnection, dialect: Dialect) -> Result<(), MigrateError> {
    let owners = [Owner {
        name: CORE,
        migrations: core_migrations(),
        check_naming: false,
    }];
    run_locked(conn, dialect, &owners).await?;
    // Every start, not as a migration: a deleted default tenant comes back, and a tenant
    // that already took the name `default` is left alone.
    sqlx::query(
        "INSERT INTO tenant (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(DEFAULT_TENANT_ID)
    .bind(DEFAULT_TENANT_ID)
    .bind(ledger::now_rfc3339())
    .execute(&mut *conn)
    .await
    .map_err(|source| MigrateError::db("create the default tenant", source))?;
    Ok(())
}

/// Applies the migrations of `plugins` (already in dependency order) that are not applied,
/// and returns those this call applied (a migration another process applied meanwhile is
/// not among them). Nothing runs unless every plugin passes the checks (see the module
/// docs); a failing migration stops the run, keeping those applied before it.
pub async fn run_plugins(
    db: &Database,
    plugins: &[&'static PluginDescriptor],
) -> Result<Vec<AppliedMigration>, MigrateError> {
    let owners: Vec<Owner> = plugins
        .iter()
        .map(|plugin| Owner {
            name: &plugin.name,
            migrations: &plugin.migrations,
            check_naming: true,
        })
        .collect();
    let mut lock = MigrationLock::acquire(db).await?;
    let result = run_locked(&mut lock, db.dialect(), &owners).await;
    lock.release().await;
    result
}

/// The whole ledger (core migrations under [`CORE`] included), ordered by plugin and
/// version.
pub async fn applied(db: &Database) -> Result<Vec<AppliedMigration>, MigrateError> {
    let mut conn = db
        .pool()
        .acquire()
        .await
        .map_err(|source| MigrateError::db("take a connection", source))?;
    ledger::read_all(&mut conn)
        .await
        .map_err(|source| MigrateError::db("read the migration ledger", source))
}

/// Whose migrations: a plugin, or the server itself.
struct Owner {
    name: &'static str,
    migrations: &'static [Migration],
    /// Core tables are unprefixed, so the plugin naming rules do not apply to them.
    check_naming: bool,
}

/// Steps 2 and 3 of the module docs, on the connection that holds the lock.
async fn run_locked(
    conn: &mut AnyConnection,
    dialect: Dialect,
    owners: &[Owner],
) -> Result<Vec<AppliedMigration>, MigrateError> {
    sqlx::raw_sql(ledger::CREATE_LEDGER)
        .execute(&mut *conn)
        .await
        .map_err(|source| MigrateError::db("create the migration ledger", source))?;
    let applied = ledger::read_all(conn)
        .await
        .map_err(|source| MigrateError::db("read the migration ledger", source))?;

    let mut pending = Vec::new();
    for owner in owners {
        pending.extend(
            verify(owner, &applied, dialect)?
                .into_iter()
                .map(|m| (owner.name, m)),
        );
    }

    let mut done = Vec::new();
    for (owner, migration) in pending {
        if let Some(row) = apply_one(conn, dialect, owner, migration).await? {
            tracing::info!(
                plugin = owner,
                version = row.version,
                name = %row.name,
                execution_ms = row.execution_ms,
                "applied migration"
            );
            done.push(row);
        }
    }
    Ok(done)
}

/// Checks `owner` against the ledger and returns its migrations that are not applied, in
/// version order. Runs no SQL.
fn verify(
    owner: &Owner,
    applied: &[AppliedMigration],
    dialect: Dialect,
) -> Result<Vec<&'static Migration>, MigrateError> {
    let mut migrations: Vec<&Migration> = owner.migrations.iter().collect();
    migrations.sort_by_key(|m| m.version);
    let applied: Vec<&AppliedMigration> = applied
        .iter()
        .filter(|row| row.plugin == owner.name)
        .collect();

    for row in &applied {
        let Some(migration) = migrations.iter().find(|m| m.version == row.version) else {
            return Err(MigrateError::Vanished {
                plugin: owner.name,
                version: row.version,
                name: row.name.clone(),
                applied_at: row.applied_at.clone(),
            });
        };
        let current = migration.checksum(dialect);
        if current != row.checksum {
            return Err(edited(
                owner.name,
                migration,
                &row.checksum,
                current,
                dialect,
            ));
        }
    }

    let latest_applied = applied.iter().map(|row| row.version).max();
    let pending: Vec<&Migration> = migrations
        .into_iter()
        .filter(|m| !applied.iter().any(|row| row.version == m.version))
        .collect();
    for migration in &pending {
        if let Some(latest) = latest_applied.filter(|&latest| latest > migration.version) {
            return Err(MigrateError::OutOfOrder {
                plugin: owner.name,
                version: migration.version,
                name: &migration.name,
                latest_applied: latest,
            });
        }
        if owner.check_naming {
            flovyn_naming::sql::check_migration(owner.name, migration.sql(dialect), dialect)
                .map_err(|violations| MigrateError::Naming {
                    plugin: owner.name,
                    version: migration.version,
                    name: &migration.name,
                    dialect,
                    violations,
                })?;
        }
    }
    Ok(pending)
}

fn edited(
    plugin: &'static str,
    migration: &'static Migration,
    applied_checksum: &str,
    current_checksum: String,
    dialect: Dialect,
) -> MigrateError {
    MigrateError::Edited {
        plugin,
        version: migration.version,
        name: &migration.name,
        applied_checksum: applied_checksum.to_owned(),
        current_checksum,
        dialect,
    }
}

/// Applies one migration and its ledger row in one transaction. `None` when the ledger
/// shows it applied by then (another process on the same SQLite file got there first).
async fn apply_one(
    conn: &mut AnyConnection,
    dialect: Dialect,
    owner: &'static str,
    migration: &'static Migration,
) -> Result<Option<AppliedMigration>, MigrateError> {
    // SQLite: IMMEDIATE takes the write lock now (waiting up to the busy timeout), so the
    // ledger re-check below and the migration see the same database. PostgreSQL: the
    // advisory lock already serializes migrating servers.
    let begun = match dialect {
        Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
        Dialect::Postgres => conn.begin().await,
    };
    let mut tx =
        begun.map_err(|source| MigrateError::db("begin a migration transaction", source))?;

    let checksum = migration.checksum(dialect);
    let recorded = ledger::checksum_of(&mut tx, owner, migration.version)
        .await
        .map_err(|source| MigrateError::db("read the migration ledger", source))?;
    if let Some(recorded) = recorded {
        let _ = tx.rollback().await;
        return if recorded == checksum {
            Ok(None)
        } else {
            Err(edited(owner, migration, &recorded, checksum, dialect))
        };
    }

    let failed = |source: sqlx::Error| MigrateError::Failed {
        plugin: owner,
        version: migration.version,
        name: &migration.name,
        dialect,
        message: database_message(&source),
        source,
    };
    let started = Instant::now();
    // A migration is several statements: `raw_sql` sends them unprepared in one go (the
    // simple query protocol on PostgreSQL), which `query` cannot.
    if let Err(source) = sqlx::raw_sql(migration.sql(dialect))
        .execute(&mut *tx)
        .await
    {
        let _ = tx.rollback().await;
        return Err(failed(source));
    }
    let row = AppliedMigration {
        plugin: owner.to_owned(),
        version: migration.version,
        name: migration.name.to_owned(),
        checksum,
        applied_at: ledger::now_rfc3339(),
        execution_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    if let Err(source) = ledger::insert(&mut tx, &row).await {
        let _ = tx.rollback().await;
        return Err(failed(source));
    }
    // Deferred constraints are checked at commit, so a commit failure is the migration's.
    tx.commit().await.map_err(failed)?;
    Ok(Some(row))
}

/// The database's own message (`relation "x" does not exist`) rather than sqlx's wrapping.
fn database_message(err: &sqlx::Error) -> String {
    match err.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sqlite::memory:` has one connection: the run must not need a second one.
    #[tokio::test]
    async fn migrates_an_in_memory_database() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        run_core(&db).await.unwrap();
        run_core(&db).await.unwrap();
        assert_eq!(run_plugins(&db, &[]).await.unwrap(), []);
        let ledger = applied(&db).await.unwrap();
        assert_eq!(ledger.len(), core_migrations().len());
        assert_eq!(ledger[0].plugin, CORE);
    }

    #[test]
    fn core_migrations_are_in_version_order() {
        let versions: Vec<u32> = core_migrations().iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(versions.first(), Some(&1));
    }
}
