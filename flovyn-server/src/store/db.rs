//! The database: one sqlx `AnyPool` for SQLite (the embedded default) or PostgreSQL, and
//! which of the two it is. Knows nothing about plugins.
//!
//! This module owns opening the pool: telling the two databases apart by URL, creating the
//! SQLite file when it is missing, the per-connection SQLite settings (busy timeout, foreign
//! keys, WAL) and error messages that never show a password. Why one `AnyPool` rather than
//! a pool per database: `docs/decisions/0005-database-access.md`.

use std::time::Duration;

use flovyn_sdk::Dialect;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// The default `DATABASE_URL`: a SQLite file `flovyn.db` in the working directory, created
/// if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://flovyn.db?mode=rwc";

/// How long a SQLite connection waits for another connection's (or process's) write lock
/// before giving up with "database is locked". Several server processes may share one file
/// (e.g. replicas starting together run their migrations one after the other).
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Most connections the pool opens to PostgreSQL.
const PG_MAX_CONNECTIONS: u32 = 10;

/// Most connections the pool opens to a SQLite file. SQLite has one writer at a time, so
/// more connections only help concurrent readers.
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names neither SQLite nor PostgreSQL (shown without its password).
    #[error("unsupported database URL `{0}`: use `sqlite://…` or `postgres://…`")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL without its password.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Connected, but preparing the connection (SQLite journal mode) failed.
    #[error("cannot prepare the database {url}: {source}")]
    Setup {
        /// The URL without its password.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// How to open the pool; [`Database::connect`] uses the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbOptions {
    /// How long to keep trying to open the first connection (the database may still be
    /// starting) before giving up. Default 30 s.
    pub connect_timeout: Duration,
    /// How long a query waits for a connection from the pool before it fails with
    /// `PoolTimedOut` (answered 503). Default 5 s.
    pub acquire_timeout: Duration,
    /// Most connections in the pool; default 10 for PostgreSQL, 8 for a SQLite file, and
    /// always 1 for `sqlite::memory:`.
    pub max_connections: Option<u32>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(5),
            max_connections: None,
        }
    }
}

impl DbOptions {
    /// The defaults with another connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The defaults with another acquire timeout.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The defaults with another pool size.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max);
        self
    }
}

/// Waits for `pool`'s first connection for up to `within` (the database may still be
/// starting): a refused or timed-out attempt is tried again; any other error (bad
/// credentials, a missing database) is final at once.
async fn first_connection(pool: &AnyPool, within: Duration) -> Result<(), sqlx::Error> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let error = match tokio::time::timeout(left, pool.acquire()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut))) => e,
            Ok(Err(e)) => return Err(e),
            Err(_) => sqlx::Error::PoolTimedOut,
        };
        if tokio::time::Instant::now() + Duration::from_millis(100) >= deadline {
            return Err(error);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A connected database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    dialect: Dialect,
}

impl Database {
    /// Connects to `url` (`sqlite://…`, `sqlite::memory:`, `postgres://…` or
    /// `postgresql://…`).
    ///
    /// SQLite: the file is created if it is missing (unless the URL sets its own `mode`),
    /// foreign keys are enforced, a connection waits up to [`SQLITE_BUSY_TIMEOUT`] for a
    /// lock held by another connection or process, and a file database is switched to WAL
    /// so readers do not block the writer. `sqlite::memory:` gets a single connection that
    /// is never recycled, because every connection would otherwise see its own empty
    /// database.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// [`Database::connect`] with explicit [`DbOptions`].
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let dialect = dialect_of(url).ok_or_else(|| DbError::UnsupportedUrl(redact(url)))?;
        let connect_err = |source| DbError::Connect {
            url: redact(url),
            source,
        };
        let pool = match dialect {
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(options.acquire_timeout)
                    .max_connections(options.max_connections.unwrap_or(PG_MAX_CONNECTIONS))
                    .connect_lazy(url)
                    .map_err(connect_err)?;
                first_connection(&pool, options.connect_timeout)
                    .await
                    .map_err(connect_err)?;
                pool
            }
            Dialect::Sqlite => {
                let url = sqlite_url(url);
                let pool_options = AnyPoolOptions::new()
                    .acquire_timeout(options.acquire_timeout)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // sqlx-sqlite already defaults to both, but through `Any` they cannot
                            // be set by URL, so they are stated here rather than assumed.
                            sqlx::raw_sql(SQLITE_CONNECTION_PRAGMAS)
                                .execute(conn)
                                .await
                                .map(drop)
                        })
                    });
                let pool_options = if is_sqlite_memory(&url) {
                    pool_options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    pool_options
                        .max_connections(options.max_connections.unwrap_or(SQLITE_MAX_CONNECTIONS))
                };
                let pool = pool_options.connect_lazy(&url).map_err(connect_err)?;
                first_connection(&pool, options.connect_timeout)
                    .await
                    .map_err(connect_err)?;
                if !is_sqlite_memory(&url) {
                    enable_wal(&pool).await.map_err(|source| DbError::Setup {
                        url: redact(&url),
                        source,
                    })?;
                }
                pool
            }
        };
        Ok(Self { pool, dialect })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The handle plugins receive through their context.
    pub fn plugin_handle(&self) -> flovyn_sdk::Database {
        flovyn_sdk::Database::new(self.pool.clone(), self.dialect)
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes every connection of the pool (clones included) and waits for them.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Run on every new SQLite connection. The busy timeout is in milliseconds and matches
/// [`SQLITE_BUSY_TIMEOUT`].
const SQLITE_CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// Which database `url` names, by its scheme.
pub fn dialect_of(url: &str) -> Option<Dialect> {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("sqlite:") {
        Some(Dialect::Sqlite)
    } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Some(Dialect::Postgres)
    } else {
        None
    }
}

/// `url` with `mode=rwc` added when it sets no `mode`, so the file is created if missing,
/// as the default URL does. An explicit `mode=ro`/`mode=rw` is respected.
fn sqlite_url(url: &str) -> String {
    if is_sqlite_memory(url) || url.contains("mode=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Switches a SQLite file to write-ahead logging: readers no longer block the writer, which
/// matters for a server answering requests while it writes.
///
/// WAL is a property of the file, so once one process has switched it, every later
/// connection uses it. Switching needs an exclusive lock that SQLite's busy handler does not
/// wait for, so several processes opening a new file at the same moment can see "database is
/// locked" here: retry for as long as the busy timeout.
async fn enable_wal(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let deadline = tokio::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    loop {
        match sqlx::raw_sql("PRAGMA journal_mode = WAL")
            .execute(pool)
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) if is_sqlite_busy(&err) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), including their extended codes.
pub(crate) fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    match db.code().and_then(|code| code.parse::<i64>().ok()) {
        Some(code) => matches!(code & 0xff, 5 | 6),
        None => db.message().contains("database is locked"),
    }
}

/// `url` with the password (if any) replaced by `***`, for messages and logs.
///
/// ```
/// use flovyn_server::store::db::redact;
///
/// assert_eq!(
///     redact("postgres://app:s3cret@db:5432/flovyn"),
///     "postgres://app:***@db:5432/flovyn"
/// );
/// assert_eq!(redact("sqlite://flovyn.db?mode=rwc"), "sqlite://flovyn.db?mode=rwc");
/// ```
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    // userinfo is between `://` and the last `@` of the authority (a password may contain
    // `@` only percent-encoded, but be lenient and take the last one before the path).
    if let Some(scheme_end) = url.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &url[rest_start..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                let end = rest_start + at;
                out.replace_range(start..end, "***");
            }
        }
    }
    // `?password=…` is accepted by PostgreSQL URLs too.
    redact_query_password(&out)
}

fn redact_query_password(url: &str) -> String {
    let Some(query_start) = url.find('?') else {
        return url.to_owned();
    };
    let (head, query) = url.split_at(query_start + 1);
    let params: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgresql://u:p%40ss@h/db?sslmode=disable&password=x"),
            "postgresql://u:***@h/db?sslmode=disable&password=***"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn tells_databases_apart() {
        assert_eq!(dialect_of("sqlite::memory:"), Some(Dialect::Sqlite));
        assert_eq!(dialect_of(DEFAULT_DATABASE_URL), Some(Dialect::Sqlite));
        assert_eq!(dialect_of("postgres://h/db"), Some(Dialect::Postgres));
        assert_eq!(dialect_of("postgresql://h/db"), Some(Dialect::Postgres));
        assert_eq!(dialect_of("mysql://h/db"), None);
    }

    #[test]
    fn creates_sqlite_files_unless_told_otherwise() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[tokio::test]
    async fn memory_database_keeps_its_tables() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (id INTEGER)")
            .execute(db.pool())
            .await
            .unwrap();
        for _ in 0..3 {
            sqlx::raw_sql("INSERT INTO t VALUES (1)")
                .execute(db.pool())
                .await
                .unwrap();
        }
    }

    async fn pragma(db: &Database, name: &str) -> String {
        use sqlx::Row;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(db.pool())
            .await
            .unwrap();
        row.try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_file_is_created_and_set_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let db = Database::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(path.exists());
        assert_eq!(db.dialect(), Dialect::Sqlite);
        assert_eq!(pragma(&db, "journal_mode").await, "wal");
        assert_eq!(pragma(&db, "foreign_keys").await, "1");
        assert_eq!(pragma(&db, "busy_timeout").await, "5000");
        // A second process-like pool on the same file sees the same settings.
        let again = Database::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert_eq!(pragma(&again, "journal_mode").await, "wal");
    }

    #[tokio::test]
    async fn connect_errors_hide_the_password() {
        // Port 1 on loopback refuses at once.
        let err = Database::connect_with(
            "postgres://app:topsecret@127.0.0.1:1/flovyn",
            DbOptions::default().connect_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&format!(" / {s}"));
            source = s.source();
        }
        assert!(!text.contains("topsecret"), "{text}");
        assert!(
            text.contains("postgres://app:***@127.0.0.1:1/flovyn"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn unsupported_url_hides_the_password() {
        let err = Database::connect("mysql://u:topsecret@h/db")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("mysql://u:***@h/db"), "{text}");
    }
}
