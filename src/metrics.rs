//! Prometheus metrics: what happened to events, how long each stage and the downstream
//! took, batch sizes, errors, and hot swaps. One registry per front door; the batch
//! pass records what every front door has in common.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::Counts;
use crate::pass::Passed;
use crate::reload::SwapCounts;
use crate::shadow::ShadowMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Stage {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric Firehose exports.
pub struct Metrics {
    registry: Registry,
    events: Family<Outcome, Counter>,
    requests: Family<Status, Counter>,
    stage_seconds: HistogramFamily<Stage>,
    batch_events: Histogram,
    downstream_seconds: Histogram,
    downstream_errors: Family<Kind, Counter>,
    delivered_before_retry: Counter,
    in_flight: Gauge,
    swaps: Family<Outcome, Gauge>,
    shadow: ShadowMetrics,
}

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// A fresh set of metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let events = Family::<Outcome, Counter>::default();
        let requests = Family::<Status, Counter>::default();
        let stage_seconds = HistogramFamily::<Stage>::new_with_constructor(seconds as fn() -> Histogram);
        let batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        let downstream_seconds = seconds();
        let downstream_errors = Family::<Kind, Counter>::default();
        let delivered_before_retry = Counter::default();
        let in_flight = Gauge::default();
        let swaps = Family::<Outcome, Gauge>::default();
        registry.register(
            "firehose_events",
            "Events by outcome: in, delivered, dropped, dead_lettered",
            events.clone(),
        );
        registry.register("firehose_requests", "Requests answered, by HTTP status", requests.clone());
        registry.register("firehose_stage_seconds", "Time each stage took per batch", stage_seconds.clone());
        registry.register("firehose_batch_events", "Events per incoming batch", batch_events.clone());
        registry.register(
            "firehose_downstream_seconds",
            "Time the downstream took to answer",
            downstream_seconds.clone(),
        );
        registry.register("firehose_downstream_errors", "Failed deliveries by kind", downstream_errors.clone());
        registry.register(
            "firehose_delivered_before_retry",
            "Events delivered downstream in a batch then answered for retry (the retry delivers them again)",
            delivered_before_retry.clone(),
        );
        registry.register("firehose_in_flight_batches", "Batches being processed or forwarded", in_flight.clone());
        registry.register("firehose_swaps", "Rules versions swapped in (done) or refused since start", swaps.clone());
        let shadow = ShadowMetrics::register(&mut registry);
        Metrics {
            registry,
            events,
            requests,
            stage_seconds,
            batch_events,
            downstream_seconds,
            downstream_errors,
            delivered_before_retry,
            in_flight,
            swaps,
            shadow,
        }
    }

    /// The shadow comparison's metrics (issue 17), registered with these.
    pub fn shadow(&self) -> &ShadowMetrics {
        &self.shadow
    }

    /// Counts events by their final outcome (after delivery).
    pub fn events(&self, counts: &Counts) {
        for (outcome, n) in [
            ("in", counts.events_in),
            ("delivered", counts.delivered),
            ("dropped", counts.dropped),
            ("dead_lettered", counts.dead_lettered),
        ] {
            self.events.get_or_create(&Outcome { outcome }).inc_by(n);
        }
    }

    /// Records one batch pass: its size and its stages' times.
    pub fn batch(&self, passed: &Passed) {
        self.batch_events.observe(passed.intake().records() as f64);
        let stages = passed.version().stages();
        for (stage, seconds) in stages.iter().zip(&passed.outcome().stage_seconds) {
            self.stage_seconds.get_or_create(&Stage { stage: stage.name.clone() }).observe(*seconds);
        }
    }

    /// Records a downstream exchange; `error` names its failure, if any.
    pub fn downstream(&self, seconds: f64, error: Option<&'static str>) {
        self.downstream_seconds.observe(seconds);
        if let Some(kind) = error {
            self.downstream_errors.get_or_create(&Kind { kind }).inc();
        }
    }

    /// Counts events a retry will deliver a second time.
    pub fn delivered_before_retry(&self, events: u64) {
        self.delivered_before_retry.inc_by(events);
    }

    /// Counts an answered request.
    pub fn request(&self, status: u16) {
        self.requests.get_or_create(&Status { status }).inc();
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self, swaps: SwapCounts) -> String {
        self.swaps.get_or_create(&Outcome { outcome: "done" }).set(swaps.done as i64);
        self.swaps.get_or_create(&Outcome { outcome: "refused" }).set(swaps.refused as i64);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
