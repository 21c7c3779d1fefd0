//! Writing events out: delivered events (NDJSON, with the `firehose_metadata` member
//! the host adds), dead letters, and batches on disk.

pub mod batches;
mod dead_letter;
pub mod location;
mod stamp;

use std::convert::Infallible;

pub use dead_letter::{Letter, add_raw, batch_letters, dead_letter, dead_letter_with, parse_dead_letter, raw_of};
pub use stamp::{Field, Place, Stamp};

use crate::pass::{Delivered, Placed, Sink};
use crate::pipeline::Events;

/// Appends `events` to `out` as NDJSON (one event per line, each line ending in
/// `\n`), each stamped with `stamp`.
pub fn ndjson(events: &Events, stamp: &Stamp, out: &mut Vec<u8>) {
    out.reserve(events.byte_len() + events.len() * (stamp.len() + 2));
    for i in 0..events.len() {
        stamp.apply(&events.event(i), out);
        out.push(b'\n');
    }
}

/// A batch's results as text: delivered events as NDJSON lines (stamped by the version
/// that processed them), the input line of each, and dead-letter lines. What the CLI
/// writes, the sidecar forwards and the benchmark measures.
#[derive(Debug, Default)]
pub struct NdjsonSink {
    /// Delivered events, one per line, each line ending in `\n`.
    pub events: Vec<u8>,
    /// For each delivered event, its input line (or array element), from 1.
    pub lines: Vec<u64>,
    /// Dead-letter lines (see [`dead_letter`]).
    pub dead_letters: Vec<u8>,
}

impl NdjsonSink {
    /// Empties the sink, keeping its buffers.
    pub fn clear(&mut self) {
        self.events.clear();
        self.lines.clear();
        self.dead_letters.clear();
    }
}

impl Sink for NdjsonSink {
    type Error = Infallible;

    fn deliver(&mut self, delivered: Delivered<'_>) -> Result<Placed, Infallible> {
        delivered.version.stamp().apply(&delivered.event, &mut self.events);
        self.events.push(b'\n');
        self.lines.push(delivered.line);
        Ok(Placed::Delivered)
    }

    fn dead_letter(&mut self, letter: Letter<'_>) -> Result<(), Infallible> {
        letter.write(&mut self.dead_letters);
        Ok(())
    }
}
