//! Request metrics in the Prometheus text format, served at `GET /metrics`: a counter per
//! (plugin, method, status) and a latency histogram per plugin. Requests outside any
//! plugin's prefix are counted under `plugin="core"`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::host::routes::Owner;

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
    /// finds its plugin's histogram with one lookup (`by_plugin`).
    series: Arc<[PluginSeries]>,
    by_plugin: Arc<HashMap<&'static str, usize, foldhash::fast::RandomState>>,
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
}

/// Methods with a label value of their own; any other is counted as `other`.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other",
];

/// Statuses whose counters a plugin's series keeps at hand: a request with one of these
/// finds its counter without hashing its labels. Others go through the family's map.
const COMMON_STATUSES: [u16; 20] = [
    200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 502, 503,
    504,
];

#[derive(Debug)]
struct PluginSeries {
    plugin: &'static str,
    duration: Histogram,
    /// Counter handles (shared with `requests`) by method × common status, filled on first
    /// use.
    counters: Box<[OnceLock<Counter>]>,
}

/// The metrics of the plugin one request went to, resolved once per request.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    plugin: &'static str,
    index: usize,
}

impl Series {
    /// The plugin's name (`core`, `unknown` or one of the server's plugins).
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// On each scrape, the state of every supervised plugin (a plugin process): whether it is
/// up, and its restarts.
#[derive(Debug)]
struct PluginStates(Vec<(&'static str, Arc<dyn crate::host::Backend>)>);

impl prometheus_client::collector::Collector for PluginStates {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let states: Vec<_> = self
            .0
            .iter()
            .filter_map(|(plugin, backend)| backend.status().map(|s| (*plugin, s)))
            .collect();
        if states.is_empty() {
            return Ok(());
        }
        let mut up = encoder.encode_descriptor(
            "flovyn_plugin_up",
            "Whether a plugin process serves (1) or is restarting, failed or stopped (0)",
            None,
            ConstGauge::<i64>::new(0).metric_type(),
        )?;
        for (plugin, status) in &states {
            let value = i64::from(status.state == crate::host::process::PluginState::Running);
            ConstGauge::new(value).encode(up.encode_family(&PluginLabels { plugin })?)?;
        }
        let mut restarts = encoder.encode_descriptor(
            "flovyn_plugin_restarts",
            "Restarts of a plugin process after it ended",
            None,
            ConstCounter::<u64>::new(0).metric_type(),
        )?;
        for (plugin, status) in &states {
            ConstCounter::new(u64::from(status.restarts))
                .encode(restarts.encode_family(&PluginLabels { plugin })?)?;
        }
        Ok(())
    }
}

/// On each scrape, this replica's event deliveries per subscribing plugin.
#[derive(Debug)]
struct EventCounters(Vec<(&'static str, Arc<crate::events::Stats>)>);

type StatsValue = fn(&crate::events::Stats) -> u64;

impl prometheus_client::collector::Collector for EventCounters {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        if self.0.is_empty() {
            return Ok(());
        }
        let counters: [(&str, &str, StatsValue); 3] = [
            (
                "flovyn_events_delivered",
                "Events a plugin handled (this replica)",
                |s| s.counts().0,
            ),
            (
                "flovyn_event_retries",
                "Failed attempts at handling an event, retried or set aside (this replica)",
                |s| s.counts().1,
            ),
            (
                "flovyn_event_dead_letters",
                "Events set aside after too many failed attempts (this replica)",
                |s| s.counts().2,
            ),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::<u64>::new(0).metric_type(),
            )?;
            for (plugin, stats) in &self.0 {
                ConstCounter::new(value(stats))
                    .encode(family.encode_family(&PluginLabels { plugin })?)?;
            }
        }
        let mut backlog = encoder.encode_descriptor(
            "flovyn_event_backlog",
            "Events waiting for a subscribing plugin, cluster-wide (counted about once a second)",
            None,
            ConstGauge::<i64>::new(0).metric_type(),
        )?;
        for (plugin, stats) in &self.0 {
            ConstGauge::new(stats.backlog())
                .encode(backlog.encode_family(&PluginLabels { plugin })?)?;
        }
        let mut latency = encoder.encode_descriptor(
            "flovyn_event_delivery_latency_seconds",
            "Publish to handled, of the events a plugin handled (this replica)",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        for (plugin, stats) in &self.0 {
            stats
                .latency()
                .encode(latency.encode_family(&PluginLabels { plugin })?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Metrics for a server running `plugins`: with the state of those that are processes,
    /// and the event deliveries of `events`.
    pub fn for_running(
        plugins: &[crate::host::RunningPlugin],
        events: &crate::events::EventEngine,
    ) -> Self {
        let states = PluginStates(
            plugins
                .iter()
                .map(|p| (p.descriptor.name.as_str(), p.backend.clone()))
                .collect(),
        );
        Self::build(
            plugins.iter().map(|p| p.descriptor.name.as_str()),
            vec![
                Box::new(states) as Box<dyn prometheus_client::collector::Collector>,
                Box::new(EventCounters(events.stats().to_vec())),
            ],
        )
    }

    /// Metrics for a server running `plugins`.
    pub fn new(plugins: impl IntoIterator<Item = &'static str>) -> Self {
        Self::build(plugins, Vec::new())
    }

    fn build(
        plugins: impl IntoIterator<Item = &'static str>,
        collectors: Vec<Box<dyn prometheus_client::collector::Collector>>,
    ) -> Self {
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
        for collector in collectors {
            registry.register_collector(collector);
        }
        let series: Arc<[PluginSeries]> = ["core", "unknown"]
            .into_iter()
            .chain(plugins)
            .map(|plugin| PluginSeries {
                plugin,
                duration: durations.get_or_create(&PluginLabels { plugin }).clone(),
                counters: (0..METHODS.len() * COMMON_STATUSES.len())
                    .map(|_| OnceLock::new())
                    .collect(),
            })
            .collect();
        let by_plugin = series
            .iter()
            .enumerate()
            .map(|(index, s)| (s.plugin, index))
            .collect();
        Self {
            series,
            by_plugin: Arc::new(by_plugin),
            registry: Arc::new(registry),
            requests,
        }
    }

    /// The series of a request's owner (the route table says who): `core` for the server's
    /// own, `unknown` for a plugin this server does not host.
    pub fn series(&self, owner: Owner) -> Series {
        match owner {
            Owner::Plugin(plugin) => self.series_of_plugin(plugin),
            Owner::Core => self.series_of_plugin("core"),
            Owner::Unknown => self.series_of_plugin("unknown"),
        }
    }

    /// The series of `plugin` by name (`unknown` when it has none).
    pub fn series_of_plugin(&self, plugin: &str) -> Series {
        let index = self
            .by_plugin
            .get(plugin)
            .or_else(|| self.by_plugin.get("unknown"))
            .copied()
            .expect("`unknown` is always a series");
        Series {
            plugin: self.series[index].plugin,
            index,
        }
    }

    /// Records one request.
    pub fn record(&self, series: Series, method: &str, status: u16, seconds: f64) {
        let plugin_series = &self.series[series.index];
        let m = METHODS[..7]
            .iter()
            .position(|known| *known == method)
            .unwrap_or(7);
        let labels = || RequestLabels {
            plugin: series.plugin,
            method: METHODS[m],
            status,
        };
        match COMMON_STATUSES.iter().position(|s| *s == status) {
            Some(s) => plugin_series.counters[m * COMMON_STATUSES.len() + s]
                .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
        plugin_series.duration.observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_plugin_method_and_status_common_or_not() {
        let metrics = Metrics::new(["hello"]);
        let hello = metrics.series(Owner::Plugin("hello"));
        metrics.record(hello, "GET", 200, 0.001);
        metrics.record(hello, "GET", 200, 0.001);
        // A status outside the common ones, and a method without a label of its own.
        metrics.record(hello, "GET", 418, 0.001);
        metrics.record(hello, "BREW", 200, 0.001);
        let stranger = metrics.series(Owner::Unknown);
        metrics.record(stranger, "POST", 201, 0.001);
        let core = metrics.series(Owner::Core);
        metrics.record(core, "GET", 200, 0.001);

        let text = metrics.render();
        for line in [
            r#"flovyn_http_requests_total{plugin="hello",method="GET",status="200"} 2"#,
            r#"flovyn_http_requests_total{plugin="hello",method="GET",status="418"} 1"#,
            r#"flovyn_http_requests_total{plugin="hello",method="other",status="200"} 1"#,
            r#"flovyn_http_requests_total{plugin="unknown",method="POST",status="201"} 1"#,
            r#"flovyn_http_requests_total{plugin="core",method="GET",status="200"} 1"#,
            r#"flovyn_http_request_duration_seconds_count{plugin="hello"} 4"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
