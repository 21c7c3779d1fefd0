//! `firehose run`: events in, processed events and dead letters out.
//!
//! A reader thread cuts the input into chunks of `batch.max_events` records; one
//! worker per core validates a chunk, runs it through the pipeline and encodes the
//! results; the writer puts the results back in input order. Every record ends up
//! in the output, counted as dropped, or in the dead-letter file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};
use firehose::emit::{self, Stamp};
use firehose::engine::Engine;
use firehose::intake::{self, Intake};
use firehose::{Counts, Pipeline};

/// Arguments of `firehose run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(long, short, value_name = "FILE")]
    pipeline: PathBuf,
    /// Events to read: NDJSON or a JSON array; `-` for standard input.
    #[arg(long, short, value_name = "FILE", default_value = "-")]
    input: PathBuf,
    /// Where to write processed events as NDJSON; `-` for standard output.
    #[arg(long, short, value_name = "FILE", default_value = "-")]
    output: PathBuf,
    /// Where to write records that could not be processed, one JSON line each.
    #[arg(long, value_name = "FILE", default_value = "firehose-dead-letters.ndjson")]
    dead_letter: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Records per batch (default: the pipeline's `batch.max_events`).
    #[arg(long)]
    batch_size: Option<usize>,
}

enum ChunkBody {
    /// NDJSON text, whole lines.
    Lines(Vec<u8>),
    /// Records already split (from a JSON array).
    Split(Intake),
}

struct Chunk {
    seq: u64,
    first_line: u64,
    body: ChunkBody,
}

struct Done {
    seq: u64,
    output: Vec<u8>,
    dead_letters: Vec<u8>,
    counts: Counts,
}

/// Runs the command.
pub fn run(engine: Arc<Engine>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    pipeline.prepare(workers)?;
    let batch_size = args.batch_size.unwrap_or(pipeline.config.batch.max_events).max(1);
    let input: Box<dyn Read + Send> = if args.input == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.input).with_context(|| format!("opening input {}", args.input.display()))?)
    };
    let mut output: Box<dyn Write> = if args.output == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&args.output)
                .with_context(|| format!("creating output {}", args.output.display()))?,
        )
    };
    let mut dead_letter_file: Option<std::fs::File> = None;

    let started = Instant::now();
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(workers * 2);
    let stamp = Stamp::for_version(&pipeline.id, pipeline.config.metadata.rules_version);
    let mut totals = Counts::default();
    let bytes_in = std::thread::scope(|scope| -> anyhow::Result<u64> {
        let reader = scope.spawn(move || read_chunks(input, batch_size, chunk_tx));
        for _ in 0..workers {
            let (rx, tx, pipeline, stamp) = (chunk_rx.clone(), done_tx.clone(), pipeline.clone(), stamp.clone());
            scope.spawn(move || work(&pipeline, &stamp, rx, tx));
        }
        drop((chunk_rx, done_tx));
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for done in done_rx.iter() {
            pending.insert(done.seq, done);
            while let Some(done) = pending.remove(&next) {
                next += 1;
                totals += done.counts;
                output.write_all(&done.output).context("writing output")?;
                if !done.dead_letters.is_empty() {
                    if dead_letter_file.is_none() {
                        let file = std::fs::File::create(&args.dead_letter)
                            .with_context(|| format!("creating dead-letter file {}", args.dead_letter.display()))?;
                        dead_letter_file = Some(file);
                    }
                    let file = dead_letter_file.as_mut().expect("just created");
                    file.write_all(&done.dead_letters).context("writing dead letters")?;
                }
            }
        }
        output.flush().context("writing output")?;
        reader.join().expect("reader thread panicked").with_context(|| format!("reading {}", args.input.display()))
    })?;
    if let Some(file) = &dead_letter_file {
        file.sync_all().context("writing dead letters")?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    assert!(totals.balanced(), "every event must be accounted for: {totals:?}");
    eprintln!(
        "firehose: {} in, {} out, {} dropped by rules, {} dead-lettered{} | {:.2} s, {:.0} events/s, {:.1} MB/s | rules version {}",
        totals.events_in,
        totals.delivered,
        totals.dropped,
        totals.dead_lettered,
        if totals.dead_lettered > 0 { format!(" (to {})", args.dead_letter.display()) } else { String::new() },
        elapsed,
        totals.events_in as f64 / elapsed,
        bytes_in as f64 / elapsed / 1e6,
        pipeline.id,
    );
    Ok(ExitCode::SUCCESS)
}

/// Cuts the input into chunks; returns the number of bytes read.
fn read_chunks(input: Box<dyn Read + Send>, batch_size: usize, chunks: Sender<Chunk>) -> std::io::Result<u64> {
    const MAX_CHUNK_BYTES: usize = 16 << 20;
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut bytes = 0u64;
    // A JSON array is read whole; NDJSON is streamed line by line.
    let is_array = loop {
        let buffer = reader.fill_buf()?;
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(p) => break buffer[p] == b'[',
            None if buffer.is_empty() => return Ok(0),
            None => {
                let n = buffer.len();
                bytes += n as u64;
                reader.consume(n);
            }
        }
    };
    if is_array {
        let mut text = Vec::new();
        bytes += reader.read_to_end(&mut text)? as u64;
        let mut all = Intake::default();
        intake::json_array(&text, &mut all);
        for (seq, chunk) in split_intake(all, batch_size).into_iter().enumerate() {
            let first_line = chunk.lines.first().copied().unwrap_or(1);
            if chunks.send(Chunk { seq: seq as u64, first_line, body: ChunkBody::Split(chunk) }).is_err() {
                break;
            }
        }
        return Ok(bytes);
    }
    let mut seq = 0;
    let mut line_no = 1u64;
    loop {
        let mut text = Vec::with_capacity(batch_size * 1024);
        let first_line = line_no;
        let mut lines = 0;
        while lines < batch_size && text.len() < MAX_CHUNK_BYTES {
            let n = reader.read_until(b'\n', &mut text)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines += 1;
        }
        if lines == 0 {
            return Ok(bytes);
        }
        if text.last() == Some(&b'\n') {
            text.pop();
        }
        line_no += lines as u64;
        if chunks.send(Chunk { seq, first_line, body: ChunkBody::Lines(text) }).is_err() {
            return Ok(bytes);
        }
        seq += 1;
    }
}

fn split_intake(all: Intake, batch_size: usize) -> Vec<Intake> {
    // Keep malformed records with the chunk whose lines surround them.
    let mut chunks: Vec<Intake> = Vec::new();
    let mut malformed = all.malformed.into_iter().peekable();
    for start in (0..all.events.len().max(1)).step_by(batch_size) {
        let end = (start + batch_size).min(all.events.len());
        let mut chunk = Intake::default();
        chunk.events = all.events.slice(start..end);
        chunk.lines = all.lines[start..end].to_vec();
        let last_line = if end < all.events.len() { all.lines[end] } else { u64::MAX };
        while malformed.peek().is_some_and(|m| m.line < last_line) {
            chunk.malformed.push(malformed.next().expect("peeked"));
        }
        chunks.push(chunk);
    }
    chunks
}

/// Validates, runs and encodes chunks until the input ends.
fn work(pipeline: &Arc<Pipeline>, stamp: &Stamp, chunks: Receiver<Chunk>, done: Sender<Done>) {
    let mut runner = pipeline.runner();
    for chunk in chunks.iter() {
        let intake = match chunk.body {
            ChunkBody::Split(intake) => intake,
            ChunkBody::Lines(text) => {
                let mut intake = Intake::default();
                intake::ndjson(&text, chunk.first_line, &mut intake);
                intake
            }
        };
        let outcome = runner.run(&intake.events);
        let mut output = Vec::new();
        emit::ndjson(&outcome.delivered, stamp, &mut output);
        let mut dead_letters = Vec::new();
        for m in &intake.malformed {
            emit::dead_letter(m.line, None, &m.reason, &m.raw, &mut dead_letters);
        }
        for d in &outcome.dead_letters {
            let i = d.index as usize;
            emit::dead_letter(intake.lines[i], Some(&d.stage), &d.reason, intake.events.get(i), &mut dead_letters);
        }
        let mut counts = outcome.counts();
        counts.events_in += intake.malformed.len() as u64;
        counts.dead_lettered += intake.malformed.len() as u64;
        if done.send(Done { seq: chunk.seq, output, dead_letters, counts }).is_err() {
            return;
        }
    }
}
