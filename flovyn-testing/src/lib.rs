//! # flovyn-testing
//!
//! A plugin's own tests against the **real server assembly**: the core tables, every
//! migration applied through the server's ledger, the access checks (401, 403), the JSON
//! errors, the events and the spec — what a client of the deployed server sees, with no copy
//! of the server's setup in the plugin.
//!
//! ```no_run
//! # use flovyn_sdk::prelude::*;
//! # #[flovyn_plugin(name = "notes")]
//! # #[derive(Default)]
//! # pub struct Notes;
//! # #[plugin_impl]
//! # impl Notes {}
//! use flovyn_testing::TestServer;
//!
//! # async fn test() {
//! let server = TestServer::start(&[Notes::linked()]).await;
//! let r = server.anonymous().get("/api/v1/p/notes/items").await;
//! assert_eq!(r.status, 401);
//! let r = server.with_permissions(&["notes:read"]).get("/api/v1/p/notes/items").await;
//! assert_eq!(r.status, 200);
//! # }
//! ```
//!
//! - [`TestServer::start`] builds the plugins named (and the plugins they depend on, found in
//!   the registry) into a server on a fresh SQLite database in a temporary directory;
//!   [`TestServer::builder`] sets plugin config or a PostgreSQL URL
//!   (`FLOVYN_TEST_DATABASE_URL` is used when set, so one suite runs on both).
//! - Callers: [`TestServer::admin`] (the admin token: every permission, no tenant),
//!   [`TestServer::anonymous`] (no credentials), [`TestServer::with_permissions`] (a user in
//!   the `default` tenant holding exactly those permissions) and [`TestServer::as_identity`]
//!   (any identity). The last two are authenticated by the `test-identities` authenticator
//!   plugin this crate adds to the server, through the server's own authentication stack.
//! - The server's log goes to the test's output, which the test harness shows when a test
//!   fails (run with `--nocapture` to see it always); `RUST_LOG` filters it (default `info`).
//!
//! Use it from integration tests (`tests/*.rs`) with `#[tokio::test]`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use axum::response::Response;
use flovyn_sdk::auth::{AuthOutcome, AuthRequest};
use flovyn_sdk::host::LinkedPlugin;
use flovyn_sdk::prelude::*;
use flovyn_server::config::Config;
use flovyn_server::router::App;
use flovyn_server::startup::{self, AppState};
use tower::ServiceExt as _;

pub use flovyn_sdk::{Identity, PrincipalType};

/// The admin token of every test server.
pub const ADMIN_TOKEN: &str = "flovyn-testing-admin-token-0123456789abcdef";

/// A running server assembly for one test.
pub struct TestServer {
    state: AppState,
    app: App,
    // Dropped last: the SQLite file lives in it.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("plugins", &self.plugin_names())
            .finish_non_exhaustive()
    }
}

/// Sets up a [`TestServer`]: the plugins, their config, the database.
#[derive(Debug, Default)]
pub struct Builder {
    plugins: Vec<&'static LinkedPlugin>,
    config: Vec<(String, serde_json::Value)>,
    database_url: Option<String>,
}

impl Builder {
    /// Adds a plugin (`MyPlugin::linked()`); the plugins it depends on come with it.
    pub fn plugin(mut self, plugin: &'static LinkedPlugin) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// The plugin's config section, as `[plugins.<name>]` in `flovyn.toml` would give it.
    pub fn config(mut self, plugin: &str, section: serde_json::Value) -> Self {
        self.config.push((plugin.to_owned(), section));
        self
    }

    /// A database URL (a PostgreSQL database the test may fill) instead of a fresh SQLite
    /// file. Without it, `FLOVYN_TEST_DATABASE_URL` is used when set.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Starts the server: plans, migrates, constructs and starts the plugins.
    ///
    /// # Panics
    ///
    /// When the server does not start, with the server's own message (a bad config section,
    /// a failing migration, a plugin whose dependency is not linked…).
    pub async fn start(self) -> TestServer {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("the test server did not start: {e}"))
    }

    /// [`Builder::start`], answering the server's start-up error as text instead of
    /// panicking: for tests of what a bad config section or a failing constructor does.
    pub async fn try_start(self) -> Result<TestServer, String> {
        init_log();
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        let database_url = self
            .database_url
            .or_else(|| std::env::var("FLOVYN_TEST_DATABASE_URL").ok())
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("flovyn.db").display()
                )
            });
        let config = Config {
            database_url,
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            plugins: self.config.into_iter().collect(),
            ..Config::default()
        };
        let plugins = with_dependencies(&self.plugins);
        let state = startup::start_with(config, &plugins, &[])
            .await
            .map_err(|e| e.to_string())?;
        let app = flovyn_server::router::build_router(state.clone());
        Ok(TestServer {
            state,
            app,
            _dir: dir,
        })
    }
}

/// `plugins`, the plugins they depend on (transitively) and the `test-identities`
/// authenticator, each once.
fn with_dependencies(plugins: &[&'static LinkedPlugin]) -> Vec<&'static LinkedPlugin> {
    let mut out: Vec<&'static LinkedPlugin> = vec![TestIdentities::linked()];
    let mut queue: Vec<&'static LinkedPlugin> = plugins.to_vec();
    while let Some(plugin) = queue.pop() {
        if out.iter().any(|p| p.name == plugin.name) {
            continue;
        }
        for dependency in &plugin.descriptor().depends_on {
            let found = flovyn_sdk::host::registry::find(dependency).unwrap_or_else(|| {
                panic!(
                    "plugin `{}` depends on `{dependency}`, which is not linked into this test: \
                     add its crate to `[dev-dependencies]` and `use <its crate> as _;` in the test",
                    plugin.name
                )
            });
            queue.push(found);
        }
        out.push(plugin);
    }
    out
}

impl TestServer {
    /// A server with these plugins (and their dependencies) on a fresh database.
    pub async fn start(plugins: &[&'static LinkedPlugin]) -> TestServer {
        plugins
            .iter()
            .fold(Self::builder(), |b, p| b.plugin(p))
            .start()
            .await
    }

    /// Sets up a server with config or another database.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Requests with the admin token: every permission (`*`), no tenant.
    pub fn admin(&self) -> Client<'_> {
        self.client(Some(ADMIN_TOKEN.to_owned()))
    }

    /// Requests without credentials.
    pub fn anonymous(&self) -> Client<'_> {
        self.client(None)
    }

    /// Requests as a user (`principal_id` `test-user`) of the `default` tenant holding
    /// exactly `permissions` (none: authenticated, but allowed only routes without a
    /// permission).
    pub fn with_permissions(&self, permissions: &[&str]) -> Client<'_> {
        self.as_identity(Identity {
            principal_id: "test-user".to_owned(),
            principal_type: PrincipalType::User,
            tenant: Some("default".to_owned()),
            roles: Vec::new(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    /// Requests as `identity`, authenticated by the server's own stack.
    pub fn as_identity(&self, identity: Identity) -> Client<'_> {
        self.client(Some(mint(identity)))
    }

    fn client(&self, token: Option<String>) -> Client<'_> {
        Client {
            server: self,
            token,
        }
    }

    /// The database pool (to look at rows a request left behind).
    pub fn pool(&self) -> &flovyn_sdk::db::sqlx::AnyPool {
        self.state.db().pool()
    }

    /// The names of the running plugins, in start order (`test-identities` included).
    pub fn plugin_names(&self) -> Vec<&'static str> {
        self.state
            .plugins()
            .iter()
            .map(|p| p.descriptor.name.as_str())
            .collect()
    }

    /// Sends any request as it is.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response: Response = match self.app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        TestResponse::read(response).await
    }
}

/// Requests as one caller; see [`TestServer::admin`] and the others.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    server: &'a TestServer,
    token: Option<String>,
}

impl Client<'_> {
    /// `GET path` (the full path: `/api/v1/p/<plugin>/…`).
    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.request(Method::DELETE, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.request(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// Any method, with an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(json) => request
                .header("content-type", "application/json")
                .body(Body::from(json.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap_or_else(|e| panic!("not a valid request for `{path}`: {e}"));
        self.server.send(request).await
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status code (`201`), to compare with a number.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl TestResponse {
    async fn read(response: Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .unwrap_or_else(|e| panic!("reading the response body: {e}"));
        Self {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// When it is not JSON, showing the status and the body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "the {} response is not JSON ({e}): {}",
                self.status, self.body
            )
        })
    }

    /// The `error.code` of an error body (`unauthorized`, `forbidden`, `not_found`…).
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.body))
            .to_owned()
    }
}

// ---- the identities the test authenticator knows ----

/// Token → identity, for every test server in this process.
fn identities() -> &'static Mutex<HashMap<String, Identity>> {
    static MAP: OnceLock<Mutex<HashMap<String, Identity>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
}

const TOKEN_PREFIX: &str = "flovyn-test_";

/// A new bearer token for `identity`.
fn mint(identity: Identity) -> String {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).expect("the operating system's random numbers");
    let token = format!(
        "{TOKEN_PREFIX}{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    identities()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), identity);
    token
}

/// Authenticates the identities a test chose ([`TestServer::with_permissions`],
/// [`TestServer::as_identity`]); present only in test servers.
#[flovyn_plugin(
    name = "test-identities",
    description = "Authenticates the identities a plugin's tests act as (flovyn-testing only)."
)]
#[derive(Debug, Default)]
pub struct TestIdentities;

#[plugin_impl]
impl TestIdentities {
    /// `Authorization: Bearer flovyn-test_…`, minted by the test.
    #[authenticator(scheme = "test_identity", bearer_format = "flovyn-test_…")]
    async fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        let Some(token) = request.bearer_token() else {
            return AuthOutcome::NotMine;
        };
        if !token.starts_with(TOKEN_PREFIX) {
            return AuthOutcome::NotMine;
        }
        match identities()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
        {
            Some(identity) => AuthOutcome::Authenticated(identity.clone()),
            None => AuthOutcome::Invalid,
        }
    }
}

/// The server's log into the test's captured output, once per test binary.
fn init_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // Another subscriber may be installed already (the test's own): keep it.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
