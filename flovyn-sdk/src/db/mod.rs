//! The database a plugin reaches through its [`PluginContext`](crate::PluginContext), and
//! which of SQLite or PostgreSQL it is. A plugin touches only its own `p_<plugin>__*` tables
//! and the core tables it may reference; its schema comes from its `#[migration]`s.
//!
//! [`Database`] is an sqlx executor: pass `&db` where sqlx wants one, and
//! [`Database::begin`] a [`Transaction`] (then `&mut tx`). The same plugin code runs either
//! way a plugin is deployed:
//! - **linked** into the server, statements go straight to the server's pool;
//! - **in its own process** (`docs/process-plugins.md`), each statement goes to the host,
//!   which checks it against the plugin's namespace (one `SELECT`/`INSERT`/`UPDATE`/`DELETE`
//!   per call, writing only `p_<plugin>__*`, reading those and the core tables such as
//!   `tenant`) and runs it; a transaction is held by the host across calls.
//!
//! ```no_run
//! # async fn demo(db: &flovyn_sdk::Database) -> Result<(), flovyn_sdk::db::sqlx::Error> {
//! use flovyn_sdk::db::sqlx;
//!
//! let names: Vec<String> = sqlx::query_scalar("SELECT name FROM p_hello__greetings WHERE id > $1")
//!     .bind(10_i64)
//!     .fetch_all(db)
//!     .await?;
//!
//! let mut tx = db.begin().await?;
//! sqlx::query("DELETE FROM p_hello__greetings WHERE id = $1").bind(1_i64).execute(&mut tx).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! `$1, $2…` placeholders work on both databases through sqlx's `Any` driver. Timestamps are
//! best stored as RFC 3339 text or integers: the `Any` driver does not decode date/time types.
//! Out of process, statements cannot be prepared ahead (`Executor::prepare` is refused) and
//! each call returns its whole result at once.

mod host;
pub(crate) mod wire;

pub use sqlx;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt as _};
use sqlx::any::{Any, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Either, Execute, Executor, SqlStr};

use crate::Dialect;
use crate::events::{Event, Events, OutboxEvent, PublishError, Route};
pub(crate) use host::HostStore;

/// A handle on the server's database; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Database {
    store: Store,
    dialect: Dialect,
    /// Where a transaction's events go, and whose they are (set by the plugin's context).
    events: Option<Events>,
}

#[derive(Debug, Clone)]
enum Store {
    /// Linked: the server's pool.
    Pool(sqlx::AnyPool),
    /// In a plugin process: the host's storage service.
    Host(HostStore),
}

impl Database {
    /// Wraps a pool. Host API: the server does this, and tests that play the server.
    pub fn new(pool: sqlx::AnyPool, dialect: Dialect) -> Self {
        Self {
            store: Store::Pool(pool),
            dialect,
            events: None,
        }
    }

    /// The same database, its transactions publishing as `events`' plugin, to `events`'
    /// outbox. Host API: the plugin's context does this.
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = Some(events);
        self
    }

    /// The database of a plugin process: statements go to the host.
    pub(crate) fn through_host(store: HostStore, dialect: Dialect) -> Self {
        Self {
            store: Store::Host(store),
            dialect,
            events: None,
        }
    }

    /// Where this database's transactions publish, when the server bound it to a plugin.
    pub(crate) fn events(&self) -> Option<&Events> {
        self.events.as_ref()
    }

    /// SQLite or PostgreSQL.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Begins a transaction: run statements with `&mut tx`, then [`Transaction::commit`].
    /// Dropped without a commit, it is rolled back.
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        let inner = match &self.store {
            Store::Pool(pool) => Open::Pool(begin(pool).await?),
            Store::Host(host) => Open::Host {
                id: host.begin().await?,
                host: host.clone(),
            },
        };
        Ok(Transaction {
            inner: Some(inner),
            events: self.events.clone(),
            published: false,
        })
    }
}

/// Begins a transaction on `pool`, and cannot be cancelled half-way: `BEGIN` runs in a task
/// of its own, so a caller dropped while it is in flight (a client that hangs up, a timeout)
/// leaves a whole [`sqlx::Transaction`] behind, which rolls back and returns its connection
/// clean. sqlx's own `Pool::begin` may return the connection to the pool inside a transaction
/// nobody will end (PostgreSQL, sqlx 0.9.0: transact-rs/sqlx#4393), where the next borrower's
/// statements would vanish with it — `docs/decisions/0015-cancel-safe-begin.md`. Host API:
/// the server begins its own transactions with it too.
pub async fn begin(pool: &sqlx::AnyPool) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    begin_whole(pool, None).await
}

/// [`begin`] with the statement that opens the transaction: SQLite's `BEGIN IMMEDIATE` takes
/// the write lock at once, so a transaction that reads before it writes waits its turn
/// instead of failing with "database is locked" when it upgrades. Host API.
pub async fn begin_with(
    pool: &sqlx::AnyPool,
    statement: &'static str,
) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    begin_whole(pool, Some(statement)).await
}

#[allow(clippy::disallowed_methods)] // the one place they are called, in a task of their own
async fn begin_whole(
    pool: &sqlx::AnyPool,
    statement: Option<&'static str>,
) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    let pool = pool.clone();
    let begun = tokio::spawn(async move {
        match statement {
            None => pool.begin().await,
            Some(statement) => pool.begin_with(statement).await,
        }
    });
    match begun.await {
        Ok(begun) => begun,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels the task.
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

/// A transaction on the plugin's [`Database`]; `&mut tx` is an sqlx executor.
#[derive(Debug)]
pub struct Transaction {
    /// `None` once committed or rolled back.
    inner: Option<Open>,
    events: Option<Events>,
    /// Whether it wrote events (to wake their delivery at commit).
    published: bool,
}

#[derive(Debug)]
enum Open {
    Pool(sqlx::Transaction<'static, Any>),
    Host { host: HostStore, id: u64 },
}

impl Transaction {
    /// Makes the transaction's changes permanent, the events it published included.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            Some(Open::Pool(tx)) => {
                tx.commit().await?;
                if self.published
                    && let Some(Route::Sink(sink)) = self.events.as_ref().map(Events::route)
                {
                    sink.committed();
                }
                Ok(())
            }
            Some(Open::Host { host, id }) => host.commit(id).await,
            None => Ok(()),
        }
    }

    /// Publishes `event` in this transaction: it is written to the server's outbox with the
    /// transaction's other changes, and exists if and only if they commit (see
    /// [`crate::events`]). A plugin publishes only the events it declares.
    pub async fn publish<E: Event>(&mut self, event: &E) -> Result<(), PublishError> {
        let Some(events) = &self.events else {
            tracing::debug!(
                event = E::NAME,
                "event published nowhere (a database outside the server)"
            );
            return Ok(());
        };
        let event = OutboxEvent::new(events.plugin(), event)?;
        self.publish_outbox(&event).await
    }

    /// Writes an already built event (its publisher checked) in this transaction. Host API.
    pub async fn publish_outbox(&mut self, event: &OutboxEvent) -> Result<(), PublishError> {
        let route = self.events.as_ref().map(Events::route);
        match (&mut self.inner, route) {
            (Some(Open::Host { host, id }), _) => host.publish_event(event, *id).await?,
            (Some(Open::Pool(tx)), Some(Route::Sink(sink))) => {
                sink.write_in(tx, event).await?;
                self.published = true;
            }
            (Some(Open::Pool(_)), None | Some(Route::Nowhere)) => {
                tracing::debug!(event = %event.name, "event published nowhere (no server)");
            }
            (Some(Open::Pool(_)), Some(Route::Host(_))) => {
                return Err(PublishError::Store(sqlx::Error::Protocol(
                    "a linked transaction cannot publish through a host".to_owned(),
                )));
            }
            (None, _) => {
                return Err(PublishError::Store(sqlx::Error::Protocol(
                    "the transaction is already finished".to_owned(),
                )));
            }
        }
        Ok(())
    }

    /// Undoes the transaction's changes.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            Some(Open::Pool(tx)) => tx.rollback().await,
            Some(Open::Host { host, id }) => host.rollback(id).await,
            None => Ok(()),
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // sqlx rolls a pool transaction back itself; the host's must be told.
        if let Some(Open::Host { host, id }) = self.inner.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = host.rollback(id).await {
                    tracing::warn!(error = %e, "rolling back a dropped transaction failed");
                }
            });
        }
    }
}

type Item = Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>;

/// A statement through the host, as sqlx's stream of rows then the result.
fn through_host<'e, 'q: 'e, E>(
    host: HostStore,
    mut query: E,
    transaction: u64,
) -> BoxStream<'e, Item>
where
    E: 'q + Execute<'q, Any>,
{
    let arguments = query.take_arguments();
    let sql = query.sql();
    let work = async move {
        let arguments = arguments.map_err(sqlx::Error::Encode)?;
        let (rows, done) = host
            .execute(sql.as_str(), arguments.as_ref(), transaction)
            .await?;
        let items: Vec<Item> = rows
            .into_iter()
            .map(|row| Ok(Either::Right(row)))
            .chain(std::iter::once(Ok(Either::Left(done))))
            .collect();
        Ok::<_, sqlx::Error>(items)
    };
    stream::once(work)
        .flat_map(|outcome| match outcome {
            Ok(items) => stream::iter(items),
            Err(e) => stream::iter(vec![Err(e)]),
        })
        .boxed()
}

fn first_row<'e>(
    mut rows: BoxStream<'e, Item>,
) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>> {
    Box::pin(async move {
        while let Some(item) = rows.next().await {
            if let Either::Right(row) = item? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    })
}

fn cannot_prepare<'e>() -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>> {
    Box::pin(async {
        Err(sqlx::Error::Protocol(
            "a plugin process cannot prepare statements ahead; run them directly".to_owned(),
        ))
    })
}

impl<'c> Executor<'c> for &'c Database {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Item>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &self.store {
            Store::Pool(pool) => pool.fetch_many(query),
            Store::Host(host) => through_host(host.clone(), query, 0),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &self.store {
            Store::Pool(pool) => pool.fetch_optional(query),
            Store::Host(host) => first_row(through_host(host.clone(), query, 0)),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        match &self.store {
            Store::Pool(pool) => pool.prepare_with(sql, parameters),
            Store::Host(_) => cannot_prepare(),
        }
    }
}

fn finished<'e, T: Send + 'e>() -> BoxFuture<'e, Result<T, sqlx::Error>> {
    Box::pin(async {
        Err(sqlx::Error::Protocol(
            "the transaction is already finished".to_owned(),
        ))
    })
}

impl<'c> Executor<'c> for &'c mut Transaction {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Item>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &mut self.inner {
            Some(Open::Pool(tx)) => (&mut **tx).fetch_many(query),
            Some(Open::Host { host, id }) => through_host(host.clone(), query, *id),
            None => stream::once(finished()).boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &mut self.inner {
            Some(Open::Pool(tx)) => (&mut **tx).fetch_optional(query),
            Some(Open::Host { host, id }) => first_row(through_host(host.clone(), query, *id)),
            None => finished(),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        match &mut self.inner {
            Some(Open::Pool(tx)) => (&mut **tx).prepare_with(sql, parameters),
            Some(Open::Host { .. }) => cannot_prepare(),
            None => finished(),
        }
    }
}
