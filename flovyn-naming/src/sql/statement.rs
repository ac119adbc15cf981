//! The run-time rule: which statements a plugin outside the server's binary may send through
//! the host's storage service, and which tables they may touch.
//!
//! A linked plugin holds the server's pool; a plugin process does not — each of its
//! statements reaches the database through the host, which checks it here first. The rule:
//!
//! - **one statement per call**, and only `SELECT` (including `WITH` and `VALUES`), `INSERT`,
//!   `UPDATE` and `DELETE`: a plugin's schema comes from its migrations, and transactions are
//!   calls of their own (`Begin`, `Commit`, `Rollback`), never statements;
//! - **writes** follow the migration rules ([`super::check_migration`]): every table a
//!   statement inserts into, updates or deletes from is the plugin's own (`p_<plugin>__*`),
//!   data-modifying `WITH` parts included;
//! - **reads** are limited to the plugin's own tables and the core tables the host lists as
//!   readable (e.g. `tenant`). Every relation anywhere in the statement counts: `FROM`,
//!   joins, sub-queries in expressions, `INSERT … SELECT`. Names a `WITH` clause defines are
//!   not tables, nor are set-returning functions in `FROM` (`generate_series(1, 3)`,
//!   `json_each(?)`).
//!
//! Names fold as in migrations: unquoted to lower case, schema qualifiers ignored.
//!
//! Known gap, as for migrations: function calls are opaque (`SELECT pg_read_file(…)` reads no
//! table); run the server's database role without superuser rights.
//!
//! ```
//! use flovyn_naming::sql::{Dialect, check_statement};
//!
//! let core = ["tenant"];
//! let ok = "SELECT t.id FROM p_worker_token__tokens t JOIN tenant ON tenant.id = t.tenant_id";
//! assert!(check_statement("worker-token", ok, Dialect::Postgres, &core).is_ok());
//!
//! let refused = check_statement("worker-token", "DELETE FROM tenant", Dialect::Sqlite, &core)
//!     .unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "`DELETE FROM tenant`: table `tenant` is not one of plugin `worker-token`'s tables: a \
//!      plugin writes only its own tables (`p_worker_token__*`)"
//! );
//! ```

use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{ObjectName, Query, Statement, TableFactor, Visit, Visitor};

use super::names::{self, Namespace, Owner};
use super::rules::Checker;
use super::scan::{self, Item};
use super::{Dialect, STATEMENT_TEXT_CHARS, ViolationKind};
use crate::text::{one_line, quoted};

/// Why the host refuses a plugin's statement. `Display` names the statement, the table and
/// the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRefusal {
    /// The statement as sent, on one line, cut to about 80 characters.
    pub statement_text: String,
    /// Which rule.
    pub kind: RefusalKind,
    plugin: String,
    prefix: String,
}

/// The rule a [`StatementRefusal`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// The text does not parse in the database's dialect (sqlparser's message).
    Parse(String),
    /// Not exactly one statement (the number sent).
    NotOne(usize),
    /// A statement kind other than `SELECT`, `INSERT`, `UPDATE` and `DELETE` (e.g.
    /// `CREATE TABLE`, `BEGIN`, `PRAGMA`).
    Kind(String),
    /// A write to a table that is not the plugin's.
    Write {
        /// The table, as the database sees it.
        table: String,
    },
    /// A read of a table that is neither the plugin's nor a readable core table.
    Read {
        /// The table, as the database sees it.
        table: String,
        /// The core tables the plugin may read.
        readable: Vec<String>,
    },
}

impl fmt::Display for StatementRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (plugin, prefix) = (&self.plugin, &self.prefix);
        if !self.statement_text.is_empty() {
            write!(f, "`{}`: ", self.statement_text)?;
        }
        match &self.kind {
            RefusalKind::Parse(message) => write!(f, "syntax error: {message}"),
            RefusalKind::NotOne(0) => f.write_str("no statement: send exactly one per call"),
            RefusalKind::NotOne(n) => {
                write!(f, "{n} statements: send exactly one per call")
            }
            RefusalKind::Kind(what) => write!(
                f,
                "`{what}` is not allowed at run time: a plugin runs `SELECT`, `INSERT`, \
                 `UPDATE` and `DELETE` (its schema comes from its migrations, and \
                 transactions are begun and ended through the host's calls)"
            ),
            RefusalKind::Write { table } => write!(
                f,
                "table `{}` is not one of plugin `{plugin}`'s tables: a plugin writes only its \
                 own tables (`{prefix}*`)",
                quoted(table)
            ),
            RefusalKind::Read { table, readable } => {
                write!(
                    f,
                    "table `{}` is not readable by plugin `{plugin}`: a plugin reads its own \
                     tables (`{prefix}*`)",
                    quoted(table)
                )?;
                match readable.as_slice() {
                    [] => Ok(()),
                    tables => {
                        let list: Vec<String> = tables.iter().map(|t| format!("`{t}`")).collect();
                        write!(f, " and the core tables {}", list.join(", "))
                    }
                }
            }
        }
    }
}

impl std::error::Error for StatementRefusal {}

/// Checks one statement `plugin` sends at run time against the rule in the
/// [module docs](self). `readable` lists the core tables the plugin may read (lower case).
pub fn check_statement(
    plugin: &str,
    sql: &str,
    dialect: Dialect,
    readable: &[&str],
) -> Result<(), StatementRefusal> {
    let refusal = |statement_text: String, kind| StatementRefusal {
        statement_text,
        kind,
        plugin: plugin.to_owned(),
        prefix: crate::plugin::table_prefix(plugin),
    };
    let checked = super::on_parser_stack(&|| check_in(plugin, sql, dialect, readable));
    match checked {
        Ok(Ok(())) => Ok(()),
        Ok(Err((text, kind))) => Err(refusal(text, kind)),
        Err(crash) => Err(refusal(
            one_line(sql, STATEMENT_TEXT_CHARS),
            RefusalKind::Parse(crash),
        )),
    }
}

type Refused = (String, RefusalKind);

fn check_in(plugin: &str, sql: &str, dialect: Dialect, readable: &[&str]) -> Result<(), Refused> {
    let script = scan::scan(sql, dialect);
    let whole = || one_line(sql, STATEMENT_TEXT_CHARS);
    if let Some(failure) = script.failure {
        return Err((
            one_line(&failure.text, STATEMENT_TEXT_CHARS),
            RefusalKind::Parse(failure.message),
        ));
    }
    let [scanned] = script.statements.as_slice() else {
        return Err((whole(), RefusalKind::NotOne(script.statements.len())));
    };
    let text = one_line(&scanned.text, STATEMENT_TEXT_CHARS);
    let statement = match &scanned.item {
        Item::Parsed(statement) => statement,
        Item::ForbiddenUnparsed(what) => return Err((text, RefusalKind::Kind((*what).to_owned()))),
    };
    if !matches!(
        **statement,
        Statement::Query(_) | Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
    ) {
        return Err((text, RefusalKind::Kind(statement_kind(statement))));
    }

    let namespace = Namespace::new(plugin);
    let mut checker = Checker::new(&namespace);
    checker.statement(statement);
    if let Some(violation) = checker.violations.into_iter().next() {
        let kind = match violation {
            ViolationKind::ForeignTable { table, .. } => RefusalKind::Write { table },
            ViolationKind::Forbidden { what } => RefusalKind::Kind(what),
            ViolationKind::Parse { message } => RefusalKind::Parse(message),
            ViolationKind::Empty => RefusalKind::NotOne(0),
        };
        return Err((text, kind));
    }

    let mut reads = Reads {
        namespace: &namespace,
        readable,
        defined: HashSet::new(),
        functions: Vec::new(),
    };
    if let ControlFlow::Break(table) = statement.visit(&mut reads) {
        return Err((
            text,
            RefusalKind::Read {
                table,
                readable: readable.iter().map(|t| (*t).to_owned()).collect(),
            },
        ));
    }
    Ok(())
}

/// `CREATE TABLE p_x__t (…)` → `CREATE TABLE`: the statement's leading keywords, for the
/// message.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|word| word.chars().all(|c| c.is_ascii_alphabetic()))
        .take(2)
        .collect();
    let kind = words.join(" ").to_ascii_uppercase();
    // `DROP TABLE`, `CREATE INDEX`, but `VACUUM` alone, and never a table's name.
    match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "SET" | "START") => kind,
        Some(first) => first.to_owned(),
        None => text,
    }
}

/// Walks every relation of a statement; breaks with the first one the plugin may not read.
struct Reads<'a> {
    namespace: &'a Namespace,
    readable: &'a [&'a str],
    /// Names defined by `WITH` clauses.
    defined: HashSet<String>,
    /// Set-returning functions called in `FROM`: their names are not tables.
    functions: Vec<ObjectName>,
}

impl Visitor for Reads<'_> {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.defined.insert(names::fold(&cte.alias.name));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            self.functions.push(name.clone());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<String> {
        if self.functions.contains(relation) {
            return ControlFlow::Continue(());
        }
        let table = names::table_name(relation);
        let allowed = match self.namespace.owner(&table) {
            Owner::Own => true,
            Owner::Other(_) => false,
            Owner::Unprefixed => {
                (relation.0.len() == 1 && self.defined.contains(&table))
                    || self.readable.contains(&table.as_str())
            }
        };
        if allowed {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: [&str; 1] = ["tenant"];

    fn check(sql: &str) -> Result<(), RefusalKind> {
        let mut outcome = None;
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let found = check_statement("worker-token", sql, dialect, &CORE).map_err(|r| r.kind);
            if let Some(previous) = &outcome {
                assert_eq!(previous, &found, "dialects disagree on {sql}");
            }
            outcome = Some(found);
        }
        outcome.unwrap_or(Ok(()))
    }

    fn write(table: &str) -> Result<(), RefusalKind> {
        Err(RefusalKind::Write {
            table: table.to_owned(),
        })
    }

    fn read(table: &str) -> Result<(), RefusalKind> {
        Err(RefusalKind::Read {
            table: table.to_owned(),
            readable: vec!["tenant".to_owned()],
        })
    }

    #[test]
    fn the_plugins_own_data_statements_pass() {
        for sql in [
            "SELECT id, display_name FROM p_worker_token__tokens WHERE tenant_id = $1",
            "INSERT INTO p_worker_token__tokens (id, lookup) VALUES ($1, $2)",
            "UPDATE p_worker_token__tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            "DELETE FROM P_Worker_Token__Tokens WHERE id = $1",
            "SELECT t.id FROM p_worker_token__tokens t JOIN tenant ON tenant.id = t.tenant_id",
            "SELECT id FROM tenant WHERE id = $1",
            "WITH recent AS (SELECT id FROM p_worker_token__tokens) SELECT count(*) FROM recent",
            "SELECT * FROM generate_series(1, 3)",
            "SELECT 1",
            "VALUES (1), (2)",
            "INSERT INTO p_worker_token__tokens (id) SELECT id FROM tenant",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn writes_outside_the_namespace_are_refused() {
        assert_eq!(check("DELETE FROM tenant"), write("tenant"));
        assert_eq!(check("UPDATE tenant SET name = 'x'"), write("tenant"));
        assert_eq!(
            check("INSERT INTO p_audit_log__events (id) VALUES (1)"),
            write("p_audit_log__events")
        );
        assert_eq!(
            check("WITH d AS (DELETE FROM _plugin_migrations RETURNING 1) SELECT * FROM d"),
            write("_plugin_migrations")
        );
    }

    #[test]
    fn reads_outside_own_and_readable_core_tables_are_refused() {
        assert_eq!(
            check("SELECT * FROM p_audit_log__events"),
            read("p_audit_log__events")
        );
        assert_eq!(
            check("SELECT * FROM _plugin_migrations"),
            read("_plugin_migrations")
        );
        assert_eq!(
            check(
                "SELECT id FROM p_worker_token__tokens WHERE id IN (SELECT id FROM p_audit_log__events)"
            ),
            read("p_audit_log__events")
        );
        assert_eq!(
            check("SELECT (SELECT count(*) FROM secrets) AS n"),
            read("secrets")
        );
        assert_eq!(
            check("INSERT INTO p_worker_token__tokens (id) SELECT id FROM p_audit_log__events"),
            read("p_audit_log__events")
        );
        assert_eq!(
            check("SELECT * FROM p_worker_token__tokens JOIN sqlite_master ON 1 = 1"),
            read("sqlite_master")
        );
        // A `WITH` name is only a name when it is unqualified.
        assert_eq!(
            check("WITH tenant2 AS (SELECT 1) SELECT * FROM public.tenant2"),
            read("tenant2")
        );
    }

    #[test]
    fn only_one_data_statement_per_call() {
        assert_eq!(check("SELECT 1; SELECT 2"), Err(RefusalKind::NotOne(2)));
        assert_eq!(check("  ;  "), Err(RefusalKind::NotOne(0)));
        assert_eq!(
            check("CREATE TABLE p_worker_token__x (id INT)"),
            Err(RefusalKind::Kind("CREATE TABLE".to_owned()))
        );
        assert_eq!(check("BEGIN"), Err(RefusalKind::Kind("BEGIN".to_owned())));
        assert_eq!(
            check("DROP TABLE p_worker_token__tokens"),
            Err(RefusalKind::Kind("DROP TABLE".to_owned()))
        );
        assert!(matches!(check("SELEC 1"), Err(RefusalKind::Parse(_))));
    }

    #[test]
    fn messages_name_the_statement_the_table_and_the_rule() {
        let refused = check_statement(
            "worker-token",
            "SELECT * FROM p_audit_log__events",
            Dialect::Postgres,
            &CORE,
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "`SELECT * FROM p_audit_log__events`: table `p_audit_log__events` is not readable \
             by plugin `worker-token`: a plugin reads its own tables (`p_worker_token__*`) and \
             the core tables `tenant`"
        );
        let refused = check_statement(
            "hello",
            "PRAGMA writable_schema = 1",
            Dialect::Sqlite,
            &CORE,
        )
        .unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("`PRAGMA writable_schema = 1`: `PRAGMA` is not allowed at run time"),
            "{refused}"
        );
    }
}
