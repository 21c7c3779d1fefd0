//! Storing sealed batches off the thread that fills them: worker threads stamp each
//! event with its `firehose_metadata`, frame and compress the batch, and write it to a
//! hidden temporary file, synced. Objects are then published (renamed to their final
//! name, directory synced) strictly in the order the batches were sealed, whichever
//! worker finishes first: after a crash the objects on disk are whole and hold the
//! run's sequence from 1 without a gap.
//!
//! The queue to the workers is bounded (one waiting batch per worker), so a writer that
//! falls behind slows the pipeline down instead of holding more memory. The first
//! failure stops publication: nothing sealed after a batch that could not be written
//! reaches its final name, and the failure is reported to whoever fills the batches.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use chrono::{SecondsFormat, Utc};
use crossbeam_channel::{Receiver, Sender};

use super::METADATA;
use crate::config::{Compression, Framing};
use crate::emit::stamp::{Field, Stamp};
use crate::panics;
use crate::pipeline::Events;

/// A batch closed by the writer, with everything decided that must be decided in input
/// order: its id and its first sequence number. Objects are published in the order
/// their batches are submitted.
pub(super) struct Sealed {
    /// The partition's directory.
    pub dir: PathBuf,
    /// The object's file name.
    pub name: String,
    /// `firehose_metadata.batch_id`.
    pub id: String,
    /// `firehose_metadata.sequence` of the first event; the others follow it.
    pub first_sequence: u64,
    /// The events, in the order they were added.
    pub events: Events,
    /// The rules version of each event, if it is stamped.
    pub versions: Vec<Option<Arc<str>>>,
}

impl Sealed {
    fn failure(&self, source: std::io::Error) -> WriteError {
        WriteError::Object {
            object: self.dir.join(&self.name),
            events: self.events.len(),
            first: self.first_sequence,
            source,
        }
    }

    fn panicked(&self, message: String) -> WriteError {
        WriteError::WriterPanicked {
            object: self.dir.join(&self.name),
            events: self.events.len(),
            first: self.first_sequence,
            message,
        }
    }
}

/// Why batches could not be written. The run must stop: the batch named and every
/// batch sealed after it are not on disk.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An object could not be written or renamed to its final name.
    #[error(
        "batch {object} ({events} events from sequence {first}) could not be written; no later batch is written: fix the cause and run the input again"
    )]
    Object {
        /// The object's final path.
        object: PathBuf,
        /// Events in the batch.
        events: usize,
        /// `firehose_metadata.sequence` of its first event.
        first: u64,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Writing an object panicked: a bug in Firehose. The worker reports it as this
    /// batch's failure (publication stops here) instead of dying with it.
    #[error(
        "batch {object} ({events} events from sequence {first}) could not be written: the batch writer panicked ({message}); no later batch is written. This is a bug in Firehose: please report it with this message, then run the input again"
    )]
    WriterPanicked {
        /// The object's final path.
        object: PathBuf,
        /// Events in the batch.
        events: usize,
        /// `firehose_metadata.sequence` of its first event.
        first: u64,
        /// The panic's message.
        message: String,
    },
    /// A worker thread died; the batches it held are not on disk.
    #[error("a batch writer thread panicked; batches it held are not on disk: run the input again")]
    Panicked,
    /// A failure already reported: nothing more is written.
    #[error("an earlier batch could not be written (reported before); no later batch is written")]
    Stopped,
    /// Events added after [`BatchWriter::finish`](super::BatchWriter::finish).
    #[error("the batch writer has finished: nothing more is written")]
    Finished,
}

/// How the objects are laid out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Format {
    /// NDJSON or a JSON array.
    pub framing: Framing,
    /// The compression.
    pub compression: Compression,
    /// gzip's level (1–9), zlib's default when unset.
    pub level: Option<u32>,
}

/// What has been published so far.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Published {
    /// Events in published objects.
    pub events: u64,
    /// Bytes of published objects.
    pub bytes: u64,
    /// Objects published.
    pub objects: u64,
}

/// The worker threads and the order of publication.
pub(super) struct Store {
    sender: Option<Sender<(u64, Sealed)>>,
    /// Batches submitted so far: the next one's place in the order of publication.
    submitted: u64,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Store {
    /// Starts `threads` workers (at least one) writing in `format`.
    pub fn start(threads: usize, format: Format) -> Store {
        let threads = threads.max(1);
        let (sender, receiver) = crossbeam_channel::bounded::<(u64, Sealed)>(threads);
        let shared = Arc::new(Shared { failed: AtomicBool::new(false), order: Mutex::new(Order::default()) });
        let threads = (0..threads)
            .map(|i| {
                let (receiver, shared) = (receiver.clone(), shared.clone());
                std::thread::Builder::new()
                    .name(format!("batch-writer-{i}"))
                    .spawn(move || work(format, &receiver, &shared))
                    .expect("starting a batch writer thread")
            })
            .collect();
        Store { sender: Some(sender), submitted: 0, threads, shared }
    }

    /// Queues `sealed` for writing; waits while every worker is busy and as many
    /// batches wait already. Fails if an earlier batch could not be written.
    pub fn submit(&mut self, sealed: Sealed) -> Result<(), WriteError> {
        self.check()?;
        let Some(sender) = &self.sender else { return Err(WriteError::Finished) };
        // The workers only stop when the sender is dropped or they all panicked.
        sender.send((self.submitted, sealed)).map_err(|_| WriteError::Panicked)?;
        self.submitted += 1;
        Ok(())
    }

    /// Fails if a batch could not be written since the last check.
    pub fn check(&self) -> Result<(), WriteError> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(self.shared.order().error.take().unwrap_or(WriteError::Stopped))
    }

    /// What has been published so far.
    pub fn published(&self) -> Published {
        self.shared.order().published
    }

    /// Waits until every queued batch is written and published (or refused after a
    /// failure); reports the failure, if any.
    pub fn close(&mut self) -> Result<(), WriteError> {
        self.sender = None;
        let mut panicked = false;
        for thread in self.threads.drain(..) {
            panicked |= thread.join().is_err();
        }
        self.check()?;
        if panicked { Err(WriteError::Panicked) } else { Ok(()) }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Batches already queued are still written whole; a failure here has no one left
        // to report to (the run already failed for another reason).
        let _ = self.close();
    }
}

/// What workers share: the order of publication and the first failure.
struct Shared {
    failed: AtomicBool,
    order: Mutex<Order>,
}

#[derive(Default)]
struct Order {
    /// The ticket to publish next.
    next: u64,
    /// Batches done out of turn, waiting for the ones sealed before them.
    waiting: BTreeMap<u64, Done>,
    published: Published,
    /// The first failure, until reported.
    error: Option<WriteError>,
}

/// What a worker made of a sealed batch.
enum Done {
    /// Written whole under a temporary name.
    Written(Written),
    /// Could not be written.
    Failed(WriteError),
    /// Not written: an earlier batch failed.
    Skipped,
}

struct Written {
    temporary: PathBuf,
    object: PathBuf,
    events: usize,
    first: u64,
    bytes: u64,
}

impl Shared {
    fn order(&self) -> MutexGuard<'_, Order> {
        // A worker that panicked holding the lock left the order consistent: each step
        // under the lock is one insert or one publication.
        self.order.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records what became of batch `ticket` and publishes every batch whose turn has come.
    fn done(&self, ticket: u64, done: Done) {
        let mut order = self.order();
        order.waiting.insert(ticket, done);
        loop {
            let next = order.next;
            let Some(done) = order.waiting.remove(&next) else { break };
            order.next += 1;
            let failed = self.failed.load(Ordering::Acquire);
            match done {
                Done::Written(written) if !failed => match publish(&written) {
                    Ok(()) => {
                        order.published.events += written.events as u64;
                        order.published.bytes += written.bytes;
                        order.published.objects += 1;
                    }
                    Err(source) => {
                        let _ = std::fs::remove_file(&written.temporary);
                        let error = WriteError::Object {
                            object: written.object,
                            events: written.events,
                            first: written.first,
                            source,
                        };
                        self.fail(&mut order, error);
                    }
                },
                Done::Written(written) => {
                    let _ = std::fs::remove_file(&written.temporary);
                }
                Done::Failed(error) if !failed => self.fail(&mut order, error),
                Done::Failed(_) | Done::Skipped => {}
            }
        }
    }

    fn fail(&self, order: &mut Order, error: WriteError) {
        order.error = Some(error);
        self.failed.store(true, Ordering::Release);
    }
}

/// A worker: writes sealed batches until the writer hangs up. A panic while writing one
/// is that batch's failure: every ticket gets its `done`, so the batches after it are
/// not left waiting for a turn that never comes (publication would stall, unreported,
/// until the run ended).
fn work(format: Format, receiver: &Receiver<(u64, Sealed)>, shared: &Shared) {
    let mut body = Vec::new();
    let mut stamp = Stamp::none();
    for (ticket, sealed) in receiver.iter() {
        let done = if shared.failed.load(Ordering::Acquire) {
            Done::Skipped
        } else {
            let written = panics::catch(|| {
                frame(&sealed, format.framing, &mut stamp, &mut body);
                compress(format.compression, format.level, &body).and_then(|data| write_temporary(&sealed, &data))
            });
            match written {
                Ok(Ok(written)) => Done::Written(written),
                Ok(Err(e)) => Done::Failed(sealed.failure(e)),
                Err(message) => {
                    // Half-updated scratch is not reused.
                    (body, stamp) = (Vec::new(), Stamp::none());
                    Done::Failed(sealed.panicked(message))
                }
            }
        };
        shared.done(ticket, done);
    }
}

/// The batch's body: each event stamped with its `firehose_metadata`, framed.
fn frame(sealed: &Sealed, framing: Framing, stamp: &mut Stamp, body: &mut Vec<u8>) {
    let delivered_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let events = &sealed.events;
    body.clear();
    body.reserve(events.byte_len() + events.len() * 160);
    if framing == Framing::JsonArray {
        body.push(b'[');
    }
    for i in 0..events.len() {
        let version = sealed.versions[i].as_deref();
        let fields = [
            ("rules_version", Field::Str(version.unwrap_or_default())),
            ("batch_id", Field::Str(&sealed.id)),
            ("sequence", Field::Uint(sealed.first_sequence + i as u64)),
            ("delivered_at", Field::Str(&delivered_at)),
        ];
        stamp.set_object(METADATA, if version.is_some() { &fields } else { &fields[1..] });
        if i > 0 && framing == Framing::JsonArray {
            body.push(b',');
        }
        stamp.apply(&events.event(i), body);
        if framing == Framing::Ndjson {
            body.push(b'\n');
        }
    }
    if framing == Framing::JsonArray {
        body.extend_from_slice(b"]\n");
    }
}

/// Compresses `data` in a format the standard tools read (`none`: `data` itself, not a
/// copy); `level` is gzip's (1–9, zlib's default when `None`; the other formats have none).
pub fn compress(compression: Compression, level: Option<u32>, data: &[u8]) -> std::io::Result<Cow<'_, [u8]>> {
    Ok(Cow::Owned(match compression {
        Compression::None => return Ok(Cow::Borrowed(data)),
        Compression::Gzip => {
            let level = level.map_or_else(flate2::Compression::default, flate2::Compression::new);
            let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), level);
            encoder.write_all(data)?;
            encoder.finish()?
        }
        Compression::Snappy => {
            let mut encoder = snap::write::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            encoder.write_all(data)?;
            encoder.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?
        }
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            encoder.write_all(data)?;
            encoder.finish().map_err(std::io::Error::other)?
        }
    }))
}

/// Writes `data` to a hidden temporary file beside the object, synced: the first half
/// of an atomic write ([`publish`] is the second).
fn write_temporary(sealed: &Sealed, data: &[u8]) -> std::io::Result<Written> {
    std::fs::create_dir_all(&sealed.dir)?;
    let temporary = sealed.dir.join(format!(".{}.{}.tmp", sealed.name, std::process::id()));
    let mut file = std::fs::File::create(&temporary)?;
    let written = file.write_all(data).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(Written {
        temporary,
        object: sealed.dir.join(&sealed.name),
        events: sealed.events.len(),
        first: sealed.first_sequence,
        bytes: data.len() as u64,
    })
}

/// Gives a written batch its final name and syncs its directory: it appears whole or
/// not at all.
fn publish(written: &Written) -> std::io::Result<()> {
    std::fs::rename(&written.temporary, &written.object)?;
    let dir = written.object.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(dir: &Path, name: &str, first: u64) -> Done {
        let temporary = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, name).unwrap();
        Done::Written(Written { temporary, object: dir.join(name), events: 1, first, bytes: 1 })
    }

    fn sealed(dir: &Path, name: &str, first: u64, stamped: usize) -> Sealed {
        let mut events = Events::new();
        for text in [&br#"{"a": 1}"#[..], br#"{"b": "two"}"#] {
            events.push(text, &firehose_json::tape_of(text).unwrap());
        }
        Sealed {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            id: format!("batch-{first}"),
            first_sequence: first,
            events,
            // One version per event; fewer breaks `frame`'s invariant (a real panic).
            versions: vec![None; stamped],
        }
    }

    #[test]
    fn a_panic_writing_one_batch_is_that_batch_failure_and_stops_publication_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let format = Format { framing: Framing::Ndjson, compression: Compression::None, level: None };
        // Two workers: the one that panics must not leave the other's batches waiting.
        let mut store = Store::start(2, format);
        store.submit(sealed(dir, "a.ndjson", 1, 2)).unwrap();
        store.submit(sealed(dir, "b.ndjson", 3, 1)).unwrap();
        for (i, name) in ["c.ndjson", "d.ndjson", "e.ndjson"].into_iter().enumerate() {
            // Refused once the failure is known; queued before that.
            if store.submit(sealed(dir, name, 5 + 2 * i as u64, 2)).is_err() {
                break;
            }
        }
        // The failure is reported while the run goes on, not only when it ends.
        let reported = (0..3000).find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            store.check().err()
        });
        let error = reported.expect("the panicked batch is reported by `check`");
        let text = error.to_string();
        assert!(matches!(error, WriteError::WriterPanicked { first: 3, events: 2, .. }), "{text}");
        assert!(text.contains("b.ndjson") && text.contains("index out of bounds"), "{text}");
        // Every worker is alive to be joined (none died), and the failure was reported once.
        assert!(matches!(store.close(), Err(WriteError::Stopped)));
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["a.ndjson"], "the batch before is published; none after it, no temporaries left");
    }

    #[test]
    fn publishes_in_the_order_batches_were_submitted_and_stops_at_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let shared = Shared { failed: AtomicBool::new(false), order: Mutex::new(Order::default()) };
        // The second batch is done first: it waits for the first.
        shared.done(1, written(dir, "b", 2));
        assert!(!dir.join("b").exists() && dir.join(".b.tmp").exists());
        shared.done(0, written(dir, "a", 1));
        assert!(dir.join("a").exists() && dir.join("b").exists() && !dir.join(".b.tmp").exists());
        assert_eq!(shared.order().published.objects, 2);
        // The fourth is done, then the third fails: the fourth is never published.
        shared.done(3, written(dir, "d", 4));
        let source = std::io::Error::other("disk full");
        shared.done(2, Done::Failed(WriteError::Object { object: dir.join("c"), events: 1, first: 3, source }));
        assert!(!dir.join("d").exists() && !dir.join(".d.tmp").exists(), "not published, not left behind");
        shared.done(4, Done::Skipped);
        assert_eq!(shared.order().published.objects, 2);
        assert!(shared.failed.load(Ordering::Acquire));
        let error = shared.order().error.take().unwrap();
        assert!(error.to_string().contains("(1 events from sequence 3) could not be written"), "{error}");
    }
}
