//! Periodic tasks: runs every running plugin's `#[task(every = "…")]` methods on schedule,
//! once per interval across all replicas sharing the database, and keeps each task's last
//! result for `GET /_/plugins`.
//!
//! The schedule lives in the core table `task_run`, one row per (plugin, task): when the
//! task is next due and how its last run went. A replica runs a due task only after
//! **claiming** it — one conditional `UPDATE` that moves `next_due_ms` on by the interval,
//! and succeeds for exactly one replica (both databases serialise it). On PostgreSQL the run
//! also holds a session advisory lock for the task (on one connection per replica kept
//! outside the pool), so a run that outlasts its interval is not started again elsewhere
//! while it goes on. A new task is due at once; a restart does
//! not run a task again before its next due time.
//!
//! A task that returns an error or panics is logged and recorded; its next run happens as
//! usual. At shutdown no run starts any more, a run in progress gets the shutdown grace to
//! finish and is cancelled after it; this happens before the stop hooks.
//!
//! This module owns the schedule and the runs; what a task does is the plugin's.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flovyn_sdk::Dialect;
use flovyn_sdk::descriptor::{Task, TaskId};
use flovyn_sdk::host::PluginInstance;
use futures_util::FutureExt as _;
use sqlx::AnyConnection;
use sqlx::Row as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::host::RunningPlugin;
use crate::store::db::Database;

/// The first key of the two-key advisory locks tasks hold on PostgreSQL (`"flvt"`); the
/// second is a hash of the plugin and task names.
const TASK_LOCK_CLASS: i32 = i32::from_be_bytes(*b"flvt");

/// How long a replica waits before reading a schedule again after a database error.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// How long, past the grace, stopping waits for a cancelled run to be recorded.
const RECORD_TIMEOUT: Duration = Duration::from_secs(2);

/// The runner of every task of the running plugins.
#[derive(Debug)]
pub struct Scheduler {
    stop: watch::Sender<Option<Duration>>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

/// One task as `/_/plugins` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TaskStatus {
    /// The task's name.
    pub name: &'static str,
    /// Its interval as declared (`1h`).
    pub every: &'static str,
    /// When it is next due (RFC 3339 UTC); `null` before the first schedule exists.
    pub next_run_at: Option<String>,
    /// Its last run, on whichever replica ran it; `null` if it never ran.
    pub last_run: Option<LastRun>,
}

/// How a task's last run went.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LastRun {
    /// When it started.
    pub started_at: String,
    /// When it finished; `null` while it runs.
    pub finished_at: Option<String>,
    /// `ok`, `error`, `panicked` or `cancelled` (still running at shutdown); `null` while
    /// it runs.
    pub result: Option<String>,
    /// The error, for `error`.
    pub error: Option<String>,
    /// The replica that ran it (`<host>/<pid>`).
    pub replica: Option<String>,
}

impl Scheduler {
    /// Starts one schedule loop per task of `plugins`.
    pub fn start(db: &Database, plugins: &[RunningPlugin]) -> Scheduler {
        let (stop, stopped) = watch::channel(None);
        let replica = Arc::<str>::from(crate::replica::name());
        let locks = Arc::new(LockSession::new(db));
        let mut loops = Vec::new();
        for p in plugins {
            for (i, task) in p.descriptor.tasks.iter().enumerate() {
                // Checked with the descriptor at start-up: a task's interval is valid.
                let Some(every) = task.interval() else {
                    tracing::error!(plugin = %p.descriptor.name, task = %task.name, every = %task.every, "not scheduled: invalid interval");
                    continue;
                };
                let schedule = Schedule {
                    db: db.clone(),
                    plugin: &p.descriptor.name,
                    id: TaskId(u32::try_from(i).unwrap_or(u32::MAX)),
                    task,
                    every,
                    instance: p.instance.clone(),
                    replica: replica.clone(),
                    locks: locks.clone(),
                };
                loops.push(tokio::spawn(schedule.run(stopped.clone())));
            }
        }
        Scheduler {
            stop,
            loops: Mutex::new(loops),
        }
    }

    /// Starts no run any more; a run in progress gets `grace` to finish, then is cancelled
    /// and recorded `cancelled`. Returns when every loop has ended.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        let loops = std::mem::take(&mut *self.loops.lock().unwrap_or_else(|e| e.into_inner()));
        let aborts: Vec<_> = loops.iter().map(|l| l.abort_handle()).collect();
        let all = futures_util::future::join_all(loops);
        tokio::pin!(all);
        // The loops cancel their own runs after the grace; this only guards against a
        // database that no longer answers the recording of the outcome.
        if tokio::time::timeout(grace + RECORD_TIMEOUT, &mut all)
            .await
            .is_err()
        {
            tracing::warn!("periodic tasks did not stop in time: aborted");
            aborts.iter().for_each(|a| a.abort());
            let _ = all.await;
        }
    }
}

/// Every task of `plugins` with its schedule and last run, as stored.
pub async fn status(
    db: &Database,
    plugin: &'static str,
    tasks: &'static [Task],
) -> Result<Vec<TaskStatus>, sqlx::Error> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let row = sqlx::query(
            "SELECT next_due_ms, last_started_at, last_finished_at, last_result, last_error, last_replica FROM task_run WHERE plugin = $1 AND task = $2",
        )
        .bind(plugin)
        .bind(t.name.as_str())
        .fetch_optional(db.pool())
        .await?;
        let (next_run_at, last_run) = match row {
            None => (None, None),
            Some(row) => {
                let next: i64 = row.try_get("next_due_ms")?;
                let started: Option<String> = row.try_get("last_started_at")?;
                let last = match started {
                    None => None,
                    Some(started_at) => Some(LastRun {
                        started_at,
                        finished_at: row.try_get("last_finished_at")?,
                        result: row.try_get("last_result")?,
                        error: row.try_get("last_error")?,
                        replica: row.try_get("last_replica")?,
                    }),
                };
                (Some(rfc3339_ms(next)), last)
            }
        };
        out.push(TaskStatus {
            name: &t.name,
            every: &t.every,
            next_run_at,
            last_run,
        });
    }
    Ok(out)
}

/// One task's loop on this replica.
struct Schedule {
    db: Database,
    plugin: &'static str,
    /// The task's position in the plugin's descriptor: how the plugin is asked to run it.
    id: TaskId,
    task: &'static Task,
    every: Duration,
    instance: Arc<dyn PluginInstance>,
    replica: Arc<str>,
    locks: Arc<LockSession>,
}

/// `None` while the server runs; `Some(grace)` once it stops.
type Stop = watch::Receiver<Option<Duration>>;

impl Schedule {
    async fn run(self, mut stop: Stop) {
        let every = self.every;
        loop {
            let wait = match self.next_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis(
                        u64::try_from(due.saturating_sub(crate::replica::now_ms())).unwrap_or(0),
                    )
                    // A clock far ahead on another replica must not park the task.
                    .min(every)
                }
                Ok(None) => match self.create_row().await {
                    // New, or the row went away: due at once.
                    Ok(()) => Duration::ZERO,
                    Err(e) => {
                        tracing::error!(plugin = self.plugin, task = %self.task.name, error = %e, "could not schedule the task");
                        RETRY_AFTER_ERROR.min(every)
                    }
                },
                Err(e) => {
                    tracing::warn!(plugin = self.plugin, task = %self.task.name, error = %e, "could not read the task's schedule");
                    RETRY_AFTER_ERROR.min(every)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(Option::is_some) => return,
            }
            match self.claim(every).await {
                // Stopping began while claiming: the tick is spent, no run starts.
                Ok(true) if stop.borrow().is_some() => return,
                Ok(true) => self.run_once(&mut stop).await,
                Ok(false) => {} // another replica has it, or it is not due yet
                Err(e) => {
                    tracing::warn!(plugin = self.plugin, task = %self.task.name, error = %e, "could not claim the task");
                }
            }
        }
    }

    async fn create_row(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO task_run (plugin, task, next_due_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(self.plugin)
        .bind(self.task.name.as_str())
        .bind(crate::replica::now_ms())
        .execute(self.db.pool())
        .await
        .map(|_| ())
    }

    async fn next_due(&self) -> Result<Option<i64>, sqlx::Error> {
        let row = sqlx::query("SELECT next_due_ms FROM task_run WHERE plugin = $1 AND task = $2")
            .bind(self.plugin)
            .bind(self.task.name.as_str())
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| r.try_get::<i64, _>("next_due_ms")).transpose()
    }

    /// Takes this tick for this replica: true for exactly one replica per due time. Only
    /// moves the due time on; the run is recorded once it starts (see `run_once`).
    async fn claim(&self, every: Duration) -> Result<bool, sqlx::Error> {
        let now = crate::replica::now_ms();
        let next = now.saturating_add(i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
        let claimed = sqlx::query(
            "UPDATE task_run SET next_due_ms = $1 WHERE plugin = $2 AND task = $3 AND next_due_ms <= $4",
        )
        .bind(next)
        .bind(self.plugin)
        .bind(self.task.name.as_str())
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Runs the task once — on PostgreSQL under its advisory lock, skipping the tick when
    /// the previous run still holds it — and records the run: its start, then its outcome.
    async fn run_once(&self, stop: &mut Stop) {
        let key = lock_key(self.plugin, &self.task.name);
        if self.db.dialect() == Dialect::Postgres {
            match self.locks.try_lock(key).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        plugin = self.plugin,
                        task = %self.task.name,
                        "tick skipped: the previous run is still going on another replica"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(plugin = self.plugin, task = %self.task.name, error = %e, "tick skipped: could not take the task's lock");
                    return;
                }
            }
        }
        let started_at = flovyn_sdk::time::now_rfc3339();
        let recorded = sqlx::query(
            "UPDATE task_run SET last_started_at = $1, last_finished_at = NULL, last_result = NULL, last_error = NULL, last_replica = $2 WHERE plugin = $3 AND task = $4",
        )
        .bind(&started_at)
        .bind(&*self.replica)
        .bind(self.plugin)
        .bind(self.task.name.as_str())
        .execute(self.db.pool())
        .await;
        if let Err(e) = recorded {
            tracing::warn!(plugin = self.plugin, task = %self.task.name, error = %e, "could not record the task's start");
        }

        let timer = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = self.call() => outcome,
            _ = cancelled(stop) => Outcome::Cancelled,
        };
        if self.db.dialect() == Dialect::Postgres {
            self.locks.unlock(key).await;
        }
        let ms = timer.elapsed().as_millis();
        let (result, error) = match outcome {
            Outcome::Ok => {
                tracing::info!(plugin = self.plugin, task = %self.task.name, ms, "task ran");
                ("ok", None)
            }
            Outcome::Failed(e) => {
                tracing::error!(plugin = self.plugin, task = %self.task.name, error = %e, "task failed");
                ("error", Some(e))
            }
            Outcome::Panicked => {
                tracing::error!(plugin = self.plugin, task = %self.task.name, "task panicked");
                ("panicked", None)
            }
            Outcome::Cancelled => {
                tracing::warn!(
                    plugin = self.plugin,
                    task = %self.task.name,
                    ms,
                    "task cancelled at shutdown"
                );
                ("cancelled", None)
            }
        };
        // Keyed on this run, so that another replica's later run is never overwritten.
        let recorded = sqlx::query(
            "UPDATE task_run SET last_finished_at = $1, last_result = $2, last_error = $3 WHERE plugin = $4 AND task = $5 AND last_replica = $6 AND last_started_at = $7",
        )
        .bind(flovyn_sdk::time::now_rfc3339())
        .bind(result)
        .bind(error)
        .bind(self.plugin)
        .bind(self.task.name.as_str())
        .bind(&*self.replica)
        .bind(&started_at)
        .execute(self.db.pool())
        .await;
        if let Err(e) = recorded {
            tracing::warn!(plugin = self.plugin, task = %self.task.name, error = %e, "could not record the task's result");
        }
    }

    async fn call(&self) -> Outcome {
        match AssertUnwindSafe(self.instance.run_task(self.id))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(_) => Outcome::Panicked,
        }
    }
}

/// Resolves once the server has been stopping for its grace period: a run still going then
/// is cancelled.
async fn cancelled(stop: &mut Stop) {
    let grace = match stop.wait_for(Option::is_some).await {
        Ok(grace) => grace.unwrap_or_default(),
        // The scheduler is gone: nothing will stop the run from here.
        Err(_) => Duration::MAX,
    };
    tokio::time::sleep(grace).await;
}

enum Outcome {
    Ok,
    Failed(String),
    Panicked,
    Cancelled,
}

/// The session holding this replica's task locks on PostgreSQL: one connection taken out of
/// the pool for good, so that long runs never keep pooled connections from requests.
///
/// Advisory locks belong to the session: if the connection breaks, every lock it held is
/// released with it, and the next lock opens a new connection.
#[derive(Debug)]
struct LockSession {
    db: Database,
    conn: tokio::sync::Mutex<Option<AnyConnection>>,
}

impl LockSession {
    fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            conn: tokio::sync::Mutex::new(None),
        }
    }

    /// Takes `key`'s lock if it is free.
    async fn try_lock(&self, key: i32) -> Result<bool, sqlx::Error> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            *slot = Some(self.db.pool().acquire().await?.detach());
        }
        let conn = slot.as_mut().expect("just opened");
        let locked = sqlx::query("SELECT pg_try_advisory_lock($1, $2) AS locked")
            .bind(TASK_LOCK_CLASS)
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<bool, _>("locked"));
        if locked.is_err() {
            // A broken session holds nothing any more; start afresh next time.
            *slot = None;
        }
        locked
    }

    /// Releases `key`'s lock.
    async fn unlock(&self, key: i32) {
        let mut slot = self.conn.lock().await;
        let Some(conn) = slot.as_mut() else { return };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(TASK_LOCK_CLASS)
            .bind(key)
            .execute(&mut *conn)
            .await;
        if let Err(e) = unlocked {
            tracing::warn!(error = %e, "could not release a task lock: closing its session");
            // Closing the session releases its locks.
            *slot = None;
        }
    }
}

/// A stable 32-bit key for (plugin, task): FNV-1a, the same on every replica and build.
fn lock_key(plugin: &str, task: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in plugin.bytes().chain([b'/']).chain(task.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_be_bytes(hash.to_be_bytes())
}

fn rfc3339_ms(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    flovyn_sdk::time::rfc3339(ms / 1000, (ms % 1000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_pinned_and_tell_tasks_apart() {
        // Pinned: replicas of different builds must agree on it during a rolling deploy.
        assert_eq!(lock_key("audit-log", "prune_expired"), -758_531_734);
        assert_ne!(
            lock_key("audit-log", "prune"),
            lock_key("audit-log", "compact")
        );
        assert_ne!(lock_key("audit-log", "prune"), lock_key("archive", "prune"));
    }
}
