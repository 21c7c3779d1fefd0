//! `firehose run`: events in, processed events and dead letters out.
//!
//! A reader thread cuts the input into chunks of `batch.max_events` records; one
//! worker per core validates a chunk, runs it through the pipeline and encodes the
//! results; the writer puts the results back in input order. Every record ends up
//! in the output, counted as dropped, or in the dead-letter file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};
use firehose::Events;
use firehose::config::{Compression, Framing};
use firehose::emit::batches::{BatchWriter, Placed};
use firehose::emit::{self, Stamp};
use firehose::engine::Engine;
use firehose::intake::{self, Intake};

use super::input::{Chunk, ChunkBody, Source, read_chunks};
use firehose::reload::{Live, Reloader, WatchOptions, Watcher};
use firehose::{Counts, Pipeline};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// at the start of each run).
    #[arg(long, value_name = "FILE", default_value = "firehose-dead-letters.ndjson")]
    dead_letter: PathBuf,
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
    /// With --output-dir: framing of the objects [default: the pipeline's output.framing].
    #[arg(long, value_enum)]
    framing: Option<Framing>,
    /// With --output-dir: compression of the objects [default: the pipeline's output.compression].
    #[arg(long, value_enum)]
    compression: Option<Compression>,
}

struct Done {
    seq: u64,
    output: Output,
    counts: Counts,
}

/// What a worker hands the writer for one chunk.
enum Output {
    /// NDJSON lines for --output, and dead-letter lines.
    Ndjson { events: Vec<u8>, dead_letters: Vec<u8> },
    /// Events for --output-dir batches (with the rules version to stamp, unless the
    /// pipeline turned that off), and dead letters with their error type.
    Batches { delivered: Events, version: Option<Arc<str>>, errors: Vec<(&'static str, Vec<u8>)> },
}

/// Runs the command.
pub fn run(engine: Arc<Engine>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    pipeline.prepare(workers)?;
    let batch_size = args.batch_size.unwrap_or(pipeline.config.batch.max_events).max(1);
    let source = if args.input == Path::new("-") {
        Source::Stdin
    } else {
        let file =
            std::fs::File::open(&args.input).with_context(|| format!("opening input {}", args.input.display()))?;
        Source::File { path: args.input.clone(), file, follow: args.watch }
    };
    // --output-dir or an explicit --output (never both: clap refuses that) wins over the
    // pipeline's output.dir.
    let output_dir = match (&args.output_dir, &args.output) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(_)) => None,
        (None, None) => pipeline.config.output.dir.clone(),
    };
    let mut batches = match output_dir {
        Some(dir) => {
            let mut config = pipeline.config.output.clone();
            config.framing = args.framing.unwrap_or(config.framing);
            config.compression = args.compression.unwrap_or(config.compression);
            Some((BatchWriter::new(&dir, config)?, dir))
        }
        None => None,
    };
    let to_batches = batches.is_some();
    let output_path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    let mut output: Box<dyn Write> = if to_batches || output_path == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&output_path)
                .with_context(|| format!("creating output {}", output_path.display()))?,
        )
    };
    let mut dead_letter_file: Option<std::fs::File> = None;
    // The dead-letter file tells of this run only: one left by an earlier run is
    // emptied (truncated, not removed: it may be a device such as /dev/null).
    if !to_batches && std::fs::metadata(&args.dead_letter).is_ok_and(|m| m.is_file()) {
        std::fs::File::create(&args.dead_letter)
            .with_context(|| format!("emptying the old dead-letter file {}", args.dead_letter.display()))?;
    }

    let live = Live::new(pipeline);
    let watcher = if args.watch {
        let reloader = Reloader::new(engine.clone(), args.pipeline.clone(), live.clone(), workers);
        let options = WatchOptions { poll: args.poll, ..WatchOptions::default() };
        Some(Watcher::start(reloader, options).context("starting the file watcher")?)
    } else {
        None
    };
    log::info!("rules version {} is live (from {})", live.current().id, args.pipeline.display());
    let stop = Arc::new(AtomicBool::new(false));
    let signals = Signals::new([SIGHUP, SIGINT, SIGTERM]).context("installing signal handlers")?;
    let signal_handle = signals.handle();

    let started = Instant::now();
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(workers * 2);
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
            let (rx, tx, live) = (chunk_rx.clone(), done_tx.clone(), live.clone());
            scope.spawn(move || work(&live, to_batches, rx, tx));
        }
        drop((chunk_rx, done_tx));
        let written = match batches.as_mut() {
            Some((writer, _)) => write_batches(&done_rx, writer, &mut totals),
            None => write_in_order(&done_rx, &mut output, &mut dead_letter_file, &args.dead_letter, &mut totals),
        };
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
    if let Some(file) = &dead_letter_file {
        file.sync_all().context("writing dead letters")?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    assert!(totals.balanced(), "every event must be accounted for: {totals:?}");
    let swaps = live.counts();
    let (dead_letters_to, written) = match &batches {
        Some((writer, dir)) => {
            let stats = writer.stats();
            (
                format!("{} under {}", writer.error_prefix(), dir.display()),
                format!(" | {} objects, {:.1} MB under {}", stats.batches, stats.bytes as f64 / 1e6, dir.display()),
            )
        }
        None => (args.dead_letter.display().to_string(), String::new()),
    };
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

/// Writes results in input order as they complete; returns when every worker is done.
fn write_in_order(
    done: &Receiver<Done>,
    output: &mut Box<dyn Write>,
    dead_letter_file: &mut Option<std::fs::File>,
    dead_letter_path: &Path,
    totals: &mut Counts,
) -> anyhow::Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0;
    for result in done.iter() {
        pending.insert(result.seq, result);
        while let Some(result) = pending.remove(&next) {
            next += 1;
            *totals += result.counts;
            let Output::Ndjson { events, dead_letters } = result.output else {
                unreachable!("workers encode NDJSON when there is no --output-dir");
            };
            output.write_all(&events).context("writing output")?;
            if !dead_letters.is_empty() {
                if dead_letter_file.is_none() {
                    let file = std::fs::File::create(dead_letter_path)
                        .with_context(|| format!("creating dead-letter file {}", dead_letter_path.display()))?;
                    *dead_letter_file = Some(file);
                }
                let file = dead_letter_file.as_mut().expect("just created");
                file.write_all(&dead_letters).context("writing dead letters")?;
            }
            if pending.is_empty() {
                // Following a live input: let readers downstream see each batch.
                output.flush().context("writing output")?;
            }
        }
    }
    output.flush().context("writing output")
}

/// Feeds results, in input order, to the batch writer; cuts batches by time while
/// waiting, shows progress on a terminal, and writes every open batch at the end.
fn write_batches(done: &Receiver<Done>, writer: &mut BatchWriter, totals: &mut Counts) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut pending = BTreeMap::new();
    let mut next = 0;
    loop {
        match done.recv_timeout(std::time::Duration::from_millis(250)) {
            Ok(result) => {
                pending.insert(result.seq, result);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        while let Some(result) = pending.remove(&next) {
            next += 1;
            *totals += result.counts;
            let Output::Batches { delivered, version, errors } = result.output else {
                unreachable!("workers hand over events with --output-dir");
            };
            for i in 0..delivered.len() {
                let placed = writer.add(&delivered.event(i), version.as_ref()).context("writing batches")?;
                if placed == Placed::ErrorPrefix {
                    // No partition for it: it went to the error prefix with the reason.
                    totals.delivered -= 1;
                    totals.dead_lettered += 1;
                }
            }
            for (error_type, record) in errors {
                writer.add_error(error_type, &record).context("writing batches")?;
            }
        }
        writer.tick().context("writing batches")?;
        if progress && last_progress.elapsed().as_secs() >= 1 {
            last_progress = Instant::now();
            let stats = writer.stats();
            eprint!(
                "\rfirehose: {} events, {:.1} MB, {} objects, {:.0} events/s   ",
                totals.events_in,
                stats.bytes as f64 / 1e6,
                stats.batches,
                totals.events_in as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    writer.finish().context("writing batches")?;
    if progress {
        eprintln!();
    }
    Ok(())
}

/// Validates, runs and encodes chunks until the input ends, taking up a new rules
/// version between batches when one is published.
fn work(live: &Live, to_batches: bool, chunks: Receiver<Chunk>, done: Sender<Done>) {
    let mut runner = live.current().runner();
    let mut stamp = stamp_for(runner.pipeline());
    for chunk in chunks.iter() {
        if !live.is_current(runner.pipeline()) {
            runner = live.current().runner();
            stamp = stamp_for(runner.pipeline());
        }
        let intake = match chunk.body {
            ChunkBody::Split(intake) => intake,
            ChunkBody::Lines(text) => {
                let mut intake = Intake::default();
                intake::ndjson(&text, chunk.first_line, &mut intake);
                intake
            }
        };
        let outcome = runner.run(&intake.events);
        let mut counts = outcome.counts();
        counts.add_unreadable(intake.malformed.len());
        let letters: Vec<(&'static str, Vec<u8>)> = emit::batch_letters(&intake, &outcome)
            .map(|letter| {
                let mut line = Vec::new();
                letter.write(&mut line);
                (if letter.stage.is_some() { "rejected" } else { "malformed" }, line)
            })
            .collect();
        let output = if to_batches {
            let version = runner.pipeline().config.metadata.rules_version.then_some(outcome.version);
            Output::Batches { delivered: outcome.delivered, version, errors: letters }
        } else {
            let mut events = Vec::new();
            emit::ndjson(&outcome.delivered, &stamp, &mut events);
            Output::Ndjson { events, dead_letters: letters.into_iter().flat_map(|(_, line)| line).collect() }
        };
        if done.send(Done { seq: chunk.seq, output, counts }).is_err() {
            return;
        }
    }
}

fn stamp_for(pipeline: &Arc<Pipeline>) -> Stamp {
    Stamp::for_version(&pipeline.id, pipeline.config.metadata.rules_version)
}
