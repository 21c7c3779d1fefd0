//! What shadowing a candidate costs the live path: batch latency on one live worker
//! with no candidate, and with a candidate (the same rules, another version) shadowing
//! every batch on its own thread.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Options, Workload, pass_batch, quantile};
use crate::config::PipelineConfig;
use crate::emit::NdjsonSink;
use crate::engine::Engine;
use crate::pass::LivePass;
use crate::reload::Live;
use crate::shadow::{Shadow, ShadowOptions};
use crate::{Error, Pipeline};

/// What shadowing cost the live path.
#[derive(Debug, Clone)]
pub struct ShadowBenchReport {
    /// Live batch latencies (seconds, sorted) without a candidate.
    pub alone: Vec<f64>,
    /// Live batch latencies (seconds, sorted) while a candidate shadows every batch.
    pub shadowed: Vec<f64>,
    /// Batches the candidate compared.
    pub compared: u64,
    /// Batches it skipped, being behind.
    pub skipped: u64,
    /// The candidate's cost per event over the live version's.
    pub cost_ratio: f64,
}

impl ShadowBenchReport {
    /// p99 batch latency while shadowing over p99 without.
    pub fn p99_ratio(&self) -> f64 {
        quantile(&self.shadowed, 0.99) / quantile(&self.alone, 0.99)
    }
}

/// Measures the pipeline at `pipeline_path` on one live worker, alone and with a copy
/// of itself (another version id) shadowing all batches; best of `options.repeats`
/// alternating runs of each.
pub fn measure_shadow(
    engine: &Arc<Engine>,
    pipeline_path: &Path,
    options: &Options,
) -> Result<ShadowBenchReport, Error> {
    let live = Pipeline::load(engine, pipeline_path)?;
    let mut config = PipelineConfig::load(pipeline_path)?;
    config.name = format!("{}-candidate", config.name);
    let stages = config.stages.clone();
    // Another version id (the name is part of it), the same rules.
    let candidate = Pipeline::build(engine, config.with_stages(stages))?;
    let workload = Workload::generate(options.events.min(100_000), options.seed, options.batch_size);
    let live = Live::new(live);
    let mut best: Option<ShadowBenchReport> = None;
    for _ in 0..options.repeats.max(1) {
        let alone = latencies(&workload, &live, None);
        let shadow = Shadow::start(candidate.clone(), "candidate".into(), ShadowOptions::default(), None);
        let shadowed = latencies(&workload, &live, Some(shadow.clone()));
        shadow.wait_idle(Duration::from_secs(60));
        let report = shadow.report();
        let run = ShadowBenchReport {
            alone,
            shadowed,
            compared: report.batches,
            skipped: report.batches_skipped,
            cost_ratio: report.cost_ratio,
        };
        if best.as_ref().is_none_or(|b| run.p99_ratio() < b.p99_ratio()) {
            best = Some(run);
        }
    }
    Ok(best.expect("at least one run"))
}

/// Per-batch latency (running and encoding) of one worker, sorted.
fn latencies(workload: &Workload, live: &Arc<Live>, shadow: Option<Arc<Shadow>>) -> Vec<f64> {
    let mut pass = LivePass::new(live).with_shadow(shadow);
    let mut sink = NdjsonSink::default();
    let mut latencies: Vec<f64> = workload
        .batches
        .iter()
        .map(|batch| {
            let started = Instant::now();
            pass_batch(batch, |intake| pass.run(intake), &mut sink);
            started.elapsed().as_secs_f64()
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}
