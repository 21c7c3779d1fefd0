//! The shadow comparison's Prometheus metrics, registered with the front door's other
//! metrics (`firehose_shadow_*`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::compare::BatchComparison;

/// Most distinct paths given their own label; the rest count under `other`.
const MAX_PATH_LABELS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Change {
    change: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: String,
}

/// Counters of what shadowing found; cheap to clone (they share their values).
#[derive(Clone, Default)]
pub struct ShadowMetrics {
    batches: Family<Result, Counter>,
    events: Counter,
    verdict_changes: Family<Change, Counter>,
    events_differing: Counter,
    paths: Family<PathLabel, Counter>,
    path_labels: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    cost_ratio: Gauge<f64, AtomicU64>,
    active: Gauge,
}

impl ShadowMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> ShadowMetrics {
        let metrics = ShadowMetrics::default();
        registry.register(
            "firehose_shadow_batches",
            "Batches offered to the shadow candidate: compared, or skipped (its queue was full)",
            metrics.batches.clone(),
        );
        registry.register(
            "firehose_shadow_events",
            "Events compared between live and candidate",
            metrics.events.clone(),
        );
        registry.register(
            "firehose_shadow_verdict_changes",
            "Events whose verdict differs, live_to_candidate (kept, dropped, dead_lettered)",
            metrics.verdict_changes.clone(),
        );
        registry.register(
            "firehose_shadow_events_differing",
            "Events kept by both whose output differs",
            metrics.events_differing.clone(),
        );
        registry.register(
            "firehose_shadow_path_differences",
            "Events whose output differs at a JSON path (paths only, never values)",
            metrics.paths.clone(),
        );
        registry.register(
            "firehose_shadow_cost_ratio",
            "Candidate's stage time per event over the live version's, since shadowing started",
            metrics.cost_ratio.clone(),
        );
        registry.register("firehose_shadow_active", "1 while a candidate is shadowed", metrics.active.clone());
        metrics
    }

    /// Counts a compared batch.
    pub(super) fn compared(&self, comparison: &BatchComparison, cost_ratio: f64) {
        self.batches.get_or_create(&Result { result: "compared" }).inc();
        self.events.inc_by(comparison.events);
        for (change, n) in &comparison.verdict_changes {
            self.verdict_changes.get_or_create(&Change { change: change.label() }).inc_by(*n);
        }
        self.events_differing.inc_by(comparison.events_differing);
        let mut labels = self.path_labels.lock().unwrap_or_else(|e| e.into_inner());
        for (path, n) in &comparison.paths {
            let path = if labels.contains(path) || labels.len() < MAX_PATH_LABELS {
                labels.insert(path.clone());
                path.clone()
            } else {
                "other".to_string()
            };
            self.paths.get_or_create(&PathLabel { path }).inc_by(*n);
        }
        self.cost_ratio.set(cost_ratio);
    }

    /// Counts a batch skipped because the candidate was behind.
    pub(super) fn skipped(&self) {
        self.batches.get_or_create(&Result { result: "skipped" }).inc();
    }

    /// Whether a candidate is shadowed.
    pub(super) fn active(&self, active: bool) {
        self.active.set(active as i64);
    }
}
