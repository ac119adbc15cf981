//! The registry finds `hello` — run once with the default `inventory` backend and once with
//! `--features linkme` (see `scripts/test`).

use flovyn_sdk::descriptor::{Access, Method};
use flovyn_sdk::{Dialect, Plugin};

// An integration test only links the crates it names.
use hello as _;

#[test]
fn registry_lists_hello_with_its_descriptor() {
    let plugins = flovyn_sdk::host::registry::plugins();
    let names: Vec<&str> = plugins.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["hello"],
        "backend {}",
        flovyn_sdk::host::registry::BACKEND
    );

    assert!(std::ptr::eq(plugins[0], hello::Hello::linked()));
    assert_eq!(plugins[0].crate_name, "hello");
    let hello = plugins[0].descriptor();
    assert!(std::ptr::eq(hello, hello::Hello::descriptor()));
    assert_eq!(hello.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        hello.description,
        "Says hello, publicly or to the authenticated caller."
    );
    assert_eq!(hello.table_prefix(), "p_hello__");
    assert_eq!(hello.route_prefix(), "/api/v1/p/hello");

    let routes: Vec<_> = hello
        .routes
        .iter()
        .map(|r| {
            (
                r.method,
                r.path.as_str(),
                r.handler.as_str(),
                r.access.clone(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            (Method::Get, "/greeting", "greeting", Access::Public),
            (
                Method::Get,
                "/me",
                "me",
                Access::Permission("hello:read".into())
            ),
        ]
    );

    assert_eq!(
        hello
            .migrations
            .iter()
            .map(|m| (m.version, m.name.as_str()))
            .collect::<Vec<_>>(),
        [(1, "create_greetings"), (2, "greeted_at_as_text")]
    );
    let m = &hello.migrations[0];
    assert_eq!((m.version, m.name.as_str()), (1, "create_greetings"));
    let file = include_str!("../migrations/001_create_greetings.sql");
    assert_eq!(m.sql(Dialect::Postgres), file);
    assert_eq!(m.sql(Dialect::Sqlite), file);
    assert_eq!(
        m.checksum(Dialect::Sqlite),
        flovyn_sdk::host::naming::checksum::checksum(file)
    );
}

#[test]
fn backend_is_the_one_the_features_select() {
    let expected = if cfg!(feature = "linkme") {
        "linkme"
    } else {
        "inventory"
    };
    assert_eq!(flovyn_sdk::host::registry::BACKEND, expected);
}

#[test]
fn find_by_name() {
    assert_eq!(
        flovyn_sdk::host::registry::find("hello").map(|p| p.name),
        Some("hello")
    );
    assert!(flovyn_sdk::host::registry::find("nope").is_none());
}
