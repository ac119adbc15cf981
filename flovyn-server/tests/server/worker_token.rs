//! The worker-token plugin end to end, on SQLite and PostgreSQL: the operator flow, the
//! cache (a warm token costs no query; malformed tokens none at all), expiry, `last_used_at`,
//! secrets never stored, and revocation across two server processes. The operator flow and
//! the body rules run twice: with the plugin linked and with it in its own process (the same
//! plugin source, `worker-token-plugin`); the cache and expiry tests read the plugin's
//! in-process counters and clock, so they run linked.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use flovyn_sdk::db::sqlx::{self, Row as _};
use serde_json::{Value, json};
use worker_token::cache::LOOKUPS;

use crate::http::{
    ADMIN, Db, Fixture, Mode, create_worker_token, error, fixture_in, fixture_with, get, get_as,
    post_json_as, send,
};
use crate::support::{pg, process};

/// The lookup counter is global: tests that assert on it run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn lookups() -> u64 {
    LOOKUPS.load(std::sync::atomic::Ordering::SeqCst)
}

async fn fixture(db: Db) -> Option<Fixture> {
    fixture_with(db, &["hello", "worker-token"], |_| {}).await
}

async fn fixture_as(db: Db, mode: Mode) -> Option<Fixture> {
    fixture_in(db, mode, &["hello", "worker-token"], |_| {}).await
}

fn delete_as(path: &str, token: &str) -> Request<Body> {
    Request::delete(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn operator_flow(db: Db, mode: Mode) {
    let Some(f) = fixture_as(db, mode).await else {
        return;
    };
    let (token, created) = create_worker_token(&f, json!({"display_name": "build-host-1"})).await;
    assert!(token.starts_with("fwt_") && token.len() == 52, "{token}");
    assert_eq!(created["display_name"], "build-host-1");
    assert_eq!(created["tenant"], "default");
    assert_eq!(created["revoked_at"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();

    // Listed without the secret.
    let r = send(&f.router, get_as("/api/v1/p/worker-token/tokens", ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.body.contains(&token) && !r.body.contains("hash"),
        "{}",
        r.body
    );
    assert_eq!(r.json()[0]["id"], id.as_str());

    // The token authenticates as a worker of its tenant.
    let r = send(&f.router, get_as("/api/v1/me", &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let me = r.json();
    assert_eq!(me["principal_type"], "worker");
    assert_eq!(me["tenant"], "default");
    assert_eq!(me["principal_id"], format!("worker-token:{id}"));

    // A worker cannot manage tokens.
    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/p/worker-token/tokens",
            &token,
            json!({"display_name": "x"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        error(
            "forbidden",
            "this operation needs the `worker_token:create` permission"
        )
    );
    let r = send(&f.router, get_as("/api/v1/p/worker-token/tokens", &token)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The database holds no plaintext secret, only its hash.
    let rows = sqlx::query("SELECT * FROM p_worker_token__tokens")
        .fetch_all(f.state.db().pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let secret = token.split('_').nth(2).unwrap();
    for column in [
        "id",
        "tenant_id",
        "lookup",
        "token_hash",
        "display_name",
        "created_by",
        "created_at",
    ] {
        let value: String = rows[0].try_get(column).unwrap();
        assert!(!value.contains(secret), "column {column} holds the secret");
    }
    let stored: String = rows[0].try_get("token_hash").unwrap();
    assert_eq!(stored, worker_token::token::hash(&token));
    if let Db::Sqlite = db {
        // The whole database, byte for byte (main file and write-ahead log).
        let url = f.state.config().database_url.clone();
        let file = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        for path in [file.clone(), format!("{file}-wal")] {
            if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{path} contains the plaintext secret"
                );
            }
        }
    }

    // Revoke: 204, then the token is refused like no credential at all.
    let r = send(
        &f.router,
        delete_as(&format!("/api/v1/p/worker-token/tokens/{id}"), ADMIN),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let bare = send(
        &f.router,
        Request::get("/api/v1/me").body(Body::empty()).unwrap(),
    )
    .await;
    let r = send(&f.router, get_as("/api/v1/me", &token)).await;
    assert_eq!((r.status, &r.body), (bare.status, &bare.body));
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &f.router,
        delete_as("/api/v1/p/worker-token/tokens/nope", ADMIN),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn operator_flow_on_sqlite() {
    operator_flow(Db::Sqlite, Mode::Linked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_flow_on_sqlite_out_of_process() {
    operator_flow(Db::Sqlite, Mode::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_flow_on_postgres_out_of_process() {
    operator_flow(Db::Postgres, Mode::Process).await;
}

/// The same flow with the plugin's requests through gRPC `Handle` (`handle = "grpc"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_flow_on_sqlite_out_of_process_over_grpc() {
    operator_flow(Db::Sqlite, Mode::ProcessGrpc).await;
}

#[tokio::test]
async fn operator_flow_on_postgres() {
    operator_flow(Db::Postgres, Mode::Linked).await;
}

#[tokio::test]
async fn a_warm_token_costs_no_query_and_a_malformed_one_none_at_all() {
    let _serial = SERIAL.lock().await;
    let f = fixture(Db::Sqlite).await.unwrap();
    let (token, _) = create_worker_token(&f, json!({"display_name": "warm"})).await;

    let before = lookups();
    assert_eq!(
        send(&f.router, get_as("/api/v1/me", &token)).await.status,
        StatusCode::OK
    );
    assert_eq!(lookups(), before + 1, "a cold token is read once");
    for _ in 0..5 {
        assert_eq!(
            send(&f.router, get_as("/api/v1/me", &token)).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(lookups(), before + 1, "warm requests do not query");

    // One changed character: the checksum refuses it before any query.
    let mut bad = token.clone().into_bytes();
    bad[20] = if bad[20] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bad).unwrap();
    let before = lookups();
    for candidate in [bad.as_str(), "fwt_short", &token[..51]] {
        let r = send(&f.router, get_as("/api/v1/me", candidate)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{candidate}");
    }
    assert_eq!(
        lookups(),
        before,
        "malformed tokens never reach the database"
    );
}

#[tokio::test]
async fn expired_tokens_are_refused_and_last_use_is_recorded() {
    let f = fixture(Db::Sqlite).await.unwrap();
    let (token, created) = create_worker_token(
        &f,
        json!({"display_name": "short-lived", "expires_in_days": 1}),
    )
    .await;
    assert!(created["expires_at"].as_str().unwrap() > created["created_at"].as_str().unwrap());
    assert_eq!(
        send(&f.router, get_as("/api/v1/me", &token)).await.status,
        StatusCode::OK
    );

    // `last_used_at` is written off the request path.
    let id = created["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let used: Option<String> =
            sqlx::query_scalar("SELECT last_used_at FROM p_worker_token__tokens WHERE id = $1")
                .bind(id)
                .fetch_one(f.state.db().pool())
                .await
                .unwrap();
        if used.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    sqlx::query("UPDATE p_worker_token__tokens SET expires_at = $1 WHERE id = $2")
        .bind("2000-01-01T00:00:00.000Z")
        .bind(id)
        .execute(f.state.db().pool())
        .await
        .unwrap();
    tokio::time::sleep(worker_token::cache::MAX_AGE + Duration::from_millis(50)).await;
    assert_eq!(
        send(&f.router, get_as("/api/v1/me", &token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn body_needs_only_a_display_name_and_rejects_unknown_fields() {
    body_rules(Mode::Linked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_needs_only_a_display_name_and_rejects_unknown_fields_out_of_process() {
    body_rules(Mode::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_needs_only_a_display_name_and_rejects_unknown_fields_out_of_process_over_grpc() {
    body_rules(Mode::ProcessGrpc).await;
}

async fn body_rules(mode: Mode) {
    let f = fixture_as(Db::Sqlite, mode).await.unwrap();
    let r = send(
        &f.router,
        post_json_as("/api/v1/p/worker-token/tokens", ADMIN, json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["code"], "unprocessable_entity");
    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/p/worker-token/tokens",
            ADMIN,
            json!({"display_name": "x", "secret": "y"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/p/worker-token/tokens",
            ADMIN,
            json!({"display_name": "x", "tenant": "nope"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The bounds the spec publishes are the bounds enforced: 422 naming the field and limit.
    let spec = send(&f.router, get("/api-docs/openapi.json")).await.json();
    let new_token = &spec["components"]["schemas"]["NewToken"]["properties"];
    assert_eq!(new_token["display_name"]["maxLength"], 200, "{new_token}");
    assert_eq!(
        new_token["expires_in_days"]["maximum"], 36500,
        "{new_token}"
    );
    assert_eq!(new_token["expires_in_days"]["minimum"], 1, "{new_token}");
    let long = "é".repeat(201);
    for (body, message) in [
        (
            json!({"display_name": "x", "expires_in_days": 0}),
            "expires_in_days: 0 is less than the minimum of 1".to_owned(),
        ),
        (
            json!({"display_name": "x", "expires_in_days": 3_000_000}),
            "expires_in_days: 3000000 is greater than the maximum of 36500".to_owned(),
        ),
        (
            json!({"display_name": long}),
            format!("display_name: \"{long}\" is longer than 200 characters"),
        ),
        (
            json!({"display_name": "   "}),
            "display_name: \"   \" does not match \"\\S\"".to_owned(),
        ),
    ] {
        let r = send(
            &f.router,
            post_json_as("/api/v1/p/worker-token/tokens", ADMIN, body),
        )
        .await;
        let message = format!("the request body does not match its schema: {message}");
        assert_eq!(
            (r.status, r.json()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                error("unprocessable_entity", &message)
            )
        );
    }
    // At the limits, accepted: 200 characters (not bytes), 100 years.
    let r = send(
        &f.router,
        post_json_as(
            "/api/v1/p/worker-token/tokens",
            ADMIN,
            json!({"display_name": "é".repeat(200), "expires_in_days": 36500}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let expires = r.json()["expires_at"].as_str().unwrap().to_owned();
    assert!(
        expires.len() == 24 && expires.ends_with('Z'),
        "RFC 3339: {expires}"
    );
    // A JSON Schema integer may be written `478.0`; a fraction is not an integer.
    let whole = json!({"display_name": "float-form", "expires_in_days": 478.0});
    let r = send(
        &f.router,
        post_json_as("/api/v1/p/worker-token/tokens", ADMIN, whole),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let fraction = json!({"display_name": "fraction", "expires_in_days": 1.5});
    let r = send(
        &f.router,
        post_json_as("/api/v1/p/worker-token/tokens", ADMIN, fraction),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("expires_in_days: 1.5 is not of types"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_on_one_replica_is_seen_by_another_within_a_second() {
    let Some(pg) = pg::shared() else { return };
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("FLOVYN_ADMIN_TOKEN", ADMIN),
    ];
    let a = process::Server::start(dir.path(), &env);
    let b = process::Server::start(dir.path(), &env);
    let admin = [("authorization", format!("Bearer {ADMIN}"))];
    let admin: Vec<(&str, &str)> = admin.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let r = process::request(
        a.addr,
        "POST",
        "/api/v1/p/worker-token/tokens",
        &[admin[0], ("content-type", "application/json")],
        r#"{"display_name":"replicated"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let as_worker = [("authorization", bearer.as_str())];
    assert_eq!(
        process::get(b.addr, "/api/v1/me", &as_worker)
            .unwrap()
            .status,
        200,
        "B knows the token"
    );

    let r = process::request(
        a.addr,
        "DELETE",
        &format!("/api/v1/p/worker-token/tokens/{id}"),
        &admin,
        "",
    )
    .unwrap();
    assert_eq!(r.status, 204);
    let revoked = Instant::now();
    assert_eq!(
        process::get(a.addr, "/api/v1/me", &as_worker)
            .unwrap()
            .status,
        401,
        "A at once"
    );
    loop {
        let status = process::get(b.addr, "/api/v1/me", &as_worker)
            .unwrap()
            .status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still accepts the revoked token after 1 s"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Out of process, the server serves the same API: the same merged document, the same
/// plugins listed with the same routes and migrations (hello, worker-token and audit-log each
/// in its own process, or all linked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_process_the_server_serves_the_same_api() {
    let names = ["hello", "worker-token", "audit-log"];
    let linked = fixture_in(Db::Sqlite, Mode::Linked, &names, |_| {})
        .await
        .unwrap();
    let process = fixture_in(Db::Sqlite, Mode::Process, &names, |_| {})
        .await
        .unwrap();
    let spec = |f: &Fixture| {
        let router = f.router.clone();
        async move {
            send(
                &router,
                Request::get("/api-docs/openapi.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .json()
        }
    };
    assert_eq!(spec(&linked).await, spec(&process).await);
    let listing = |f: &Fixture| {
        let router = f.router.clone();
        async move {
            let mut plugins = send(&router, get_as("/_/plugins", ADMIN)).await.json();
            for p in plugins.as_array_mut().unwrap() {
                let p = p.as_object_mut().unwrap();
                // Where it runs, and when its migrations and tasks ran, differ by nature.
                p.remove("process");
                for m in p["migrations"].as_array_mut().unwrap() {
                    m.as_object_mut().unwrap().remove("applied_at");
                }
                for t in p["tasks"].as_array_mut().unwrap() {
                    let t = t.as_object_mut().unwrap();
                    t.remove("last_run");
                    t.remove("next_run_at");
                }
            }
            plugins
        }
    };
    assert_eq!(listing(&linked).await, listing(&process).await);
}

#[tokio::test]
async fn a_token_grants_the_permissions_it_was_created_with() {
    token_scopes(Mode::Linked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_grants_the_permissions_it_was_created_with_out_of_process() {
    token_scopes(Mode::Process).await;
}

/// Scopes: a token grants its worker exactly the permissions it was created with (listed,
/// in `/api/v1/me`, enforced), and never more than its creator holds.
async fn token_scopes(mode: Mode) {
    let f = fixture_as(Db::Sqlite, mode).await.unwrap();
    const TOKENS: &str = "/api/v1/p/worker-token/tokens";
    const HELLO_ME: &str = "/api/v1/p/hello/me";

    // No permissions: authenticated, but every permissioned route is a 403.
    let (bare, created) = create_worker_token(&f, json!({"display_name": "bare"})).await;
    assert_eq!(created["permissions"], json!([]));
    let r = send(&f.router, get_as(HELLO_ME, &bare)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // `hello:read` only: hello's route answers, worker-token's do not.
    let (reader, created) = create_worker_token(
        &f,
        json!({"display_name": "reader", "permissions": ["hello:read", "hello:read"]}),
    )
    .await;
    assert_eq!(
        created["permissions"],
        json!(["hello:read"]),
        "duplicates once"
    );
    let id = created["id"].as_str().unwrap();
    let r = send(&f.router, get_as(HELLO_ME, &reader)).await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::OK,
            json!({"message": format!("Hello, worker-token:{id}!")})
        )
    );
    let me = send(&f.router, get_as("/api/v1/me", &reader)).await.json();
    assert_eq!(me["permissions"], json!(["hello:read"]), "{me}");
    assert_eq!(me["principal_type"], "worker", "{me}");
    let r = send(&f.router, get_as(TOKENS, &reader)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let listed = send(&f.router, get_as(TOKENS, ADMIN)).await.json();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap();
    assert_eq!(row["permissions"], json!(["hello:read"]));

    // A worker allowed to create tokens grants only what it holds itself.
    let (creator, _) = create_worker_token(
        &f,
        json!({"display_name": "creator", "permissions": ["worker_token:create", "hello:read"]}),
    )
    .await;
    let r = send(
        &f.router,
        post_json_as(
            TOKENS,
            &creator,
            json!({"display_name": "child", "permissions": ["hello:read"]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for (wider, message) in [
        (
            json!(["worker_token:revoke"]),
            "you cannot grant `worker_token:revoke`: a token grants only permissions its creator holds",
        ),
        (
            json!(["*"]),
            "you cannot grant `*`: a token grants only permissions its creator holds",
        ),
    ] {
        let r = send(
            &f.router,
            post_json_as(
                TOKENS,
                &creator,
                json!({"display_name": "wider", "permissions": wider}),
            ),
        )
        .await;
        assert_eq!(
            (r.status, r.json()),
            (StatusCode::FORBIDDEN, error("forbidden", message))
        );
    }
    let r = send(
        &f.router,
        post_json_as(
            TOKENS,
            ADMIN,
            json!({"display_name": "bad", "permissions": ["Not A Permission"]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("permissions[0]"), "{}", r.body);
}
