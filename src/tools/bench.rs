//! The benchmark behind `firehose bench`: the same generated workload through the
//! pipeline as components, the same rules natively, each stage alone, the pipeline
//! with one more (no-op) stage, one call per event, and all cores — side by side in
//! one run, so the figures are ratios on one machine at one moment.
//!
//! Each case does what a front door does per batch, minus I/O: validate the NDJSON
//! lines, run the batch, encode the delivered events as NDJSON with their
//! `firehose_metadata`. Each case runs `repeats` times and keeps the fastest run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::generate::Generator;
use super::native;
use crate::config::{PipelineConfig, StageConfig};
use crate::emit::NdjsonSink;
use crate::emit::{Place, Stamp};
use crate::engine::Engine;
use crate::fluent_bit::filter::ChunkPass;
use crate::intake::{self, Intake};
use crate::pass::{LivePass, Passed};
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
    /// Fastest wall-clock time, seconds.
    pub seconds: f64,
}

impl Row {
    /// Throughput in events per second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// Throughput in MB per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }

    /// Wall-clock nanoseconds per event (per thread for multi-threaded cases).
    pub fn ns_per_event(&self) -> f64 {
        self.seconds * 1e9 * self.threads as f64 / self.events as f64
    }
}

/// The headline ratios.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Every case.
    pub rows: Vec<Row>,
    /// Single-thread throughput of the pipeline as components.
    pub pipeline_events_per_s: f64,
    /// Time of the component pipeline over the native one.
    pub wasm_vs_native: f64,
    /// Extra time of one more (no-op) stage, in percent of the pipeline's time.
    pub extra_stage_cost_percent: f64,
    /// Time of one call per event over batched calls.
    pub per_record_vs_batch: f64,
}

impl Summary {
    /// The machine-readable last line.
    pub fn line(&self) -> String {
        format!(
            "bench: pipeline_events_per_s={:.0} wasm_vs_native={:.2} extra_stage_cost={:.1}% per_record_vs_batch={:.1}",
            self.pipeline_events_per_s, self.wasm_vs_native, self.extra_stage_cost_percent, self.per_record_vs_batch
        )
    }
}

/// Runs every case on the pipeline at `pipeline_path`, reporting each row as it is
/// measured. `noop_module` is the no-op component used as the extra stage.
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

    let wasm = measure("pipeline (wasm components)", &workload, &pipeline, options.repeats, || Ok(pipeline.runner()))?;
    record(wasm.clone(), &mut rows);
    let native =
        measure("pipeline (same rules, native)", &workload, &pipeline, options.repeats, || native::runner(&pipeline))?;
    record(native.clone(), &mut rows);

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

    let mut stages = config.stages.clone();
    stages.push(StageConfig { name: "noop".into(), module: noop_module.to_path_buf(), config: "{}".into() });
    let extended = Pipeline::build(engine, config.with_stages(stages))?;
    let plus_one =
        measure("pipeline + one no-op stage (wasm)", &workload, &extended, options.repeats, || Ok(extended.runner()))?;
    record(plus_one.clone(), &mut rows);

    let single = workload.rebatched(1);
    let per_record = measure("one call per event (wasm)", &single, &pipeline, 1, || Ok(pipeline.runner()))?;
    record(per_record.clone(), &mut rows);

    if options.threads > 1 {
        pipeline.prepare(options.threads)?;
        let all = measure_threads(&workload, &pipeline, options.threads, options.repeats)?;
        record(all, &mut rows);
    }

    Ok(Summary {
        pipeline_events_per_s: wasm.events_per_s(),
        wasm_vs_native: wasm.seconds / native.seconds,
        extra_stage_cost_percent: (plus_one.seconds / wasm.seconds - 1.0) * 100.0,
        per_record_vs_batch: per_record.seconds / wasm.seconds,
        rows,
    })
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
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        run_batches(&mut runner, &workload.batches, &mut sink);
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(Row { name: name.to_string(), threads: 1, events: workload.events, bytes: workload.bytes, seconds: best })
}

fn measure_threads(
    workload: &Workload,
    pipeline: &Arc<Pipeline>,
    threads: usize,
    repeats: usize,
) -> Result<Row, Error> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let next = AtomicUsize::new(0);
        let started = Instant::now();
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
        });
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(Row {
        name: format!("pipeline (wasm components), {threads} threads"),
        threads,
        events: workload.events,
        bytes: workload.bytes,
        seconds: best,
    })
}

/// What a hot swap costs the event stream.
#[derive(Debug, Clone)]
pub struct SwapReport {
    /// Batch latencies (seconds, sorted) while no swap happens.
    pub steady: Vec<f64>,
    /// Latencies (seconds, sorted) of the batches that took up a new version.
    pub switching: Vec<f64>,
    /// Latencies (seconds, sorted) of all batches while versions were swapped in.
    pub swapping: Vec<f64>,
    /// Swaps done during the `swapping` run.
    pub swaps: u64,
    /// Times (seconds, sorted) to build and publish a version while the workers are busy.
    pub build_under_load: Vec<f64>,
    /// Times from a pipeline file change to the new (cached) version being live, sorted.
    pub change_to_live: Vec<f64>,
}

/// The `q`-quantile of sorted `values`.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Measures hot swaps of the pipeline at `pipeline_path` on `threads` workers: batch
/// latency steady, while a low-priority thread rebuilds and publishes versions back to
/// back (the reloader's real path: load, compile from cache, configure, test, prepare),
/// and for the batches that took up a new version; then the time from a pipeline file
/// change to the new version being live, through the file watcher.
pub fn measure_swaps(engine: &Arc<Engine>, pipeline_path: &Path, options: &Options) -> Result<SwapReport, Error> {
    use crate::reload::{Live, Reloader, WatchOptions, Watcher};
    let config = PipelineConfig::load(pipeline_path)?;
    // A copy of the pipeline in a scratch directory, modules by absolute path and
    // configuration resolved, whose name alternates: each write is a new version with
    // the same modules, i.e. a swap to a cached version.
    let dir = std::env::temp_dir().join(format!("firehose-swap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join("pipeline.yaml");
    let write = |name: &str| -> Result<(), Error> {
        let mut text = format!("name: {name}\nbatch: {{max_events: {}}}\nstages:\n", options.batch_size);
        for stage in &config.stages {
            let module = stage.module.canonicalize().unwrap_or_else(|_| stage.module.clone());
            text.push_str(&format!(
                "  - name: {}\n    module: {}\n    config: {}\n",
                stage.name,
                module.display(),
                stage.config
            ));
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    };
    write("swap-a")?;
    let live = Live::new(Pipeline::load(engine, &path)?);
    live.current().prepare(options.threads)?;
    let workload = Workload::generate(options.events.min(200_000), options.seed, options.batch_size);

    let steady: Vec<f64> = batch_latencies(&workload, &live, options.threads).into_iter().map(|(t, _)| t).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let swaps_before = live.counts().done;
    let three_passes = Workload {
        batches: workload.batches.iter().cycle().take(workload.batches.len() * 3).cloned().collect(),
        events: workload.events * 3,
        bytes: workload.bytes * 3,
    };
    let (measured, mut build_under_load) = std::thread::scope(|scope| {
        let reloader = Reloader::new(engine.clone(), path.clone(), live.clone(), options.threads);
        let (stop, write, live) = (&stop, &write, &live);
        let builder = scope.spawn(move || {
            crate::reload::lower_priority();
            let mut flip = false;
            let mut builds = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                flip = !flip;
                let started = Instant::now();
                let _ = write(if flip { "swap-b" } else { "swap-a" });
                reloader.reload();
                builds.push(started.elapsed().as_secs_f64());
                live.release_retired();
            }
            builds
        });
        let measured = batch_latencies(&three_passes, live, options.threads);
        stop.store(true, Ordering::Relaxed);
        (measured, builder.join().expect("builder thread"))
    });
    build_under_load.sort_by(f64::total_cmp);
    let swaps = live.counts().done - swaps_before;
    let mut swapping: Vec<f64> = measured.iter().map(|(t, _)| *t).collect();
    let mut switching: Vec<f64> = measured.iter().filter(|(_, switched)| *switched).map(|(t, _)| *t).collect();
    swapping.sort_by(f64::total_cmp);
    switching.sort_by(f64::total_cmp);

    let watcher = Watcher::start(
        Reloader::new(engine.clone(), path.clone(), live.clone(), options.threads),
        WatchOptions::default(),
    )
    .map_err(|e| Error::io("starting the watcher", e))?;
    let mut change_to_live = Vec::new();
    for round in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(60));
        let before = live.current().id.clone();
        let started = Instant::now();
        write(if round % 2 == 0 { "swap-c" } else { "swap-d" })?;
        while live.current().id == before && started.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        change_to_live.push(started.elapsed().as_secs_f64());
    }
    drop(watcher);
    let _ = std::fs::remove_dir_all(&dir);
    change_to_live.sort_by(f64::total_cmp);
    Ok(SwapReport { steady, switching, swapping, swaps, build_under_load, change_to_live })
}

/// Per-batch latency (taking up the live version, running, encoding) on `threads`
/// workers, and whether the batch took up a new version. Sorted by latency.
fn batch_latencies(workload: &Workload, live: &Arc<crate::reload::Live>, threads: usize) -> Vec<(f64, bool)> {
    let next = AtomicUsize::new(0);
    let mut all = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut pass = LivePass::new(live);
                    let mut sink = NdjsonSink::default();
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = workload.batches.get(i) else { break };
                        let started = Instant::now();
                        let switched = pass.refresh();
                        pass_batch(batch, |intake| pass.run(intake), &mut sink);
                        latencies.push((started.elapsed().as_secs_f64(), switched));
                    }
                    latencies
                })
            })
            .collect();
        for handle in handles {
            all.extend(handle.join().expect("bench thread"));
        }
    });
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all
}

/// The Fluent Bit filter's cost per record, three ways on the same records.
#[derive(Debug, Clone)]
pub struct FluentBitReport {
    /// Records measured.
    pub records: usize,
    /// Seconds for the plugin's path: one pipeline call per chunk.
    pub plugin: f64,
    /// Seconds for filter_wasm's approach: one call per record.
    pub per_record: f64,
    /// Seconds for the same rules natively, per chunk.
    pub native: f64,
}

/// A fixed runner with the plugin's default stamp, for the chunk path.
struct FixedPass {
    runner: Runner,
    stamp: Stamp,
}

impl ChunkPass for FixedPass {
    fn run(&mut self, intake: Intake) -> Passed {
        Passed::run(&mut self.runner, intake)
    }

    fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl FixedPass {
    fn new(runner: Runner) -> FixedPass {
        let stamp = Stamp::version_at(&Place::default(), &runner.pipeline().id);
        FixedPass { runner, stamp }
    }
}

/// Measures the Fluent Bit plugin's chunk path (msgpack → JSON → pipeline → msgpack)
/// against the same path one record at a time (what Fluent Bit's `filter_wasm` does:
/// one call per record) and against the same rules compiled natively, on the same v2
/// msgpack records. All three run the plugin's own chunk code.
pub fn measure_fluent_bit(
    engine: &Arc<Engine>,
    pipeline_path: &Path,
    options: &Options,
) -> Result<FluentBitReport, Error> {
    use crate::fluent_bit::filter::{Filter, filter_chunk};
    use crate::fluent_bit::msgpack;

    let records = options.events.min(50_000);
    let workload = Workload::generate(records, options.seed, options.batch_size);
    // Each batch as a Fluent Bit chunk: [[EventTime, {}], body] records.
    let chunks: Vec<Vec<u8>> = workload
        .batches
        .iter()
        .map(|batch| {
            let mut chunk = Vec::new();
            for (i, line) in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
                let tape = firehose_json::tape_of(line).expect("generated events are valid");
                let mut header = vec![0x92, 0xd7, 0x00];
                header.extend_from_slice(&(1_700_000_000u32 + i as u32).to_be_bytes());
                header.extend_from_slice(&0u32.to_be_bytes());
                header.push(0x80);
                msgpack::encode_record(&header, &firehose_json::Event::new(line, &tape), &mut chunk);
            }
            chunk
        })
        .collect();
    // The same records one per chunk, as filter_wasm sees them.
    let singles: Vec<Vec<u8>> = chunks
        .iter()
        .flat_map(|chunk| {
            let records = msgpack::records(chunk).expect("valid chunk");
            records
                .into_iter()
                .map(|record| match record {
                    msgpack::Record::Log(log) => chunk[log.span].to_vec(),
                    msgpack::Record::Other { span } => chunk[span].to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let path = pipeline_path.display().to_string();
    let dead_letters = std::env::temp_dir().join("firehose-bench-dead-letters.ndjson").display().to_string();
    let mut filter = Filter::start(|key: &str| match key {
        "pipeline" => Some(path.clone()),
        "watch" => Some("off".into()),
        "dead_letter" => Some(dead_letters.clone()),
        _ => None,
    })
    .map_err(|e| Error::Pipeline { path: pipeline_path.to_path_buf(), message: crate::error::report(&e) })?;
    let time = |f: &mut dyn FnMut()| {
        f();
        let mut best = f64::INFINITY;
        for _ in 0..options.repeats.max(1) {
            let started = Instant::now();
            f();
            best = best.min(started.elapsed().as_secs_f64());
        }
        best
    };
    let plugin = time(&mut || {
        for chunk in &chunks {
            std::hint::black_box(filter.process("bench", chunk).expect("valid chunk"));
        }
    });
    let pipeline = Pipeline::load(engine, pipeline_path)?;
    let mut per_record_pass = FixedPass::new(pipeline.runner());
    let mut native_pass = FixedPass::new(native::runner(&pipeline)?);
    let mut dead = Vec::new();
    let mut run = |pass: &mut FixedPass, chunks: &[Vec<u8>]| {
        for chunk in chunks {
            dead.clear();
            std::hint::black_box(filter_chunk(pass, "bench", chunk, &mut dead).expect("valid chunk"));
        }
    };
    let per_record = time(&mut || run(&mut per_record_pass, &singles));
    let native = time(&mut || run(&mut native_pass, &chunks));
    Ok(FluentBitReport { records, plugin, per_record, native })
}
