//! The audit trail survives crashes (decision 0014): the real server is SIGKILLed three times
//! while worker tokens are created and revoked through its API, 8 requests at a time; after a
//! last restart, the audit log holds exactly one `token-created` row per token that exists and
//! one `token-revoked` row per token that is revoked — none missing, none twice — on SQLite
//! and PostgreSQL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use flovyn_server::store::db::Database;
use sqlx::Row as _;

use crate::http::ADMIN;
use crate::support::pg;
use crate::support::process::{Server, request};

const TOKENS: usize = 1000;
const AT_ONCE: usize = 8;
/// The server is killed when this many tokens were created (by the clients' count).
const KILL_AT: [usize; 3] = [120, 360, 600];

/// A killed server keeps the audit log's lease until it expires: 2 s here instead of 30.
fn start(dir: &Path, url: &str) -> Server {
    start_with(dir, url, &[])
}

fn start_with(dir: &Path, url: &str, env: &[(&str, &str)]) -> Server {
    let mut all = vec![
        ("DATABASE_URL", url),
        ("FLOVYN_ADMIN_TOKEN", ADMIN),
        ("FLOVYN_EVENTS__LEASE_SECS", "2"),
    ];
    all.extend_from_slice(env);
    Server::start(dir, &all)
}

fn kill(server: Server) {
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    drop(server);
}

fn crash_consistency(dir: &Path, url: &str) {
    let auth = format!("Bearer {ADMIN}");
    let mut server = start(dir, url);
    let addr = Arc::new(RwLock::new(server.addr));
    let next = Arc::new(AtomicUsize::new(0));
    let created = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let (addr, next, created, auth) =
                (addr.clone(), next.clone(), created.clone(), auth.clone());
            std::thread::spawn(move || {
                let headers = [
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ];
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= TOKENS {
                        break;
                    }
                    let at: SocketAddr = *addr.read().unwrap();
                    let body = format!(r#"{{"display_name":"crash-{i}"}}"#);
                    let id =
                        match request(at, "POST", "/api/v1/p/worker-token/tokens", &headers, &body)
                        {
                            Ok(r) if r.status == 201 => {
                                created.fetch_add(1, Ordering::SeqCst);
                                r.json()["id"].as_str().unwrap().to_owned()
                            }
                            // The server is down or going down: this one may or may not exist.
                            _ => {
                                std::thread::sleep(Duration::from_millis(20));
                                continue;
                            }
                        };
                    if i % 2 == 0 {
                        let path = format!("/api/v1/p/worker-token/tokens/{id}");
                        let _ = request(at, "DELETE", &path, &headers, "");
                    }
                }
            })
        })
        .collect();

    for at in KILL_AT {
        let deadline = Instant::now() + Duration::from_secs(60);
        while created.load(Ordering::SeqCst) < at {
            assert!(
                Instant::now() < deadline,
                "fewer than {at} tokens created in 60 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        kill(server);
        server = start(dir, url);
        *addr.write().unwrap() = server.addr;
    }
    for client in clients {
        client.join().unwrap();
    }

    // Everything committed gets delivered: wait for the audit log's backlog to drain.
    let headers = [("authorization", auth.as_str())];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = request(server.addr, "GET", "/_/plugins", &headers, "").unwrap();
        let plugins = r.json();
        let audit = plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "audit-log")
            .unwrap()
            .clone();
        assert_eq!(
            audit["delivery"]["dead_letters"],
            serde_json::json!([]),
            "{audit}"
        );
        if audit["delivery"]["backlog"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the audit log did not catch up: {audit}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = Database::connect(url).await.unwrap();
        let tokens: Vec<(String, bool)> =
            sqlx::query("SELECT id, revoked_at FROM p_worker_token__tokens")
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|row| {
                    let revoked: Option<String> = row.get("revoked_at");
                    (row.get("id"), revoked.is_some())
                })
                .collect();
        let mut audited: HashMap<(String, String), i64> = HashMap::new();
        for row in sqlx::query(
            "SELECT event, subject, COUNT(*) AS n FROM p_audit_log__events \
             WHERE event LIKE 'worker-token.%' GROUP BY event, subject",
        )
        .fetch_all(db.pool())
        .await
        .unwrap()
        {
            audited.insert((row.get("event"), row.get("subject")), row.get("n"));
        }
        assert!(tokens.len() >= KILL_AT[2], "only {} tokens", tokens.len());
        let revoked = tokens.iter().filter(|(_, r)| *r).count();
        assert!(revoked > 0);
        for (id, is_revoked) in &tokens {
            let created = audited
                .remove(&("worker-token.token-created".to_owned(), id.clone()))
                .unwrap_or(0);
            assert_eq!(created, 1, "token {id}: {created} `token-created` rows");
            let revoked_rows = audited
                .remove(&("worker-token.token-revoked".to_owned(), id.clone()))
                .unwrap_or(0);
            assert_eq!(
                revoked_rows,
                i64::from(*is_revoked),
                "token {id} (revoked: {is_revoked}): {revoked_rows} `token-revoked` rows"
            );
        }
        assert!(
            audited.is_empty(),
            "audit rows for tokens that do not exist: {audited:?}"
        );
        eprintln!(
            "{} tokens ({revoked} revoked) across 3 SIGKILLs: audit log complete",
            tokens.len()
        );
    });
    drop(server);
}

#[test]
fn the_audit_log_is_complete_after_sigkills_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("flovyn.db").display());
    crash_consistency(dir.path(), &url);
}

#[test]
fn the_audit_log_is_complete_after_sigkills_on_postgres() {
    let Some(server) = pg::shared() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(server.fresh_database());
    drop(runtime);
    let dir = tempfile::tempdir().unwrap();
    crash_consistency(dir.path(), &url);
}

/// Two replicas on one PostgreSQL database: tokens created on both are audited once each
/// (not once per replica), also those created on A just before A is killed.
#[test]
fn two_replicas_audit_each_event_once_even_when_one_dies() {
    let Some(pg) = pg::shared() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(pg.fresh_database());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Polling every 5 s: only `LISTEN/NOTIFY` can make delivery prompt across replicas.
    let slow_poll = [("FLOVYN_EVENTS__POLL_MS", "5000")];
    // B first: its deliverer takes the audit log's lease.
    let b = start_with(dir_b.path(), &url, &slow_poll);
    std::thread::sleep(Duration::from_millis(300));
    let a = start_with(dir_a.path(), &url, &slow_poll);
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let create = |at: SocketAddr, i: usize| {
        let body = format!(r#"{{"display_name":"replica-{i}"}}"#);
        let r = request(at, "POST", "/api/v1/p/worker-token/tokens", &headers, &body).unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    };
    let audited = |runtime: &tokio::runtime::Runtime| -> i64 {
        runtime.block_on(async {
            let db = Database::connect(&url).await.unwrap();
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM p_audit_log__events WHERE event = 'worker-token.token-created'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap()
        })
    };
    // Published on A, handled by B (which holds the lease) at once: woken by the notification.
    let published = Instant::now();
    create(a.addr, 0);
    while audited(&runtime) < 1 {
        assert!(
            published.elapsed() < Duration::from_millis(2500),
            "an event published on A was not handled by B within 2.5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "published on A, handled on B after {:?}",
        published.elapsed()
    );
    for i in 1..40 {
        create(if i % 2 == 0 { a.addr } else { b.addr }, i);
    }
    // Handled once in the cluster: the two replicas' delivery counters add up to 40.
    let delivered = |at: SocketAddr| -> u64 {
        let metrics = request(at, "GET", "/metrics", &[], "").unwrap().body;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("flovyn_events_delivered_total{plugin=\"audit-log\"} "))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivered(a.addr) + delivered(b.addr) < 40 {
        assert!(Instant::now() < deadline, "40 events not delivered in 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(delivered(a.addr) + delivered(b.addr), 40);
    // The last ones on A, then A dies at once: B delivers them when A's lease runs out.
    for i in 40..50 {
        create(a.addr, i);
    }
    kill(a);
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = loop {
        let n = audited(&runtime);
        if n >= 50 {
            break n;
        }
        assert!(Instant::now() < deadline, "only {n} of 50 tokens audited");
        std::thread::sleep(Duration::from_millis(100));
    };
    // And not more: give a duplicate time to show up.
    std::thread::sleep(Duration::from_millis(500));
    let (rows, distinct): (i64, i64) = runtime.block_on(async {
        let db = Database::connect(&url).await.unwrap();
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT subject) AS d FROM p_audit_log__events \
             WHERE event = 'worker-token.token-created'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        (row.get("n"), row.get("d"))
    });
    assert_eq!((counted, rows, distinct), (50, 50, 50));
    drop(b);
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A burst far beyond any queue: events land in the outbox at once (written straight into
/// the database, as that many committed publishes would leave them); the audit log records
/// every one, and the server's memory stays flat while it works through them. 10,000 in the
/// suite (a debug build records a few hundred a second here); `FLOVYN_TEST_BURST=100000` for
/// the full burst.
#[test]
fn a_burst_of_events_is_delivered_whole_in_bounded_memory() {
    let burst: i64 = std::env::var("FLOVYN_TEST_BURST")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("flovyn.db").display());
    let server = start(dir.path(), &url);
    let pid = server.child.id();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(Database::connect(&url)).unwrap();
    let before = rss_kib(pid);
    let started = Instant::now();
    runtime.block_on(async {
        let mut tx = flovyn_sdk::db::begin(db.pool()).await.unwrap();
        for i in 0..burst {
            let payload = format!(
                r#"{{"id":"burst-{i}","tenant":"default","display_name":"b","created_by":"admin","expires_at":null}}"#
            );
            sqlx::query(
                "INSERT INTO _event_outbox (event_id, name, publisher, payload, published_at) \
                 VALUES ($1, 'worker-token.token-created', 'worker-token', $2, $3)",
            )
            .bind(format!("00000000-0000-4000-8000-{i:012}"))
            .bind(payload)
            .bind(flovyn_sdk::time::now_rfc3339())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    });
    let metric = |name: &str| -> Option<f64> {
        let metrics = request(server.addr, "GET", "/metrics", &[], "")
            .unwrap()
            .body;
        let line = format!("{name}{{plugin=\"audit-log\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .map(|n| n.trim().parse().unwrap())
    };
    let mut peak = before;
    let mut largest_backlog = 0.0_f64;
    // A few hundred a second at worst: generous, but bounded.
    let deadline =
        Instant::now() + Duration::from_secs(60 + u64::try_from(burst / 100).unwrap_or(0));
    let recorded = loop {
        peak = peak.max(rss_kib(pid));
        largest_backlog = largest_backlog.max(metric("flovyn_event_backlog").unwrap_or(0.0));
        let n: i64 = runtime.block_on(async {
            sqlx::query_scalar("SELECT COUNT(*) FROM p_audit_log__events")
                .fetch_one(db.pool())
                .await
                .unwrap()
        });
        if n >= burst {
            break n;
        }
        assert!(Instant::now() < deadline, "only {n} of {burst} recorded");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(recorded, burst);
    let grown = peak.saturating_sub(before);
    eprintln!(
        "{burst} events recorded in {:?}; server memory {before} KiB before, {peak} KiB at peak",
        started.elapsed()
    );
    assert!(
        grown < 64 * 1024,
        "the server grew by {grown} KiB while delivering"
    );
    // What an operator watching /metrics saw: a backlog that grew and drained, and one
    // publish-to-handled latency per event.
    #[allow(clippy::cast_precision_loss)]
    let burst_f = burst as f64;
    assert!(
        largest_backlog > 0.0 && largest_backlog <= burst_f,
        "largest backlog seen: {largest_backlog}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric("flovyn_event_backlog") != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "the backlog gauge never went back to 0"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric("flovyn_event_delivery_latency_seconds_count"),
        Some(burst_f)
    );
    drop(server);
}
