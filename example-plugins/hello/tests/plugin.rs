//! `hello` as a served plugin: its router answers, and its OpenAPI document is derived from
//! the handlers.

use axum::body::Body;
use flovyn_sdk::{Identity, Plugin, PluginContext, PrincipalType};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn router() -> axum::Router {
    let linked = hello::Hello::linked();
    let ctx = PluginContext::new(linked.name, json!({}));
    let instance = linked.construct(ctx).await.expect("hello constructs");
    instance.router()
}

async fn call(request: Request<Body>) -> (StatusCode, Value) {
    let response = router().await.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn public_route_greets_by_query() {
    let req = Request::get("/greeting?name=Ada")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(req).await,
        (StatusCode::OK, json!({"message": "Hello, Ada!"}))
    );
    let req = Request::get("/greeting").body(Body::empty()).unwrap();
    assert_eq!(
        call(req).await,
        (StatusCode::OK, json!({"message": "Hello, world!"}))
    );
}

#[tokio::test]
async fn protected_route_needs_an_identity() {
    let req = Request::get("/me").body(Body::empty()).unwrap();
    assert_eq!(
        call(req).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "unauthorized", "message": "authentication required"}})
        )
    );

    let mut req = Request::get("/me").body(Body::empty()).unwrap();
    req.extensions_mut().insert(Identity {
        principal_id: "w-1".into(),
        principal_type: PrincipalType::Worker,
        tenant: None,
        roles: vec![],
        permissions: vec!["hello:read".into()],
    });
    assert_eq!(
        call(req).await,
        (StatusCode::OK, json!({"message": "Hello, w-1!"}))
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
