//! The database goes away under a running server (PostgreSQL behind a forwarder that is cut):
//! requests that need it answer 503 JSON with `Retry-After` within the acquire timeout, not
//! after 30 s and never 401; `/_/ready` says so while `/_/health` (liveness) stays 200; and
//! everything serves again once the database is back.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::http::{ADMIN, Db, Reply, fixture_with, get, get_as, post_json_as, send};
use crate::support::proxy::Proxy;

/// `send`, timed.
async fn timed(
    f: &crate::http::Fixture,
    request: axum::http::Request<axum::body::Body>,
) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = send(&f.router, request).await;
    (reply, started.elapsed())
}

fn assert_unavailable(reply: &Reply, took: Duration, code: &str) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"]["code"], code, "{}", reply.body);
    assert_eq!(reply.headers["retry-after"], "1");
    // The acquire timeout is 1 s here; generous for a loaded machine, far from 30 s.
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_database_the_server_answers_503_at_once_and_recovers() {
    let Some(pg) = crate::support::pg::shared() else {
        return;
    };
    let proxy = Proxy::start(([127, 0, 0, 1], pg.port()).into()).await;
    let from = format!("127.0.0.1:{}/", pg.port());
    let to = format!("127.0.0.1:{}/", proxy.port);
    let Some(f) = fixture_with(Db::Postgres, &["hello", "worker-token"], |c| {
        c.database_url = c.database_url.replace(&from, &to);
        c.database.acquire_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    let created = send(
        &f.router,
        post_json_as(
            "/api/v1/p/worker-token/tokens",
            ADMIN,
            json!({"display_name": "w"}),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // Not used before the cut, so no cache can answer for it.
    let token = created.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&f.router, get("/_/ready")).await.json(),
        json!({"status": "ready"})
    );

    proxy.cut();
    // A worker token cannot be checked: 503, not 401.
    let (reply, took) = timed(&f, get_as("/api/v1/me", &token)).await;
    assert_unavailable(&reply, took, "service_unavailable");
    let (reply, took) = timed(&f, get_as("/api/v1/p/worker-token/tokens", &token)).await;
    assert_unavailable(&reply, took, "service_unavailable");
    // A route that needs the database.
    let (reply, took) = timed(&f, get_as("/api/v1/p/worker-token/tokens", ADMIN)).await;
    assert_unavailable(&reply, took, "database_unavailable");
    let (reply, took) = timed(&f, get_as("/api/v1/tenants", ADMIN)).await;
    assert_unavailable(&reply, took, "database_unavailable");
    // Not ready, but alive; and what needs no database still works.
    let (reply, took) = timed(&f, get("/_/ready")).await;
    assert_unavailable(&reply, took, "not_ready");
    assert_eq!(
        send(&f.router, get("/_/health")).await.status,
        StatusCode::OK
    );
    let admin = send(&f.router, get_as("/api/v1/me", ADMIN)).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while send(&f.router, get("/_/ready")).await.status != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "not ready again 15 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = send(&f.router, get_as("/api/v1/me", &token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let list = send(&f.router, get_as("/api/v1/p/worker-token/tokens", ADMIN)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    f.state.shutdown().await;
}
