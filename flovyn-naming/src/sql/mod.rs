//! Migration SQL scanning: which tables a plugin's migration may touch, and which statements
//! it may not run at all.
//!
//! This module owns the rules below and their messages. It parses with
//! [sqlparser](https://docs.rs/sqlparser) (never with patterns over the text) and only
//! reads the SQL: running it, ordering migrations and recording them are the server's job.
//!
//! # The rule
//!
//! Every statement that creates, alters, drops, renames, indexes or writes a table must
//! target the plugin's own prefix `p_<plugin underscored>__` (see
//! [`crate::plugin::table_prefix`]), followed by a non-empty name. In detail:
//!
//! - **Must be the plugin's own:** `CREATE TABLE` (including `IF NOT EXISTS`, `AS SELECT`,
//!   and the parent named by `INHERITS` or `PARTITION OF`, whose queries would see the
//!   rows), `CREATE VIRTUAL TABLE`, `CREATE [MATERIALIZED] VIEW`, `CREATE SEQUENCE`,
//!   `SELECT … INTO`, `ALTER TABLE` (and both names of `ALTER TABLE a RENAME TO b` and
//!   `RENAME TABLE`), `ALTER VIEW`, `DROP TABLE`/`VIEW`/`MATERIALIZED VIEW`/`SEQUENCE`, the
//!   table of `CREATE INDEX`, `CREATE`/`DROP TRIGGER … ON`, `CREATE`/`ALTER`/`DROP POLICY …
//!   ON`, `COMMENT ON TABLE`/`VIEW`/`COLUMN`/`SEQUENCE`, and the target of `INSERT`,
//!   `UPDATE`, `DELETE`, `TRUNCATE`, `MERGE` and `COPY … FROM`.
//! - **Statements inside statements are checked too:** data-modifying `WITH` parts
//!   (`WITH d AS (DELETE FROM …) SELECT …`), SQLite trigger bodies, `BEGIN ATOMIC` function
//!   bodies, `PREPARE … AS`, and `EXPLAIN ANALYZE` (which runs its statement).
//! - **May be unprefixed, but not another plugin's:** `REFERENCES` targets in column and
//!   table constraints (core tables such as `tenant(id)` are fine; `p_audit_log__events` from
//!   another plugin is not), and index names.
//! - **Not checked:** reading (`SELECT … FROM tenant` is fine), and objects that are not
//!   tables: functions, procedures, types, domains, operators, collations.
//!
//! Index names are not required to carry the prefix, because most migrations name indexes
//! after their table and the rule would mostly add noise. Beware that PostgreSQL and SQLite
//! keep index names in the same namespace as tables, so two plugins that both create
//! `idx_created_at` collide; naming indexes `p_<plugin>__…` avoids that. `DROP INDEX` cannot
//! be checked against the table (the statement does not name it), so only names carrying
//! another plugin's prefix are rejected there.
//!
//! # Names
//!
//! Unquoted identifiers fold to lower case, as PostgreSQL does: `CREATE TABLE P_Hello__X`
//! creates `p_hello__x`, which `hello` owns. Quoted identifiers (`"…"`, and on SQLite also
//! `` `…` `` and `[…]`) keep their case, so `"P_hello__x"` does *not* carry the prefix. The
//! same folding is applied on SQLite, where it is stricter than needed but keeps one rule
//! for both databases. Schema-qualified names are judged by their last part:
//! `public."p_x__T"` is the table `p_x__T`.
//!
//! # Forbidden statements
//!
//! Some statements reach beyond any table, so a plugin migration may not run them whatever
//! they name ([`ViolationKind::Forbidden`]):
//!
//! - `CREATE`/`ALTER`/`DROP SCHEMA`, `CREATE`/`DROP DATABASE`, `ATTACH`/`DETACH DATABASE`,
//!   `USE`, `CREATE SERVER`: a migration works inside the server's database and schema;
//! - `GRANT`, `REVOKE`, `DENY`, `CREATE`/`ALTER`/`DROP ROLE` or `USER`, `SET ROLE`,
//!   `SET SESSION AUTHORIZATION`, `ALTER TABLE … OWNER TO`: privileges belong to the
//!   operator;
//! - `CREATE`/`DROP EXTENSION`: database-wide, and needs elevated privileges;
//! - `PRAGMA`, `ALTER SYSTEM`, `SET search_path`, `SET session_replication_role`: they change
//!   settings other plugins and the server rely on (other `SET`s, such as
//!   `SET LOCAL lock_timeout`, are allowed);
//! - `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`: the server runs each
//!   migration in a transaction together with its ledger row (`SAVEPOINT` is fine);
//! - `VACUUM` and `CREATE INDEX CONCURRENTLY`: they cannot run inside that transaction;
//! - `COPY` to or from a file or program: server-side files and shell commands;
//! - `DO` blocks and `EXECUTE IMMEDIATE`: they run code this checker cannot see into;
//! - writes whose target is not a named table (`INSERT INTO (SELECT …)`), which cannot be
//!   checked.
//!
//! # Parsing
//!
//! [`Dialect::Postgres`] parses with sqlparser's `PostgreSqlDialect`, [`Dialect::Sqlite`]
//! with its `SQLiteDialect`. The first statement that does not parse ends the check with a
//! [`ViolationKind::Parse`] carrying sqlparser's message (violations found before it are
//! still reported); statements sqlparser cannot parse but that start with a forbidden
//! keyword (`PRAGMA`, `DO`, `ATTACH`, `DETACH`, `VACUUM`, `ALTER SYSTEM`) are reported as
//! forbidden and the check goes on after their `;`.
//!
//! Known gaps: function bodies written as strings (`AS $$ … $$`) are opaque to the parser, so
//! a PL/pgSQL function can still write anywhere when it is called; likewise calls such as
//! `SELECT set_config('search_path', …)`.
//!
//! ```
//! use flovyn_naming::sql::{Dialect, ViolationKind, check_migration};
//!
//! let ok = "CREATE TABLE p_worker_token__tokens (id TEXT PRIMARY KEY, \
//!           tenant_id TEXT NOT NULL REFERENCES tenant(id))";
//! assert!(check_migration("worker-token", ok, Dialect::Postgres).is_ok());
//!
//! let violations = check_migration("worker-token", "CREATE TABLE tokens (id TEXT)", Dialect::Sqlite)
//!     .unwrap_err();
//! assert!(matches!(
//!     &violations[0].kind,
//!     ViolationKind::ForeignTable { expected, .. } if expected == "p_worker_token__tokens"
//! ));
//! assert_eq!(
//!     violations[0].to_string(),
//!     "statement 1 (`CREATE TABLE tokens (id TEXT)`): table `tokens` must be named \
//!      `p_worker_token__tokens`: every table a plugin migration creates must start with \
//!      `p_worker_token__`"
//! );
//! ```

mod names;
mod rules;
mod scan;
mod statement;

use std::collections::HashSet;
use std::fmt;

use crate::text::{one_line, quoted};
use names::Namespace;
use rules::Checker;
use scan::Item;

pub use statement::{RefusalKind, StatementRefusal, check_statement};

/// Longest statement text kept in a [`SqlViolation`], in characters.
const STATEMENT_TEXT_CHARS: usize = 80;

/// The SQL dialect a migration is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL; parsed with sqlparser's `PostgreSqlDialect`.
    Postgres,
    /// SQLite; parsed with sqlparser's `SQLiteDialect`.
    Sqlite,
}

impl Dialect {
    /// The database's name, e.g. `"PostgreSQL"`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule broken by one statement of a migration.
///
/// `Display` renders it for people, numbering statements from 1:
/// ``statement 2 (`CREATE TABLE tokens (id TEXT)`): table `tokens` must be named …``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlViolation {
    /// Index of the statement in the migration, counting from 0 (`Display` counts from 1).
    /// Empty statements (`;;`) are not counted.
    pub statement: usize,
    /// The statement as written, on one line, cut to about 80 characters with `…`.
    pub statement_text: String,
    /// Which rule, and the names involved.
    pub kind: ViolationKind,
}

/// The rule a [`SqlViolation`] breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// The SQL does not parse in the dialect; `message` is sqlparser's, e.g.
    /// ``Expected: an SQL statement, found: CREAT at Line: 1, Column: 1``.
    Parse {
        /// sqlparser's message, without its `sql parser error: ` preamble.
        message: String,
    },
    /// The statement touches a table (or view, sequence, index) that is not the plugin's.
    ForeignTable {
        /// What the statement does to it, as it reads in "every table a plugin migration
        /// *creates* must …": `creates`, `alters`, `drops`, `renames`, `renames to`,
        /// `indexes`, `inserts into`, `updates`, `deletes from`, `truncates`,
        /// `merges into`, `copies into`, `references`, `inherits from`,
        /// `creates a trigger on`, `comments on`, …; when the object is not a table the
        /// action ends with its kind: `creates view`, `drops sequence`, `drops index`.
        action: &'static str,
        /// The name as the database sees it (unquoted names folded to lower case), without
        /// its schema.
        table: String,
        /// The name the plugin should use instead: its own prefix followed by `table`
        /// without any other prefix (`p_worker_token__tokens` for `tokens` and for
        /// `p_audit_log__tokens`); `<table>` stands in when nothing is left.
        expected: String,
        /// The underscored name of the plugin whose prefix `table` carries, when that is
        /// another plugin (`Some("audit_log")` for `p_audit_log__events`).
        owner: Option<String>,
    },
    /// A statement kind a plugin migration may not run (see the module docs), e.g.
    /// `CREATE SCHEMA`.
    Forbidden {
        /// The statement kind, in SQL, e.g. `CREATE SCHEMA`, `PRAGMA`, `SET search_path`.
        what: String,
    },
    /// The migration has no statements (only whitespace, comments or `;`).
    Empty,
}

impl fmt::Display for SqlViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ViolationKind::Empty => write!(f, "{}", self.kind),
            _ => write!(
                f,
                "statement {} (`{}`): {}",
                self.statement.saturating_add(1),
                self.statement_text,
                self.kind
            ),
        }
    }
}

impl std::error::Error for SqlViolation {}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViolationKind::Parse { message } => write!(f, "syntax error: {message}"),
            ViolationKind::Empty => {
                f.write_str("the migration is empty: it must contain at least one SQL statement")
            }
            ViolationKind::Forbidden { what } => write!(
                f,
                "`{what}` is not allowed in a plugin migration: {}",
                rules::forbidden_reason(what)
            ),
            ViolationKind::ForeignTable {
                action,
                table,
                expected,
                owner,
            } => fmt_foreign(f, action, table, expected, owner.as_deref()),
        }
    }
}

fn fmt_foreign(
    f: &mut fmt::Formatter<'_>,
    action: &str,
    table: &str,
    expected: &str,
    owner: Option<&str>,
) -> fmt::Result {
    let (noun, verb) = split_action(action);
    let plural = match noun {
        "view" => "views",
        "sequence" => "sequences",
        "index" => "indexes",
        _ => "tables",
    };
    // `expected` always starts with the plugin's own prefix; recover it for the message.
    let prefix = names::plugin_of(expected).map(|(plugin, _)| format!("p_{plugin}__"));
    let prefix = prefix.as_deref().unwrap_or("p_<plugin>__");
    let shown = quoted(table);
    let expected = quoted(expected);

    if let Some(owner) = owner {
        write!(
            f,
            "{noun} `{shown}` belongs to another plugin (`{owner}`): "
        )?;
        return if action == rules::REFERENCES {
            f.write_str(
                "a plugin migration may reference core tables and its own tables, not another \
                 plugin's",
            )
        } else if noun == "index" {
            f.write_str("a plugin migration must leave other plugins' indexes alone")
        } else {
            write!(
                f,
                "every {noun} a plugin migration {verb} must start with its own prefix \
                 `{prefix}`; did you mean `{expected}`?"
            )
        };
    }

    let note = if table == prefix {
        " followed by a name"
    } else if table
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    {
        " (quoted names keep their case)"
    } else {
        ""
    };
    if verb == rules::CREATES || verb == rules::RENAMES_TO {
        write!(
            f,
            "{noun} `{shown}` must be named `{expected}`: every {noun} a plugin migration \
             {verb} must start with `{prefix}`{note}"
        )
    } else {
        write!(
            f,
            "{noun} `{shown}` is not one of this plugin's {plural}: every {noun} a plugin \
             migration {verb} must start with `{prefix}`{note}; did you mean `{expected}`?"
        )
    }
}

/// `"creates view"` → `("view", "creates")`; actions without a noun are about tables.
fn split_action(action: &str) -> (&'static str, &str) {
    for noun in ["view", "sequence", "index"] {
        if let Some(verb) = action
            .strip_suffix(noun)
            .and_then(|rest| rest.strip_suffix(' '))
        {
            return (noun, verb);
        }
    }
    ("table", action)
}

/// Checks one migration of `plugin` against the rules in the [module docs](self).
///
/// Returns every violation found, in statement order; a statement that does not parse ends
/// the check (see "Parsing" in the module docs). An empty migration is a violation too.
/// `plugin` is expected to be a valid plugin name (see
/// [`crate::plugin::validate_plugin_name`]); with an invalid one the check still completes,
/// against the prefix [`crate::plugin::table_prefix`] derives from it.
///
/// ```
/// use flovyn_naming::sql::{Dialect, check_migration};
///
/// let sql = "CREATE TABLE p_hello__greetings (id INTEGER PRIMARY KEY AUTOINCREMENT);\n\
///            CREATE INDEX greetings_by_id ON p_hello__greetings (id);";
/// assert_eq!(check_migration("hello", sql, Dialect::Sqlite), Ok(()));
/// ```
pub fn check_migration(plugin: &str, sql: &str, dialect: Dialect) -> Result<(), Vec<SqlViolation>> {
    match on_parser_stack(&|| check_script(plugin, sql, dialect)) {
        Ok(result) => result,
        Err(crash) => Err(vec![crash_violation(sql, crash)]),
    }
}

fn check_script(plugin: &str, sql: &str, dialect: Dialect) -> Result<(), Vec<SqlViolation>> {
    let namespace = Namespace::new(plugin);
    let script = scan::scan(sql, dialect);
    let mut violations = Vec::new();
    for scanned in &script.statements {
        let kinds = match &scanned.item {
            Item::Parsed(statement) => {
                let mut checker = Checker::new(&namespace);
                checker.statement(statement);
                checker.violations
            }
            Item::ForbiddenUnparsed(what) => vec![ViolationKind::Forbidden {
                what: (*what).to_owned(),
            }],
        };
        if kinds.is_empty() {
            continue;
        }
        let statement_text = one_line(&scanned.text, STATEMENT_TEXT_CHARS);
        violations.extend(kinds.into_iter().map(|kind| SqlViolation {
            statement: scanned.index,
            statement_text: statement_text.clone(),
            kind,
        }));
    }
    match script.failure {
        Some(failure) => violations.push(parse_violation(failure)),
        None if script.statements.is_empty() => violations.push(SqlViolation {
            statement: 0,
            statement_text: String::new(),
            kind: ViolationKind::Empty,
        }),
        None => {}
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// The tables a migration creates (`CREATE TABLE`, `CREATE VIRTUAL TABLE`, `SELECT … INTO`),
/// named as the database sees them (see "Names" in the module docs), in order, each once.
///
/// Fails only when the SQL does not parse; an empty migration creates no tables.
///
/// ```
/// use flovyn_naming::sql::{Dialect, created_tables};
///
/// let sql = r#"CREATE TABLE P_Hello__A (x INT); CREATE TABLE IF NOT EXISTS public."p_hello__B" (y INT)"#;
/// assert_eq!(created_tables(sql, Dialect::Postgres).unwrap(), ["p_hello__a", "p_hello__B"]);
/// ```
pub fn created_tables(sql: &str, dialect: Dialect) -> Result<Vec<String>, SqlViolation> {
    match on_parser_stack(&|| created_in_script(sql, dialect)) {
        Ok(result) => result,
        Err(crash) => Err(crash_violation(sql, crash)),
    }
}

fn created_in_script(sql: &str, dialect: Dialect) -> Result<Vec<String>, SqlViolation> {
    let script = scan::scan(sql, dialect);
    if let Some(failure) = script.failure {
        return Err(parse_violation(failure));
    }
    // Ownership does not matter here; any namespace will do.
    let namespace = Namespace::new("");
    let mut seen = HashSet::new();
    let mut tables = Vec::new();
    for scanned in &script.statements {
        if let Item::Parsed(statement) = &scanned.item {
            let mut checker = Checker::new(&namespace);
            checker.statement(statement);
            for table in checker.created {
                if seen.insert(table.clone()) {
                    tables.push(table);
                }
            }
        }
    }
    Ok(tables)
}

/// Stack for parsing and checking, in bytes.
///
/// sqlparser recurses once per nesting level and stops at 50 levels, but without
/// optimizations (the usual build of a proc-macro's dependencies) some of its frames are
/// large: 50 nested sub-queries need about 6 MiB, more than a 2 MiB test or tokio thread
/// has. The stack is only reserved; untouched pages cost nothing.
const PARSER_STACK_BYTES: usize = 64 << 20;

/// Runs `work` on a thread with [`PARSER_STACK_BYTES`] of stack, or on this thread if no
/// thread can be started. A panic inside the parser comes back as its message.
fn on_parser_stack<T: Send>(work: &(dyn Fn() -> T + Sync)) -> Result<T, String> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("flovyn-naming-sql".to_owned())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, work);
        match spawned {
            Ok(thread) => thread.join().map_err(|payload| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned())
            }),
            Err(_) => Ok(work()),
        }
    })
}

fn crash_violation(sql: &str, crash: String) -> SqlViolation {
    SqlViolation {
        statement: 0,
        statement_text: one_line(sql, STATEMENT_TEXT_CHARS),
        kind: ViolationKind::Parse {
            message: format!(
                "sqlparser failed on this migration ({crash}); this is a bug in the parser, please report it"
            ),
        },
    }
}

fn parse_violation(failure: scan::Failure) -> SqlViolation {
    SqlViolation {
        statement: failure.index,
        statement_text: one_line(&failure.text, STATEMENT_TEXT_CHARS),
        kind: ViolationKind::Parse {
            message: failure.message,
        },
    }
}

#[cfg(test)]
mod tests;
