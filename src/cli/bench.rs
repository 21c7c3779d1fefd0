//! `firehose bench`: the benchmark, printed as a table and a machine-readable line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use firehose::engine::Engine;
use firehose::tools::bench::{self, Options};

/// Arguments of `firehose bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Events in the generated workload.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// The pipeline to measure.
    #[arg(long, short, value_name = "FILE", default_value = "examples/leadconduit/pipeline.yaml")]
    pipeline: PathBuf,
    /// The no-op module used as the extra stage (default: next to the pipeline's first module).
    #[arg(long, value_name = "FILE")]
    noop_module: Option<PathBuf>,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Runs per case: rounds of the cases compared side by side (each slice's fastest
    /// counts in a row; ratios are medians over every slice of every round).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

/// Runs the benchmark.
pub fn bench(engine: Arc<Engine>, args: BenchArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        events: args.events,
        seed: args.seed,
        batch_size: args.batch_size,
        repeats: args.repeats,
        ..Options::default()
    };
    let noop = match args.noop_module {
        Some(path) => path,
        None => {
            let config = firehose::config::PipelineConfig::load(&args.pipeline)?;
            let first = config.stages.first().map(|s| s.module.clone()).unwrap_or_default();
            first.with_file_name("firehose_noop.wasm")
        }
    };
    println!(
        "bench: {} generated events, batches of {}, seed {}, pipeline {}, {} rounds (a row: each slice's fastest)",
        options.events,
        options.batch_size,
        options.seed,
        args.pipeline.display(),
        options.repeats
    );
    println!("{:<44} {:>7} {:>11} {:>8} {:>9}", "case", "threads", "events/s", "MB/s", "CPU ns/ev");
    let summary = bench::run(&engine, &args.pipeline, &noop, &options, |row| {
        println!(
            "{:<44} {:>7} {:>11.0} {:>8.1} {:>9.0}",
            row.name,
            row.threads,
            row.events_per_s(),
            row.mb_per_s(),
            row.ns_per_event()
        );
    })?;
    println!("ratios: the median of slices timed side by side, and the middle half of the slices' ratios");
    for (name, ratio) in [
        ("  pipeline / json_roundtrip", &summary.pipeline_vs_roundtrip),
        ("  components / same rules native", &summary.wasm_vs_native),
        ("  stages get whole events / only what they read", &summary.whole_events_vs_members),
        ("  pipeline + one no-op stage / pipeline", &summary.extra_stage_cost),
    ] {
        println!("{name:<48} {ratio}");
    }
    let fluent_bit = bench::measure_fluent_bit(&engine, &args.pipeline, &options)?;
    let per = |seconds: f64| seconds * 1e9 / fluent_bit.records as f64;
    println!(
        "fluent bit filter, {} v2 msgpack records in chunks of {}: CPU ns/record",
        fluent_bit.records, options.batch_size
    );
    println!("{:<44} {:>9.0}", "  flb-filter_firehose (one call per chunk)", per(fluent_bit.plugin));
    println!("{:<44} {:>9.0}", "  filter_wasm's way (one call per record)", per(fluent_bit.per_record));
    println!("{:<44} {:>9.0}", "  the same rules natively", per(fluent_bit.native));
    println!("{:<44} {:>9.0}", "  the pipeline alone (NDJSON, same events)", per(fluent_bit.pipeline));
    let fluent_bit_vs_pipeline = fluent_bit.vs_pipeline.median;
    println!("{:<44} {}", "  plugin path / pipeline alone", fluent_bit.vs_pipeline);
    let firehose = std::env::current_exe().context("finding the firehose binary to run as the sidecar")?;
    let sidecar = bench::measure_sidecar(&engine, &firehose, &args.pipeline, &options)?;
    let sidecar_ns = sidecar.cpu_seconds * 1e9 / sidecar.events as f64;
    let sidecar_vs_pipeline = sidecar.vs_pipeline.median;
    println!(
        "sidecar, {} events as Vector's http sink posts them in bytes mode (text lines, {} per body), loopback",
        sidecar.events, options.batch_size
    );
    println!("{:<44} {:>9.0}", "  firehose serve CPU (user+sys) ns/event", sidecar_ns);
    println!("{:<44} {}", "  sidecar CPU / pipeline alone", sidecar.vs_pipeline);
    println!("{:<44} {:>9.0}", "  events/s (wall, 2 connections)", sidecar.events as f64 / sidecar.wall_seconds);
    let batches = bench::measure_batches(&firehose, &args.pipeline, &options)?;
    println!("firehose run, {} events, all cores (events/s as each run reports it)", batches.events);
    println!("{:<44} {:>9.0}", "  -o FILE (NDJSON)", batches.ndjson_events_per_s);
    println!("{:<44} {:>9.0}", "  --output-dir DIR (gzip NDJSON batches)", batches.gzip_events_per_s);
    println!("{:<44} {:>9.0}", "  the same, gzip level 1", batches.gzip_fastest_events_per_s);
    println!("{:<44} {:>9.2}", "  gzip batches / NDJSON", batches.ratio());
    println!("{:<44} {:>9.2}", "  gzip level 1 batches / NDJSON", batches.fastest_ratio());
    let pii = bench::measure_pii(&engine, &args.pipeline, &options)?;
    println!("pii-mask kinds, alternating runs: ns/event (+{} custom patterns in the second)", pii.custom_patterns);
    for row in [&pii.demo, &pii.all_kinds] {
        println!("{:<44} {:>9.0}", format!("  {}", row.name), row.ns_per_event());
    }
    println!("{:<44} {:>9.2}", "  all PII kinds / demo", pii.all_kinds_vs_demo());
    let swaps = bench::measure_swaps(&engine, &args.pipeline, &options)?;
    let ms = |v: f64| v * 1e3;
    println!(
        "hot swap, {} threads, batches of {}: batch latency p50 / p99 / max (ms)",
        options.threads, options.batch_size
    );
    let swapping = format!("  all batches while swapping ({} swaps)", swaps.swaps);
    let switching = format!("  batches that took up a new version ({})", swaps.switching.len());
    for (name, latencies) in
        [("  steady", &swaps.steady), (&*swapping, &swaps.swapping), (&*switching, &swaps.switching)]
    {
        println!(
            "{:<44} {:>7.2} {:>7.2} {:>7.2}",
            name,
            ms(bench::quantile(latencies, 0.5)),
            ms(bench::quantile(latencies, 0.99)),
            ms(bench::quantile(latencies, 1.0))
        );
    }
    println!(
        "  build and publish under full load (ms)      median {:.0}, max {:.0} (builder at nice 19)",
        ms(bench::quantile(&swaps.build_under_load, 0.5)),
        ms(bench::quantile(&swaps.build_under_load, 1.0))
    );
    println!(
        "  file change to live, cached version (ms)   median {:.1}, max {:.1} over {} swaps",
        ms(bench::quantile(&swaps.change_to_live, 0.5)),
        ms(bench::quantile(&swaps.change_to_live, 1.0)),
        swaps.change_to_live.len()
    );
    let shadow = bench::measure_shadow(&engine, &args.pipeline, &options)?;
    println!("shadow, one live worker, a candidate (same rules) on every batch: live batch latency p50 / p99 (ms)");
    for (name, latencies) in [("  alone", &shadow.alone), ("  shadowed", &shadow.shadowed)] {
        let (p50, p99) = (bench::quantile(latencies, 0.5), bench::quantile(latencies, 0.99));
        println!("{:<44} {:>7.2} {:>7.2}", name, ms(p50), ms(p99));
    }
    println!(
        "  candidate: {} batches compared, {} skipped (behind), cost ×{:.2} of live",
        shadow.compared, shadow.skipped, shadow.cost_ratio
    );
    println!(
        "{} shadow_p99_ratio={:.3} swap_extra_p99_ms={:.2} switch_extra_max_ms={:.2} change_to_live_max_ms={:.1} fluent_bit_ns_per_record={:.0} fluent_bit_per_record_vs_chunk={:.1} fluent_bit_vs_pipeline={:.2} sidecar_cpu_ns_per_event={:.0} sidecar_vs_pipeline={:.2} batches_gzip_vs_ndjson={:.2} batches_gzip1_vs_ndjson={:.2} pii_all_kinds_vs_demo={:.2}",
        summary.line(),
        shadow.p99_ratio(),
        ms(bench::quantile(&swaps.swapping, 0.99) - bench::quantile(&swaps.steady, 0.99)),
        ms(bench::quantile(&swaps.switching, 1.0) - bench::quantile(&swaps.steady, 1.0)),
        ms(bench::quantile(&swaps.change_to_live, 1.0)),
        per(fluent_bit.plugin),
        fluent_bit.per_record / fluent_bit.plugin,
        fluent_bit_vs_pipeline,
        sidecar_ns,
        sidecar_vs_pipeline,
        batches.ratio(),
        batches.fastest_ratio(),
        pii.all_kinds_vs_demo(),
    );
    Ok(ExitCode::SUCCESS)
}
