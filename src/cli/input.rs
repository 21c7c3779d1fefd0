//! Reading `firehose run`'s input and cutting it into chunks of records.
//!
//! A pump thread reads raw blocks (so a blocking read of a slow stdin never holds up
//! what was already read); the chunker cuts them into chunks of whole lines when a
//! chunk is full, when the oldest line not yet sent has waited [`LINGER`] (like
//! Kafka's `linger.ms`: full batches while input flows fast, bounded latency when it
//! trickles), when the input ends, or when the user asks to stop. Input that starts
//! with `[` is one JSON array, read whole (up to the first end of a followed file) and
//! split by elements.

use std::io::{Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use firehose::intake::{self, Intake};

/// Longest a line waits for its chunk to fill before the chunk goes out partial.
pub const LINGER: Duration = Duration::from_millis(200);

/// Largest chunk of NDJSON text, whatever the batch size.
const MAX_CHUNK_BYTES: usize = 16 << 20;

/// What a chunk holds.
pub enum ChunkBody {
    /// NDJSON text, whole lines.
    Lines(Vec<u8>),
    /// Records already split (from a JSON array).
    Split(Intake),
}

/// A run of consecutive input records, numbered in input order.
pub struct Chunk {
    /// Position of the chunk in the input.
    pub seq: u64,
    /// Line number of the chunk's first line.
    pub first_line: u64,
    /// The records.
    pub body: ChunkBody,
}

/// Where events come from.
pub enum Source {
    /// Standard input, read until it ends.
    Stdin,
    /// A file; with `follow`, read as it grows, from its start again when truncated.
    File { path: PathBuf, file: std::fs::File, follow: bool },
}

enum Block {
    Data(Vec<u8>),
    /// A followed file has no more data for now.
    Idle,
    /// A followed file was truncated and is read again from its start.
    Truncated,
    End,
}

/// What the input is, decided by its first non-blank byte.
enum Format {
    /// Only blank lines so far.
    Undecided,
    /// One record per line.
    Ndjson,
    /// One JSON array, gathered whole: its text so far.
    Array(Vec<u8>),
}

/// Reads `source` and sends its chunks; returns the number of bytes read.
pub fn read_chunks(
    source: Source,
    batch_size: usize,
    stop: Arc<AtomicBool>,
    chunks: Sender<Chunk>,
) -> std::io::Result<u64> {
    let (blocks_tx, blocks) = crossbeam_channel::bounded::<std::io::Result<Block>>(4);
    // Not joined: it may sit in a read of a stdin that never ends, which must not keep
    // the run from finishing on a stop.
    std::thread::spawn({
        let stop = stop.clone();
        move || pump(source, &stop, blocks_tx)
    });
    let mut chunker = Chunker { batch_size, chunks, seq: 0, line_no: 1, pending: Vec::new(), scanned: 0, lines: 0 };
    let mut bytes = 0u64;
    let mut format = Format::Undecided;
    // When the oldest text not yet sent arrived.
    let mut oldest: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        // On a stop, take what the pump has read already, without waiting for more.
        let block = if stopping {
            blocks.try_recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            blocks.recv_timeout(oldest.map_or(LINGER, |t| LINGER.saturating_sub(t.elapsed())))
        };
        let idle = matches!(block, Ok(Ok(Block::Idle)));
        let ended = match block {
            Ok(Ok(Block::Data(data))) => {
                bytes += data.len() as u64;
                if let Format::Undecided = format {
                    match data.iter().find(|b| !b.is_ascii_whitespace()) {
                        // Blank lines read so far start the array's text.
                        Some(b'[') => format = Format::Array(std::mem::take(&mut chunker.pending)),
                        Some(_) => format = Format::Ndjson,
                        None => {}
                    }
                }
                if let Format::Array(text) = &mut format {
                    text.extend_from_slice(&data);
                    continue;
                }
                chunker.pending.extend_from_slice(&data);
                oldest = oldest.or_else(|| Some(Instant::now()));
                if !chunker.cut_full()? {
                    return Ok(bytes);
                }
                if chunker.pending.is_empty() {
                    oldest = None;
                }
                false
            }
            Ok(Ok(Block::End)) | Err(RecvTimeoutError::Disconnected) => true,
            // A followed JSON array is complete at the end of its file: it is read once.
            Ok(Ok(Block::Idle)) if matches!(format, Format::Array(_)) => {
                log::warn!("the input is one JSON array: it is read once; --watch follows NDJSON files only");
                true
            }
            Ok(Ok(Block::Idle)) => false,
            Ok(Ok(Block::Truncated)) => {
                // What was read before belongs to the old content: it goes now (an
                // unfinished line as it is, to be dead-lettered), and lines count anew.
                if matches!(format, Format::Array(_)) {
                    false
                } else {
                    if !chunker.cut_rest(true)? {
                        return Ok(bytes);
                    }
                    chunker.line_no = 1;
                    oldest = None;
                    false
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => false,
        };
        if let Format::Array(text) = &format {
            if ended {
                chunker.send_array(text, stopping && !idle);
                return Ok(bytes);
            }
            continue;
        }
        // Its end, a stop, or lines that waited long enough: what has been read goes
        // now. A line without its newline waits for the rest, unless nothing more will come.
        if !(ended || oldest.is_some_and(|t| t.elapsed() >= LINGER)) {
            continue;
        }
        if !chunker.cut_rest(ended)? || ended {
            return Ok(bytes);
        }
        oldest = (!chunker.pending.is_empty()).then(Instant::now);
    }
}

/// Reads `source` in blocks until it ends (or, following a file, until a stop).
fn pump(source: Source, stop: &AtomicBool, blocks: Sender<std::io::Result<Block>>) {
    let result = match source {
        Source::Stdin => pump_from(std::io::stdin().lock(), stop, &blocks, |_| Ok(AtEnd::Stop)),
        Source::File { path, file, follow } => {
            let at_end = |file: &mut std::fs::File| -> std::io::Result<AtEnd> {
                if !follow || stop.load(Ordering::SeqCst) {
                    return Ok(AtEnd::Stop);
                }
                let position = file.stream_position()?;
                if file.metadata()?.len() < position {
                    log::warn!("{} was truncated; reading it again from its start", path.display());
                    file.rewind()?;
                    return Ok(AtEnd::Truncated);
                }
                std::thread::sleep(Duration::from_millis(20));
                Ok(AtEnd::Wait)
            };
            pump_from(file, stop, &blocks, at_end)
        }
    };
    let _ = blocks.send(result.map(|()| Block::End));
}

/// What to do at the end of the data read so far.
enum AtEnd {
    /// The input has ended.
    Stop,
    /// A followed file: try again.
    Wait,
    /// A followed file was truncated and rewound: read it again.
    Truncated,
}

/// Sends the blocks of `reader` until a stop; at its end `more` says what next. A
/// followed file's first end after new data is announced ([`Block::Idle`]).
fn pump_from<R: Read>(
    mut reader: R,
    stop: &AtomicBool,
    blocks: &Sender<std::io::Result<Block>>,
    mut more: impl FnMut(&mut R) -> std::io::Result<AtEnd>,
) -> std::io::Result<()> {
    let mut fresh = true;
    while !stop.load(Ordering::SeqCst) {
        let mut block = vec![0; 1 << 20];
        let n = match reader.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            let marker = match more(&mut reader)? {
                AtEnd::Stop => return Ok(()),
                AtEnd::Wait if fresh => Block::Idle,
                AtEnd::Wait => continue,
                AtEnd::Truncated => Block::Truncated,
            };
            fresh = false;
            if blocks.send(Ok(marker)).is_err() {
                return Ok(());
            }
            continue;
        }
        fresh = true;
        block.truncate(n);
        if blocks.send(Ok(Block::Data(block))).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Text read but not yet sent, and how to cut it.
struct Chunker {
    batch_size: usize,
    chunks: Sender<Chunk>,
    seq: u64,
    /// Line number of the first line of `pending`.
    line_no: u64,
    pending: Vec<u8>,
    /// How far `pending` has been searched for newlines, and how many were found.
    scanned: usize,
    lines: usize,
}

impl Chunker {
    /// Sends every full chunk in `pending`. False when nobody takes chunks any more.
    fn cut_full(&mut self) -> std::io::Result<bool> {
        loop {
            let mut cut = None;
            for p in memchr::memchr_iter(b'\n', &self.pending[self.scanned..]) {
                self.lines += 1;
                let end = self.scanned + p + 1;
                if self.lines == self.batch_size || end >= MAX_CHUNK_BYTES {
                    cut = Some(end);
                    break;
                }
            }
            match cut {
                Some(end) => {
                    if !self.send(end, self.lines) {
                        return Ok(false);
                    }
                }
                None => {
                    self.scanned = self.pending.len();
                    return Ok(true);
                }
            }
        }
    }

    /// Sends what is left: whole lines, and with `all` the unfinished last line too.
    fn cut_rest(&mut self, all: bool) -> std::io::Result<bool> {
        let _ = self.cut_full()?;
        let end =
            if all { self.pending.len() } else { self.pending.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) };
        if end == 0 {
            return Ok(true);
        }
        let unfinished = usize::from(self.pending[..end].last() != Some(&b'\n'));
        Ok(self.send(end, self.lines + unfinished))
    }

    /// Sends `pending[..end]`, holding `lines` lines, as the next chunk.
    fn send(&mut self, end: usize, lines: usize) -> bool {
        let rest = self.pending.split_off(end);
        let mut text = std::mem::replace(&mut self.pending, rest);
        if text.last() == Some(&b'\n') {
            text.pop();
        }
        let chunk = Chunk { seq: self.seq, first_line: self.line_no, body: ChunkBody::Lines(text) };
        self.seq += 1;
        self.line_no += lines as u64;
        self.scanned = 0;
        self.lines = 0;
        self.chunks.send(chunk).is_ok()
    }

    /// Splits a whole JSON array into chunks and sends them.
    fn send_array(&mut self, text: &[u8], stopped: bool) {
        if stopped {
            log::warn!("stopped while reading a JSON array: the elements read so far are checked as a whole");
        }
        let mut all = Intake::default();
        intake::json_array(text, &mut all);
        for chunk in split_intake(all, self.batch_size) {
            let first_line = chunk.lines.first().copied().unwrap_or(1);
            let chunk = Chunk { seq: self.seq, first_line, body: ChunkBody::Split(chunk) };
            self.seq += 1;
            if self.chunks.send(chunk).is_err() {
                return;
            }
        }
    }
}

/// Splits a whole array's intake into chunks of `batch_size` events.
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
