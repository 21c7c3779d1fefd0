//! Writing events out: delivered events (NDJSON, with the `firehose_metadata` member
//! the host adds) and dead letters.

pub mod batches;
mod dead_letter;
mod stamp;

pub use dead_letter::{Letter, add_raw, batch_letters, dead_letter, dead_letter_with, parse_dead_letter};
pub use stamp::Stamp;

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
