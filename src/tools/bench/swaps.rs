//! What a hot swap costs the event stream: batch latency steady and while versions are
//! swapped in, and the time from a file change to the new version being live.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::{Options, Workload, pass_batch};
use crate::config::PipelineConfig;
use crate::emit::NdjsonSink;
use crate::engine::Engine;
use crate::pass::LivePass;
use crate::{Error, Pipeline};

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
