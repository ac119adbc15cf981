//! The `_plugin_migrations` ledger: its table, reading it and recording a row, and the
//! RFC 3339 timestamps it stores.
//!
//! Timestamps are TEXT in both databases: sqlx's `Any` driver decodes no date/time types,
//! and RFC 3339 UTC text sorts chronologically and reads the same everywhere.

use sqlx::{AnyConnection, Row};

use super::AppliedMigration;

/// The ledger table. Created before anything else, outside the versioned core migrations,
/// because those are recorded in it.
pub(super) const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS _plugin_migrations (
    plugin TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    execution_ms BIGINT NOT NULL,
    PRIMARY KEY (plugin, version)
)";

const SELECT_ALL: &str = "SELECT plugin, version, name, checksum, applied_at, execution_ms \
                          FROM _plugin_migrations ORDER BY plugin, version";

const SELECT_CHECKSUM: &str =
    "SELECT checksum FROM _plugin_migrations WHERE plugin = $1 AND version = $2";

const INSERT: &str = "INSERT INTO _plugin_migrations \
                      (plugin, version, name, checksum, applied_at, execution_ms) \
                      VALUES ($1, $2, $3, $4, $5, $6)";

/// Every row, ordered by plugin (byte order, whatever the database's collation) and version.
pub(super) async fn read_all(
    conn: &mut AnyConnection,
) -> Result<Vec<AppliedMigration>, sqlx::Error> {
    let mut ledger: Vec<AppliedMigration> = sqlx::query_as(SELECT_ALL).fetch_all(conn).await?;
    ledger.sort_by(|a, b| (a.plugin.as_str(), a.version).cmp(&(b.plugin.as_str(), b.version)));
    Ok(ledger)
}

/// The checksum recorded for (plugin, version), if that migration is applied.
pub(super) async fn checksum_of(
    conn: &mut AnyConnection,
    plugin: &str,
    version: u32,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(SELECT_CHECKSUM)
        .bind(plugin)
        .bind(i64::from(version))
        .fetch_optional(conn)
        .await?;
    row.map(|row| row.try_get::<String, _>(0)).transpose()
}

/// Records one applied migration (inside the migration's own transaction).
pub(super) async fn insert(
    conn: &mut AnyConnection,
    row: &AppliedMigration,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(row.plugin.as_str())
        .bind(i64::from(row.version))
        .bind(row.name.as_str())
        .bind(row.checksum.as_str())
        .bind(row.applied_at.as_str())
        .bind(row.execution_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Now, as RFC 3339 UTC with milliseconds (see [`flovyn_sdk::time`]).
pub(crate) fn now_rfc3339() -> String {
    flovyn_sdk::time::now_rfc3339()
}
