//! The database: one sqlx `AnyPool` for SQLite (the embedded default) or PostgreSQL, and
//! which of the two it is. Knows nothing about plugins.

use flovyn_sdk::Dialect;
use sqlx::AnyPool;

/// The default `DATABASE_URL`: a SQLite file `flovyn.db` in the working directory, created
/// if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://flovyn.db?mode=rwc";

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error("unsupported database URL `{0}`: use `sqlite://…` or `postgres://…`")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL without its password.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// A connected database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    dialect: Dialect,
}

impl Database {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let _ = url;
        Err(DbError::UnsupportedUrl("not implemented yet".to_owned()))
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}
