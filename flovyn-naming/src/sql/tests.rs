use super::*;

const PLUGIN: &str = "worker-token";
const BOTH: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

fn violations(sql: &str, dialect: Dialect) -> Vec<SqlViolation> {
    match check_migration(PLUGIN, sql, dialect) {
        Ok(()) => Vec::new(),
        Err(violations) => violations,
    }
}

fn assert_ok(sql: &str) {
    for dialect in BOTH {
        assert_ok_in(sql, dialect);
    }
}

fn assert_ok_in(sql: &str, dialect: Dialect) {
    let found = violations(sql, dialect);
    assert!(found.is_empty(), "{dialect}: {sql}\n{found:#?}");
}

/// The single violation `sql` has in every dialect.
fn only(sql: &str) -> SqlViolation {
    let [postgres, sqlite] = BOTH.map(|dialect| only_in(sql, dialect));
    assert_eq!(postgres, sqlite, "dialects disagree on {sql}");
    postgres
}

fn only_in(sql: &str, dialect: Dialect) -> SqlViolation {
    let found = violations(sql, dialect);
    assert_eq!(found.len(), 1, "{dialect}: {sql}\n{found:#?}");
    found[0].clone()
}

/// `(action, table, owner)` of every violation, which must all be `ForeignTable`.
fn foreign(sql: &str, dialect: Dialect) -> Vec<(&'static str, String, Option<String>)> {
    violations(sql, dialect)
        .into_iter()
        .map(|v| match v.kind {
            ViolationKind::ForeignTable {
                action,
                table,
                owner,
                ..
            } => (action, table, owner),
            other => panic!("{sql}: expected a foreign table, got {other:?}"),
        })
        .collect()
}

fn forbidden(sql: &str, dialect: Dialect) -> Vec<String> {
    violations(sql, dialect)
        .into_iter()
        .map(|v| match v.kind {
            ViolationKind::Forbidden { what } => what,
            other => panic!("{sql}: expected a forbidden statement, got {other:?}"),
        })
        .collect()
}

fn bare(action: &'static str, table: &str) -> (&'static str, String, Option<String>) {
    (action, table.to_owned(), None)
}

// ---- CREATE TABLE and naming ----

#[test]
fn worker_token_example() {
    let v = only("CREATE TABLE tokens (\n  id TEXT PRIMARY KEY,\n  secret_hash TEXT NOT NULL\n)");
    assert_eq!(v.statement, 0);
    assert_eq!(
        v.statement_text,
        "CREATE TABLE tokens ( id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL )"
    );
    assert_eq!(
        v.kind,
        ViolationKind::ForeignTable {
            action: "creates",
            table: "tokens".into(),
            expected: "p_worker_token__tokens".into(),
            owner: None,
        }
    );
    assert_eq!(
        v.to_string(),
        "statement 1 (`CREATE TABLE tokens ( id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL )`): \
         table `tokens` must be named `p_worker_token__tokens`: every table a plugin migration \
         creates must start with `p_worker_token__`"
    );
}

#[test]
fn own_tables_pass() {
    assert_ok("CREATE TABLE p_worker_token__tokens (id TEXT PRIMARY KEY)");
    assert_ok("CREATE TABLE IF NOT EXISTS p_worker_token__tokens (id TEXT)");
    assert_ok("CREATE TEMPORARY TABLE p_worker_token__scratch (id TEXT)");
    assert_ok("CREATE TABLE p_worker_token__copy AS SELECT * FROM tenant");
    assert_ok("CREATE TABLE p_worker_token__like (LIKE tenant)");
    assert_ok_in(
        "CREATE TABLE p_worker_token__t (id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT) STRICT",
        Dialect::Sqlite,
    );
    assert_ok_in(
        "CREATE TABLE p_worker_token__t (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ DEFAULT now())",
        Dialect::Postgres,
    );
}

#[test]
fn another_plugins_prefix_names_the_owner() {
    let v = only("CREATE TABLE p_audit_log__events (id TEXT)");
    assert_eq!(
        v.kind,
        ViolationKind::ForeignTable {
            action: "creates",
            table: "p_audit_log__events".into(),
            expected: "p_worker_token__events".into(),
            owner: Some("audit_log".into()),
        }
    );
    assert_eq!(
        v.kind.to_string(),
        "table `p_audit_log__events` belongs to another plugin (`audit_log`): every table a \
         plugin migration creates must start with its own prefix `p_worker_token__`; did you \
         mean `p_worker_token__events`?"
    );
}

#[test]
fn unquoted_names_fold_to_lower_case() {
    assert_ok("CREATE TABLE P_Worker_Token__Tokens (id TEXT)");
    assert_ok("CREATE TABLE P_WORKER_TOKEN__TOKENS (id TEXT); DROP TABLE p_worker_token__tokens");
    assert_eq!(
        created_tables(
            "CREATE TABLE P_Worker_Token__Tokens (id TEXT)",
            Dialect::Postgres
        ),
        Ok(vec!["p_worker_token__tokens".to_owned()])
    );
}

#[test]
fn quoted_names_keep_their_case() {
    assert_ok(r#"CREATE TABLE "p_worker_token__Tokens" (id TEXT)"#);
    let v = only(r#"CREATE TABLE "P_worker_token__tokens" (id TEXT)"#);
    assert!(matches!(
        &v.kind,
        ViolationKind::ForeignTable { table, expected, .. }
            if table == "P_worker_token__tokens" && expected == "p_worker_token__tokens"
    ));
    assert!(
        v.to_string().ends_with("(quoted names keep their case)"),
        "{v}"
    );
}

#[test]
fn schema_qualified_names_use_the_last_part() {
    assert_ok("CREATE TABLE public.p_worker_token__tokens (id TEXT)");
    assert_ok(r#"CREATE TABLE "public"."p_worker_token__T" (id TEXT)"#);
    assert_eq!(
        created_tables(
            r#"CREATE TABLE "public"."p_worker_token__T" (id TEXT)"#,
            Dialect::Sqlite
        ),
        Ok(vec!["p_worker_token__T".to_owned()])
    );
    assert_eq!(
        foreign("CREATE TABLE public.tokens (id TEXT)", Dialect::Postgres),
        [bare("creates", "tokens")]
    );
}

#[test]
fn sqlite_backtick_and_bracket_quoting() {
    assert_ok_in(
        "CREATE TABLE `p_worker_token__f` (id TEXT)",
        Dialect::Sqlite,
    );
    assert_ok_in(
        "CREATE TABLE [p_worker_token__g] (id TEXT)",
        Dialect::Sqlite,
    );
    assert_ok_in(
        "CREATE TABLE main.[p_worker_token__g] (id TEXT)",
        Dialect::Sqlite,
    );
    assert_eq!(
        foreign("CREATE TABLE [Tokens] (id TEXT)", Dialect::Sqlite),
        [bare("creates", "Tokens")]
    );
    assert_eq!(
        foreign(
            "CREATE TABLE `P_WORKER_TOKEN__x` (id TEXT)",
            Dialect::Sqlite
        ),
        [bare("creates", "P_WORKER_TOKEN__x")]
    );
    // Brackets are not identifiers in PostgreSQL.
    let v = only_in(
        "CREATE TABLE [p_worker_token__g] (id TEXT)",
        Dialect::Postgres,
    );
    assert!(matches!(v.kind, ViolationKind::Parse { .. }), "{v:?}");
}

#[test]
fn the_prefix_alone_is_not_a_name() {
    let v = only("CREATE TABLE p_worker_token__ (id TEXT)");
    assert_eq!(
        v.kind.to_string(),
        "table `p_worker_token__` must be named `p_worker_token__<table>`: every table a plugin \
         migration creates must start with `p_worker_token__` followed by a name"
    );
}

#[test]
fn inheriting_or_partitioning_core_tables_is_writing_to_them() {
    assert_eq!(
        foreign(
            "CREATE TABLE p_worker_token__t () INHERITS (tenant)",
            Dialect::Postgres
        ),
        [bare("inherits from", "tenant")]
    );
    assert_eq!(
        foreign(
            "CREATE TABLE p_worker_token__t PARTITION OF tenant FOR VALUES IN (1)",
            Dialect::Postgres
        ),
        [bare("creates a partition of", "tenant")]
    );
}

#[test]
fn virtual_tables_and_select_into_create_tables() {
    assert_ok_in(
        "CREATE VIRTUAL TABLE p_worker_token__search USING fts5(name)",
        Dialect::Sqlite,
    );
    assert_eq!(
        foreign(
            "CREATE VIRTUAL TABLE search USING fts5(name)",
            Dialect::Sqlite
        ),
        [bare("creates", "search")]
    );
    assert_eq!(
        foreign("SELECT * INTO archive FROM tenant", Dialect::Postgres),
        [bare("creates", "archive")]
    );
    assert_ok_in(
        "SELECT * INTO p_worker_token__archive FROM tenant",
        Dialect::Postgres,
    );
}

// ---- REFERENCES ----

#[test]
fn references_to_core_tables_are_allowed() {
    assert_ok(
        "CREATE TABLE p_worker_token__tokens (\
           id TEXT PRIMARY KEY, \
           tenant_id TEXT NOT NULL REFERENCES tenant(id), \
           other TEXT, \
           FOREIGN KEY (other) REFERENCES workflow_execution (id) ON DELETE CASCADE)",
    );
    assert_ok(
        "CREATE TABLE p_worker_token__uses (token_id TEXT REFERENCES p_worker_token__tokens(id))",
    );
    assert_ok("ALTER TABLE p_worker_token__tokens ADD COLUMN t TEXT REFERENCES tenant(id)");
}

#[test]
fn references_to_another_plugins_tables_are_not() {
    let sql = "CREATE TABLE p_worker_token__t (\
                 a TEXT REFERENCES p_audit_log__events(id), \
                 b TEXT, \
                 CONSTRAINT fk FOREIGN KEY (b) REFERENCES \"p_audit_log__more\" (id))";
    let found = violations(sql, Dialect::Postgres);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(
        found[0].kind.to_string(),
        "table `p_audit_log__events` belongs to another plugin (`audit_log`): a plugin \
         migration may reference core tables and its own tables, not another plugin's"
    );
    assert_eq!(
        foreign(
            "ALTER TABLE p_worker_token__t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p_audit_log__events (id)",
            Dialect::Sqlite
        ),
        [(
            "references",
            "p_audit_log__events".to_owned(),
            Some("audit_log".to_owned())
        )]
    );
}

// ---- indexes, views, sequences ----

#[test]
fn indexes_must_be_on_own_tables() {
    assert_ok("CREATE INDEX tokens_by_hash ON p_worker_token__tokens (hash)");
    assert_ok(
        "CREATE UNIQUE INDEX IF NOT EXISTS p_worker_token__idx ON p_worker_token__tokens (a)",
    );
    assert_ok_in(
        "CREATE INDEX ON p_worker_token__tokens (a)",
        Dialect::Postgres,
    );
    assert_eq!(
        foreign(
            "CREATE INDEX tenant_by_name ON tenant (name)",
            Dialect::Postgres
        ),
        [bare("indexes", "tenant")]
    );
    let v = only("CREATE INDEX p_audit_log__idx ON p_worker_token__tokens (a)");
    assert_eq!(
        v.kind.to_string(),
        "index `p_audit_log__idx` belongs to another plugin (`audit_log`): a plugin migration \
         must leave other plugins' indexes alone"
    );
    assert_eq!(
        forbidden(
            "CREATE INDEX CONCURRENTLY i ON p_worker_token__tokens (a)",
            Dialect::Postgres
        ),
        ["CREATE INDEX CONCURRENTLY"]
    );
}

#[test]
fn dropping_indexes_checks_foreign_prefixes_only() {
    assert_ok("DROP INDEX tokens_by_hash");
    assert_ok("DROP INDEX IF EXISTS p_worker_token__idx");
    assert_eq!(
        foreign("DROP INDEX p_audit_log__idx", Dialect::Sqlite),
        [(
            "drops index",
            "p_audit_log__idx".to_owned(),
            Some("audit_log".to_owned())
        )]
    );
    assert_ok_in(
        "ALTER INDEX a RENAME TO p_worker_token__b",
        Dialect::Postgres,
    );
    assert_eq!(
        foreign("ALTER INDEX a RENAME TO p_audit_log__b", Dialect::Postgres).len(),
        1
    );
}

#[test]
fn views_must_carry_the_prefix() {
    assert_ok("CREATE VIEW p_worker_token__active AS SELECT * FROM p_worker_token__tokens");
    assert_ok_in(
        "CREATE MATERIALIZED VIEW p_worker_token__m AS SELECT 1; DROP MATERIALIZED VIEW p_worker_token__m",
        Dialect::Postgres,
    );
    let v = only("CREATE VIEW active AS SELECT * FROM tenant");
    assert_eq!(
        v.kind.to_string(),
        "view `active` must be named `p_worker_token__active`: every view a plugin migration \
         creates must start with `p_worker_token__`"
    );
    assert_eq!(
        foreign("DROP VIEW active", Dialect::Postgres),
        [bare("drops view", "active")]
    );
}

#[test]
fn sequences_must_carry_the_prefix() {
    assert_ok_in(
        "CREATE SEQUENCE p_worker_token__seq; DROP SEQUENCE p_worker_token__seq",
        Dialect::Postgres,
    );
    assert_eq!(
        foreign("CREATE SEQUENCE seq; DROP SEQUENCE seq", Dialect::Postgres),
        [
            bare("creates sequence", "seq"),
            bare("drops sequence", "seq")
        ]
    );
    let v = only_in("DROP SEQUENCE seq", Dialect::Postgres);
    assert!(
        v.to_string()
            .contains("sequence `seq` is not one of this plugin's sequences")
    );
}

// ---- ALTER, RENAME, DROP ----

#[test]
fn altering_and_renaming_need_own_names_on_both_sides() {
    assert_ok("ALTER TABLE p_worker_token__tokens ADD COLUMN note TEXT");
    assert_ok("ALTER TABLE p_worker_token__a RENAME TO p_worker_token__b");
    assert_ok("ALTER TABLE p_worker_token__a RENAME COLUMN x TO y");
    assert_eq!(
        foreign("ALTER TABLE tenant ADD COLUMN x TEXT", Dialect::Sqlite),
        [bare("alters", "tenant")]
    );
    assert_eq!(
        foreign(
            "ALTER TABLE p_worker_token__a RENAME TO tokens",
            Dialect::Postgres
        ),
        [bare("renames to", "tokens")]
    );
    assert_eq!(
        foreign(
            "ALTER TABLE tokens RENAME TO p_worker_token__tokens",
            Dialect::Sqlite
        ),
        [bare("renames", "tokens")]
    );
    assert_eq!(
        foreign("RENAME TABLE a TO b", Dialect::Postgres),
        [bare("renames", "a"), bare("renames to", "b")]
    );
    let v = only("ALTER TABLE p_worker_token__a RENAME TO tokens");
    assert!(
        v.to_string()
            .contains("table `tokens` must be named `p_worker_token__tokens`: every table a plugin migration renames to")
    );
}

#[test]
fn dropping_core_tables_is_rejected() {
    assert_ok("DROP TABLE IF EXISTS p_worker_token__tokens");
    let v = only("DROP TABLE tenant");
    assert_eq!(
        v.kind.to_string(),
        "table `tenant` is not one of this plugin's tables: every table a plugin migration drops \
         must start with `p_worker_token__`; did you mean `p_worker_token__tenant`?"
    );
    assert_eq!(
        foreign(
            "DROP TABLE p_worker_token__a, tenant, p_audit_log__b CASCADE",
            Dialect::Postgres
        ),
        [
            bare("drops", "tenant"),
            (
                "drops",
                "p_audit_log__b".to_owned(),
                Some("audit_log".to_owned())
            )
        ]
    );
}

// ---- writing rows ----

#[test]
fn writes_must_target_own_tables() {
    assert_ok("INSERT INTO p_worker_token__tokens (id) VALUES ('a')");
    assert_ok("INSERT INTO p_worker_token__tokens SELECT id FROM tenant");
    assert_ok("UPDATE p_worker_token__tokens SET id = 'b' WHERE id = 'a'");
    assert_ok("DELETE FROM p_worker_token__tokens WHERE id = 'a'");
    assert_ok_in(
        "UPDATE p_worker_token__t SET a = tenant.a FROM tenant WHERE tenant.id = p_worker_token__t.id",
        Dialect::Postgres,
    );
    assert_ok_in(
        "DELETE FROM p_worker_token__t USING tenant WHERE tenant.id = p_worker_token__t.id",
        Dialect::Postgres,
    );
    assert_ok_in(
        "INSERT OR REPLACE INTO p_worker_token__t VALUES (1); REPLACE INTO p_worker_token__t VALUES (1)",
        Dialect::Sqlite,
    );
    assert_ok(
        "INSERT INTO p_worker_token__t (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = excluded.n",
    );

    let sql = "INSERT INTO tenant (id) VALUES ('x');\n\
               UPDATE tenant SET name = 'x';\n\
               DELETE FROM tenant;\n\
               INSERT INTO p_audit_log__events VALUES (1)";
    for dialect in BOTH {
        assert_eq!(
            foreign(sql, dialect),
            [
                bare("inserts into", "tenant"),
                bare("updates", "tenant"),
                bare("deletes from", "tenant"),
                (
                    "inserts into",
                    "p_audit_log__events".to_owned(),
                    Some("audit_log".to_owned())
                ),
            ]
        );
    }
    assert_eq!(
        foreign("TRUNCATE tenant, p_worker_token__t", Dialect::Postgres),
        [bare("truncates", "tenant")]
    );
    assert_eq!(
        foreign(
            "MERGE INTO tenant t USING p_worker_token__t s ON t.id = s.id WHEN MATCHED THEN DELETE",
            Dialect::Postgres
        ),
        [bare("merges into", "tenant")]
    );
}

#[test]
fn plain_reads_are_allowed() {
    assert_ok("SELECT * FROM tenant JOIN p_audit_log__events ON true");
    assert_ok("VALUES (1)");
    assert_ok_in(
        "WITH t AS (SELECT id FROM tenant) SELECT * FROM t UNION SELECT id FROM workflow_execution",
        Dialect::Postgres,
    );
}

#[test]
fn data_modifying_with_is_checked() {
    assert_eq!(
        foreign(
            "WITH gone AS (DELETE FROM tenant RETURNING *) SELECT * FROM gone",
            Dialect::Postgres
        ),
        [bare("deletes from", "tenant")]
    );
    assert_eq!(
        foreign(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) \
             INSERT INTO tenant SELECT x FROM c",
            Dialect::Sqlite
        ),
        [bare("inserts into", "tenant")]
    );
}

#[test]
fn copy_is_checked() {
    assert_ok_in("COPY p_worker_token__t FROM STDIN", Dialect::Postgres);
    assert_ok_in("COPY tenant TO STDOUT", Dialect::Postgres);
    assert_eq!(
        foreign("COPY tenant FROM STDIN", Dialect::Postgres),
        [bare("copies into", "tenant")]
    );
    assert_eq!(
        forbidden(
            "COPY p_worker_token__t FROM PROGRAM 'curl x'",
            Dialect::Postgres
        ),
        ["COPY FROM PROGRAM"]
    );
    assert_eq!(
        forbidden("COPY p_worker_token__t TO '/tmp/x.csv'", Dialect::Postgres),
        ["COPY TO a file"]
    );
}

#[test]
fn comments_are_checked_like_alters() {
    assert_ok_in(
        "COMMENT ON TABLE p_worker_token__t IS 'x'; COMMENT ON COLUMN p_worker_token__t.a IS 'x'",
        Dialect::Postgres,
    );
    assert_eq!(
        foreign(
            "COMMENT ON TABLE tenant IS 'x'; COMMENT ON COLUMN public.tenant.name IS 'x'",
            Dialect::Postgres
        ),
        [bare("comments on", "tenant"), bare("comments on", "tenant")]
    );
}

// ---- statements inside statements ----

#[test]
fn trigger_bodies_are_checked() {
    assert_ok_in(
        "CREATE TRIGGER p_worker_token__touch AFTER UPDATE ON p_worker_token__t \
         FOR EACH ROW WHEN new.a > 0 BEGIN \
           UPDATE p_worker_token__t SET at = 1 WHERE id = new.id; \
         END",
        Dialect::Sqlite,
    );
    assert_ok_in(
        "CREATE TRIGGER touch BEFORE UPDATE ON p_worker_token__t \
         FOR EACH ROW EXECUTE FUNCTION p_worker_token__touch()",
        Dialect::Postgres,
    );
    let sql = "CREATE TRIGGER t AFTER INSERT ON p_worker_token__t BEGIN \
                 INSERT INTO tenant VALUES (1); DELETE FROM p_audit_log__e; \
               END;\n\
               CREATE TRIGGER u AFTER INSERT ON tenant BEGIN SELECT 1; END";
    let found = violations(sql, Dialect::Sqlite);
    assert_eq!(
        found.iter().map(|v| v.statement).collect::<Vec<_>>(),
        [0, 0, 1]
    );
    assert_eq!(
        foreign(sql, Dialect::Sqlite),
        [
            bare("inserts into", "tenant"),
            (
                "deletes from",
                "p_audit_log__e".to_owned(),
                Some("audit_log".to_owned())
            ),
            bare("creates a trigger on", "tenant"),
        ]
    );
    assert_eq!(
        foreign("DROP TRIGGER t ON tenant", Dialect::Postgres),
        [bare("drops a trigger on", "tenant")]
    );
}

#[test]
fn explain_analyze_and_prepare_are_checked() {
    assert_ok_in("EXPLAIN INSERT INTO tenant VALUES (1)", Dialect::Postgres);
    assert_eq!(
        foreign(
            "EXPLAIN ANALYZE INSERT INTO tenant VALUES (1)",
            Dialect::Postgres
        ),
        [bare("inserts into", "tenant")]
    );
    assert_eq!(
        foreign(
            "PREPARE p AS DELETE FROM tenant; EXECUTE p",
            Dialect::Postgres
        ),
        [bare("deletes from", "tenant")]
    );
}

#[test]
fn string_function_bodies_are_not_inspected() {
    // Documented gap: sqlparser keeps `$$ … $$` bodies as text.
    assert_ok_in(
        "CREATE FUNCTION p_worker_token__touch() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN NEW.at := now(); RETURN NEW; END $$",
        Dialect::Postgres,
    );
}

// ---- forbidden statements ----

#[test]
fn namespace_and_privilege_statements_are_forbidden() {
    let sql = "CREATE SCHEMA s; DROP SCHEMA s; CREATE DATABASE d; GRANT SELECT ON p_worker_token__t TO r; \
               REVOKE ALL ON p_worker_token__t FROM r; CREATE ROLE r; DROP ROLE r; CREATE USER u; \
               CREATE EXTENSION pgcrypto; SET ROLE admin; SET search_path TO other; \
               SET session_replication_role = replica";
    assert_eq!(
        forbidden(sql, Dialect::Postgres),
        [
            "CREATE SCHEMA",
            "DROP SCHEMA",
            "CREATE DATABASE",
            "GRANT",
            "REVOKE",
            "CREATE ROLE",
            "DROP ROLE",
            "CREATE USER",
            "CREATE EXTENSION",
            "SET ROLE",
            "SET search_path",
            "SET session_replication_role",
        ]
    );
    assert_eq!(
        forbidden(
            "ALTER TABLE p_worker_token__t OWNER TO admin",
            Dialect::Postgres
        ),
        ["ALTER TABLE … OWNER TO"]
    );
    let v = only("CREATE SCHEMA plugins");
    assert_eq!(
        v.to_string(),
        "statement 1 (`CREATE SCHEMA plugins`): `CREATE SCHEMA` is not allowed in a plugin \
         migration: schemas are shared by the whole server; keep the plugin's tables in the \
         default schema, named with its prefix"
    );
}

#[test]
fn harmless_session_settings_are_allowed() {
    assert_ok_in("SET LOCAL lock_timeout = '5s'", Dialect::Postgres);
    assert_ok_in("SET TIME ZONE 'UTC'", Dialect::Postgres);
    assert_ok("SAVEPOINT s; ROLLBACK TO SAVEPOINT s; RELEASE SAVEPOINT s");
    assert_ok_in("LOCK TABLE tenant IN SHARE MODE", Dialect::Postgres);
    assert_ok_in("ANALYZE p_worker_token__t", Dialect::Postgres);
}

#[test]
fn transaction_control_is_forbidden() {
    assert_eq!(
        forbidden(
            "BEGIN; COMMIT; START TRANSACTION; ROLLBACK; END",
            Dialect::Sqlite
        ),
        ["BEGIN", "COMMIT", "START TRANSACTION", "ROLLBACK", "END"]
    );
    let v = only("BEGIN");
    assert!(v.to_string().contains("in its own transaction"), "{v}");
}

#[test]
fn sqlite_database_statements_are_forbidden() {
    assert_eq!(
        forbidden(
            "ATTACH DATABASE 'other.db' AS other; PRAGMA foreign_keys = 0; \
             PRAGMA foreign_keys = OFF; PRAGMA table_info(tenant); DETACH DATABASE other; VACUUM",
            Dialect::Sqlite
        ),
        [
            "ATTACH DATABASE",
            "PRAGMA",
            "PRAGMA",
            "PRAGMA",
            "DETACH DATABASE",
            "VACUUM"
        ]
    );
}

#[test]
fn opaque_code_is_forbidden() {
    let found = violations(
        "DO $$ BEGIN DELETE FROM tenant; END $$;\nALTER SYSTEM SET fsync = off;\nCREATE TABLE x (a INT)",
        Dialect::Postgres,
    );
    let summary: Vec<_> = found
        .iter()
        .map(|v| (v.statement, v.kind.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (0, ViolationKind::Forbidden { what: "DO".into() }),
            (
                1,
                ViolationKind::Forbidden {
                    what: "ALTER SYSTEM".into()
                }
            ),
            (
                2,
                ViolationKind::ForeignTable {
                    action: "creates",
                    table: "x".into(),
                    expected: "p_worker_token__x".into(),
                    owner: None
                }
            ),
        ]
    );
    assert_eq!(
        found[0].statement_text,
        "DO $$ BEGIN DELETE FROM tenant; END $$"
    );
}

// ---- reporting ----

#[test]
fn reports_every_violation_with_its_statement() {
    let sql = "CREATE TABLE tokens (id TEXT);\n\
               CREATE TABLE p_worker_token__ok (id TEXT);\n\
               CREATE INDEX i ON tenant (id);\n\
               DROP TABLE p_audit_log__events;\n\
               CREATE SCHEMA s;";
    let found = violations(sql, Dialect::Postgres);
    let rendered: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        found.iter().map(|v| v.statement).collect::<Vec<_>>(),
        [0, 2, 3, 4]
    );
    assert!(rendered[0].starts_with("statement 1 (`CREATE TABLE tokens (id TEXT)`)"));
    assert!(
        rendered[1].starts_with("statement 3 (`CREATE INDEX i ON tenant (id)`): table `tenant`")
    );
    assert!(rendered[2].contains("belongs to another plugin (`audit_log`)"));
    assert!(rendered[3].contains("`CREATE SCHEMA` is not allowed"));
}

#[test]
fn empty_migrations_are_violations() {
    for sql in ["", "   \n", "-- nothing yet\n", ";;", "/* later */ ;"] {
        for dialect in BOTH {
            let found = violations(sql, dialect);
            assert_eq!(found.len(), 1, "{sql:?}");
            assert_eq!(found[0].kind, ViolationKind::Empty);
            assert_eq!(
                found[0].to_string(),
                "the migration is empty: it must contain at least one SQL statement"
            );
        }
    }
}

#[test]
fn parse_errors_carry_the_parsers_message() {
    let v = only("CREAT TABLE tokens (id TEXT)");
    assert_eq!(v.statement, 0);
    assert_eq!(
        v.kind,
        ViolationKind::Parse {
            message: "Expected: an SQL statement, found: CREAT at Line: 1, Column: 1".into()
        }
    );
    assert_eq!(
        v.to_string(),
        "statement 1 (`CREAT TABLE tokens (id TEXT)`): syntax error: Expected: an SQL \
         statement, found: CREAT at Line: 1, Column: 1"
    );
}

#[test]
fn parse_errors_come_after_earlier_violations() {
    let found = violations(
        "CREATE TABLE tokens (id TEXT);\nSELECT FROM WHERE;",
        Dialect::Sqlite,
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(matches!(found[0].kind, ViolationKind::ForeignTable { .. }));
    assert_eq!(found[1].statement, 1);
    assert_eq!(found[1].statement_text, "SELECT FROM WHERE");
    assert!(matches!(found[1].kind, ViolationKind::Parse { .. }));

    let found = violations(
        "CREATE TABLE tokens (id TEXT); SELECT 'unterminated",
        Dialect::Postgres,
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        matches!(&found[1].kind, ViolationKind::Parse { message } if message.contains("Unterminated")),
        "{found:#?}"
    );
}

#[test]
fn end_after_a_statement_does_not_hide_the_rest() {
    let v = only("CREATE TABLE p_worker_token__t (a INT) END; DROP TABLE tenant");
    assert!(matches!(v.kind, ViolationKind::Parse { .. }), "{v:?}");
}

#[test]
fn long_statements_are_shortened() {
    let columns: Vec<String> = (0..40).map(|i| format!("column_{i} TEXT")).collect();
    let sql = format!("CREATE TABLE tokens (\n    {}\n)", columns.join(",\n    "));
    let v = only(&sql);
    assert_eq!(v.statement_text.chars().count(), 80);
    assert!(
        v.statement_text
            .starts_with("CREATE TABLE tokens ( column_0 TEXT, column_1 TEXT,")
    );
    assert!(v.statement_text.ends_with('…'));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 5_000;
    let sql = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
    let v = only(&sql);
    assert!(
        matches!(&v.kind, ViolationKind::Parse { message } if message.contains("recursion limit")),
        "{v:?}"
    );
    let sql = format!("{}SELECT 1", "EXPLAIN ANALYZE ".repeat(depth));
    assert!(matches!(only(&sql).kind, ViolationKind::Parse { .. }));
}

#[test]
fn created_tables_lists_each_table_once() {
    let sql = "CREATE TABLE p_hello__a (x INT);\n\
               CREATE TABLE IF NOT EXISTS P_HELLO__A (x INT);\n\
               CREATE VIEW p_hello__v AS SELECT 1;\n\
               CREATE VIRTUAL TABLE p_hello__search USING fts5(x);\n\
               SELECT 1 INTO p_hello__copy;\n\
               INSERT INTO p_hello__a VALUES (1)";
    assert_eq!(
        created_tables(sql, Dialect::Sqlite).unwrap(),
        ["p_hello__a", "p_hello__search", "p_hello__copy"]
    );
    assert_eq!(created_tables("", Dialect::Postgres), Ok(vec![]));
    let err = created_tables("CREATE TABLE (", Dialect::Postgres).unwrap_err();
    assert!(matches!(err.kind, ViolationKind::Parse { .. }));
}

#[test]
fn other_plugins_check_against_their_own_prefix() {
    assert_eq!(
        check_migration(
            "audit-log",
            "CREATE TABLE p_audit_log__events (id TEXT)",
            Dialect::Sqlite
        ),
        Ok(())
    );
    let found = check_migration(
        "hello",
        "CREATE TABLE p_audit_log__events (id TEXT)",
        Dialect::Sqlite,
    )
    .unwrap_err();
    assert!(matches!(
        &found[0].kind,
        ViolationKind::ForeignTable { expected, owner: Some(owner), .. }
            if expected == "p_hello__events" && owner == "audit_log"
    ));
}

#[test]
fn dialect_names() {
    assert_eq!(Dialect::Postgres.to_string(), "PostgreSQL");
    assert_eq!(Dialect::Sqlite.name(), "SQLite");
}
