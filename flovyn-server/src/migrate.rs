//! Migrations: the server's core tables, then each plugin's migrations in dependency order,
//! recorded in the `_plugin_migrations` ledger.

use flovyn_sdk::PluginDescriptor;

use crate::db::Database;

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    /// Plugin name.
    pub plugin: String,
    /// Migration version.
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

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Placeholder until migrations land.
    #[error("migrations are not implemented yet")]
    NotImplemented,
}

/// Applies the core migrations.
pub async fn run_core(db: &Database) -> Result<(), MigrateError> {
    let _ = db;
    Err(MigrateError::NotImplemented)
}

/// Applies the migrations of `plugins` (already in dependency order) that are not applied.
pub async fn run_plugins(
    db: &Database,
    plugins: &[&'static PluginDescriptor],
) -> Result<Vec<AppliedMigration>, MigrateError> {
    let _ = (db, plugins);
    Err(MigrateError::NotImplemented)
}

/// The whole ledger, ordered by plugin and version.
pub async fn applied(db: &Database) -> Result<Vec<AppliedMigration>, MigrateError> {
    let _ = db;
    Err(MigrateError::NotImplemented)
}
