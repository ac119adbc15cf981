//! The audit-log plugin end to end: worker-token and tenant events land in
//! `p_audit_log__events` and are read back through `GET /api/v1/p/audit-log/events` with
//! filters and cursor pagination, on SQLite and PostgreSQL; against the real binary with
//! the default plugin set; and its configuration section is checked at start-up.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use flovyn_sdk::db::sqlx::{self, Row as _};
use serde_json::{Value, json};

use flovyn_sdk::auth::{AuthOutcome, AuthRequest};
use flovyn_sdk::prelude::*;

use crate::http::{
    ADMIN, Db, Fixture, Mode, create_tenant, create_worker_token, fixture_in, fixture_with, get,
    get_as, send,
};
use crate::support::process::{self, Server};

const EVENTS: &str = "/api/v1/p/audit-log/events";

/// `Bearer reader-<tenant>`: a user of that tenant allowed to read the audit trail.
#[flovyn_plugin(name = "audit-readers")]
#[derive(Debug, Default)]
pub struct AuditReaders;

#[plugin_impl]
impl AuditReaders {
    /// Test readers.
    #[authenticator(scheme = "audit_reader")]
    async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        let Some(tenant) = request
            .bearer_token()
            .and_then(|t| t.strip_prefix("reader-"))
        else {
            return AuthOutcome::NotMine;
        };
        AuthOutcome::Authenticated(Identity {
            principal_id: format!("reader@{tenant}"),
            principal_type: PrincipalType::User,
            tenant: Some(tenant.to_owned()),
            roles: Vec::new(),
            permissions: vec!["audit_log:read".to_owned()],
        })
    }
}

async fn fixture(db: Db, mode: Mode) -> Option<Fixture> {
    fixture_in(db, mode, &["worker-token", "audit-log"], |_| {}).await
}

/// `GET /events?query` as the admin, waiting up to a second for `count` events.
async fn events_eventually(f: &Fixture, query: &str, count: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let r = send(&f.router, get_as(&format!("{EVENTS}?{query}"), ADMIN)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = r.json();
        if page["events"].as_array().unwrap().len() >= count {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {count} events after 1 s: {page}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn records_and_serves_events(db: Db, mode: Mode) {
    let Some(f) = fixture(db, mode).await else {
        return;
    };

    // A worker token created and revoked, a tenant created: three events.
    let (token, created) = create_worker_token(&f, json!({"display_name": "build-host-1"})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let page = events_eventually(&f, "", 1).await;
    let event = &page["events"][0];
    assert_eq!(event["event"], "worker-token.token-created");
    assert_eq!(event["publisher"], "worker-token");
    assert_eq!(event["tenant"], "default");
    assert_eq!(event["actor"], "admin");
    assert_eq!(event["subject"], id.as_str());
    assert_eq!(event["payload"]["display_name"], "build-host-1");
    assert!(
        !event.to_string().contains(&token),
        "the secret is never recorded"
    );
    assert_eq!(page["next_cursor"], Value::Null);

    let r = send(
        &f.router,
        axum::http::Request::delete(format!("/api/v1/p/worker-token/tokens/{id}"))
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    create_tenant(&f, "acme", "Acme").await;
    let page = events_eventually(&f, "", 3).await;
    let names: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "core.tenant-created",
            "worker-token.token-revoked",
            "worker-token.token-created"
        ],
        "newest first: a plugin gets its events in publish order, whatever their types"
    );

    // The rows are in the plugin's own table.
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM p_audit_log__events")
        .fetch_one(f.state.db().pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(count, 3);

    // Filters.
    let only = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = events_eventually(&f, "event=worker-token.token-revoked", 1).await;
    assert_eq!(only(&page), ["worker-token.token-revoked"]);
    let page = events_eventually(&f, "publisher=core", 1).await;
    assert_eq!(only(&page), ["core.tenant-created"]);
    assert_eq!(page["events"][0]["tenant"], "acme");
    let page = events_eventually(&f, "tenant=default&actor=admin", 2).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let page = events_eventually(&f, "since=2000-01-01T00:00:00Z", 3).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    let r = send(
        &f.router,
        get_as(&format!("{EVENTS}?until=2000-01-01T00:00:00Z"), ADMIN),
    )
    .await;
    assert_eq!(r.json()["events"], json!([]));

    // Pages of one, continued by cursor, cover everything once.
    let mut seen = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let r = send(&f.router, get_as(&format!("{EVENTS}?{query}"), ADMIN)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = r.json();
        seen.extend(only(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, names);

    // Bad input names the parameter; the spec publishes the bounds enforced.
    let spec = send(&f.router, get("/api-docs/openapi.json")).await.json();
    let limit = spec["paths"][EVENTS]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!(
        (&limit["minimum"], &limit["maximum"]),
        (&json!(1), &json!(500)),
        "{limit}"
    );
    for (query, needle) in [
        ("limit=0", "limit: 0 is less than the minimum of 1"),
        ("limit=501", "limit: 501 is greater than the maximum of 500"),
        ("limit=ten", "limit: \\\"ten\\\" is not of types"),
        ("cursor=zzz", "cursor: \\\"zzz\\\" does not match"),
        (
            "since=yesterday",
            "since: \\\"yesterday\\\" is not a \\\"date-time\\\"",
        ),
        ("until=", "until: \\\"\\\" is not a \\\"date-time\\\""),
    ] {
        let r = send(&f.router, get_as(&format!("{EVENTS}?{query}"), ADMIN)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(r.body.contains(needle), "{query}: {}", r.body);
    }
    // Any date-time the spec's `format: date-time` admits: an offset, any precision.
    for query in [
        "since=2026-01-31T10:00:00%2B02:00",
        "since=2026-01-31T08:00:00.123456Z&until=2999-12-31t23:59:59z",
    ] {
        let r = send(&f.router, get_as(&format!("{EVENTS}?{query}"), ADMIN)).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    }
    let since = spec["paths"][EVENTS]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "since")
        .unwrap()["schema"]
        .clone();
    assert_eq!(since["format"], "date-time", "{since}");

    // Reading the trail needs credentials and `audit_log:read`, which a worker lacks.
    let (worker, _) = create_worker_token(&f, json!({"display_name": "build-host-2"})).await;
    assert_eq!(
        send(&f.router, get(EVENTS)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = send(&f.router, get_as(EVENTS, &worker)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("audit_log:read"), "{}", r.body);
}

#[tokio::test]
async fn a_reader_other_than_the_admin_sees_its_own_tenants_events_only() {
    let Some(f) = fixture_with(
        Db::Sqlite,
        &["worker-token", "audit-log", "audit-readers"],
        |_| {},
    )
    .await
    else {
        return;
    };
    create_tenant(&f, "acme", "Acme").await;
    create_tenant(&f, "globex", "Globex").await;
    events_eventually(&f, "", 2).await;

    let r = send(&f.router, get_as(EVENTS, "reader-acme")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = r.json();
    let tenants: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["acme"]);
    let r = send(
        &f.router,
        get_as(&format!("{EVENTS}?tenant=globex"), "reader-acme"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = send(
        &f.router,
        get_as(&format!("{EVENTS}?tenant=acme"), "reader-acme"),
    )
    .await;
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn records_and_serves_events_on_sqlite() {
    records_and_serves_events(Db::Sqlite, Mode::Linked).await;
}

#[tokio::test]
async fn records_and_serves_events_on_postgres() {
    records_and_serves_events(Db::Postgres, Mode::Linked).await;
}

/// worker-token and audit-log each in its own process: the same flow, events through the
/// outbox from one process to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_serves_events_on_sqlite_out_of_process() {
    records_and_serves_events(Db::Sqlite, Mode::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_serves_events_on_postgres_out_of_process() {
    records_and_serves_events(Db::Postgres, Mode::Process).await;
}

#[tokio::test]
async fn an_unknown_key_in_its_section_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.audit-log]\nretention_days = 30\nretention_dayz = 7\n",
    )
    .unwrap();
    let out = process::run(dir.path(), &["serve"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugins.audit-log") && stderr.contains("unknown field `retention_dayz`"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("flovyn.db").exists(),
        "nothing is created before the configuration is valid"
    );

    // Zero days would empty the trail at every run.
    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.audit-log]\nretention_days = 0\n",
    )
    .unwrap();
    let out = process::run(dir.path(), &["serve"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("key `plugins.audit-log.retention_days`: 0 is less than the minimum of 1"),
        "{stderr}"
    );
}

/// The README's server, as a user runs it: every default plugin, SQLite in an empty
/// directory. A worker token created through the API is in the audit trail within a second.
#[test]
fn the_default_server_audits_a_new_worker_token_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = process::request(
        server.addr,
        "POST",
        "/api/v1/p/worker-token/tokens",
        &headers,
        r#"{"display_name": "build-host-1"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let created = Instant::now();
    loop {
        let r = process::get(server.addr, EVENTS, &headers[..1]).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let events = r.json()["events"].clone();
        if let Some(e) = events.as_array().unwrap().first() {
            assert_eq!(e["event"], "worker-token.token-created");
            assert_eq!(e["subject"], id.as_str());
            break;
        }
        assert!(
            created.elapsed() < Duration::from_secs(1),
            "no audit event 1 s after the token was created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn the_retention_task_deletes_events_older_than_retention_days() {
    let Some(f) = fixture_with(Db::Sqlite, &["audit-log"], |c| {
        c.plugins
            .insert("audit-log".into(), json!({"retention_days": 30}));
    })
    .await
    else {
        return;
    };
    let pool = f.state.db().pool();
    let insert = "INSERT INTO p_audit_log__events (occurred_at, event, publisher, payload) VALUES ($1, 'core.tenant-created', 'core', '{}')";
    let old = flovyn_sdk::time::at(std::time::SystemTime::now() - Duration::from_secs(31 * 86_400));
    let recent =
        flovyn_sdk::time::at(std::time::SystemTime::now() - Duration::from_secs(29 * 86_400));
    for at in [&old, &recent] {
        sqlx::query(insert).bind(at).execute(pool).await.unwrap();
    }

    // The task runs once at start-up and is shown with its schedule.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let list = send(&f.router, get_as("/_/plugins", ADMIN)).await.json();
        let task = &list[0]["tasks"][0];
        assert_eq!(
            (task["name"].as_str(), task["every"].as_str()),
            (Some("prune_expired"), Some("1h"))
        );
        if task["last_run"]["result"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "no run at start-up: {task}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Its next run, driven directly: only the recent event stays.
    let audit = f
        .state
        .plugins()
        .iter()
        .find(|p| p.descriptor.name == "audit-log")
        .unwrap();
    let prune = audit
        .descriptor
        .tasks
        .iter()
        .position(|t| t.name == "prune_expired")
        .unwrap();
    audit
        .instance
        .run_task(flovyn_sdk::descriptor::TaskId(prune as u32))
        .await
        .unwrap();
    let left: Vec<String> = sqlx::query("SELECT occurred_at FROM p_audit_log__events")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("occurred_at").unwrap())
        .collect();
    assert_eq!(left, [recent]);
    f.state.shutdown().await;
}
