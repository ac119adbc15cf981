//! The host's storage service for plugin processes (`flovyn.plugin.v1.Host`), driven as a
//! plugin process drives it — and as a misbehaving one would: over its Unix socket, with or
//! without the token, with statements inside and outside the plugin's namespace. What counts
//! is what ends up in the database. Each scenario on SQLite and PostgreSQL.

use flovyn_protocol::pb;
use flovyn_protocol::pb::host_client::HostClient;
use flovyn_protocol::transport::Connection;
use flovyn_sdk::events::Events;
use flovyn_sdk::host::storage::{MAX_OPEN_TRANSACTIONS, StorageService};
use flovyn_server::host::process::READABLE_CORE_TABLES;
use flovyn_server::store::db::Database;
use flovyn_server::store::migrate::DEFAULT_TENANT_ID;
use sqlx::Row as _;
use tonic::Code;

use crate::support::db::{TestDb, on_both_databases};

const TOKEN: &str = "a-token-only-the-plugin-knows";

/// A `hello` plugin's view of the host: a client of its storage socket, and the database
/// behind it (with the core tables and `p_hello__greetings`).
struct Fixture {
    client: HostClient<Connection>,
    db: Database,
    _served: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    _test_db: TestDb,
}

impl Fixture {
    async fn new(test_db: TestDb) -> Self {
        let db = test_db.ready().await;
        sqlx::query(
            "CREATE TABLE p_hello__greetings (id BIGINT PRIMARY KEY, message TEXT NOT NULL)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let outbox = flovyn_server::events::Outbox::new(db.pool().clone());
        let handle = db
            .plugin_handle()
            .with_events(Events::to_sink("hello", std::sync::Arc::new(outbox)));
        let service = StorageService::new("hello", handle, TOKEN, READABLE_CORE_TABLES)
            .publishing(&["hello.greeted".to_owned()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let router = tonic::service::Routes::new(service.into_server()).into_axum_router();
        let served = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let client = HostClient::new(
            flovyn_protocol::transport::connect_unix(&path)
                .await
                .unwrap(),
        );
        Self {
            client,
            db,
            _served: served,
            _dir: dir,
            _test_db: test_db,
        }
    }

    fn signed<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            flovyn_protocol::transport::HOST_TOKEN_METADATA,
            TOKEN.parse().unwrap(),
        );
        request
    }

    async fn execute(
        &self,
        sql: &str,
        arguments: Vec<pb::Value>,
        transaction: u64,
    ) -> Result<pb::StatementResult, tonic::Status> {
        let statement = pb::Statement {
            sql: sql.to_owned(),
            arguments,
            transaction,
        };
        self.client
            .clone()
            .execute(Self::signed(statement))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn begin(&self) -> u64 {
        self.client
            .clone()
            .begin(Self::signed(pb::BeginRequest {}))
            .await
            .unwrap()
            .into_inner()
            .transaction
    }

    /// Publishes event `name` (in `transaction`, when not 0).
    async fn publish(&self, transaction: u64, name: &str) -> Result<(), tonic::Status> {
        self.client
            .clone()
            .publish(Self::signed(publish(transaction, name)))
            .await
            .map(drop)
    }

    /// Commits (`true`) or rolls back `transaction`.
    async fn finish(&self, transaction: u64, commit: bool) {
        let done = pb::TransactionRef { transaction };
        let mut client = self.client.clone();
        if commit {
            client.commit(Self::signed(done)).await.unwrap();
        } else {
            client.rollback(Self::signed(done)).await.unwrap();
        }
    }

    async fn greetings(&self) -> Vec<(i64, String)> {
        sqlx::query("SELECT id, message FROM p_hello__greetings ORDER BY id")
            .fetch_all(self.db.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    async fn tenants(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM tenant")
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }
}

fn big_int(v: i64) -> pb::Value {
    pb::Value {
        kind: Some(pb::value::Kind::BigInt(v)),
    }
}

fn text(v: &str) -> pb::Value {
    pb::Value {
        kind: Some(pb::value::Kind::Text(v.to_owned())),
    }
}

async fn statements_in_the_namespace_run_with_bound_arguments(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    let inserted = f
        .execute(
            "INSERT INTO p_hello__greetings (id, message) VALUES ($1, $2)",
            vec![big_int(1), text("hi'); DROP TABLE tenant; --")],
            0,
        )
        .await
        .unwrap();
    assert_eq!(inserted.rows_affected, 1);
    assert_eq!(
        f.greetings().await,
        [(1, "hi'); DROP TABLE tenant; --".to_owned())]
    );

    let read = f
        .execute(
            "SELECT g.message, t.id AS tenant FROM p_hello__greetings g JOIN tenant t ON t.id = $1",
            vec![text(DEFAULT_TENANT_ID)],
            0,
        )
        .await
        .unwrap();
    let names: Vec<&str> = read.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["message", "tenant"]);
    assert_eq!(read.rows.len(), 1);
    assert_eq!(read.rows[0].values[1], text(DEFAULT_TENANT_ID));
}

async fn statements_outside_the_namespace_are_refused_and_change_nothing(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    let tenants = f.tenants().await;
    for (sql, table) in [
        ("DELETE FROM tenant", "tenant"),
        ("UPDATE tenant SET name = 'mine'", "tenant"),
        (
            "INSERT INTO _plugin_migrations (plugin, version, name, checksum, applied_at, execution_ms) VALUES ('x', 1, 'x', 'x', 'x', 0)",
            "_plugin_migrations",
        ),
        ("SELECT * FROM _plugin_migrations", "_plugin_migrations"),
        ("DROP TABLE p_hello__greetings", "DROP TABLE"),
        (
            "DELETE FROM p_hello__greetings; DELETE FROM tenant",
            "2 statements",
        ),
    ] {
        let refused = f.execute(sql, vec![], 0).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{sql}: {refused:?}");
        assert!(
            refused.message().contains(table),
            "{sql}: the refusal should name `{table}`: {}",
            refused.message()
        );
    }
    assert_eq!(
        f.tenants().await,
        tenants,
        "a refused statement changed `tenant`"
    );
    let ledger: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _plugin_migrations WHERE plugin = 'x'")
            .fetch_one(f.db.pool())
            .await
            .unwrap();
    assert_eq!(ledger, 0);
    assert!(f.greetings().await.is_empty());
}

async fn calls_without_the_plugins_token_are_refused(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    let statement = pb::Statement {
        sql: "INSERT INTO p_hello__greetings (id, message) VALUES (1, 'x')".to_owned(),
        arguments: vec![],
        transaction: 0,
    };
    let unsigned = f
        .client
        .clone()
        .execute(statement.clone())
        .await
        .unwrap_err();
    assert_eq!(unsigned.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(statement);
    wrong.metadata_mut().insert(
        flovyn_protocol::transport::HOST_TOKEN_METADATA,
        "guess".parse().unwrap(),
    );
    let wrong = f.client.clone().execute(wrong).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(f.greetings().await.is_empty());
}

async fn transactions_span_calls_and_roll_back(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    let insert = "INSERT INTO p_hello__greetings (id, message) VALUES ($1, $2)";

    let undone = f.begin().await;
    f.execute(insert, vec![big_int(1), text("undone")], undone)
        .await
        .unwrap();
    let inside = f
        .execute(
            "SELECT COUNT(*) AS n FROM p_hello__greetings",
            vec![],
            undone,
        )
        .await
        .unwrap();
    assert_eq!(
        inside.rows[0].values[0],
        big_int(1),
        "the transaction sees its own row"
    );
    f.finish(undone, false).await;
    assert!(f.greetings().await.is_empty());

    let kept = f.begin().await;
    f.execute(insert, vec![big_int(2), text("kept")], kept)
        .await
        .unwrap();
    f.finish(kept, true).await;
    assert_eq!(f.greetings().await, [(2, "kept".to_owned())]);

    // Finished transactions are gone; a refused statement inside one changes nothing.
    let gone = f
        .execute(insert, vec![big_int(3), text("late")], kept)
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let open = f.begin().await;
    let refused = f
        .execute("DELETE FROM tenant", vec![], open)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    f.finish(open, true).await;
    assert_eq!(f.tenants().await, 1);
}

async fn open_transactions_are_bounded(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    for _ in 0..MAX_OPEN_TRANSACTIONS {
        f.begin().await;
    }
    let refused = f
        .client
        .clone()
        .begin(Fixture::signed(pb::BeginRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
}

on_both_databases!(
    statements_in_the_namespace_run_with_bound_arguments,
    statements_outside_the_namespace_are_refused_and_change_nothing,
    calls_without_the_plugins_token_are_refused,
    transactions_span_calls_and_roll_back,
);

// SQLite allows one writer at a time; PostgreSQL shows the bound with independent
// connections.
mod open_transactions_are_bounded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(db) = super::TestDb::postgres().await {
            super::open_transactions_are_bounded(db).await;
        }
    }
}

/// The plugin's side: the SDK's `Database` of a plugin process, used as plugin code uses it
/// (sqlx queries with `&db`, `db.begin()`, `&mut tx`), goes through the host.
async fn the_sdk_database_of_a_plugin_process_goes_through_the_host(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    let context = flovyn_sdk::process::connect_context(
        "hello",
        serde_json::json!({}),
        &f._dir.path().join("host.sock").display().to_string(),
        TOKEN,
        f.db.dialect(),
    )
    .await
    .unwrap();
    let db = context.database().unwrap().clone();
    let insert = "INSERT INTO p_hello__greetings (id, message) VALUES ($1, $2)";
    let done = sqlx::query(insert)
        .bind(1_i64)
        .bind("one")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);

    let mut tx = db.begin().await.unwrap();
    sqlx::query(insert)
        .bind(2_i64)
        .bind("two")
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    {
        let mut dropped = db.begin().await.unwrap();
        sqlx::query(insert)
            .bind(3_i64)
            .bind("three")
            .execute(&mut dropped)
            .await
            .unwrap();
    }
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, message FROM p_hello__greetings ORDER BY id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(rows, [(1, "one".to_owned()), (2, "two".to_owned())]);
    let missing: Option<String> =
        sqlx::query_scalar("SELECT message FROM p_hello__greetings WHERE id = $1")
            .bind(3_i64)
            .fetch_optional(&db)
            .await
            .unwrap();
    assert_eq!(missing, None, "a dropped transaction's row is not visible");
    // Only once the host rolled it back can the same key be written (PostgreSQL would wait on
    // the uncommitted row, SQLite on the held write lock).
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sqlx::query(insert).bind(3_i64).bind("again").execute(&db),
    )
    .await
    .expect("the dropped transaction still holds its row");
    assert_eq!(again.unwrap().rows_affected(), 1);

    let refused = sqlx::query("DELETE FROM tenant")
        .execute(&db)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("table `tenant` is not one of plugin `hello`'s tables"),
        "{refused}"
    );
    assert_eq!(f.tenants().await, 1);
}

on_both_databases!(the_sdk_database_of_a_plugin_process_goes_through_the_host);

fn publish(transaction: u64, name: &str) -> pb::PublishRequest {
    pb::PublishRequest {
        transaction,
        event_id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        payload_json: r#"{"to":"Ada"}"#.to_owned(),
        published_at: String::new(),
    }
}

async fn outbox_rows(f: &Fixture) -> Vec<(String, String)> {
    sqlx::query("SELECT name, publisher FROM _event_outbox ORDER BY id")
        .fetch_all(f.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// A plugin publishes only what its descriptor declares, and an event published in a
/// transaction exists only if the transaction commits.
async fn events_are_published_with_the_transaction_and_only_the_declared_ones(test_db: TestDb) {
    let f = Fixture::new(test_db).await;
    let refused = f
        .publish(0, "worker-token.token-created")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused
            .message()
            .contains("does not publish `worker-token.token-created`")
    );

    let undone = f.begin().await;
    f.publish(undone, "hello.greeted").await.unwrap();
    f.finish(undone, false).await;
    assert!(
        outbox_rows(&f).await.is_empty(),
        "a rolled-back event exists"
    );

    let kept = f.begin().await;
    f.publish(kept, "hello.greeted").await.unwrap();
    f.finish(kept, true).await;
    f.publish(0, "hello.greeted").await.unwrap();
    let hello = ("hello.greeted".to_owned(), "hello".to_owned());
    assert_eq!(outbox_rows(&f).await, [hello.clone(), hello]);
}

on_both_databases!(events_are_published_with_the_transaction_and_only_the_declared_ones);
