//! The host's storage service for one plugin process (`flovyn.plugin.v1.Host`, host.proto):
//! every statement the plugin sends is checked with
//! [`check_statement`](flovyn_naming::sql::check_statement) against the plugin's namespace
//! before it runs on the server's database, and transactions are held here across calls.
//!
//! The server binds one [`StorageService`] per plugin process to a socket of that plugin's
//! own and hands the address and the token to the plugin in `Initialize`. Dropping the
//! service (the plugin went away) rolls back every transaction it still holds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flovyn_protocol::pb;
use futures_util::TryStreamExt as _;
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{AssertSqlSafe, Either, Executor as _};
use tonic::{Request, Response, Status};

use crate::db::wire;
use crate::events::OutboxEvent;
use crate::{Database, Dialect, Transaction};

/// How many transactions one plugin may hold open at once: each holds a connection of the
/// server's pool.
pub const MAX_OPEN_TRANSACTIONS: usize = 8;

/// Statement texts checked once are remembered (up to this many per plugin): plugins send
/// the same few statements again and again, and parsing each costs more than running it.
const CHECKED_TEXTS: usize = 1024;

/// `flovyn.plugin.v1.Host` for one plugin; see the module docs.
pub struct StorageService {
    plugin: String,
    db: Database,
    token: String,
    readable: &'static [&'static str],
    next_transaction: AtomicU64,
    transactions: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Transaction>>>>,
    checked: Mutex<HashSet<String>>,
    /// The events the plugin declares: the only ones it may publish.
    declared: Vec<String>,
    /// The server's authorizers, for the plugin's access checks.
    authorizer: Option<Arc<dyn crate::auth::Authorize>>,
}

impl std::fmt::Debug for StorageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageService")
            .field("plugin", &self.plugin)
            .field("declared", &self.declared)
            .finish_non_exhaustive()
    }
}

impl StorageService {
    /// The service for `plugin` on `db` (the server's pool); calls must carry `token`;
    /// `readable` lists the core tables the plugin may read.
    pub fn new(
        plugin: impl Into<String>,
        db: Database,
        token: impl Into<String>,
        readable: &'static [&'static str],
    ) -> Self {
        Self {
            plugin: plugin.into(),
            db,
            token: token.into(),
            readable,
            next_transaction: AtomicU64::new(1),
            transactions: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashSet::new()),
            declared: Vec::new(),
            authorizer: None,
        }
    }

    /// The same service answering the plugin's access checks (`Check`) with `authorizer`
    /// (without one, every check is denied).
    pub fn authorizing(mut self, authorizer: Option<Arc<dyn crate::auth::Authorize>>) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// The same service letting the plugin publish `events` (its descriptor's), through the
    /// outbox its database handle publishes to.
    pub fn publishing(mut self, events: &[String]) -> Self {
        self.declared = events.to_vec();
        self
    }

    /// The database's dialect, as `Initialize` tells the plugin.
    pub fn dialect(&self) -> pb::Dialect {
        match self.db.dialect() {
            Dialect::Sqlite => pb::Dialect::Sqlite,
            Dialect::Postgres => pb::Dialect::Postgres,
        }
    }

    /// The gRPC service to serve.
    pub fn into_server(self) -> pb::host_server::HostServer<Self> {
        pb::host_server::HostServer::new(self)
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let sent = request
            .metadata()
            .get(flovyn_protocol::transport::HOST_TOKEN_METADATA)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if same(sent, self.token.as_bytes()) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "a call to the host without this plugin's token",
            ))
        }
    }

    fn check(&self, sql: &str) -> Result<(), Status> {
        if self.lock_checked().contains(sql) {
            return Ok(());
        }
        let dialect = match self.db.dialect() {
            Dialect::Sqlite => flovyn_naming::sql::Dialect::Sqlite,
            Dialect::Postgres => flovyn_naming::sql::Dialect::Postgres,
        };
        flovyn_naming::sql::check_statement(&self.plugin, sql, dialect, self.readable).map_err(
            |refusal| {
                tracing::warn!(plugin = %self.plugin, %refusal, "statement refused");
                Status::permission_denied(refusal.to_string())
            },
        )?;
        let mut checked = self.lock_checked();
        if checked.len() < CHECKED_TEXTS {
            checked.insert(sql.to_owned());
        }
        Ok(())
    }

    fn lock_checked(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_transactions(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<tokio::sync::Mutex<Transaction>>>> {
        self.transactions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn transaction(&self, id: u64) -> Result<Arc<tokio::sync::Mutex<Transaction>>, Status> {
        self.lock_transactions()
            .get(&id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no open transaction {id}")))
    }

    fn take_transaction(&self, id: u64) -> Result<Transaction, Status> {
        let shared = self
            .lock_transactions()
            .remove(&id)
            .ok_or_else(|| Status::not_found(format!("no open transaction {id}")))?;
        Arc::try_unwrap(shared)
            .map(tokio::sync::Mutex::into_inner)
            .map_err(|_| Status::failed_precondition(format!("transaction {id} is still in use")))
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn database_error(e: &sqlx::Error) -> Status {
    Status::aborted(format!("database error: {e}"))
}

/// Rows and the summed result of a statement's stream.
async fn collect(
    mut items: futures_util::stream::BoxStream<
        '_,
        Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>,
    >,
) -> Result<(Vec<AnyRow>, AnyQueryResult), sqlx::Error> {
    let mut rows = Vec::new();
    let mut done = AnyQueryResult::default();
    while let Some(item) = items.try_next().await? {
        match item {
            Either::Left(result) => done.extend(std::iter::once(result)),
            Either::Right(row) => rows.push(row),
        }
    }
    Ok((rows, done))
}

#[tonic::async_trait]
impl pb::host_server::Host for StorageService {
    async fn execute(
        &self,
        request: Request<pb::Statement>,
    ) -> Result<Response<pb::StatementResult>, Status> {
        self.authorize(&request)?;
        let statement = request.into_inner();
        self.check(&statement.sql)?;
        let arguments = wire::arguments_from_wire(statement.arguments)
            .map_err(|e| Status::invalid_argument(format!("arguments: {e}")))?;
        let query = sqlx::query_with(AssertSqlSafe(statement.sql), arguments);
        let (rows, done) = if statement.transaction == 0 {
            collect((&self.db).fetch_many(query)).await
        } else {
            let shared = self.transaction(statement.transaction)?;
            let mut tx = shared.lock().await;
            collect((&mut *tx).fetch_many(query)).await
        }
        .map_err(|e| database_error(&e))?;
        Ok(Response::new(wire::result_to_wire(&rows, &done)))
    }

    async fn begin(
        &self,
        request: Request<pb::BeginRequest>,
    ) -> Result<Response<pb::BeginResponse>, Status> {
        self.authorize(&request)?;
        if self.lock_transactions().len() >= MAX_OPEN_TRANSACTIONS {
            return Err(Status::resource_exhausted(format!(
                "plugin `{}` holds {MAX_OPEN_TRANSACTIONS} open transactions already",
                self.plugin
            )));
        }
        let tx = self.db.begin().await.map_err(|e| database_error(&e))?;
        let id = self.next_transaction.fetch_add(1, Ordering::Relaxed);
        self.lock_transactions()
            .insert(id, Arc::new(tokio::sync::Mutex::new(tx)));
        Ok(Response::new(pb::BeginResponse { transaction: id }))
    }

    async fn commit(
        &self,
        request: Request<pb::TransactionRef>,
    ) -> Result<Response<pb::TransactionDone>, Status> {
        self.authorize(&request)?;
        let tx = self.take_transaction(request.into_inner().transaction)?;
        tx.commit().await.map_err(|e| database_error(&e))?;
        Ok(Response::new(pb::TransactionDone {}))
    }

    async fn rollback(
        &self,
        request: Request<pb::TransactionRef>,
    ) -> Result<Response<pb::TransactionDone>, Status> {
        self.authorize(&request)?;
        let tx = self.take_transaction(request.into_inner().transaction)?;
        tx.rollback().await.map_err(|e| database_error(&e))?;
        Ok(Response::new(pb::TransactionDone {}))
    }

    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        self.authorize(&request)?;
        let call = request.into_inner();
        if !self.declared.contains(&call.name) {
            return Err(Status::permission_denied(format!(
                "plugin `{}` does not publish `{}`: a plugin publishes only the events its descriptor declares",
                self.plugin, call.name
            )));
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&call.payload_json).is_err() {
            return Err(Status::invalid_argument(format!(
                "the payload of `{}` is not JSON",
                call.name
            )));
        }
        let event = OutboxEvent {
            id: call.event_id,
            name: call.name,
            publisher: self.plugin.clone(),
            payload: call.payload_json,
            // The host's clock, in the form every other event has.
            published_at: crate::time::now_rfc3339(),
        };
        let written = if call.transaction == 0 {
            match self.db.events() {
                Some(events) => events.publish_outbox(&event).await,
                None => return Err(Status::failed_precondition("this host has no outbox")),
            }
        } else {
            let shared = self.transaction(call.transaction)?;
            let mut tx = shared.lock().await;
            tx.publish_outbox(&event).await
        };
        written.map_err(|e| Status::aborted(e.to_string()))?;
        Ok(Response::new(pb::PublishResponse {}))
    }

    async fn check(
        &self,
        request: Request<pb::AccessCheck>,
    ) -> Result<Response<pb::AccessVerdict>, Status> {
        self.authorize(&request)?;
        let call = request.into_inner();
        let identity: crate::Identity = serde_json::from_str(&call.identity_json)
            .map_err(|e| Status::invalid_argument(format!("identity: {e}")))?;
        let question = crate::auth::AuthzRequest {
            resource: &call.resource,
            action: &call.action,
            tenant: call.tenant.as_deref(),
        };
        let allowed = match &self.authorizer {
            Some(authorizer) => authorizer.authorize(&identity, &question).await,
            None => false,
        };
        Ok(Response::new(pb::AccessVerdict { allowed }))
    }
}
