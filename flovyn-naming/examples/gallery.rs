use flovyn_naming::{plugin, route, sql};
fn main() {
    for n in [
        "",
        "Worker_Token",
        "2fa",
        &"a".repeat(45),
        "worker token",
        "a.b",
    ] {
        println!("{}", plugin::validate_plugin_name(n).unwrap_err());
    }
    for v in ["1.0", "", "v1.0.0"] {
        println!("{}", plugin::validate_version(v).unwrap_err());
    }
    println!("{}", route::Method::parse("FETCH").unwrap_err());
    for p in [
        "",
        "tokens",
        "/tokens/",
        "/a//b",
        "/tokens/:id",
        "/:",
        "/files/{*rest}",
        "/files/*",
        "/tokens/{id",
        "/tokens/id}",
        "/f/{name}.json",
        "/{}",
        "/{tokenId}",
        "/{1x}",
        "/a/{id}/b/{id}",
        "/to ken",
        "/a?b",
        "/a/../b",
        "/café",
    ] {
        println!("{}", route::RoutePath::parse(p).unwrap_err());
    }
    let cases = [
        (sql::Dialect::Postgres, "CREATE TABLE tokens (id TEXT)"),
        (
            sql::Dialect::Postgres,
            "CREATE TABLE p_audit_log__events (id TEXT)",
        ),
        (
            sql::Dialect::Postgres,
            "CREATE TABLE \"P_worker_token__x\" (id TEXT)",
        ),
        (
            sql::Dialect::Postgres,
            "CREATE TABLE p_worker_token__ (id TEXT)",
        ),
        (
            sql::Dialect::Postgres,
            "CREATE TABLE p_worker_token__t (a TEXT REFERENCES p_audit_log__e(id))",
        ),
        (sql::Dialect::Postgres, "DROP INDEX p_audit_log__i"),
        (sql::Dialect::Postgres, "DROP TABLE tenant"),
        (
            sql::Dialect::Postgres,
            "ALTER TABLE p_worker_token__t RENAME TO t2",
        ),
        (sql::Dialect::Postgres, "CREATE VIEW v AS SELECT 1"),
        (sql::Dialect::Postgres, "CREATE SEQUENCE s"),
        (sql::Dialect::Postgres, "INSERT INTO tenant VALUES (1)"),
        (
            sql::Dialect::Sqlite,
            "CREATE TRIGGER t AFTER INSERT ON p_worker_token__t BEGIN UPDATE tenant SET a = 1; END",
        ),
        (
            sql::Dialect::Postgres,
            "CREATE SCHEMA s; BEGIN; SET search_path TO x; COPY t FROM PROGRAM 'x'; DO $$ x $$; CREATE INDEX CONCURRENTLY i ON p_worker_token__t (a)",
        ),
        (
            sql::Dialect::Sqlite,
            "PRAGMA foreign_keys = OFF; ATTACH DATABASE 'x' AS y; VACUUM",
        ),
        (sql::Dialect::Postgres, "CREAT TABLE x"),
        (sql::Dialect::Postgres, "SELECT 'abc"),
        (sql::Dialect::Postgres, "-- nothing"),
        (sql::Dialect::Postgres, "INSERT INTO (SELECT 1) VALUES (1)"),
    ];
    for (d, s) in cases {
        match sql::check_migration("worker-token", s, d) {
            Ok(()) => println!("OK {s}"),
            Err(v) => {
                for v in v {
                    println!("{v}")
                }
            }
        }
    }
}
