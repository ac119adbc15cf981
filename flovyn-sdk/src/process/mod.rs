//! A plugin crate as a plugin process: the same plugin source, run by the Flovyn server as a
//! child process speaking `flovyn.plugin.v1` (see `docs/process-plugins.md`).
//!
//! A plugin crate gets an executable with one `[[bin]]` and one line of `main`:
//!
//! ```toml
//! [[bin]]
//! name = "hello-plugin"
//! path = "src/bin/hello_plugin.rs"
//! ```
//!
//! ```ignore
//! // src/bin/hello_plugin.rs
//! flovyn_sdk::process::main!(hello::Hello);
//! ```
//!
//! Started by hand it says what it is and exits: only a host that sets the handshake's
//! environment starts it. It serves on a Unix socket (mode 0600) in the directory the host
//! gives, prints the handshake line, and exits after the host's `Shutdown` (which runs the
//! plugin's stop hook) or when the host closes its stdin (the host stopped, or died; the stop
//! hook runs then too).
//!
//! Built so far: the handshake, `Describe`, `Initialize`, `Handle` (whole bodies),
//! `Authenticate`, `Authorize`, `RunTask`, `Deliver` and `Shutdown`. The context's [`Database`] goes through the
//! host's storage service (each statement checked against the plugin's namespace by the
//! host); events go through the host's outbox (`Publish`, `Deliver`), and the `Authz`
//! extractor asks the host's authorizers (`Check`).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use flovyn_protocol::frames::IncomingRequest;
use flovyn_protocol::handshake::{self, HandshakeLine, Network};
use flovyn_protocol::pb;
use futures_util::StreamExt as _;

use std::sync::Arc;

use crate::db::HostStore;
use crate::host::PluginInstance;
use crate::{Database, LinkedPlugin, PluginContext};

mod frames;

/// The `main` of a plugin executable: `flovyn_sdk::process::main!(MyPlugin);`.
#[macro_export]
macro_rules! __process_main {
    ($plugin:ty) => {
        fn main() -> ::std::process::ExitCode {
            $crate::process::run(<$plugin as $crate::Plugin>::linked())
        }
    };
}

#[doc(inline)]
pub use crate::__process_main as main;

/// Serves `plugin` to the host that started this process; see the module docs.
pub fn run(plugin: &'static LinkedPlugin) -> ExitCode {
    if std::env::var(handshake::MAGIC_COOKIE_KEY).as_deref() != Ok(handshake::MAGIC_COOKIE_VALUE) {
        eprintln!(
            "this is the Flovyn plugin `{}`: the Flovyn server starts it (`[plugins.{}] mode = \"process\"` in flovyn.toml); it is not meant to be run by hand",
            plugin.name, plugin.name
        );
        return ExitCode::FAILURE;
    }
    // The plugin's own `tracing` events reach the server's log: a line each on stderr, which
    // the host logs with the plugin's name at the line's level. (Without a subscriber,
    // `tracing` would also turn every span of the HTTP/2 stack into a `log` record to filter.)
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!(
                "plugin `{}`: cannot start the async runtime: {e}",
                plugin.name
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(plugin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugin `{}`: {e}", plugin.name);
            ExitCode::FAILURE
        }
    }
}

async fn serve(plugin: &'static LinkedPlugin) -> Result<(), String> {
    let offered = std::env::var(handshake::PROTOCOL_VERSIONS_KEY).unwrap_or_default();
    let version = handshake::negotiate(&offered, &[flovyn_protocol::PROTOCOL_VERSION])
        .map_err(|e| e.to_string())?;
    let dir = std::env::var_os(handshake::SOCKET_DIR_KEY)
        .map(PathBuf::from)
        .ok_or_else(|| format!("`{}` is not set", handshake::SOCKET_DIR_KEY))?;
    let path = dir.join(format!("{}.sock", plugin.name));
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|e| format!("cannot listen on `{}`: {e}", path.display()))?;
    restrict(&path)?;

    // The second socket, for `Handle` as frames (decision 0021), named in `Initialize`'s answer.
    let handle_path = dir.join(format!("{}.handle.sock", plugin.name));
    let handle_listener = tokio::net::UnixListener::bind(&handle_path)
        .map_err(|e| format!("cannot listen on `{}`: {e}", handle_path.display()))?;
    restrict(&handle_path)?;

    let line = HandshakeLine {
        core_version: handshake::CORE_VERSION,
        protocol_version: version,
        network: Network::Unix,
        address: path.display().to_string(),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the handshake: {e}"))?;
    drop(stdout);

    let (shutdown, mut shutdown_requested) = tokio::sync::watch::channel(false);
    let served = Arc::new(Served {
        plugin,
        running: std::sync::OnceLock::new(),
        stopped: std::sync::atomic::AtomicBool::new(false),
        shutdown,
        handle_address: handle_path.display().to_string(),
    });
    tokio::spawn(frames::serve(handle_listener, served.clone()));
    let service = pb::plugin_server::PluginServer::from_arc(served.clone());
    // `grpc.health.v1` beside it: the host's supervisor asks it every second, and restarts a
    // process that stops answering.
    let (_health, health_service) = tonic_health::server::health_reporter();
    let mut router = tonic::service::Routes::new(service)
        .add_service(health_service)
        .into_axum_router();
    // The plugin's own gRPC services, on the same socket: the host forwards their calls.
    for grpc in &plugin.descriptor().grpc_services {
        let served = served.clone();
        router = router.route_service(
            &format!("/{}/{{*method}}", grpc.service),
            tower::service_fn(move |request: axum::extract::Request| {
                let served = served.clone();
                async move { Ok::<_, std::convert::Infallible>(served.grpc(request).await) }
            }),
        );
    }
    let serving = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = host_gone() => {}
                _ = shutdown_requested.wait_for(|asked| *asked) => {}
            }
        })
        .await
        .map_err(|e| format!("serving failed: {e}"));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&handle_path);
    // Without `Shutdown` (the host died, or predates it), the stop hook still runs.
    if let Err(e) = served.stop().await {
        eprintln!("plugin `{}`: stop hook: {e}", plugin.name);
    }
    // The directory the host made for the two sockets: the host removes it when it stops the
    // plugin; a host killed outright cannot, so the last one out does.
    let _ = std::fs::remove_dir_all(&dir);
    serving
}

/// Only the host (this process's user) may connect.
fn restrict(path: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// Resolves when the host closes this process's stdin (it stopped, or died).
async fn host_gone() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    })
    .await;
}

/// The context of plugin `plugin` in a process: its [`Database`] and its events go through
/// the host's service at `address` (a Unix socket), carrying `token` — what `Initialize`
/// hands the plugin.
pub async fn connect_context(
    plugin: &'static str,
    config: serde_json::Value,
    address: &str,
    token: &str,
    dialect: crate::Dialect,
) -> Result<PluginContext, String> {
    let store = HostStore::connect(address, token).await?;
    Ok(PluginContext::new(plugin, config)
        .with_events(crate::events::Events::through_host(
            plugin,
            std::sync::Arc::new(store.clone()),
        ))
        .with_authorizer(std::sync::Arc::new(store.clone()))
        .with_database(Database::through_host(store, dialect)))
}

/// The most body bytes in one `HttpResponsePart`: well below gRPC's 4 MiB message limit.
const PART_BYTES: usize = flovyn_protocol::frames::PART_BYTES;

/// `flovyn.plugin.v1.Plugin` for a linked plugin.
struct Served {
    plugin: &'static LinkedPlugin,
    /// The plugin, once `Initialize` built it.
    running: std::sync::OnceLock<Running>,
    /// Whether the stop hook ran (or is running).
    stopped: std::sync::atomic::AtomicBool,
    /// Set by `Shutdown`: the server stops serving once the call is answered.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// The socket where it takes `Handle` as frames.
    handle_address: String,
}

/// An initialized plugin.
struct Running {
    instance: Arc<dyn PluginInstance>,
    context: PluginContext,
    /// Its routes at their served paths, inside its own middleware.
    router: crate::middleware::Downstream,
    /// Access checks in handlers (`Authz`), answered by the host's authorizers.
    authz: Option<crate::auth::Authz>,
    /// Its gRPC services at their paths (`/<package>.<Service>/<Method>`).
    grpc: axum::Router,
}

impl Served {
    /// The running instance, once `Initialize` built it.
    fn instance(&self) -> Result<&Arc<dyn PluginInstance>, tonic::Status> {
        self.running
            .get()
            .map(|running| &running.instance)
            .ok_or_else(|| tonic::Status::failed_precondition("not initialized"))
    }

    /// One request as `Handle` carries it, through the plugin's middleware and router: the
    /// response, whatever way it then goes back (gRPC parts, or frames).
    async fn respond(
        &self,
        call: IncomingRequest,
    ) -> Result<axum::response::Response, tonic::Status> {
        let Some(Running { router, authz, .. }) = self.running.get() else {
            return Err(tonic::Status::failed_precondition("not initialized"));
        };
        let identity = call.identity_json.clone();
        let mut http = call
            .into_http()
            .map_err(status)?
            .map(axum::body::Body::from);
        if let Some(identity) = identity {
            let identity: crate::Identity = serde_json::from_slice(&identity).map_err(status)?;
            http.extensions_mut().insert(identity);
        }
        if let Some(authz) = authz {
            http.extensions_mut().insert(authz.clone());
        }
        // A handler that panics answers 500, as it does linked (the server's edge catches it
        // there); the panic hook has already written the message to stderr, the server's log.
        let answered = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            tower::ServiceExt::oneshot(router.clone(), http),
        ))
        .await;
        match answered {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(never)) => match never {},
            Err(_panic) => Ok(axum::response::IntoResponse::into_response(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            )),
        }
    }

    /// One call to one of the plugin's gRPC services, as the host forwarded it: the caller
    /// from the host's `flovyn-identity-bin` metadata into the request's extensions, where the
    /// service finds it as it does linked.
    async fn grpc(&self, mut request: axum::extract::Request) -> axum::response::Response {
        let Some(running) = self.running.get() else {
            return tonic::Status::unavailable("the plugin is not initialized yet")
                .into_http::<axum::body::Body>();
        };
        let key = flovyn_protocol::transport::IDENTITY_METADATA;
        let identity = request.headers_mut().remove(key).and_then(|value| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(key, value);
            let bytes = tonic::metadata::MetadataMap::from_headers(headers)
                .get_bin(key)?
                .to_bytes()
                .ok()?;
            serde_json::from_slice::<crate::Identity>(&bytes).ok()
        });
        let Some(identity) = identity else {
            return tonic::Status::unauthenticated(format!(
                "the call carries no caller (`{key}`): only the host calls this socket"
            ))
            .into_http::<axum::body::Body>();
        };
        request.extensions_mut().insert(identity);
        if let Some(authz) = &running.authz {
            request.extensions_mut().insert(authz.clone());
        }
        match tower::ServiceExt::oneshot(running.grpc.clone(), request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Runs the plugin's stop hook, once, if it was initialized.
    async fn stop(&self) -> Result<(), crate::PluginError> {
        let Some(running) = self.running.get() else {
            return Ok(());
        };
        if self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        running.instance.on_stop(&running.context).await
    }
}

/// `router` inside the plugin's `#[middleware]`, each for the requests in its scopes, in the
/// order a server applies them (priority, then declaration order; smaller outermost). The
/// server leaves a process's middleware to the process and refuses one scoped beyond the
/// plugin's prefix, so every request a scope can match comes through here.
fn with_middleware(
    descriptor: &crate::PluginDescriptor,
    instance: &Arc<dyn PluginInstance>,
    router: axum::Router,
) -> crate::middleware::Downstream {
    let built = instance.clone().middleware();
    let mut order: Vec<usize> = (0..descriptor.middleware.len().min(built.len())).collect();
    order.sort_by_key(|&i| descriptor.middleware[i].priority);
    order
        .into_iter()
        .rev()
        .fold(crate::middleware::Downstream::new(router), |inner, i| {
            built[i].wrap_scoped(descriptor.middleware[i].scopes(&descriptor.name), inner)
        })
}

/// A handler's response as `Handle` sends it back (over gRPC or as frames).
enum Answer {
    /// The body was whole already, and fits one part: the head and the body, in one part.
    Whole(axum::http::response::Parts, axum::body::Bytes),
    /// The head now; the body to send piece by piece as it comes.
    Streamed(axum::http::response::Parts, axum::body::Body),
}

/// Most bodies are whole when the handler returns: one part then, and the host answers with
/// its length.
async fn answer(response: axum::response::Response) -> Result<Answer, tonic::Status> {
    let (head, body) = response.into_parts();
    let whole = http_body::Body::size_hint(&body)
        .exact()
        .is_some_and(|n| n <= PART_BYTES as u64);
    if !whole {
        return Ok(Answer::Streamed(head, body));
    }
    let body = axum::body::to_bytes(body, PART_BYTES)
        .await
        .map_err(|e| tonic::Status::internal(format!("response body: {e}")))?;
    Ok(Answer::Whole(head, body))
}

/// A response's head as its message.
fn head_to_proto(head: &axum::http::response::Parts) -> pb::HttpResponseHead {
    pb::HttpResponseHead {
        status: u32::from(head.status.as_u16()),
        headers: flovyn_protocol::headers::to_proto(&head.headers),
    }
}

/// `chunk` in pieces of at most [`PART_BYTES`], each sharing its buffer.
fn pieces(chunk: axum::body::Bytes) -> impl Iterator<Item = axum::body::Bytes> {
    (0..chunk.len())
        .step_by(PART_BYTES)
        .map(move |start| chunk.slice(start..chunk.len().min(start + PART_BYTES)))
}

fn status(message: impl std::fmt::Display) -> tonic::Status {
    tonic::Status::invalid_argument(message.to_string())
}

#[tonic::async_trait]
impl pb::plugin_server::Plugin for Served {
    async fn describe(
        &self,
        _request: tonic::Request<pb::DescribeRequest>,
    ) -> Result<tonic::Response<pb::DescribeResponse>, tonic::Status> {
        Ok(tonic::Response::new(flovyn_protocol::describe_response(
            self.plugin.descriptor(),
        )))
    }

    async fn initialize(
        &self,
        request: tonic::Request<pb::InitializeRequest>,
    ) -> Result<tonic::Response<pb::InitializeResponse>, tonic::Status> {
        if self.running.get().is_some() {
            return Err(tonic::Status::failed_precondition("already initialized"));
        }
        let request = request.into_inner();
        let config: serde_json::Value =
            serde_json::from_str(&request.config_json).map_err(status)?;
        self.plugin.validate_config(&config).map_err(status)?;
        let context = if request.host_address.is_empty() {
            PluginContext::new(self.plugin.name, config)
        } else {
            let dialect = match pb::Dialect::try_from(request.dialect) {
                Ok(pb::Dialect::Sqlite) => crate::Dialect::Sqlite,
                Ok(pb::Dialect::Postgres) => crate::Dialect::Postgres,
                _ => return Err(status("`Initialize` names no database dialect")),
            };
            connect_context(
                self.plugin.name,
                config,
                &request.host_address,
                &request.host_token,
                dialect,
            )
            .await
            .map_err(tonic::Status::unavailable)?
        };
        let instance = self
            .plugin
            .construct(context.clone())
            .await
            .map_err(|e| tonic::Status::internal(format!("construct: {e}")))?;
        instance
            .on_start(&context)
            .await
            .map_err(|e| tonic::Status::internal(format!("start: {e}")))?;
        let descriptor = self.plugin.descriptor();
        let router = descriptor
            .routes
            .iter()
            .zip(instance.clone().routes())
            .fold(axum::Router::new(), |router, (route, handlers)| {
                router.route(&descriptor.served_path(&route.path), handlers)
            });
        let router = with_middleware(descriptor, &instance, router);
        let authz = context.authorizer().cloned().map(crate::auth::Authz::new);
        let grpc = instance
            .clone()
            .grpc_services()
            .into_iter()
            .fold(axum::Router::new(), |router, service| {
                router.route_service(
                    &format!("/{}/{{*method}}", service.name()),
                    service.into_service(),
                )
            })
            .fallback(|| async {
                tonic::Status::unimplemented("no such gRPC service").into_http::<axum::body::Body>()
            });
        let _ = self.running.set(Running {
            instance,
            context,
            router,
            authz,
            grpc,
        });
        Ok(tonic::Response::new(pb::InitializeResponse {
            handle_address: self.handle_address.clone(),
        }))
    }

    type HandleStream =
        futures_util::stream::BoxStream<'static, Result<pb::HttpResponsePart, tonic::Status>>;

    async fn handle(
        &self,
        request: tonic::Request<pb::HttpRequest>,
    ) -> Result<tonic::Response<Self::HandleStream>, tonic::Status> {
        let response = self.respond(request.into_inner().into()).await?;
        let (head, body) = match answer(response).await? {
            Answer::Whole(head, body) => {
                let part = pb::HttpResponsePart {
                    head: Some(head_to_proto(&head)),
                    body,
                    last: true,
                };
                return Ok(tonic::Response::new(Box::pin(futures_util::stream::once(
                    async move { Ok(part) },
                ))));
            }
            Answer::Streamed(head, body) => (Some(head_to_proto(&head)), body),
        };
        // Otherwise the head at once, then each piece of the body as it comes.
        let first = futures_util::stream::once(async move {
            Ok(pb::HttpResponsePart {
                head,
                body: axum::body::Bytes::new(),
                last: false,
            })
        });
        let rest = body.into_data_stream().flat_map(|chunk| {
            let parts: Vec<Result<pb::HttpResponsePart, tonic::Status>> = match chunk {
                Ok(bytes) => pieces(bytes)
                    .map(|body| {
                        Ok(pb::HttpResponsePart {
                            head: None,
                            body,
                            last: false,
                        })
                    })
                    .collect(),
                Err(e) => vec![Err(tonic::Status::internal(format!("response body: {e}")))],
            };
            futures_util::stream::iter(parts)
        });
        Ok(tonic::Response::new(Box::pin(first.chain(rest))))
    }

    async fn authenticate(
        &self,
        request: tonic::Request<pb::AuthenticateRequest>,
    ) -> Result<tonic::Response<pb::AuthenticateResponse>, tonic::Status> {
        use pb::authenticate_response::Outcome;
        let instance = self.instance()?;
        let call = request.into_inner();
        let method = axum::http::Method::from_bytes(call.method.as_bytes()).map_err(status)?;
        let mut headers = axum::http::HeaderMap::new();
        flovyn_protocol::headers::append_from_proto(call.headers, &mut headers);
        let protocol = match pb::Protocol::try_from(call.protocol) {
            Ok(pb::Protocol::Grpc) => crate::auth::Protocol::Grpc,
            _ => crate::auth::Protocol::Http,
        };
        let credentials = crate::auth::AuthRequest::new(&headers, &method, &call.path, protocol);
        let outcome = match instance.authenticate(&credentials).await {
            crate::auth::AuthOutcome::Authenticated(identity) => {
                Outcome::IdentityJson(serde_json::to_string(&identity).map_err(status)?)
            }
            crate::auth::AuthOutcome::NotMine => Outcome::NotMine(true),
            crate::auth::AuthOutcome::Invalid => Outcome::Invalid(true),
            crate::auth::AuthOutcome::Unavailable(reason) => Outcome::Unavailable(reason),
        };
        Ok(tonic::Response::new(pb::AuthenticateResponse {
            outcome: Some(outcome),
        }))
    }

    async fn authorize(
        &self,
        request: tonic::Request<pb::AuthorizeRequest>,
    ) -> Result<tonic::Response<pb::AuthorizeResponse>, tonic::Status> {
        let instance = self.instance()?;
        let call = request.into_inner();
        let identity: crate::Identity =
            serde_json::from_str(&call.identity_json).map_err(status)?;
        let question = crate::auth::AuthzRequest {
            resource: &call.resource,
            action: &call.action,
            tenant: call.tenant.as_deref(),
        };
        let decision = match instance.authorize(&identity, &question).await {
            crate::auth::Decision::Allow => pb::Decision::Allow,
            crate::auth::Decision::Deny => pb::Decision::Deny,
            crate::auth::Decision::Abstain => pb::Decision::Abstain,
        };
        Ok(tonic::Response::new(pb::AuthorizeResponse {
            decision: decision.into(),
        }))
    }

    async fn run_task(
        &self,
        request: tonic::Request<pb::RunTaskRequest>,
    ) -> Result<tonic::Response<pb::RunTaskResponse>, tonic::Status> {
        let instance = self.instance()?;
        let task = crate::descriptor::TaskId(request.into_inner().task);
        if task.index() >= self.plugin.descriptor().tasks.len() {
            return Err(status(format!("no task {task}")));
        }
        instance
            .run_task(task)
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        Ok(tonic::Response::new(pb::RunTaskResponse {}))
    }

    async fn deliver(
        &self,
        request: tonic::Request<pb::DeliverRequest>,
    ) -> Result<tonic::Response<pb::DeliverResponse>, tonic::Status> {
        let instance = self.instance()?;
        let call = request.into_inner();
        let subscription = crate::descriptor::SubscriptionId(call.subscription);
        if subscription.index() >= self.plugin.descriptor().subscriptions.len() {
            return Err(status(format!("no subscription {subscription}")));
        }
        let meta = crate::events::EventMeta {
            id: call.event_id,
            name: call.name,
            publisher: call.publisher,
            published_at: call.published_at,
        };
        instance
            .deliver(subscription, &call.payload_json, &meta)
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        Ok(tonic::Response::new(pb::DeliverResponse {}))
    }

    async fn shutdown(
        &self,
        _request: tonic::Request<pb::ShutdownRequest>,
    ) -> Result<tonic::Response<pb::ShutdownResponse>, tonic::Status> {
        let stopped = self.stop().await;
        // Serving ends once this answer (and any call still under way) is sent.
        let _ = self.shutdown.send(true);
        stopped.map_err(|e| tonic::Status::internal(e.to_string()))?;
        Ok(tonic::Response::new(pb::ShutdownResponse {}))
    }
}
