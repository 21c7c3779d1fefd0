//! The benchmark behind `firehose bench`: the same generated workload through the
//! pipeline as components, the same rules natively, each stage alone, the pipeline
//! with one more (no-op) stage, one call per event, and all cores — side by side in
//! one run, so the figures are ratios on one machine at one moment.
//!
//! Each case does what a front door does per batch, minus I/O: validate the NDJSON
//! lines, run the batch, encode the delivered events as NDJSON with their
//! `firehose_metadata`. The cases a ratio compares run side by side, slice by slice,
//! `repeats` rounds ([`alternate`]); the others run `repeats` times and keep the
//! fastest run.

mod alternate;
mod batches;
mod clock;
mod fluent_bit;
mod pii;
mod shadow;
mod sidecar;
mod swaps;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use alternate::Ratio;
pub use batches::{BatchesReport, measure_batches};
pub use clock::Timing;
pub use fluent_bit::{FluentBitReport, chunk_of, measure_fluent_bit};
pub use pii::{PiiReport, measure_pii};
pub use shadow::{ShadowBenchReport, measure_shadow};
pub use sidecar::{SidecarReport, measure_sidecar};
pub use swaps::{SwapReport, measure_swaps, quantile};

use alternate::Case;

use super::generate::Generator;
use super::native;
use crate::config::{PipelineConfig, StageConfig};
use crate::emit::NdjsonSink;
use crate::engine::Engine;
use crate::intake::{self, Intake};
use crate::pass::Passed;
use crate::{Error, Pipeline, Runner};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events in the workload.
    pub events: usize,
    /// Generator seed.
    pub seed: u64,
    /// Events per batch.
    pub batch_size: usize,
    /// Threads for the all-cores case.
    pub threads: usize,
    /// Runs per case; the fastest counts.
    pub repeats: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            events: 200_000,
            seed: 42,
            batch_size: 1000,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            repeats: 3,
        }
    }
}

/// Generated events as NDJSON text, cut into batches.
pub struct Workload {
    batches: Vec<Vec<u8>>,
    /// Number of events.
    pub events: usize,
    /// Total bytes of the events (without newlines).
    pub bytes: usize,
}

impl Workload {
    /// `events` generated events in batches of `batch_size`.
    pub fn generate(events: usize, seed: u64, batch_size: usize) -> Workload {
        let mut generator = Generator::new(seed);
        let mut batches = Vec::new();
        let mut bytes = 0;
        let mut line = String::new();
        for start in (0..events).step_by(batch_size.max(1)) {
            let mut text = Vec::with_capacity(batch_size * 1000);
            for _ in start..(start + batch_size).min(events) {
                line.clear();
                generator.next_into(&mut line);
                bytes += line.len();
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            batches.push(text);
        }
        Workload { batches, events, bytes }
    }

    /// The same events cut into batches of `batch_size`.
    pub fn rebatched(&self, batch_size: usize) -> Workload {
        let lines: Vec<&[u8]> =
            self.batches.iter().flat_map(|b| b.split(|&c| c == b'\n').filter(|l| !l.is_empty())).collect();
        let batches = lines
            .chunks(batch_size.max(1))
            .map(|chunk| {
                let mut text = Vec::new();
                for line in chunk {
                    text.extend_from_slice(line);
                    text.push(b'\n');
                }
                text
            })
            .collect();
        Workload { batches, events: self.events, bytes: self.bytes }
    }
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Threads used.
    pub threads: usize,
    /// Events processed.
    pub events: usize,
    /// Bytes processed.
    pub bytes: usize,
    /// The run that used the least CPU: its wall-clock and CPU seconds.
    pub time: Timing,
}

impl Row {
    /// Throughput in events per second (wall clock).
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.time.wall
    }

    /// Throughput in MB per second (wall clock).
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.time.wall / 1e6
    }

    /// CPU nanoseconds per event (all threads together for multi-threaded cases).
    pub fn ns_per_event(&self) -> f64 {
        self.time.cpu * 1e9 / self.events as f64
    }
}

/// The headline ratios.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Every case.
    pub rows: Vec<Row>,
    /// Single-thread throughput of the pipeline as components.
    pub pipeline_events_per_s: f64,
    /// CPU time of the component pipeline over the native one (so every ratio below
    /// except `per_record_vs_batch`: medians of pairs timed side by side).
    pub wasm_vs_native: Ratio,
    /// CPU time of the component pipeline with every stage sent whole events over the
    /// same with stages sent only the members they read (what cutting down saves).
    pub whole_events_vs_members: Ratio,
    /// CPU time of the pipeline with one more (no-op) stage over the pipeline's.
    pub extra_stage_cost: Ratio,
    /// Time of one call per event over batched calls (two runs one after the other).
    pub per_record_vs_batch: f64,
    /// Time of the component pipeline over one naive `serde_json` round trip per event.
    pub pipeline_vs_roundtrip: Ratio,
}

impl Summary {
    /// The machine-readable last line.
    pub fn line(&self) -> String {
        format!(
            "bench: pipeline_events_per_s={:.0} wasm_vs_native={:.2} whole_events_vs_members={:.2} pipeline_vs_json_roundtrip={:.2} extra_stage_cost={:.1}% per_record_vs_batch={:.1}",
            self.pipeline_events_per_s,
            self.wasm_vs_native.median,
            self.whole_events_vs_members.median,
            self.pipeline_vs_roundtrip.median,
            (self.extra_stage_cost.median - 1.0) * 100.0,
            self.per_record_vs_batch
        )
    }
}

/// The name of the naive round trip's row.
const ROUNDTRIP: &str = "json_roundtrip (serde_json parse + print)";

/// Runs every case on the pipeline at `pipeline_path`, reporting each row as it is
/// measured. `noop_module` is the no-op component used as the extra stage. The cases
/// the headline ratios compare (the round trip, the pipeline as components, natively,
/// with whole events, with one more stage) run in [alternation](alternate).
pub fn run(
    engine: &Arc<Engine>,
    pipeline_path: &Path,
    noop_module: &Path,
    options: &Options,
    mut report: impl FnMut(&Row),
) -> Result<Summary, Error> {
    let config = PipelineConfig::load(pipeline_path)?;
    let pipeline = Pipeline::build(engine, config.clone())?;
    let workload = Workload::generate(options.events, options.seed, options.batch_size);
    let mut rows = Vec::new();
    let mut record = |row: Row, rows: &mut Vec<Row>| {
        report(&row);
        rows.push(row);
    };

    let mut stages = config.stages.clone();
    stages.push(StageConfig { name: "noop".into(), module: noop_module.to_path_buf(), config: "{}".into() });
    let extended = Pipeline::build(engine, config.with_stages(stages))?;
    let lines: Vec<Vec<&[u8]>> =
        workload.batches.iter().map(|b| b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect()).collect();
    let slices = alternate::slices_of(workload.batches.len());
    let range = |i| alternate::batch_range(workload.batches.len(), i, slices);
    let mut out = Vec::with_capacity(4096);
    let mut cases = vec![
        Case::new(ROUNDTRIP, |i| Ok(Timing::of_thread(|| round_trip_each(&lines[range(i)], &mut out)))),
        batches_case("pipeline (wasm components)", pipeline.runner(), &workload.batches, range),
        batches_case("pipeline (same rules, native)", native::runner(&pipeline)?, &workload.batches, range),
        batches_case(
            "pipeline (wasm), stages get whole events",
            pipeline.runner_sending_whole_events(),
            &workload.batches,
            range,
        ),
        batches_case("pipeline + one no-op stage (wasm)", extended.runner(), &workload.batches, range),
    ];
    let [roundtrip, wasm, native, whole, plus_one] = [0, 1, 2, 3, 4];
    let side_by_side = alternate::alternate(&mut cases, slices, options.repeats)?;
    drop(cases);
    let row_of = |case: usize| Row {
        name: side_by_side.names[case].clone(),
        threads: 1,
        events: workload.events,
        bytes: workload.bytes,
        time: side_by_side.best(case),
    };
    for case in [roundtrip, wasm, native, whole] {
        record(row_of(case), &mut rows);
    }

    for stage in &config.stages {
        let alone = Pipeline::build(engine, config.with_stages(vec![stage.clone()]))?;
        let name = format!("stage `{}` alone (wasm)", stage.name);
        record(measure(&name, &workload, &alone, options.repeats, || Ok(alone.runner()))?, &mut rows);
        let name = format!("stage `{}` alone (native)", stage.name);
        record(measure(&name, &workload, &alone, options.repeats, || native::runner(&alone))?, &mut rows);
    }
    let empty = Pipeline::build(engine, config.with_stages(Vec::new()))?;
    record(
        measure("no stage: intake and emit only", &workload, &empty, options.repeats, || Ok(empty.runner()))?,
        &mut rows,
    );
    record(row_of(plus_one), &mut rows);

    let single = workload.rebatched(1);
    let per_record = measure("one call per event (wasm)", &single, &pipeline, 1, || Ok(pipeline.runner()))?;
    record(per_record.clone(), &mut rows);

    if options.threads > 1 {
        pipeline.prepare(options.threads)?;
        let all = measure_threads(&workload, &pipeline, options.threads, options.repeats)?;
        record(all, &mut rows);
    }

    let pipeline_time = side_by_side.best(wasm);
    Ok(Summary {
        pipeline_events_per_s: workload.events as f64 / pipeline_time.wall,
        wasm_vs_native: side_by_side.ratio(wasm, native),
        whole_events_vs_members: side_by_side.ratio(whole, wasm),
        extra_stage_cost: side_by_side.ratio(plus_one, wasm),
        per_record_vs_batch: per_record.time.cpu / pipeline_time.cpu,
        pipeline_vs_roundtrip: side_by_side.ratio(wasm, roundtrip),
        rows,
    })
}

/// The floor anyone would write: each event parsed into a `serde_json::Value` and
/// written back with `serde_json::to_writer` into one reused buffer, one thread,
/// nothing else.
fn round_trip_each(batches: &[Vec<&[u8]>], out: &mut Vec<u8>) {
    for line in batches.iter().flatten() {
        let value: serde_json::Value = serde_json::from_slice(line).expect("generated events are JSON");
        out.clear();
        serde_json::to_writer(&mut *out, &value).expect("writing to a Vec cannot fail");
        std::hint::black_box(&out);
    }
}

/// A case running `runner` on each slice's share of `batches`, as a front door does.
pub(super) fn batches_case<'a>(
    name: &str,
    mut runner: Runner,
    batches: &'a [Vec<u8>],
    range: impl Fn(usize) -> std::ops::Range<usize> + 'a,
) -> Case<'a> {
    let mut sink = NdjsonSink::default();
    Case::new(name, move |i| Ok(Timing::of_thread(|| run_batches(&mut runner, &batches[range(i)], &mut sink))))
}

/// What a front door does per batch, minus I/O: split and validate the NDJSON lines,
/// run the batch pass (`run`), write the results as NDJSON into `sink`.
fn pass_batch(text: &[u8], run: impl FnOnce(Intake) -> Passed, sink: &mut NdjsonSink) {
    let mut intake = Intake::default();
    intake::ndjson(text, 1, &mut intake);
    sink.clear();
    let Ok(_) = run(intake).deliver(sink);
    std::hint::black_box(&sink.events);
}

fn run_batches(runner: &mut Runner, batches: &[Vec<u8>], sink: &mut NdjsonSink) {
    for text in batches {
        pass_batch(text, |intake| Passed::run(runner, intake), sink);
    }
}

fn measure(
    name: &str,
    workload: &Workload,
    pipeline: &Arc<Pipeline>,
    repeats: usize,
    runner: impl Fn() -> Result<Runner, Error>,
) -> Result<Row, Error> {
    debug_assert!(runner().is_ok_and(|r| Arc::ptr_eq(r.pipeline(), pipeline)));
    let mut runner = runner()?;
    let mut sink = NdjsonSink::default();
    // Warm up: first calls fault in memory and fill caches.
    run_batches(&mut runner, &workload.batches[..workload.batches.len().min(3)], &mut sink);
    let mut best = Timing::NONE;
    for _ in 0..repeats.max(1) {
        best = best.best(Timing::of_thread(|| run_batches(&mut runner, &workload.batches, &mut sink)));
    }
    Ok(Row { name: name.to_string(), threads: 1, events: workload.events, bytes: workload.bytes, time: best })
}

fn measure_threads(
    workload: &Workload,
    pipeline: &Arc<Pipeline>,
    threads: usize,
    repeats: usize,
) -> Result<Row, Error> {
    let mut best = Timing::NONE;
    for _ in 0..repeats.max(1) {
        let next = AtomicUsize::new(0);
        best = best.best(Timing::of_process(|| {
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        let mut runner = pipeline.runner();
                        let mut sink = NdjsonSink::default();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(batch) = workload.batches.get(i) else { break };
                            run_batches(&mut runner, std::slice::from_ref(batch), &mut sink);
                        }
                    });
                }
            })
        }));
    }
    Ok(Row {
        name: format!("pipeline (wasm components), {threads} threads"),
        threads,
        events: workload.events,
        bytes: workload.bytes,
        time: best,
    })
}
