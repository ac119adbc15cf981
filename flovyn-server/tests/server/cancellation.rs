//! A caller cancelled at any moment — a client that hangs up mid-request, a timeout — must
//! not leave a pooled connection inside a transaction: the next borrower's statements would
//! run in it and vanish with its rollback. What counts is the rows that end up committed,
//! seen from another connection. On SQLite and PostgreSQL.

use std::future::{Future, poll_fn};
use std::task::Poll;

use flovyn_server::store::db::{Database, DbOptions};

use crate::support::db::{TestDb, on_both_databases};

const ROUNDS: i64 = 200;

on_both_databases!(a_cancelled_begin_leaves_no_transaction_open);

/// On a pool of one connection, each round starts a plugin transaction, drops it after one
/// to four polls (somewhere between acquiring the connection and `BEGIN`'s answer), then
/// inserts a row outside any transaction on that same connection. Every row must stay.
async fn a_cancelled_begin_leaves_no_transaction_open(test_db: TestDb) {
    let db = test_db.ready().await;
    sqlx::query("CREATE TABLE p_hello__greetings (id BIGINT PRIMARY KEY)")
        .execute(db.pool())
        .await
        .unwrap();
    let single = Database::connect_with(&test_db.url, DbOptions::default().max_connections(1))
        .await
        .unwrap();
    let plugin_db = single.plugin_handle();
    let mut committed_in_a_round = 0;
    for id in 0..ROUNDS {
        let polls = usize::try_from(id % 4).unwrap() + 1;
        if poll_then_drop(plugin_db.begin(), polls).await {
            committed_in_a_round += 1;
        }
        sqlx::query("INSERT INTO p_hello__greetings (id) VALUES ($1)")
            .bind(id)
            .execute(&plugin_db)
            .await
            .unwrap();
    }
    assert!(
        committed_in_a_round < ROUNDS,
        "every begin finished within its polls: the test cancelled nothing"
    );
    single.close().await;

    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_hello__greetings")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        rows, ROUNDS,
        "rows inserted after a cancelled begin were lost with a transaction nobody ended"
    );
}

/// Polls `future` up to `polls` times (yielding to the runtime in between) and drops it
/// unfinished; whether it finished first.
async fn poll_then_drop<F: Future>(future: F, polls: usize) -> bool {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        let ready = poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await;
        if ready {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}
