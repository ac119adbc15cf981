//! Request metrics in the Prometheus text format, served at `GET /metrics`: a counter per
//! (plugin, method, status) and a latency histogram per plugin. Requests outside any
//! plugin's prefix are counted under `plugin="core"`.

use std::collections::HashMap;
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
    /// The latency histogram of every plugin, `core` and `unknown`, created up front: label
    /// values are limited to these, so a client cannot grow the series, and a request
    /// finds its plugin's histogram with one lookup.
    series: Arc<HashMap<&'static str, Histogram, foldhash::fast::RandomState>>,
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
}

/// The metrics of the plugin one request went to, resolved once per request.
#[derive(Debug)]
pub struct Series<'a> {
    plugin: &'static str,
    duration: &'a Histogram,
}

impl Series<'_> {
    /// The plugin's name (`core`, `unknown` or one of the server's plugins).
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }
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
        let series = ["core", "unknown"]
            .into_iter()
            .chain(plugins)
            .map(|plugin| {
                let histogram = durations.get_or_create(&PluginLabels { plugin }).clone();
                (plugin, histogram)
            })
            .collect();
        Self {
            series: Arc::new(series),
            registry: Arc::new(registry),
            requests,
        }
    }

    /// The series of the plugin `path` belongs to (`/api/v1/p/<name>/…`): `core` outside
    /// any plugin's prefix, `unknown` for a name that is not one of the server's plugins.
    pub fn series(&self, path: &str) -> Series<'_> {
        let name = plugin_of(path);
        let (plugin, duration) = self
            .series
            .get_key_value(name)
            .or_else(|| self.series.get_key_value("unknown"))
            .expect("`unknown` is always a series");
        Series { plugin, duration }
    }

    /// Records one request.
    pub fn record(&self, series: &Series<'_>, method: &str, status: u16, seconds: f64) {
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
                plugin: series.plugin,
                method,
                status,
            })
            .inc();
        series.duration.observe(seconds);
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
fn plugin_of(path: &str) -> &str {
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
