//! Request metrics in the Prometheus text format, served at `GET /metrics`: a counter per
//! (plugin, method, status) and a latency histogram per plugin. Requests outside any
//! plugin's prefix are counted under `plugin="core"`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

// Label values are `'static` (plugin names come from descriptors) so that recording a
// request allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    plugin: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: &'static str,
}

/// The server's request metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Label values are limited to these plugins, so a client cannot grow the series.
    known: Arc<BTreeSet<&'static str>>,
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<PluginLabels, Histogram>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    /// Metrics for a server running `plugins`.
    pub fn new(plugins: impl IntoIterator<Item = &'static str>) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<PluginLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let mut registry = Registry::default();
        registry.register(
            "flovyn_http_requests",
            "HTTP requests handled, by plugin, method and status",
            requests.clone(),
        );
        registry.register(
            "flovyn_http_request_duration_seconds",
            "HTTP request latency in seconds, by plugin",
            durations.clone(),
        );
        let known = Arc::new(plugins.into_iter().collect());
        Self {
            known,
            registry: Arc::new(registry),
            requests,
            durations,
        }
    }

    /// Records one request to `plugin` (`core`, or a name counted as `unknown` unless it is
    /// one of the server's plugins).
    pub fn record(&self, plugin: &str, method: &str, status: u16, seconds: f64) {
        let plugin = self.known_plugin(plugin);
        let method = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels {
                plugin,
                method,
                status,
            })
            .inc();
        self.durations
            .get_or_create(&PluginLabels { plugin })
            .observe(seconds);
    }

    /// `name` as one of the server's plugins (`core` and `unknown` otherwise).
    pub fn known_plugin(&self, name: &str) -> &'static str {
        match name {
            "core" => "core",
            name => self.known.get(name).copied().unwrap_or("unknown"),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The plugin a request path belongs to (`/api/v1/p/<name>/…`), or `core`.
pub fn plugin_of(path: &str) -> &str {
    path.strip_prefix(flovyn_naming::route::PLUGIN_API_PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|name| !name.is_empty())
        .unwrap_or("core")
}

/// `GET /metrics`.
pub async fn endpoint(State(metrics): State<Metrics>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
