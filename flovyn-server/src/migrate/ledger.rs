//! The `_plugin_migrations` ledger: its table, reading it and recording a row, and the
//! RFC 3339 timestamps it stores.
//!
//! Timestamps are TEXT in both databases: sqlx's `Any` driver decodes no date/time types,
//! and RFC 3339 UTC text sorts chronologically and reads the same everywhere.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyRow;
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
    let rows = sqlx::query(SELECT_ALL).fetch_all(conn).await?;
    let mut ledger = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
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

fn decode(row: &AnyRow) -> Result<AppliedMigration, sqlx::Error> {
    let version: i64 = row.try_get("version")?;
    let version = u32::try_from(version).map_err(|_| {
        sqlx::Error::Decode(format!("ledger version {version} is not a positive u32").into())
    })?;
    Ok(AppliedMigration {
        plugin: row.try_get("plugin")?,
        version,
        name: row.try_get("name")?,
        checksum: row.try_get("checksum")?,
        applied_at: row.try_get("applied_at")?,
        execution_ms: row.try_get("execution_ms")?,
    })
}

/// Now, as RFC 3339 UTC with milliseconds: `2025-01-31T08:15:02.120Z`.
pub(crate) fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since_epoch.as_secs(), since_epoch.subsec_millis())
}

fn rfc3339(unix_secs: u64, millis: u32) -> String {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// (year, month, day) of the proleptic Gregorian calendar for days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`, for non-negative days). Saves a date crate for
/// one timestamp format.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(
            rfc3339(1_709_164_800 + 3723, 999),
            "2024-02-29T01:02:03.999Z"
        );
        assert_eq!(rfc3339(1_735_689_599, 0), "2024-12-31T23:59:59.000Z");
        assert_eq!(rfc3339(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn now_is_rfc3339_utc() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.as_str() > "2024-01-01", "{now}");
    }
}
