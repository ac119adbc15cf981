//! A real PostgreSQL server for tests: one per test binary, started on first use, a fresh
//! database per test.
//!
//! Finds `initdb`, `pg_ctl` and `postgres` (`$PG_BIN`, then `$PATH`, `/usr/local/bin`,
//! `/usr/lib/postgresql/<newest>/bin`), initialises a throw-away cluster in a temporary
//! directory and starts it on a free loopback port with `fsync=off`. PostgreSQL refuses to
//! run as root, so as root every command runs as `nobody` through `setpriv`, in a directory
//! chowned to `nobody`.
//!
//! Stopping: a server owned by a value ([`PgServer::start`]) stops in `Drop`. The shared
//! server ([`shared`]) lives in a `static`, which Rust never drops, so every server gets a
//! watchdog process (`sh`, in its own process group so a terminal's Ctrl-C cannot kill it
//! first), spawned before `initdb`, that waits for the test process to end — however it
//! ends, panic and `SIGKILL` included — then stops the server and deletes its directory.
//!
//! Missing binaries: under CI (`CI=true`) that is a panic, so the suite fails rather than
//! silently skipping; locally [`shared`] prints why and returns `None`.

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Connection as _;

/// A running PostgreSQL server with trust authentication for user `postgres`.
#[derive(Debug)]
pub struct PgServer {
    /// Holds `data/` (the cluster), `log` and the Unix socket.
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_nobody: bool,
    next_db: AtomicUsize,
}

/// The test binary's shared server, started on first call; `None` (after printing why) when
/// PostgreSQL is not installed and `CI` is not `true`.
pub fn shared() -> Option<&'static PgServer> {
    static SHARED: OnceLock<Option<PgServer>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let bin = find_binaries()?;
            Some(PgServer::start_in(bin).unwrap_or_else(|e| panic!("{e}")))
        })
        .as_ref()
}

impl PgServer {
    /// Starts a server that this value owns and stops when dropped. `None` as [`shared`].
    pub fn start() -> Option<PgServer> {
        let bin = find_binaries()?;
        Some(PgServer::start_in(bin).unwrap_or_else(|e| panic!("{e}")))
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The port the server listens on (loopback only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database `t_<n>` and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{n}");
        let mut conn = sqlx::postgres::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        conn.close().await.ok();
        self.url(&name)
    }

    fn start_in(bin: PathBuf) -> Result<PgServer, String> {
        let as_nobody = running_as_root();
        // As root, a directory `nobody` can reach: $TMPDIR may be private to root.
        let base = if as_nobody {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("flovyn-pg-")
            .tempdir_in(&base)
            .map_err(|e| format!("cannot create a directory for PostgreSQL: {e}"))?
            .keep();
        let mut server = PgServer {
            dir,
            bin,
            port: 0,
            as_nobody,
            next_db: AtomicUsize::new(0),
        };
        // Before anything can be left behind: the test process may die at any point.
        server.watch_process();
        if as_nobody {
            run(Command::new("chown").args(["-R", "nobody:", &server.dir.to_string_lossy()]))?;
        }
        let data = server.data_dir();
        server.run_pg(
            "initdb",
            &[
                "-D",
                &data,
                "--no-sync",
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        // A free port can be taken by someone else between asking and listening: retry.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                server.port,
                server.dir.display()
            );
            let log = server.dir.join("log").to_string_lossy().into_owned();
            match server.run_pg(
                "pg_ctl",
                &[
                    "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
                ],
            ) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let log = std::fs::read_to_string(server.dir.join("log")).unwrap_or_default();
                    last_error = format!("{e}\nserver log:\n{log}");
                }
            }
        }
        Err(format!("cannot start PostgreSQL: {last_error}"))
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    /// `<bin>/<program> args…`, as `nobody` when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = if self.as_nobody {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid=nobody", &format!("--regid={}", nobody_group())])
                .arg("--clear-groups")
                .arg(program);
            cmd
        } else {
            Command::new(program)
        };
        // The server must not hold the test's stdout/stderr open: a pipe that never closes
        // would keep whoever reads `cargo test`'s output waiting.
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    fn run_pg(&self, program: &str, args: &[&str]) -> Result<(), String> {
        run(self.pg_command(program).args(args))
    }

    /// Spawns the watchdog that stops the server and deletes its directory once this
    /// process is gone. It quits by itself when the directory goes first (`Drop`).
    // Never waited for on purpose: it must outlive this process.
    #[allow(clippy::zombie_processes)]
    fn watch_process(&self) {
        let dir = shell_quote(&self.dir.to_string_lossy());
        let stop = shell_words(&self.pg_command("pg_ctl"));
        // The pause lets a `pg_ctl start` orphaned by the test's death finish first, so the
        // server it starts is the one stopped.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null && [ -d {dir} ]; do sleep 0.2; done; \
             [ -d {dir} ] || exit 0; sleep 0.5; \
             [ -f {dir}/data/postmaster.pid ] && {stop} -D {dir}/data -m immediate -w stop; \
             rm -rf {dir}",
            pid = std::process::id(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the PostgreSQL watchdog: {e}"));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        // Best effort: also runs while a test panics.
        let _ = self.run_pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`; `None` (locally) or a panic
/// (under CI) when there is none.
fn find_binaries() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        candidates.push(dir.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.push("/usr/local/bin".into());
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    candidates.extend(versioned.into_iter().map(|(_, dir)| dir));

    let found = candidates.into_iter().find(|dir| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|program| is_executable(&dir.join(program)))
    });
    if found.is_none() {
        let why = "PostgreSQL binaries (initdb, pg_ctl, postgres) not found in $PG_BIN, $PATH, \
                   /usr/local/bin or /usr/lib/postgresql/*/bin";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}; CI=true, so the PostgreSQL tests must run: install postgresql");
        }
        // Written past the test harness's capture so a local run shows it once.
        let _ = writeln!(
            std::io::stderr(),
            "note: {why}: skipping the PostgreSQL half of the database tests"
        );
    }
    found
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

fn running_as_root() -> bool {
    // `/proc/self` belongs to the process's effective user; saves a libc dependency.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `nogroup` on Debian, `nobody` elsewhere.
fn nobody_group() -> &'static str {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    if groups.lines().any(|line| line.starts_with("nogroup:")) {
        "nogroup"
    } else {
        "nobody"
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let output = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|word| shell_quote(&word.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}
