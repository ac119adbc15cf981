//! One database per test, on SQLite (a temp file) and on the shared PostgreSQL, and the
//! macro that runs a scenario on both.

use flovyn_server::store::db::Database;
use flovyn_server::store::migrate;

use super::pg;

/// One database for one test: a SQLite file in a temp dir, or a fresh PostgreSQL database.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // No `mode=rwc`: the server must create the file anyway.
        let url = format!("sqlite://{}", dir.path().join("flovyn.db").display());
        Self {
            url,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<Self> {
        let server = pg::shared()?;
        Some(Self {
            url: server.fresh_database().await,
            _dir: None,
        })
    }

    pub async fn connect(&self) -> Database {
        Database::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Connected, with the core migrations applied.
    pub async fn ready(&self) -> Database {
        let db = self.connect().await;
        migrate::run_core(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db
    }
}

/// Runs scenario `$name(TestDb)` as `$name::sqlite` and `$name::postgres`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::db::TestDb::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            pub async fn postgres() {
                if let Some(db) = $crate::support::db::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

pub(crate) use on_both_databases;
