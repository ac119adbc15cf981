//! `hello` as a served plugin, in the real server assembly (`flovyn-testing`): its routes
//! answer with the server's access checks, and its OpenAPI document is derived from the
//! handlers.

use flovyn_sdk::Plugin as _;
use flovyn_testing::{Identity, PrincipalType, TestServer};
use serde_json::json;

#[tokio::test]
async fn public_route_greets_by_query() {
    let server = TestServer::start(&[hello::Hello::linked()]).await;
    let r = server
        .anonymous()
        .get("/api/v1/p/hello/greeting?name=Ada")
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"message": "Hello, Ada!"}))
    );
    let r = server.anonymous().get("/api/v1/p/hello/greeting").await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"message": "Hello, world!"}))
    );
}

#[tokio::test]
async fn protected_route_needs_an_identity_holding_its_permission() {
    let server = TestServer::start(&[hello::Hello::linked()]).await;
    let r = server.anonymous().get("/api/v1/p/hello/me").await;
    assert_eq!(
        (r.status, r.json()),
        (
            401,
            json!({"error": {"code": "unauthorized", "message": "authentication required"}})
        )
    );

    let r = server.with_permissions(&[]).get("/api/v1/p/hello/me").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error_code(), "forbidden");
    assert!(
        r.body.contains("hello:read"),
        "the 403 names the permission: {}",
        r.body
    );

    let r = server
        .as_identity(Identity {
            principal_id: "w-1".into(),
            principal_type: PrincipalType::Worker,
            tenant: None,
            roles: vec![],
            permissions: vec!["hello:read".into()],
        })
        .get("/api/v1/p/hello/me")
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"message": "Hello, w-1!"}))
    );

    let r = server.admin().get("/api/v1/p/hello/me").await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"message": "Hello, admin!"}))
    );
}

#[test]
fn openapi_is_derived_from_the_handlers() {
    let doc = serde_json::to_value(flovyn_sdk::openapi::plugin_document(
        hello::Hello::descriptor(),
    ))
    .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let greeting = &doc["paths"]["/api/v1/p/hello/greeting"]["get"];
    assert_eq!(greeting["operationId"], "hello.greeting");
    assert_eq!(greeting["tags"], json!(["hello"]));
    assert_eq!(greeting["summary"], "Greet someone.");
    assert_eq!(greeting["description"], "Public: needs no credentials.");
    assert_eq!(greeting["security"], json!([]), "public routes say so");
    assert_eq!(greeting["parameters"][0]["name"], "name");
    assert_eq!(greeting["parameters"][0]["in"], "query");
    assert_eq!(
        greeting["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Greeting"
    );
    assert_eq!(
        doc["components"]["schemas"]["Greeting"]["properties"]["message"]["type"],
        "string"
    );

    let me = &doc["paths"]["/api/v1/p/hello/me"]["get"];
    assert_eq!(me["operationId"], "hello.me");
    assert_eq!(me["security"], json!([{"bearer": []}]));
    for status in ["200", "401", "403", "500"] {
        assert!(
            me["responses"][status].is_object(),
            "response {status} in {me}"
        );
    }
    assert_eq!(
        me["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["tags"][0]["name"], "hello");
}
