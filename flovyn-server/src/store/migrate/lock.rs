//! The migration lock: one connection that a migration run uses from start to end, holding
//! a PostgreSQL session-level advisory lock while it does.
//!
//! PostgreSQL: `pg_advisory_lock(MIGRATION_LOCK_KEY)` on a connection taken out of the pool
//! for the run, so replicas starting together migrate one after the other, each re-reading
//! the ledger once it holds the lock. A session lock outlives transactions, so the lock is
//! released explicitly ([`MigrationLock::release`]) on every normal path, success or error;
//! if the guard is dropped without that (a panic, a cancelled future) the connection is
//! detached from the pool and closed, which ends the session and with it the lock — it must
//! never go back to the pool still holding the lock.
//!
//! SQLite has no advisory locks: there the "lock" is only the run's connection, and each
//! migration takes the database's write lock itself with `BEGIN IMMEDIATE`.

use std::ops::{Deref, DerefMut};

use flovyn_sdk::Dialect;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Row};

use super::MigrateError;
use crate::store::db::Database;

/// The advisory lock key every Flovyn server takes while migrating a PostgreSQL database
/// (`"flovyn-m"` as big-endian bytes). Other tools must not use it.
pub const MIGRATION_LOCK_KEY: i64 = i64::from_be_bytes(*b"flovyn-m");

/// The connection a migration run uses, holding the migration lock on PostgreSQL.
#[derive(Debug)]
pub struct MigrationLock {
    conn: Option<PoolConnection<Any>>,
    dialect: Dialect,
}

impl MigrationLock {
    /// Takes a connection from the pool and, on PostgreSQL, waits for the advisory lock.
    pub async fn acquire(db: &Database) -> Result<Self, MigrateError> {
        let mut conn = db
            .pool()
            .acquire()
            .await
            .map_err(|source| MigrateError::db("take a connection for migrating", source))?;
        if db.dialect() == Dialect::Postgres {
            // Try first only to say why start-up pauses; then wait in the database, which
            // wakes us as soon as the holder unlocks.
            let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                .bind(MIGRATION_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(|source| MigrateError::db("take the migration lock", source))?;
            if !got {
                tracing::info!("another server is migrating this database; waiting for it");
                // `pg_advisory_lock` returns `void`, which the Any driver cannot decode:
                // select a constant from it instead.
                sqlx::query("SELECT 1 FROM pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK_KEY)
                    .execute(&mut *conn)
                    .await
                    .map_err(|source| MigrateError::db("take the migration lock", source))?;
            }
        }
        Ok(Self {
            conn: Some(conn),
            dialect: db.dialect(),
        })
    }

    /// Releases the lock and returns the connection to the pool.
    ///
    /// Never fails: if unlocking does not work (the connection broke), the connection is
    /// closed instead, which releases a session lock just as well.
    pub async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.dialect != Dialect::Postgres {
            return;
        }
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<bool, _>(0));
        match unlocked {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "the migration lock was not held at release; closing the connection"
                );
                let _ = conn.close().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot release the migration lock; closing the connection");
                let _ = conn.close().await;
            }
        }
    }
}

impl Deref for MigrationLock {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn
            .as_deref()
            .expect("the connection is only taken by release()")
    }
}

impl DerefMut for MigrationLock {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_deref_mut()
            .expect("the connection is only taken by release()")
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.dialect == Dialect::Postgres
        {
            // Not released (panic or cancellation): dropping the detached connection closes
            // its socket, the server ends the session, and the session lock goes with it.
            drop(conn.detach());
        }
    }
}
