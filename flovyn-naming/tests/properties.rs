//! Property tests: the rules hold for generated inputs, and no input makes a check panic.

use flovyn_naming::plugin::{
    MAX_PLUGIN_NAME_LEN, table_prefix, underscored, validate_plugin_name, validate_version,
};
use flovyn_naming::route::{Method, RoutePath, Segment, conflicts, served_path};
use flovyn_naming::sql::{Dialect, ViolationKind, check_migration, created_tables};
use proptest::prelude::*;

const DIALECTS: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

/// Names matching `[a-z][a-z0-9]*(-[a-z0-9]+)*`, at most 36 characters.
fn plugin_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,8}){0,3}"
}

/// Route segments: literals from the unreserved set (never `.` or `..`), or parameters.
fn segment() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        "[A-Za-z0-9._~-]{1,8}"
            .prop_filter("dot segments", |s| s != "." && s != "..")
            .prop_map(|s| (s, false)),
        "[a-z_][a-z0-9_]{0,8}"
            .prop_filter("`_` alone", |s| s != "_")
            .prop_map(|s| (s, true)),
    ]
}

/// SQL-looking text: keywords, names in every quoting style, literals and punctuation, in
/// random order. Reaches far more parser paths than arbitrary characters do.
fn sql_soup() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "CREATE",
        "TABLE",
        "INDEX",
        "VIEW",
        "TRIGGER",
        "ON",
        "IF",
        "NOT",
        "EXISTS",
        "AS",
        "(",
        ")",
        ",",
        ";",
        ".",
        "=",
        "*",
        "INSERT",
        "INTO",
        "VALUES",
        "SELECT",
        "FROM",
        "WHERE",
        "WITH",
        "UPDATE",
        "SET",
        "DELETE",
        "TRUNCATE",
        "MERGE",
        "USING",
        "COPY",
        "STDIN",
        "ALTER",
        "RENAME",
        "TO",
        "ADD",
        "COLUMN",
        "DROP",
        "REFERENCES",
        "FOREIGN",
        "KEY",
        "PRIMARY",
        "BEGIN",
        "END",
        "COMMIT",
        "ROLLBACK",
        "PRAGMA",
        "DO",
        "EXPLAIN",
        "ANALYZE",
        "PREPARE",
        "AFTER",
        "FOR",
        "EACH",
        "ROW",
        "RETURNING",
        "INTEGER",
        "TEXT",
        "INT",
        "AUTOINCREMENT",
        "SCHEMA",
        "GRANT",
        "p_hello__t",
        "P_HELLO__T",
        "p_other__t",
        "tenant",
        "public",
        "\"p_hello__Q\"",
        "`p_hello__b`",
        "[p_hello__c]",
        "'str;ing'",
        "$$ x; $$",
        "1",
        "-- comment\n",
        "/* c */",
        "\n",
        "?",
        "$1",
        "::",
        "[",
        "]",
        "'",
        "\"",
        "`",
    ]);
    prop::collection::vec(words, 0..40).prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // ---- plugin ----

    #[test]
    fn kebab_case_names_are_accepted(name in plugin_name()) {
        prop_assert!(name.len() <= MAX_PLUGIN_NAME_LEN);
        prop_assert_eq!(validate_plugin_name(&name), Ok(()));
    }

    #[test]
    fn names_with_other_characters_are_rejected(
        head in "[a-z0-9-]{0,10}",
        bad in any::<char>().prop_filter("outside the alphabet", |c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        }),
        tail in "[a-z0-9-]{0,10}",
    ) {
        let name = format!("{head}{bad}{tail}");
        let err = validate_plugin_name(&name).unwrap_err();
        prop_assert!(err.message().starts_with("plugin name"), "{}", err);
    }

    #[test]
    fn too_long_names_are_rejected(name in "[a-z]{41,80}") {
        let err = validate_plugin_name(&name).unwrap_err();
        let expected = format!("is {} characters long; the limit is 40", name.len());
        prop_assert!(err.message().contains(&expected), "{}", err);
    }

    #[test]
    fn table_prefix_round_trips(name in plugin_name()) {
        let prefix = table_prefix(&name);
        let inner = prefix
            .strip_prefix("p_")
            .and_then(|rest| rest.strip_suffix("__"))
            .unwrap();
        prop_assert_eq!(inner, underscored(&name));
        prop_assert!(!inner.contains("__"));
        prop_assert_eq!(inner.replace('_', "-"), name);
    }

    #[test]
    fn semantic_versions_are_accepted(
        major in 0u64..1000, minor in 0u64..1000, patch in 0u64..1000,
        pre in proptest::option::of("[a-z][a-z0-9]{0,5}(\\.[1-9][0-9]{0,2})?"),
    ) {
        let version = match pre {
            Some(pre) => format!("{major}.{minor}.{patch}-{pre}"),
            None => format!("{major}.{minor}.{patch}"),
        };
        prop_assert_eq!(validate_version(&version), Ok(()));
    }

    #[test]
    fn plugin_checks_never_panic(input in any::<String>()) {
        let _ = validate_plugin_name(&input);
        let _ = validate_version(&input);
        let _ = table_prefix(&input);
    }

    // ---- route ----

    #[test]
    fn generated_paths_parse_and_round_trip(segments in prop::collection::vec(segment(), 0..6)) {
        // Parameter names must be unique within a path.
        let mut seen = std::collections::HashSet::new();
        let segments: Vec<_> = segments
            .into_iter()
            .filter(|(text, param)| !param || seen.insert(text.clone()))
            .collect();
        let path = format!(
            "/{}",
            segments
                .iter()
                .map(|(text, param)| if *param { format!("{{{text}}}") } else { text.clone() })
                .collect::<Vec<_>>()
                .join("/")
        );
        let parsed = RoutePath::parse(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.as_str(), path.as_str());
        prop_assert_eq!(parsed.segments().len(), segments.len());
        let params: Vec<&str> = segments
            .iter()
            .filter(|(_, param)| *param)
            .map(|(text, _)| text.as_str())
            .collect();
        prop_assert_eq!(parsed.params(), params);
        for (parsed, (text, param)) in parsed.segments().iter().zip(&segments) {
            let expected = if *param { Segment::Param(text) } else { Segment::Literal(text) };
            prop_assert_eq!(*parsed, expected);
        }
        prop_assert!(conflicts(&parsed, &parsed));
        let served = served_path("hello", &parsed);
        prop_assert!(served.starts_with("/api/v1/p/hello"));
        prop_assert!(!served.ends_with('/'));
    }

    #[test]
    fn conflicts_is_symmetric(
        a in prop::collection::vec(segment(), 0..4),
        b in prop::collection::vec(segment(), 0..4),
    ) {
        let build = |segments: &[(String, bool)]| {
            let text: Vec<String> = segments
                .iter()
                .enumerate()
                .map(|(i, (s, param))| if *param { format!("{{{s}{i}}}") } else { s.clone() })
                .collect();
            RoutePath::parse(&format!("/{}", text.join("/"))).unwrap()
        };
        let (a, b) = (build(&a), build(&b));
        prop_assert_eq!(conflicts(&a, &b), conflicts(&b, &a));
    }

    #[test]
    fn route_checks_never_panic(input in any::<String>(), soup in "[/{}:*a-z_ .?%A-Z0-9-]{0,30}") {
        for text in [&input, &soup] {
            if let Ok(path) = RoutePath::parse(text) {
                prop_assert_eq!(path.as_str(), text.as_str());
                let _ = served_path("hello", &path);
            }
            let _ = Method::parse(text);
        }
    }

    // ---- sql ----

    #[test]
    fn own_prefixed_tables_pass(plugin in plugin_name(), rest in "[a-z0-9_]{1,20}", upper in any::<bool>()) {
        let table = format!("{}{rest}", table_prefix(&plugin));
        let written = if upper { table.to_uppercase() } else { table.clone() };
        let sql = format!("CREATE TABLE {written} (id INTEGER PRIMARY KEY, tenant_id TEXT REFERENCES tenant(id));\n\
                           CREATE INDEX {written}_by_tenant ON {written} (tenant_id);");
        for dialect in DIALECTS {
            prop_assert_eq!(check_migration(&plugin, &sql, dialect), Ok(()), "{}", sql);
            prop_assert_eq!(created_tables(&sql, dialect), Ok(vec![table.clone()]));
        }
    }

    #[test]
    fn unprefixed_tables_fail(
        plugin in plugin_name(),
        table in "t[0-9][a-z0-9_]{0,15}",
        quoted in "[A-Za-z][A-Za-z0-9_ é-]{0,15}",
    ) {
        let prefix = table_prefix(&plugin);
        for (sql, name) in [
            (format!("CREATE TABLE {table} (id INT)"), table.clone()),
            (format!("CREATE TABLE \"{quoted}\" (id INT)"), quoted.clone()),
        ] {
            if name.starts_with("p_") {
                continue;
            }
            for dialect in DIALECTS {
                let violations = check_migration(&plugin, &sql, dialect).unwrap_err();
                prop_assert_eq!(violations.len(), 1);
                match &violations[0].kind {
                    ViolationKind::ForeignTable { action, table: found, expected, owner } => {
                        prop_assert_eq!(*action, "creates");
                        prop_assert_eq!(found, &name);
                        prop_assert!(expected.starts_with(&prefix), "{}", expected);
                        prop_assert_eq!(owner, &None);
                    }
                    other => prop_assert!(false, "{sql}: {other:?}"),
                }
                prop_assert!(violations[0].to_string().contains(&prefix));
            }
        }
    }

    #[test]
    fn another_plugins_tables_name_their_owner(
        (mine, theirs) in (plugin_name(), plugin_name()).prop_filter("distinct", |(a, b)| a != b),
        rest in "[a-z][a-z0-9_]{0,10}",
    ) {
        let sql = format!("CREATE TABLE {}{rest} (id INT)", table_prefix(&theirs));
        let violations = check_migration(&mine, &sql, Dialect::Postgres).unwrap_err();
        prop_assert_eq!(violations.len(), 1);
        let is_expected = matches!(
            &violations[0].kind,
            ViolationKind::ForeignTable { owner: Some(owner), expected, .. }
                if *owner == underscored(&theirs)
                    && *expected == format!("{}{rest}", table_prefix(&mine))
        );
        prop_assert!(is_expected, "{:?}", violations[0]);
    }

    #[test]
    fn sql_checks_never_panic_on_any_text(sql in any::<String>()) {
        for dialect in DIALECTS {
            if let Err(violations) = check_migration("hello", &sql, dialect) {
                prop_assert!(!violations.is_empty());
                for violation in &violations {
                    let _ = violation.to_string();
                    prop_assert!(violation.statement_text.chars().count() <= 80);
                }
            }
            let _ = created_tables(&sql, dialect);
        }
    }

    #[test]
    fn sql_checks_never_panic_on_sql_like_text(sql in sql_soup()) {
        for dialect in DIALECTS {
            if let Err(violations) = check_migration("hello", &sql, dialect) {
                for violation in &violations {
                    let _ = violation.to_string();
                }
            }
            let _ = created_tables(&sql, dialect);
        }
    }
}
