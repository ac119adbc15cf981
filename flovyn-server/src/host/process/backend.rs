//! A plugin process as a host [`Backend`]: `Initialize` builds it with its configuration
//! section (under a [`Supervisor`] that restarts it), its routes forward each request —
//! authenticated and authorised by the host already — through `Handle`, with the plugin's
//! deadline; while the process is down they answer 503 JSON with `Retry-After`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse as _;
use flovyn_protocol::pb;
use flovyn_sdk::auth::{AuthOutcome, AuthRequest, AuthzRequest, Decision, Protocol};
use flovyn_sdk::descriptor::{SubscriptionId, TaskId};
use flovyn_sdk::events::EventMeta;
use flovyn_sdk::host::PluginInstance;
use flovyn_sdk::{ApiError, BoxFuture, Identity, PluginContext, PluginDescriptor, PluginError};
use futures_util::StreamExt as _;

use super::frames::Refused;
use super::supervise::{Down, Status, Supervisor};
use super::{PluginProcess, ProcessError, ProcessSpec};
use crate::host::Backend;
use flovyn_protocol::frames::{IncomingHead, IncomingPart, MAX_FRAME_BYTES, RequestRef};

/// A started plugin process as a host [`Backend`]. The host keeps its descriptor for the
/// server's life (like a linked plugin's).
#[derive(Debug)]
pub struct ProcessBackend {
    descriptor: &'static PluginDescriptor,
    spec: ProcessSpec,
    /// The process started to read the descriptor, until the plugin is started.
    first: Mutex<Option<PluginProcess>>,
    /// Set once the plugin started: its supervisor, for [`Backend::status`].
    supervisor: Arc<OnceLock<Arc<Supervisor>>>,
}

impl ProcessBackend {
    /// Starts the process of `spec` and makes it a backend (see [`ProcessSpec::start`]).
    pub async fn start(spec: &ProcessSpec) -> Result<Self, ProcessError> {
        let process = spec.start().await?;
        let descriptor: &'static PluginDescriptor = Box::leak(Box::new(process.descriptor.clone()));
        Ok(Self {
            descriptor,
            spec: spec.clone(),
            first: Mutex::new(Some(process)),
            supervisor: Arc::new(OnceLock::new()),
        })
    }
}

impl Backend for ProcessBackend {
    fn descriptor(&self) -> &'static PluginDescriptor {
        self.descriptor
    }

    fn origin(&self) -> String {
        format!("process `{}`", self.spec.command.display())
    }

    fn check_config(&self, _section: &serde_json::Value) -> Result<(), String> {
        // The plugin checks its section itself when it is initialized (start).
        Ok(())
    }

    fn status(&self) -> Option<Status> {
        self.supervisor.get().map(|s| s.status())
    }

    fn applies_middleware(&self) -> bool {
        true
    }

    fn start(
        &self,
        context: PluginContext,
    ) -> BoxFuture<'static, Result<Arc<dyn PluginInstance>, PluginError>> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        let spec = self.spec.clone();
        let descriptor = self.descriptor;
        let cell = self.supervisor.clone();
        Box::pin(async move {
            let first = match first {
                Some(process) => process,
                None => spec
                    .start()
                    .await
                    .map_err(|e| PluginError::new(e.to_string()))?,
            };
            let timeout = spec.request_timeout;
            let supervisor = Supervisor::launch(spec, descriptor, context, first).await?;
            let _ = cell.set(supervisor.clone());
            let instance: Arc<dyn PluginInstance> = Arc::new(ProcessInstance {
                descriptor,
                supervisor,
                timeout,
            });
            Ok(instance)
        })
    }
}

/// A running plugin process, as the host drives it.
struct ProcessInstance {
    descriptor: &'static PluginDescriptor,
    supervisor: Arc<Supervisor>,
    timeout: Duration,
}

impl PluginInstance for ProcessInstance {
    fn grpc_services(self: Arc<Self>) -> Vec<flovyn_sdk::grpc::GrpcService> {
        self.descriptor
            .grpc_services
            .iter()
            .map(|service| {
                let instance = self.clone();
                flovyn_sdk::grpc::GrpcService::forwarding(
                    service.service.as_str(),
                    tower::service_fn(move |request: flovyn_sdk::grpc::Request| {
                        let instance = instance.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                instance.call_grpc_service(request).await,
                            )
                        }
                    }),
                )
            })
            .collect()
    }

    fn routes(self: Arc<Self>) -> Vec<axum::routing::MethodRouter> {
        self.descriptor
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| {
                let method = axum::http::Method::from_bytes(route.method.as_str().as_bytes())
                    .unwrap_or(axum::http::Method::GET);
                let filter = axum::routing::MethodFilter::try_from(method)
                    .unwrap_or(axum::routing::MethodFilter::GET);
                let instance = self.clone();
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                axum::routing::on(filter, move |request: axum::extract::Request| {
                    let instance = instance.clone();
                    async move { instance.forward(index, request).await }
                })
            })
            .collect()
    }

    fn authenticate<'a>(&'a self, request: &'a AuthRequest<'a>) -> BoxFuture<'a, AuthOutcome> {
        Box::pin(async move {
            use pb::authenticate_response::Outcome;
            let plugin = self.descriptor.name.as_str();
            let Ok(mut client) = self.supervisor.client() else {
                return AuthOutcome::Unavailable(format!("plugin `{plugin}` is not running"));
            };
            let call = pb::AuthenticateRequest {
                method: request.method().as_str().to_owned(),
                path: request.path().to_owned(),
                protocol: match request.protocol() {
                    Protocol::Http => pb::Protocol::Http,
                    Protocol::Grpc => pb::Protocol::Grpc,
                }
                .into(),
                headers: flovyn_protocol::headers::to_proto(request.headers()),
            };
            let answer = tokio::time::timeout(self.timeout, client.authenticate(call)).await;
            let outcome = match answer {
                Ok(Ok(answer)) => answer.into_inner().outcome,
                Ok(Err(status)) => {
                    return AuthOutcome::Unavailable(format!(
                        "plugin `{plugin}` failed to authenticate: {}",
                        status.message()
                    ));
                }
                Err(_) => {
                    return AuthOutcome::Unavailable(format!(
                        "plugin `{plugin}` did not authenticate in time"
                    ));
                }
            };
            match outcome {
                Some(Outcome::IdentityJson(json)) => match serde_json::from_str(&json) {
                    Ok(identity) => AuthOutcome::Authenticated(identity),
                    Err(e) => AuthOutcome::Unavailable(format!(
                        "plugin `{plugin}` sent an identity that does not read: {e}"
                    )),
                },
                Some(Outcome::NotMine(_)) => AuthOutcome::NotMine,
                Some(Outcome::Invalid(_)) => AuthOutcome::Invalid,
                Some(Outcome::Unavailable(reason)) => AuthOutcome::Unavailable(reason),
                None => AuthOutcome::Unavailable(format!("plugin `{plugin}` sent no outcome")),
            }
        })
    }

    fn authorize<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AuthzRequest<'a>,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let plugin = self.descriptor.name.as_str();
            // An authorizer that cannot answer denies: access is never granted by default.
            let Ok(mut client) = self.supervisor.client() else {
                tracing::warn!(plugin, "authorizer not running: denying");
                return Decision::Deny;
            };
            let Ok(identity_json) = serde_json::to_string(identity) else {
                return Decision::Deny;
            };
            let call = pb::AuthorizeRequest {
                identity_json,
                resource: request.resource.to_owned(),
                action: request.action.to_owned(),
                tenant: request.tenant.map(str::to_owned),
            };
            match tokio::time::timeout(self.timeout, client.authorize(call)).await {
                Ok(Ok(answer)) => match answer.into_inner().decision() {
                    pb::Decision::Allow => Decision::Allow,
                    pb::Decision::Deny => Decision::Deny,
                    pb::Decision::Abstain => Decision::Abstain,
                },
                Ok(Err(_)) | Err(_) => {
                    tracing::warn!(plugin, "authorizer failed or timed out: denying");
                    Decision::Deny
                }
            }
        })
    }

    fn run_task<'a>(&'a self, task: TaskId) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let plugin = self.descriptor.name.as_str();
            let mut client = self
                .supervisor
                .client()
                .map_err(|_| PluginError::new(format!("plugin `{plugin}` is not running")))?;
            client
                .run_task(pb::RunTaskRequest { task: task.0 })
                .await
                .map_err(|status| PluginError::new(status.message().to_owned()))?;
            Ok(())
        })
    }

    fn deliver<'a>(
        &'a self,
        subscription: SubscriptionId,
        payload: &'a str,
        meta: &'a EventMeta,
    ) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let plugin = self.descriptor.name.as_str();
            let mut client = self
                .supervisor
                .client()
                .map_err(|_| PluginError::new(format!("plugin `{plugin}` is not running")))?;
            client
                .deliver(pb::DeliverRequest {
                    subscription: subscription.0,
                    event_id: meta.id.clone(),
                    name: meta.name.clone(),
                    publisher: meta.publisher.clone(),
                    published_at: meta.published_at.clone(),
                    payload_json: payload.to_owned(),
                })
                .await
                .map_err(|status| PluginError::new(status.message().to_owned()))?;
            Ok(())
        })
    }

    fn on_stop<'a>(&'a self, _ctx: &'a PluginContext) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            self.supervisor.stop().await;
            Ok(())
        })
    }
}

/// The request's headers without the caller's credentials: the host authenticated the
/// request and sends the identity instead, so a plugin never sees a token it could replay
/// (the admin's least of all).
fn drop_credentials(headers: &mut axum::http::HeaderMap) {
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::PROXY_AUTHORIZATION);
}

/// 503 JSON; with `Retry-After` (whole seconds, at least 1) when waiting helps.
fn unavailable(plugin: &str, retry_after: Option<Duration>) -> axum::response::Response {
    let message = match retry_after {
        Some(_) => format!("plugin `{plugin}` is restarting; retry shortly"),
        None => format!("plugin `{plugin}` is not available"),
    };
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        message,
    )
    .into_response();
    if let Some(after) = retry_after {
        let secs = after.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

impl ProcessInstance {
    /// One call to one of the plugin's gRPC services, authenticated and authorised by the
    /// host's edge already: passed on as it came on the plugin's connection (streams both ways,
    /// trailers, the client's `grpc-timeout`), without the caller's credentials and with the
    /// caller's identity (`flovyn-identity-bin`).
    async fn call_grpc_service(
        &self,
        request: flovyn_sdk::grpc::Request,
    ) -> flovyn_sdk::grpc::Response {
        use tower::{Service as _, ServiceExt as _};
        let plugin = self.descriptor.name.as_str();
        let mut connection = match self.supervisor.connection() {
            Ok(connection) => connection,
            Err(_) => {
                return tonic::Status::unavailable(format!("plugin `{plugin}` is not running"))
                    .into_http::<axum::body::Body>();
            }
        };
        let (mut parts, body) = request.into_parts();
        drop_credentials(&mut parts.headers);
        let key = flovyn_protocol::transport::IDENTITY_METADATA;
        parts.headers.remove(key);
        let identity = parts
            .extensions
            .get::<Identity>()
            .and_then(|who| serde_json::to_vec(who).ok());
        if let Some(identity) = identity {
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert_bin(key, tonic::metadata::MetadataValue::from_bytes(&identity));
            parts.headers.extend(metadata.into_headers());
        }
        let request = axum::http::Request::from_parts(parts, tonic::body::Body::new(body));
        let answered = match connection.ready().await {
            Ok(connection) => connection.call(request).await,
            Err(e) => Err(e),
        };
        match answered {
            Ok(response) => response.map(axum::body::Body::new),
            Err(e) => {
                tracing::warn!(plugin, error = %e, "the plugin process did not take a gRPC call");
                tonic::Status::unavailable(format!(
                    "plugin `{plugin}` is restarting; retry shortly"
                ))
                .into_http::<axum::body::Body>()
            }
        }
    }

    /// One request to the plugin, through `Handle`: as frames when the process offers them
    /// (decision 0021), else as a gRPC call.
    async fn forward(
        &self,
        route: u32,
        request: axum::extract::Request,
    ) -> axum::response::Response {
        let plugin = self.descriptor.name.as_str();
        let frames = self.supervisor.frames();
        let client = match frames {
            Some(_) => None,
            None => match self.supervisor.client() {
                Ok(client) => Some(client),
                Err(Down::Restarting(after)) => return unavailable(plugin, Some(after)),
                Err(Down::Gone) => return unavailable(plugin, None),
            },
        };
        let (mut parts, body) = request.into_parts();
        drop_credentials(&mut parts.headers);
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            // The edge's limit on the body, reached while reading it.
            Err(_) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than the limit",
                )
                .into_response();
            }
        };
        let identity_json = parts
            .extensions
            .get::<Identity>()
            .and_then(|who| serde_json::to_string(who).ok());
        let call = RequestRef {
            route,
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            identity_json: identity_json.as_deref(),
            // The id the server logs and answers with, the client's or a generated one.
            request_id: parts
                .extensions
                .get::<flovyn_sdk::host::RequestId>()
                .map(|id| &id.0)
                .or_else(|| parts.headers.get("x-request-id"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        };
        match (frames, client) {
            (Some(frames), _) => self.handle_over_frames(&frames, &call).await,
            (None, Some(client)) => self.handle_over_grpc(client, call.to_proto()).await,
            (None, None) => unavailable(plugin, None),
        }
    }

    /// The request as a call on the process's frames connection.
    async fn handle_over_frames(
        &self,
        frames: &super::frames::FrameClient,
        request: &RequestRef<'_>,
    ) -> axum::response::Response {
        let plugin = self.descriptor.name.as_str();
        let mut call = match frames.start(request, self.timeout) {
            Ok(call) => call,
            // The connection closed: the process is on its way out.
            Err(Refused::Closed) => return unavailable(plugin, Some(Duration::from_secs(1))),
            // A request beyond what one frame carries (a body limit raised that far) would
            // break the connection for every call: refused here, alone.
            Err(Refused::TooLarge) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the request body is larger than a plugin process takes ({} MiB)",
                        MAX_FRAME_BYTES / (1024 * 1024) - 1
                    ),
                )
                .into_response();
            }
        };
        let started = std::time::Instant::now();
        let first = match tokio::time::timeout(self.timeout, call.next()).await {
            Ok(Ok(Some(part))) => part,
            Ok(Ok(None)) => return no_status(plugin),
            Ok(Err(status)) if started.elapsed() < self.timeout => {
                tracing::warn!(plugin, error = %status.message(), "the plugin process did not answer");
                return unavailable(plugin, Some(Duration::from_secs(1)));
            }
            // Dropping the call tells the plugin to stop working on it.
            Ok(Err(_)) | Err(_) => return self.timed_out(),
        };
        let IncomingPart { head, body, last } = first;
        let Some(head) = head else {
            return no_status(plugin);
        };
        if last {
            return response_from(head, axum::body::Body::from(body));
        }
        let first =
            futures_util::stream::iter((!body.is_empty()).then(|| Ok::<_, tonic::Status>(body)));
        // Each part the client's side takes lets the plugin send as much again; an error ends
        // the body (the client sees the connection cut, as from any proxy).
        let rest = futures_util::stream::unfold(Some(call), |call| async move {
            let mut call = call?;
            loop {
                match call.next().await {
                    Ok(Some(part)) => {
                        call.grant(part.body.len());
                        if !part.body.is_empty() {
                            return Some((Ok(part.body), Some(call)));
                        }
                    }
                    Ok(None) => return None,
                    Err(status) => return Some((Err(status), None)),
                }
            }
        });
        response_from(head, axum::body::Body::from_stream(first.chain(rest)))
    }

    /// The request as a gRPC `Handle` call.
    async fn handle_over_grpc(
        &self,
        mut client: flovyn_protocol::pb::plugin_client::PluginClient<
            flovyn_protocol::transport::Connection,
        >,
        request: pb::HttpRequest,
    ) -> axum::response::Response {
        let plugin = self.descriptor.name.as_str();
        let mut call = tonic::Request::new(request);
        // The plugin sees the deadline too (`grpc-timeout`), and may stop early.
        call.set_timeout(self.timeout);
        let started = std::time::Instant::now();
        // The deadline runs to the response's head (and, for a body sent whole, its end); a
        // streamed body then flows for as long as the client stays.
        let answered = tokio::time::timeout(self.timeout, async {
            let mut parts = client.handle(call).await?.into_inner();
            let first = parts.message().await?;
            if first.as_ref().is_some_and(|p| p.last) {
                // Its trailers (the call's status) come right after.
                parts.message().await?;
            }
            Ok::<_, tonic::Status>((first, parts))
        })
        .await;
        let (first, parts) = match answered {
            Ok(Ok(answer)) => answer,
            // The channel ends a call at its deadline itself (`Cancelled`, "Timeout expired").
            Ok(Err(status))
                if status.code() != tonic::Code::DeadlineExceeded
                    && started.elapsed() < self.timeout =>
            {
                tracing::warn!(plugin, error = %status.message(), "the plugin process did not answer");
                // It is most likely exiting: the supervisor restarts it.
                return unavailable(plugin, Some(Duration::from_secs(1)));
            }
            Ok(Err(_)) | Err(_) => return self.timed_out(),
        };
        let Some(IncomingPart {
            head: Some(head),
            body,
            last,
        }) = first.map(IncomingPart::from)
        else {
            return no_status(plugin);
        };
        let body = if last {
            axum::body::Body::from(body)
        } else {
            // Empty pieces (the head's, usually) make no frame.
            let first = futures_util::stream::iter(
                (!body.is_empty()).then(|| Ok::<_, tonic::Status>(body)),
            );
            // An error ends the body (the client sees the connection cut, as from any proxy).
            let rest = futures_util::stream::unfold(Some(parts), |parts| async move {
                let mut parts = parts?;
                loop {
                    match parts.message().await {
                        Ok(Some(part)) if part.body.is_empty() => {}
                        Ok(Some(part)) => return Some((Ok(part.body), Some(parts))),
                        Ok(None) => return None,
                        Err(status) => return Some((Err(status), None)),
                    }
                }
            });
            axum::body::Body::from_stream(first.chain(rest))
        };
        response_from(head, body)
    }

    /// 504: no answer within the plugin's deadline.
    fn timed_out(&self) -> axum::response::Response {
        let plugin = self.descriptor.name.as_str();
        tracing::warn!(plugin, timeout = ?self.timeout, "the plugin did not answer in time");
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            format!(
                "plugin `{plugin}` did not answer within {} s",
                self.timeout.as_secs_f64()
            ),
        )
        .into_response()
    }
}

/// 502: the plugin's answer has no head.
fn no_status(plugin: &str) -> axum::response::Response {
    tracing::warn!(plugin, "the plugin's answer has no status and headers");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "bad_gateway",
        format!("plugin `{plugin}` sent an answer without a status"),
    )
    .into_response()
}

/// The response the plugin's head and `body` make.
fn response_from(head: IncomingHead, body: axum::body::Body) -> axum::response::Response {
    let mut response = axum::response::Response::new(body);
    *response.status_mut() = u16::try_from(head.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    *response.headers_mut() = head.headers;
    response
}
