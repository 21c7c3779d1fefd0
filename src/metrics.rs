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
use crate::emit::batches::event_time;
use crate::engine::FailureKind;
use crate::pass::Passed;
use crate::reload::{Live, SwapCounts};
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

/// A stage and the module it runs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageModule {
    stage: String,
    module: String,
}

/// Dead letters by where and why: `reason` is `unreadable` (stage `intake`, before any
/// rule) or `rejected` (by the stage's rules, or a failed call into its module); stage
/// `plugin` counts the records of Fluent Bit chunks taken out of the stream whole
/// (`unreadable`: not msgpack; `failed`: the plugin failed on the chunk).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    stage: String,
    module: String,
    reason: &'static str,
}

/// A failed call into a module: `reason` is `timeout` (CPU deadline), `memory` (memory
/// cap) or `trap`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleFailure {
    stage: String,
    module: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: String,
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
    batches_closed_early: Counter,
    batch_seconds: Histogram,
    stage_dropped: Family<StageModule, Counter>,
    dead_letters: Family<Refusal, Counter>,
    module_failures: Family<ModuleFailure, Counter>,
    version: Family<Version, Gauge>,
    event_lag: Histogram,
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
        let batches_closed_early = Counter::default();
        let batch_seconds = seconds();
        let stage_dropped = Family::<StageModule, Counter>::default();
        let dead_letters = Family::<Refusal, Counter>::default();
        let module_failures = Family::<ModuleFailure, Counter>::default();
        let version = Family::<Version, Gauge>::default();
        let event_lag = Histogram::new(exponential_buckets(1.0, 2.0, 18));
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
        registry.register(
            "firehose_batches_closed_early",
            "Batches on disk written before their cut-off to make room for a new partition (output.max_open_partitions reached)",
            batches_closed_early.clone(),
        );
        registry.register(
            "firehose_batch_seconds",
            "Time the rules took per batch, all stages together",
            batch_seconds.clone(),
        );
        registry.register("firehose_stage_dropped", "Events dropped by each stage's rules", stage_dropped.clone());
        registry.register(
            "firehose_dead_letters",
            "Events dead-lettered, by stage and reason (unreadable, rejected; stage plugin: Fluent Bit chunks taken out whole, unreadable or failed)",
            dead_letters.clone(),
        );
        registry.register(
            "firehose_module_failures",
            "Failed calls into a module, by reason (timeout: CPU deadline, memory: memory cap, trap)",
            module_failures.clone(),
        );
        registry.register(
            "firehose_rules_version_info",
            "The rules version in service (value 1, the version in the label)",
            version.clone(),
        );
        registry.register(
            "firehose_event_lag_seconds",
            "Age of events (now minus their `timestamp`) as the rules take them up, sampled: the first event of each batch",
            event_lag.clone(),
        );
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
            batches_closed_early,
            batch_seconds,
            stage_dropped,
            dead_letters,
            module_failures,
            version,
            event_lag,
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

    /// Counts `letters` records of a Fluent Bit chunk taken out of the stream whole, for
    /// `reason` (`unreadable` or `failed`).
    pub fn taken_out(&self, letters: u64, reason: &'static str) {
        let refusal = Refusal { stage: "plugin".into(), module: String::new(), reason };
        self.dead_letters.get_or_create(&refusal).inc_by(letters);
    }

    /// Records one batch pass: its size, its stages' times and what each stage dropped,
    /// dead-lettered or failed on.
    pub fn batch(&self, passed: &Passed) {
        self.batch_events.observe(passed.intake().records() as f64);
        let outcome = passed.outcome();
        self.batch_seconds.observe(outcome.stage_seconds.iter().sum());
        let events = &passed.intake().events;
        if let Some(time) = (!events.is_empty()).then(|| events.event(0)).as_ref().and_then(event_time) {
            let lag = (chrono::Utc::now() - time).num_milliseconds() as f64 / 1000.0;
            self.event_lag.observe(lag.max(0.0));
        }
        let stages = passed.version().stages();
        for (stage, seconds) in stages.iter().zip(&outcome.stage_seconds) {
            self.stage_seconds.get_or_create(&Stage { stage: stage.name.clone() }).observe(*seconds);
        }
        let labels = |s: usize| {
            stages
                .get(s)
                .map_or_else(|| (String::new(), String::new()), |stage| (stage.name.clone(), stage.module_name.clone()))
        };
        // Counted per stage first: one labelled update per stage, not one per event.
        let mut dropped = vec![0u64; stages.len() + 1];
        for event in &outcome.dropped {
            dropped[(event.stage as usize).min(stages.len())] += 1;
        }
        for (s, &count) in dropped.iter().enumerate().filter(|(_, count)| **count > 0) {
            let (stage, module) = labels(s);
            self.stage_dropped.get_or_create(&StageModule { stage, module }).inc_by(count);
        }
        let unreadable = passed.intake().malformed.len() as u64;
        if unreadable > 0 {
            let refusal = Refusal { stage: "intake".into(), module: String::new(), reason: "unreadable" };
            self.dead_letters.get_or_create(&refusal).inc_by(unreadable);
        }
        let mut rejected: Vec<(&str, u64)> = Vec::new();
        for letter in &outcome.dead_letters {
            match rejected.iter_mut().find(|(stage, _)| *stage == letter.stage) {
                Some((_, count)) => *count += 1,
                None => rejected.push((&letter.stage, 1)),
            }
        }
        for (stage, count) in rejected {
            let module = stages.iter().find(|s| s.name == stage).map(|s| s.module_name.clone()).unwrap_or_default();
            let refusal = Refusal { stage: stage.to_string(), module, reason: "rejected" };
            self.dead_letters.get_or_create(&refusal).inc_by(count);
        }
        for failure in &outcome.failures {
            let (stage, module) = labels(failure.stage as usize);
            let reason = match failure.kind {
                FailureKind::Timeout => "timeout",
                FailureKind::Memory => "memory",
                FailureKind::Trap => "trap",
            };
            self.module_failures.get_or_create(&ModuleFailure { stage, module, reason }).inc();
        }
    }

    /// Names the rules version in service (the info metric's label).
    pub fn live_version(&self, version: &str) {
        if self.version.get(&Version { version: version.to_string() }).is_some() {
            return;
        }
        self.version.clear();
        self.version.get_or_create(&Version { version: version.to_string() }).set(1);
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

    /// Counts a batch on disk closed early to make room for a new partition.
    pub fn batch_closed_early(&self) {
        self.batches_closed_early.inc();
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// The metrics in Prometheus text format, with `live`'s version and swap counts.
    pub fn render_live(&self, live: &Live) -> String {
        self.live_version(&live.current().id);
        self.render(live.counts())
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
