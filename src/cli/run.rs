//! `firehose run`: events in, processed events and dead letters out.
//!
//! A reader thread cuts the input into chunks of `batch.max_events` records; one
//! worker per core validates a chunk and runs it through the shared batch pass; the
//! writer hands the results, in input order, to the output (NDJSON to a file or
//! stdout, or batches on disk). Every record ends up in the output, counted as
//! dropped, or in the dead letters.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use firehose::config::{Compression, Framing};
use firehose::emit::NdjsonSink;
use firehose::emit::batches::BatchWriter;
use firehose::emit::location::{DeadLetterPath, dead_letter_file_options};
use firehose::engine::Engine;
use firehose::intake::{self, Intake};
use firehose::metrics::Metrics;
use firehose::panics;
use firehose::pass::{LivePass, Passed};
use firehose::reload::{Live, Reloader, WatchOptions, Watcher};
use firehose::shadow::Shadow;
use firehose::{Counts, Pipeline};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::input::{Chunk, ChunkBody, Source, read_chunks};
use super::shadow::ShadowArgs;

/// Arguments of `firehose run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(long, short, value_name = "FILE")]
    pipeline: PathBuf,
    /// Events to read: NDJSON or a JSON array; `-` for standard input.
    #[arg(long, short, value_name = "FILE", default_value = "-")]
    input: PathBuf,
    /// Where to write processed events as NDJSON; `-` for standard output [default: the
    /// pipeline's `output.dir` if it has one, else standard output].
    #[arg(long, short, value_name = "FILE", conflicts_with = "output_dir")]
    output: Option<PathBuf>,
    /// Where to write records that could not be processed, one JSON line each (emptied
    /// at the start of each run) [default: firehose-dead-letters.ndjson in
    /// $FIREHOSE_DATA_DIR, else in the working directory].
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Write the run's metrics (the sidecar's, in Prometheus text) to this file at the
    /// end, and every 10 s while running: for node_exporter's textfile collector, the
    /// usual way to watch a batch job (written to a temporary file and renamed).
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Records per batch (default: the pipeline's `batch.max_events`).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Keep going: follow the input file as it grows (like `tail -f`) and swap in new
    /// rules when the pipeline file or its modules change (also on SIGHUP).
    #[arg(long)]
    watch: bool,
    /// With --watch: poll files for changes instead of using file notifications.
    #[arg(long, requires = "watch")]
    poll: bool,
    /// Write Firehose-style batches (partitioned, framed, compressed objects) under this
    /// directory instead of NDJSON to --output; dead letters go under its error prefix.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// With --output-dir: framing of the objects, ndjson or json_array [default: the
    /// pipeline's output.framing].
    #[arg(long)]
    framing: Option<Framing>,
    /// With --output-dir: compression of the objects, gzip, snappy, lz4 or none
    /// [default: the pipeline's output.compression].
    #[arg(long)]
    compression: Option<Compression>,
    /// With --output-dir and gzip: the level, 1 (fastest) to 9 (smallest)
    /// [default: the pipeline's output.compression_level, else 6].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=9))]
    compression_level: Option<u32>,
    #[command(flatten)]
    shadow: ShadowArgs,
}

/// Runs the command.
pub fn run(engine: Arc<Engine>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    pipeline.prepare(workers)?;
    let source = if args.input == Path::new("-") {
        Source::Stdin
    } else {
        let file =
            std::fs::File::open(&args.input).with_context(|| format!("opening input {}", args.input.display()))?;
        Source::File { path: args.input.clone(), file, follow: args.watch }
    };
    // One registry for the run: the pass, the output and --metrics-file share it.
    let metrics = Arc::new(Metrics::new());
    // --output-dir or an explicit --output (never both: clap refuses that) wins over the
    // pipeline's output.dir.
    let output_dir = match (&args.output_dir, &args.output) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(_)) => None,
        (None, None) => pipeline.config.output.dir.clone(),
    };
    match output_dir {
        Some(dir) => {
            let mut config = pipeline.config.output.clone();
            config.framing = args.framing.unwrap_or(config.framing);
            config.compression = args.compression.unwrap_or(config.compression);
            config.compression_level = args.compression_level.or(config.compression_level);
            config
                .check_compression_level()
                .map_err(|e| anyhow::anyhow!("{e} (--compression-level, --compression)"))?;
            let writer = BatchWriter::new(&dir, config)?.with_threads(workers).with_metrics(metrics.clone());
            run_with(engine, &args, pipeline, workers, source, Batches::new(writer, dir), metrics)
        }
        None => {
            let path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
            let output: Box<dyn Write + Send> = if path == Path::new("-") {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::fs::File::create(&path).with_context(|| format!("creating output {}", path.display()))?)
            };
            let located = DeadLetterPath::locate("--dead-letter", args.dead_letter.as_deref());
            located.check_writable("--dead-letter")?;
            let dead_letter = located.path;
            // The dead-letter file tells of this run only: one left by an earlier run is
            // emptied (truncated, not removed: it may be a device such as /dev/null).
            if std::fs::metadata(&dead_letter).is_ok_and(|m| m.is_file()) {
                dead_letter_file_options()
                    .truncate(true)
                    .open(&dead_letter)
                    .with_context(|| format!("emptying the old dead-letter file {}", dead_letter.display()))?;
            }
            let ndjson = Ndjson { output, dead_letter_path: dead_letter, dead_letter_file: None };
            run_with(engine, &args, pipeline, workers, source, ndjson, metrics)
        }
    }
}

/// Where `firehose run` writes its results. Workers prepare each chunk's results in
/// parallel ([`Output::prepare`]); the writer takes them in input order.
trait Output {
    /// What a worker hands the writer for one chunk.
    type Prepared: Send + 'static;

    /// On a worker: turns a chunk's pass into what the writer writes.
    fn prepare(passed: Passed) -> Self::Prepared;

    /// On the writer, in input order: writes one chunk; returns its counts.
    fn write(&mut self, prepared: Self::Prepared) -> anyhow::Result<Counts>;

    /// On the writer, when every chunk read so far is written or a while passed
    /// without one: time to flush, cut batches by age, show progress.
    fn idle(&mut self, _totals: &Counts) -> anyhow::Result<()> {
        Ok(())
    }

    /// At the end: writes what is still held.
    fn finish(&mut self) -> anyhow::Result<()>;

    /// Where dead letters went and what was written, for the summary line.
    fn summary(&self) -> (String, String);
}

/// NDJSON to a file or stdout, dead letters to their own file (created on the first).
struct Ndjson {
    output: Box<dyn Write + Send>,
    dead_letter_path: PathBuf,
    dead_letter_file: Option<std::fs::File>,
}

impl Output for Ndjson {
    type Prepared = (NdjsonSink, Counts);

    fn prepare(passed: Passed) -> (NdjsonSink, Counts) {
        let mut sink = NdjsonSink::default();
        let Ok(counts) = passed.deliver(&mut sink);
        (sink, counts)
    }

    fn write(&mut self, (sink, counts): (NdjsonSink, Counts)) -> anyhow::Result<Counts> {
        self.output.write_all(&sink.events).context("writing output")?;
        if !sink.dead_letters.is_empty() {
            if self.dead_letter_file.is_none() {
                let file = dead_letter_file_options()
                    .truncate(true)
                    .open(&self.dead_letter_path)
                    .with_context(|| format!("creating dead-letter file {}", self.dead_letter_path.display()))?;
                self.dead_letter_file = Some(file);
            }
            let file = self.dead_letter_file.as_mut().expect("just created");
            file.write_all(&sink.dead_letters).context("writing dead letters")?;
        }
        Ok(counts)
    }

    fn idle(&mut self, _totals: &Counts) -> anyhow::Result<()> {
        // Following a live input: let readers downstream see each batch.
        self.output.flush().context("writing output")
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.output.flush().context("writing output")?;
        if let Some(file) = &self.dead_letter_file {
            file.sync_all().context("writing dead letters")?;
        }
        Ok(())
    }

    fn summary(&self) -> (String, String) {
        (self.dead_letter_path.display().to_string(), String::new())
    }
}

/// Firehose-style batches under a directory, dead letters under its error prefix;
/// progress on a terminal.
struct Batches {
    writer: BatchWriter,
    dir: PathBuf,
    started: Instant,
    last_progress: Instant,
    progress: bool,
}

impl Batches {
    fn new(writer: BatchWriter, dir: PathBuf) -> Batches {
        let progress = std::io::stderr().is_terminal();
        Batches { writer, dir, started: Instant::now(), last_progress: Instant::now(), progress }
    }
}

impl Output for Batches {
    type Prepared = Passed;

    fn prepare(passed: Passed) -> Passed {
        passed
    }

    fn write(&mut self, passed: Passed) -> anyhow::Result<Counts> {
        passed.deliver(&mut self.writer).context("writing batches")
    }

    fn idle(&mut self, totals: &Counts) -> anyhow::Result<()> {
        self.writer.tick().context("writing batches")?;
        if self.progress && self.last_progress.elapsed().as_secs() >= 1 {
            self.last_progress = Instant::now();
            let stats = self.writer.stats();
            eprint!(
                "\rfirehose: {} events, {:.1} MB, {} objects, {:.0} events/s   ",
                totals.events_in,
                stats.bytes as f64 / 1e6,
                stats.batches,
                totals.events_in as f64 / self.started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.writer.finish().context("writing batches")?;
        if self.progress {
            eprintln!();
        }
        Ok(())
    }

    fn summary(&self) -> (String, String) {
        let stats = self.writer.stats();
        let mut written =
            format!(" | {} objects, {:.1} MB under {}", stats.batches, stats.bytes as f64 / 1e6, self.dir.display());
        if stats.closed_early > 0 {
            written += &format!(
                " | {} {} closed early at output.max_open_partitions ({})",
                stats.closed_early,
                if stats.closed_early == 1 { "batch" } else { "batches" },
                self.writer.max_open_partitions()
            );
        }
        (format!("{} under {}", self.writer.error_prefix(), self.dir.display()), written)
    }
}

/// What a worker hands the writer: a chunk's prepared results and its place in the input.
struct Done<P> {
    seq: u64,
    prepared: Result<P, Panicked>,
}

/// A worker panicked on a chunk (a bug in Firehose): the run stops when the chunk's turn
/// to be written comes, with everything before it written.
struct Panicked {
    first_line: u64,
    message: String,
}

fn run_with<O: Output>(
    engine: Arc<Engine>,
    args: &RunArgs,
    pipeline: Arc<Pipeline>,
    workers: usize,
    source: Source,
    mut output: O,
    metrics: Arc<Metrics>,
) -> anyhow::Result<ExitCode> {
    let batch_size = args.batch_size.unwrap_or(pipeline.config.batch.max_events).max(1);
    let live = Live::new(pipeline);
    let watcher = if args.watch {
        let reloader = Reloader::new(engine.clone(), args.pipeline.clone(), live.clone(), workers);
        let options = WatchOptions { poll: args.poll, ..WatchOptions::default() };
        Some(Watcher::start(reloader, options).context("starting the file watcher")?)
    } else {
        None
    };
    log::info!("rules version {} is live (from {})", live.current().id, args.pipeline.display());
    let shadow = args.shadow.start(&engine, None)?;
    let stop = Arc::new(AtomicBool::new(false));
    let signals = Signals::new([SIGHUP, SIGINT, SIGTERM]).context("installing signal handlers")?;
    let signal_handle = signals.handle();

    let mut metrics_file = args.metrics_file.clone().map(|path| MetricsFile::new(path, metrics.clone(), live.clone()));
    let started = Instant::now();
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Done<O::Prepared>>(workers * 2);
    let mut totals = Counts::default();
    let bytes_in = std::thread::scope(|scope| -> anyhow::Result<u64> {
        scope.spawn({
            let (stop, watcher) = (stop.clone(), &watcher);
            move || handle_signals(signals, stop, watcher.as_ref())
        });
        let reader = scope.spawn({
            let stop = stop.clone();
            move || read_chunks(source, batch_size, stop, chunk_tx)
        });
        for _ in 0..workers {
            let (rx, tx, live, metrics, shadow) =
                (chunk_rx.clone(), done_tx.clone(), live.clone(), metrics.clone(), shadow.clone());
            scope.spawn(move || work::<O>(&live, &metrics, shadow, rx, tx));
        }
        drop((chunk_rx, done_tx));
        let written = write_in_order(&done_rx, &mut output, &mut totals, &metrics, metrics_file.as_mut());
        // Whatever happened, let the signal thread go before the scope joins it, and
        // hang up on the workers: after a write error they stop instead of waiting
        // for a writer that is gone.
        signal_handle.close();
        if written.is_err() {
            // The reader may be waiting on an idle input: tell it to stop too.
            stop.store(true, Ordering::SeqCst);
        }
        drop(done_rx);
        written?;
        reader.join().expect("reader thread panicked").with_context(|| format!("reading {}", args.input.display()))
    })?;
    drop(watcher);
    if let Some(shadow) = &shadow {
        // The candidate may be a few batches behind: let it finish them (bounded).
        shadow.wait_idle(Duration::from_secs(30));
        eprintln!("firehose: {}", shadow.summary(&live.current().id));
    }
    if let Some(file) = &mut metrics_file {
        file.write()?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    assert!(totals.balanced(), "every event must be accounted for: {totals:?}");
    let swaps = live.counts();
    let (dead_letters_to, written) = output.summary();
    eprintln!(
        "firehose: {} in, {} out, {} dropped by rules, {} dead-lettered{}{written} | {:.2} s, {:.0} events/s, {:.1} MB/s | rules version {}{}",
        totals.events_in,
        totals.delivered,
        totals.dropped,
        totals.dead_lettered,
        if totals.dead_lettered > 0 { format!(" (to {dead_letters_to})") } else { String::new() },
        elapsed,
        totals.events_in as f64 / elapsed,
        bytes_in as f64 / elapsed / 1e6,
        live.current().id,
        if args.watch { format!(" | swaps: {} done, {} refused", swaps.done, swaps.refused) } else { String::new() },
    );
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reloads the rules (with --watch); SIGINT / SIGTERM stop reading and let
/// everything read so far finish; a second one exits at once.
fn handle_signals(mut signals: Signals, stop: Arc<AtomicBool>, watcher: Option<&Watcher>) {
    for signal in signals.forever() {
        match signal {
            SIGHUP => match watcher {
                Some(watcher) => watcher.trigger(),
                None => log::warn!("SIGHUP ignored: reloading needs --watch"),
            },
            _ if stop.swap(true, Ordering::SeqCst) => std::process::exit(130),
            _ => log::info!("stopping: finishing the events already read (again to quit at once)"),
        }
    }
}

/// Writes results in input order as they complete, letting the output do its idle
/// work when caught up or waiting; returns when every worker is done.
fn write_in_order<O: Output>(
    done: &Receiver<Done<O::Prepared>>,
    output: &mut O,
    totals: &mut Counts,
    metrics: &Metrics,
    mut metrics_file: Option<&mut MetricsFile>,
) -> anyhow::Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0;
    loop {
        match done.recv_timeout(Duration::from_millis(250)) {
            Ok(result) => {
                pending.insert(result.seq, result.prepared);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let mut wrote = false;
        while let Some(prepared) = pending.remove(&next) {
            next += 1;
            let prepared = prepared.map_err(|Panicked { first_line, message }| {
                anyhow::anyhow!(
                    "a pipeline worker panicked on the events from input line {first_line} ({message}); \
                     every event before that line is written, none from it on. This is a bug in \
                     Firehose: please report it with this message, then run the input again from line {first_line}"
                )
            })?;
            let counts = output.write(prepared)?;
            metrics.events(&counts);
            *totals += counts;
            wrote = true;
        }
        if pending.is_empty() || !wrote {
            output.idle(totals)?;
            if let Some(file) = metrics_file.as_deref_mut() {
                file.tick()?;
            }
        }
    }
    output.finish()
}

/// Validates chunks and runs them through the shared batch pass until the input ends.
fn work<O: Output>(
    live: &Arc<Live>,
    metrics: &Arc<Metrics>,
    shadow: Option<Arc<Shadow>>,
    chunks: Receiver<Chunk>,
    done: Sender<Done<O::Prepared>>,
) {
    let mut pass = LivePass::new(live).with_metrics(metrics.clone()).with_shadow(shadow);
    for chunk in chunks.iter() {
        let prepared = panics::catch(|| {
            let intake = match chunk.body {
                ChunkBody::Split(intake) => intake,
                ChunkBody::Lines(text) => {
                    let mut intake = Intake::default();
                    intake::ndjson(&text, chunk.first_line, &mut intake);
                    intake
                }
            };
            O::prepare(pass.run(intake))
        });
        // After a panic this worker's pass may be half-updated: it hands the failure to
        // the writer, which stops the run at that chunk's turn, and stops. Dying instead
        // would leave the writer waiting for that chunk while the other workers' results
        // pile up, unwritten, until the input ended.
        let panicked = prepared.is_err();
        let prepared = prepared.map_err(|message| Panicked { first_line: chunk.first_line, message });
        if done.send(Done { seq: chunk.seq, prepared }).is_err() || panicked {
            return;
        }
    }
}

/// `--metrics-file`: the run's metrics in Prometheus text, rewritten every
/// [`MetricsFile::EVERY`] and at the end, through a temporary file and a rename so a
/// collector never reads half a file.
struct MetricsFile {
    path: PathBuf,
    metrics: Arc<Metrics>,
    live: Arc<Live>,
    written: Instant,
}

impl MetricsFile {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(path: PathBuf, metrics: Arc<Metrics>, live: Arc<Live>) -> MetricsFile {
        MetricsFile { path, metrics, live, written: Instant::now() }
    }

    /// Writes the file if the last write is [`Self::EVERY`] old.
    fn tick(&mut self) -> anyhow::Result<()> {
        if self.written.elapsed() >= Self::EVERY { self.write() } else { Ok(()) }
    }

    fn write(&mut self) -> anyhow::Result<()> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let temporary = self.path.with_file_name(name);
        std::fs::write(&temporary, self.metrics.render_live(&self.live))
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .with_context(|| format!("--metrics-file: writing {}", self.path.display()))?;
        self.written = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firehose::config::PipelineConfig;

    /// Writes how many events each chunk delivered; preparing a chunk that holds an
    /// `"explode"` event panics, as a bug on a worker would.
    #[derive(Default)]
    struct Exploding {
        written: Vec<usize>,
    }

    impl Output for Exploding {
        type Prepared = Passed;

        fn prepare(passed: Passed) -> Passed {
            let delivered = passed.delivered();
            assert!(!delivered.iter().any(|event| event.starts_with(br#"{"explode""#)), "exploded on purpose");
            passed
        }

        fn write(&mut self, passed: Passed) -> anyhow::Result<Counts> {
            self.written.push(passed.delivered().len());
            Ok(passed.counts())
        }

        fn finish(&mut self) -> anyhow::Result<()> {
            Ok(())
        }

        fn summary(&self) -> (String, String) {
            Default::default()
        }
    }

    /// A pipeline without stages: every event is delivered as it came.
    fn pass_through() -> Arc<Live> {
        let engine = Engine::new(None).unwrap();
        let text = "name: t\nstages:\n  - {name: s, module: unused.wasm}\n";
        let config = PipelineConfig::parse(Path::new("pipeline.yaml"), text).unwrap().with_stages(Vec::new());
        Live::new(Pipeline::build(&engine, config).unwrap())
    }

    fn chunk(seq: u64, lines: &str) -> Chunk {
        Chunk { seq, first_line: 1 + 2 * seq, body: ChunkBody::Lines(lines.as_bytes().to_vec()) }
    }

    #[test]
    fn a_worker_that_panics_stops_the_run_at_its_chunk_with_everything_before_it_written() {
        let (live, metrics) = (pass_through(), Arc::new(Metrics::new()));
        let (chunk_tx, chunk_rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        for (seq, lines) in ["{\"a\":1}\n{\"a\":2}\n", "{\"b\":1}\n{\"explode\":true}\n", "{\"c\":1}\n{\"c\":2}\n"]
            .into_iter()
            .enumerate()
        {
            chunk_tx.send(chunk(seq as u64, lines)).unwrap();
        }
        drop(chunk_tx);
        let mut output = Exploding::default();
        let mut totals = Counts::default();
        let written = std::thread::scope(|scope| {
            // Two workers: the other one goes on to the third chunk, which must not be
            // written either (it comes after the chunk that failed).
            for _ in 0..2 {
                let (rx, tx, live, metrics) = (chunk_rx.clone(), done_tx.clone(), live.clone(), metrics.clone());
                scope.spawn(move || work::<Exploding>(&live, &metrics, None, rx, tx));
            }
            drop(done_tx);
            write_in_order(&done_rx, &mut output, &mut totals, &metrics, None)
        });
        let error = written.expect_err("the panic stops the run").to_string();
        assert!(error.contains("from input line 3 (exploded on purpose)"), "{error}");
        assert!(error.contains("run the input again from line 3"), "{error}");
        assert_eq!(output.written, [2], "only the chunk before the one that failed is written");
        assert_eq!(totals.delivered, 2);
    }
}
