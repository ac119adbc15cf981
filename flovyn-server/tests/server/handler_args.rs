//! What a route handler may take, through the assembled server: each kind of argument the SDK
//! reads (head and body, the optional caller, an extractor of the author's own), in order, with
//! its rejection as the caller's answer (decision 0019).

use axum::body::{Body, Bytes};
use axum::extract::MatchedPath;
use axum::http::{Method, Request, StatusCode, Uri};
use axum::response::IntoResponse;
use flovyn_sdk::handler::{ArgInput, HandlerArg, ReadsHead, Response};
use flovyn_sdk::openapi::OperationDoc;
use flovyn_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::{ADMIN, Db, error, fixture_with, get, get_as, send};

/// The tenant a request names in its `X-Tenant` header: an extractor of the author's own.
struct TenantHeader(String);

impl HandlerArg for TenantHeader {
    type Reads = ReadsHead;

    async fn extract(input: &mut ArgInput) -> Result<Self, Response> {
        match input.head().headers.get("x-tenant") {
            Some(v) => Ok(TenantHeader(v.to_str().unwrap_or_default().to_owned())),
            None => Err(ApiError::bad_request("the `X-Tenant` header is missing").into_response()),
        }
    }

    fn document(op: &mut OperationDoc<'_>) {
        op.error_response(400, "The `X-Tenant` header is missing");
    }
}

/// A body.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Item {
    /// Its name.
    #[schema(min_length = 1)]
    pub name: String,
}

/// One route per kind of argument.
#[flovyn_plugin(name = "arg-kinds")]
#[derive(Debug, Default)]
pub struct ArgKinds;

#[plugin_impl]
impl ArgKinds {
    /// Who calls: anyone, known or not.
    #[route(GET, "/whoami", public)]
    async fn whoami(&self, who: Option<Identity>) -> String {
        who.map_or_else(|| "anonymous".to_owned(), |w| w.principal_id)
    }

    /// Head arguments in order, then the body last.
    #[route(POST, "/items/{id}", public)]
    async fn put_item(
        &self,
        Path(id): Path<u32>,
        method: Method,
        matched: MatchedPath,
        Json(item): Json<Item>,
    ) -> Json<serde_json::Value> {
        Json(json!({
            "id": id,
            "method": method.as_str(),
            "matched": matched.as_str(),
            "name": item.name,
        }))
    }

    /// The author's own extractor.
    #[route(GET, "/tenant", public)]
    async fn tenant(&self, tenant: TenantHeader) -> String {
        tenant.0
    }

    /// A raw body after the URI.
    #[route(PUT, "/raw", public)]
    async fn raw(&self, uri: Uri, body: Bytes) -> String {
        format!("{} {}", uri.path(), body.len())
    }
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn each_kind_of_argument_is_read_in_order_and_its_rejection_answers() {
    let f = fixture_with(Db::Sqlite, &["arg-kinds"], |_| {})
        .await
        .unwrap();

    // `Option<Identity>`: `None` for an anonymous caller, the caller otherwise.
    let r = send(&f.router, get("/api/v1/p/arg-kinds/whoami")).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "anonymous"));
    let r = send(&f.router, get_as("/api/v1/p/arg-kinds/whoami", ADMIN)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "admin"));

    // Head arguments, then the JSON body.
    let r = send(
        &f.router,
        post("/api/v1/p/arg-kinds/items/7", r#"{"name":"lamp"}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"id": 7, "method": "POST", "matched": "/api/v1/p/arg-kinds/items/{id}", "name": "lamp"})
    );

    // The first argument that fails answers: the path before the body...
    let r = send(
        &f.router,
        post("/api/v1/p/arg-kinds/items/seven", r#"{"name":""}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // ...and the body's own check when the path is good.
    let r = send(
        &f.router,
        post("/api/v1/p/arg-kinds/items/7", r#"{"name":""}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "unprocessable_entity");

    // The author's extractor: its value, and its rejection as the answer.
    let request = Request::get("/api/v1/p/arg-kinds/tenant")
        .header("x-tenant", "acme")
        .body(Body::empty())
        .unwrap();
    let r = send(&f.router, request).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "acme"));
    let r = send(&f.router, get("/api/v1/p/arg-kinds/tenant")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json(),
        error("bad_request", "the `X-Tenant` header is missing")
    );

    // A raw body, read whole, after a head argument.
    let request = Request::put("/api/v1/p/arg-kinds/raw")
        .body(Body::from("twelve bytes"))
        .unwrap();
    let r = send(&f.router, request).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "/api/v1/p/arg-kinds/raw 12")
    );

    // What the author's extractor documents is in the operation.
    let spec = flovyn_sdk::openapi::plugin_document(ArgKinds::descriptor());
    let op = spec.paths.paths["/api/v1/p/arg-kinds/tenant"]
        .get
        .as_ref()
        .unwrap();
    let bad = op.responses.responses.get("400").expect("400 documented");
    let utoipa::openapi::RefOr::T(bad) = bad else {
        panic!("an inline response")
    };
    assert_eq!(bad.description, "The `X-Tenant` header is missing");
}
