//! The plain-data descriptor of every linked plugin: it survives its wire form unchanged,
//! passes the host's check, and alone gives the plugin's OpenAPI document.

use flovyn_descriptor::PluginDescriptor;

fn linked() -> Vec<&'static flovyn_sdk::LinkedPlugin> {
    let all = flovyn_sdk::host::registry::plugins();
    let names: Vec<&str> = all.iter().map(|p| p.name).collect();
    for expected in ["audit-log", "hello", "worker-token"] {
        assert!(
            names.contains(&expected),
            "{expected} not linked: {names:?}"
        );
    }
    all
}

#[test]
fn every_example_plugin_round_trips_through_its_wire_form_unchanged() {
    for plugin in linked() {
        let descriptor = plugin.descriptor();
        let text = serde_json::to_string(&descriptor.to_json()).unwrap();
        let decoded = PluginDescriptor::from_json(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(&decoded, descriptor, "{} changed on the wire", plugin.name);
        assert_eq!(
            serde_json::to_string(&decoded.to_json()).unwrap(),
            text,
            "{}: encoding the decoded descriptor gives other bytes",
            plugin.name
        );
    }
}

#[test]
fn every_example_plugin_round_trips_through_its_protobuf_form_unchanged() {
    use prost::Message as _;
    for plugin in linked() {
        let answer = flovyn_protocol::describe_response(plugin.descriptor());
        let bytes = answer.encode_to_vec();
        let decoded = flovyn_protocol::pb::DescribeResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            &flovyn_protocol::read_describe_response(decoded).unwrap(),
            plugin.descriptor(),
            "{} changed through flovyn.plugin.v1",
            plugin.name
        );
    }
}

#[test]
fn the_wire_form_says_everything_the_plugin_declares() {
    let worker_token = linked()
        .into_iter()
        .find(|p| p.name == "worker-token")
        .unwrap();
    let wire = worker_token.descriptor().to_json();
    assert_eq!(wire["format"], 1);
    let plugin = &wire["plugin"];
    assert_eq!(plugin["name"], "worker-token");
    let routes: Vec<String> = plugin["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["method"], r["path"], r["access"]))
        .collect();
    assert!(
        routes.contains(&r#""POST" "/tokens" {"permission":"worker_token:create"}"#.to_owned()),
        "{routes:#?}"
    );
    assert_eq!(plugin["migrations"][0]["version"], 1);
    assert!(
        plugin["migrations"][0]["postgres"]
            .as_str()
            .unwrap()
            .contains("p_worker_token__tokens")
    );
    assert_eq!(plugin["authenticator"]["name"], "worker_token");
    assert_eq!(
        plugin["grpc_services"][0]["service"],
        "flovyn.plugins.worker_token.v1.WorkerTokens"
    );
    assert_eq!(plugin["events"][0], "worker-token.token-created");
}

#[test]
fn every_example_plugin_passes_the_hosts_check() {
    for plugin in linked() {
        assert_eq!(
            plugin.descriptor().check(),
            Ok(()),
            "{} breaks a naming rule",
            plugin.name
        );
    }
}

#[test]
fn the_decoded_descriptor_alone_gives_the_plugins_openapi_document() {
    for plugin in linked() {
        let decoded = PluginDescriptor::from_json(plugin.descriptor().to_json()).unwrap();
        assert_eq!(
            flovyn_sdk::openapi::plugin_document(&decoded),
            flovyn_sdk::openapi::plugin_document(plugin.descriptor()),
            "{}",
            plugin.name
        );
    }
}

#[test]
fn a_descriptor_of_another_format_or_shape_is_refused_with_the_reason() {
    let mut wire = linked()[0].descriptor().to_json();
    wire["format"] = 2.into();
    let e = PluginDescriptor::from_json(wire).unwrap_err();
    assert_eq!(
        e.to_string(),
        "descriptor format 2 is not supported: this host reads format 1"
    );
    let e = PluginDescriptor::from_json(serde_json::json!({"format": 1, "plugin": {"name": "x"}}))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid plugin descriptor: missing field `version`"),
        "{e}"
    );
    let e = PluginDescriptor::from_json(serde_json::json!({"format": 1, "plugin": {
        "name": "x", "version": "0.1.0",
        "routes": [{"method": "FETCH", "path": "/", "handler": "h", "access": "public"}]
    }}))
    .unwrap_err();
    assert!(e.to_string().contains("unknown HTTP method `FETCH`"), "{e}");
}

/// A plugin known only from its wire form, as a plugin process would send it: no Rust code
/// of it is linked into this binary.
fn bookmarks() -> &'static PluginDescriptor {
    let wire = serde_json::json!({"format": 1, "plugin": {
        "name": "bookmarks",
        "version": "1.2.0",
        "description": "Saves links.",
        "depends_on": ["hello"],
        "migrations": [{
            "version": 1, "name": "create_items",
            "postgres": "CREATE TABLE p_bookmarks__items (id TEXT PRIMARY KEY, url TEXT NOT NULL)",
            "sqlite": "CREATE TABLE p_bookmarks__items (id TEXT PRIMARY KEY, url TEXT NOT NULL)"
        }],
        "routes": [
            {"method": "GET", "path": "/items/{id}", "handler": "get",
             "access": {"permission": "bookmarks:read"},
             "operation": {"summary": "One bookmark.", "responses": {"200": {"description": "The bookmark"}}}},
            {"method": "GET", "path": "/about", "handler": "about", "access": "public",
             "operation": {"responses": {"200": {"description": "About"}}}}
        ],
        "tasks": [{"name": "refresh", "every": "15m"}]
    }});
    Box::leak(Box::new(PluginDescriptor::from_json(wire).unwrap()))
}

fn hello() -> &'static PluginDescriptor {
    flovyn_sdk::host::registry::find("hello")
        .unwrap()
        .descriptor()
}

#[test]
fn the_start_up_plan_comes_from_descriptors_alone() {
    use flovyn_server::config::Config;
    use flovyn_server::startup;
    let plan = startup::plan(&[bookmarks(), hello()], &Config::default(), &|_, _| Ok(())).unwrap();
    let order: Vec<&str> = plan.enabled.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(order, ["hello", "bookmarks"], "dependencies first");

    // The host's check applies to it as to any plugin: a table outside its prefix refuses it.
    let mut broken = bookmarks().clone();
    broken.migrations[0].sqlite = "CREATE TABLE items (id TEXT)".into();
    let broken: &'static PluginDescriptor = Box::leak(Box::new(broken));
    let err = startup::plan(&[broken, hello()], &Config::default(), &|_, _| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("plugin `bookmarks` is invalid: migration 1 `create_items` (SQLite): "),
        "{err}"
    );
    assert!(err.contains("p_bookmarks__items"), "{err}");
}

#[test]
fn the_spec_comes_from_descriptors_alone() {
    let doc = serde_json::to_value(flovyn_server::api::openapi::merged([bookmarks()])).unwrap();
    let get = &doc["paths"]["/api/v1/p/bookmarks/items/{id}"]["get"];
    assert_eq!(get["operationId"], "bookmarks.get");
    assert_eq!(get["summary"], "One bookmark.");
    assert_eq!(get["tags"], serde_json::json!(["bookmarks"]));
    assert_eq!(get["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        get["responses"]["403"]["description"],
        "The caller lacks the `bookmarks:read` permission"
    );
    assert_eq!(get["x-flovyn-permission"], "bookmarks:read");
    let about = &doc["paths"]["/api/v1/p/bookmarks/about"]["get"];
    assert_eq!(about["security"], serde_json::json!([]));
    assert!(about.get("x-flovyn-permission").is_none());
}

#[tokio::test]
async fn the_route_table_and_access_rules_come_from_descriptors_alone() {
    use axum::http::{Extensions, Method, StatusCode};
    use flovyn_sdk::{Identity, PrincipalType};
    use flovyn_server::host::routes::RouteTable;
    use flovyn_server::http::access::{AuthStack, Credentials, Gate};

    let table = std::sync::Arc::new(RouteTable::new(&[bookmarks()]));
    let gate = Gate::new(AuthStack::new(Credentials::new(None), &[]), table.clone());
    let item = table
        .route("/api/v1/p/bookmarks/items/7")
        .expect("a bookmarks route");
    assert_eq!(table.plugin_of(item), "bookmarks");
    assert!(table.route("/api/v1/p/bookmarks/nothing").is_none());

    let status = |refusal: Option<axum::response::Response>| refusal.map(|r| r.status());
    let nobody = Extensions::new();
    assert_eq!(
        status(gate.enforce(&Method::GET, Some(item), &nobody).await),
        Some(StatusCode::UNAUTHORIZED)
    );
    let mut reader = Identity {
        principal_id: "w-1".into(),
        principal_type: PrincipalType::Worker,
        tenant: None,
        roles: Vec::new(),
        permissions: Vec::new(),
    };
    let mut someone = Extensions::new();
    someone.insert(reader.clone());
    assert_eq!(
        status(gate.enforce(&Method::GET, Some(item), &someone).await),
        Some(StatusCode::FORBIDDEN)
    );
    reader.permissions.push("bookmarks:read".into());
    let mut allowed = Extensions::new();
    allowed.insert(reader);
    assert_eq!(
        status(gate.enforce(&Method::GET, Some(item), &allowed).await),
        None
    );
    let about = table.route("/api/v1/p/bookmarks/about").unwrap();
    assert_eq!(
        status(gate.enforce(&Method::GET, Some(about), &nobody).await),
        None
    );
}
