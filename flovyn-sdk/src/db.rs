//! The database a plugin reaches through its [`PluginContext`](crate::PluginContext): the
//! server's pool (SQLite or PostgreSQL, through sqlx's `Any` driver) and which of the two
//! it is. A plugin touches only its own `p_<plugin>__*` tables and the core tables it may
//! reference; its schema comes from its `#[migration]`s.
//!
//! `$1, $2…` placeholders work on both databases through `Any`. Timestamps are best stored
//! as RFC 3339 text or integers: the `Any` driver does not decode date/time types.

pub use sqlx;

use crate::Dialect;

/// A handle on the server's database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: sqlx::AnyPool,
    dialect: Dialect,
}

impl Database {
    /// Wraps a pool. Host API: the server does this, and tests that play the server.
    pub fn new(pool: sqlx::AnyPool, dialect: Dialect) -> Self {
        Self { pool, dialect }
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }

    /// SQLite or PostgreSQL.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}
