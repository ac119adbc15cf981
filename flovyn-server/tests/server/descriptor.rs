//! The plain-data descriptor of every linked plugin: it survives its wire form unchanged,
//! passes the host's check, and alone gives the plugin's OpenAPI document.

use flovyn_descriptor::PluginDescriptor;

fn linked() -> Vec<&'static flovyn_sdk::PluginDescriptor> {
    let all = flovyn_sdk::registry::plugins();
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
            plugin.openapi(),
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
