//! Writing batches to a directory the way Amazon Data Firehose writes them to S3:
//! events grouped per partition (a path rendered from a template), cut by size, count
//! or time, stamped with `firehose_metadata`, framed (NDJSON or a JSON array),
//! compressed, and written atomically under names like
//! `events-2024-01-15-14-30-45-AB12CD34.json.gz`.
//!
//! At most `output.max_open_partitions` partitions have a batch open at once, so memory
//! stays bounded: when an event needs a new partition and the limit is reached, the
//! batch written to least recently is closed early (written out as it is) to make room.
//! Events sorted or nearly sorted by time, as in a replay or a backfill, touch old
//! partitions rarely, so such closes cost few extra objects.
//!
//! Batches are filled, given their ids and sequence numbers on the caller's thread, in
//! input order; worker threads ([`store`]) frame, compress and write them. A batch is
//! written to a hidden temporary name, synced, renamed and its directory synced, in the
//! order batches were closed: a reader never sees half a batch under a final name, and
//! a crash leaves whole objects holding the run's sequence from 1 without a gap, plus at
//! most hidden `.…tmp` files. Dead letters and events that cannot be placed (missing
//! partition key) go under the error prefix in the same layout, each with its reason.

mod store;
mod template;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use firehose_json::Event;
use serde_json::json;

pub use store::{WriteError, compress};
pub use template::{Missing, Template, TemplateError, event_time, safe};

use crate::Error;
use crate::config::{Compression, OutputConfig, TimeSource};
use crate::emit::Letter;
use crate::error::report;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::pass::{Delivered, Placed, Sink};
use crate::pipeline::Events;
use store::{Format, Sealed, Store};

/// The member batches stamp on each event.
const METADATA: &str = "firehose_metadata";

/// At most what `firehose_metadata` adds to an event (version, batch id, sequence,
/// delivery time, framing), counted in batch sizes so objects stay within the hint.
const STAMP_BYTES: usize = 200;

/// What has been written so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Events written (errors included).
    pub events: u64,
    /// Bytes written, compressed.
    pub bytes: u64,
    /// Objects written.
    pub batches: u64,
    /// Batches closed before their cut-off to make room for a new partition, because
    /// `output.max_open_partitions` partitions had a batch open.
    pub closed_early: u64,
    /// Partitions with an open batch now (the error prefix's are not counted).
    pub open_partitions: usize,
    /// The most partitions that had a batch open at once: never above
    /// `output.max_open_partitions`.
    pub open_partitions_max: usize,
}

/// A batch being filled.
struct Open {
    id: String,
    started: Instant,
    opened_at: DateTime<Utc>,
    events: Events,
    versions: Vec<Option<Arc<str>>>,
    /// Under the error prefix: not counted against `max_open_partitions`.
    errors: bool,
    /// When an event was last added, in the writer's count of additions (0: never);
    /// the batch's key in `BatchWriter::recency`.
    touched: u64,
}

impl Open {
    fn new(errors: bool) -> Open {
        Open {
            id: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
            opened_at: Utc::now(),
            events: Events::new(),
            versions: Vec::new(),
            errors,
            touched: 0,
        }
    }
}

/// Groups events into batches and writes them under a directory.
pub struct BatchWriter {
    dir: PathBuf,
    config: OutputConfig,
    prefix: Template,
    error_prefix: Template,
    open: HashMap<String, Open>,
    /// The partitions with an open batch (not the error prefix's), least recently
    /// written first: keyed by [`Open::touched`].
    recency: BTreeMap<u64, String>,
    /// Events added to partitions so far.
    touches: u64,
    /// The last `firehose_metadata.sequence` given out.
    sequence: u64,
    closed_early: u64,
    open_partitions_max: usize,
    /// Worker threads writing batches; started with the first batch.
    store: Option<Store>,
    threads: usize,
    finished: bool,
    metrics: Option<Arc<Metrics>>,
}

impl BatchWriter {
    /// A writer into `dir` with `config`'s layout and buffering, writing batches on one
    /// thread per core.
    pub fn new(dir: &Path, config: OutputConfig) -> Result<BatchWriter, Error> {
        let fail = |message: String| Error::Pipeline { path: dir.to_path_buf(), message };
        let prefix = Template::parse(&config.prefix).map_err(|e| fail(format!("output.prefix: {}", report(&e))))?;
        let error_prefix =
            Template::parse(&config.error_prefix).map_err(|e| fail(format!("output.error_prefix: {}", report(&e))))?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(BatchWriter {
            dir: dir.to_path_buf(),
            config,
            prefix,
            error_prefix,
            open: HashMap::new(),
            recency: BTreeMap::new(),
            touches: 0,
            sequence: 0,
            closed_early: 0,
            open_partitions_max: 0,
            store: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            finished: false,
            metrics: None,
        })
    }

    /// Compresses and writes batches on `threads` threads (at least one) instead of one
    /// per core.
    pub fn with_threads(mut self, threads: usize) -> BatchWriter {
        self.threads = threads.max(1);
        self
    }

    /// Records batches closed early in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> BatchWriter {
        self.metrics = Some(metrics);
        self
    }

    /// The template of the error prefix (where dead letters go).
    pub fn error_prefix(&self) -> &str {
        &self.config.error_prefix
    }

    /// The most partitions with an open batch (`output.max_open_partitions`).
    pub fn max_open_partitions(&self) -> usize {
        self.config.max_open_partitions.max(1)
    }

    /// What has been written so far.
    pub fn stats(&self) -> WriterStats {
        let published = self.store.as_ref().map(Store::published).unwrap_or_default();
        WriterStats {
            events: published.events,
            bytes: published.bytes,
            batches: published.objects,
            closed_early: self.closed_early,
            open_partitions: self.recency.len(),
            open_partitions_max: self.open_partitions_max,
        }
    }

    /// Adds a delivered event, stamped with the rules `version` that processed it (if
    /// given); says whether it went to its partition ([`Placed::Delivered`]) or, when
    /// it has no partition, to the error prefix with the reason. Fails when a batch
    /// could not be written.
    pub fn add(&mut self, event: &Event<'_>, version: Option<&Arc<str>>) -> Result<Placed, WriteError> {
        let now = Utc::now();
        let time = match self.config.time_source {
            TimeSource::Event => event_time(event).unwrap_or(now),
            TimeSource::Processing => now,
        };
        match self.prefix.render(Some(event), time, "") {
            Ok(prefix) => {
                self.push(prefix, event, version.cloned(), false)?;
                Ok(Placed::Delivered)
            }
            Err(Missing(reason)) => {
                self.add_error("partition-key-missing", &error_record(&reason, event.bytes()))?;
                Ok(Placed::DeadLettered)
            }
        }
    }

    /// Adds a dead-letter record (one JSON object) under the error prefix.
    pub fn add_error(&mut self, error_type: &str, record: &[u8]) -> Result<(), WriteError> {
        let mut intake = Intake::default();
        intake.max_event_bytes = usize::MAX;
        intake.add(1, record);
        let prefix = self
            .error_prefix
            .render(None, Utc::now(), error_type)
            .unwrap_or_else(|_| format!("errors/{}/", safe(error_type)));
        if intake.events.is_empty() {
            // Not a JSON object: wrap it so nothing is lost.
            let wrapped = error_record("dead letter was not a JSON object", record);
            let mut intake = Intake::default();
            intake.max_event_bytes = usize::MAX;
            intake.add(1, &wrapped);
            return self.push(prefix, &intake.events.event(0), None, true);
        }
        self.push(prefix, &intake.events.event(0), None, true)
    }

    fn push(
        &mut self,
        prefix: String,
        event: &Event<'_>,
        version: Option<Arc<str>>,
        errors: bool,
    ) -> Result<(), WriteError> {
        if self.finished {
            return Err(WriteError::Finished);
        }
        if !self.open.contains_key(&prefix) {
            if !errors && self.recency.len() >= self.max_open_partitions() {
                self.close_least_recent()?;
            }
            self.open.insert(prefix.clone(), Open::new(errors));
        }
        let open = self.open.get_mut(&prefix).expect("opened above");
        if !errors && (open.touched == 0 || open.touched != self.touches) {
            // Now the most recently written: move it to the end of the order.
            let key = self.recency.remove(&open.touched).unwrap_or_else(|| prefix.clone());
            self.touches += 1;
            open.touched = self.touches;
            self.recency.insert(self.touches, key);
            self.open_partitions_max = self.open_partitions_max.max(self.recency.len());
        }
        open.events.push(event.bytes(), event.tape());
        open.versions.push(version);
        // Sizes count what is written: the events plus the metadata each one gets.
        let size = open.events.byte_len() + open.events.len() * STAMP_BYTES;
        let full = size as u64 >= self.config.size_mib << 20
            || self.config.max_events.is_some_and(|max| open.events.len() >= max)
            || self.config.interval_secs == 0;
        if full {
            self.seal(&prefix)?;
        }
        Ok(())
    }

    /// Makes room for a new partition: writes out the batch written to least recently.
    fn close_least_recent(&mut self) -> Result<(), WriteError> {
        let Some((_, prefix)) = self.recency.pop_first() else { return Ok(()) };
        self.closed_early += 1;
        if let Some(metrics) = &self.metrics {
            metrics.batch_closed_early();
        }
        self.seal(&prefix)
    }

    /// Writes every batch open longer than the buffering interval; fails when a batch
    /// could not be written.
    pub fn tick(&mut self) -> Result<(), WriteError> {
        let interval = Duration::from_secs(self.config.interval_secs);
        let due: Vec<String> =
            self.open.iter().filter(|(_, o)| o.started.elapsed() >= interval).map(|(p, _)| p.clone()).collect();
        for prefix in due {
            self.seal(&prefix)?;
        }
        self.store.as_ref().map_or(Ok(()), Store::check)
    }

    /// Writes every open batch and waits until all are on disk (at shutdown); nothing
    /// more is written after. Fails when a batch could not be written.
    pub fn finish(&mut self) -> Result<WriterStats, WriteError> {
        let all: Vec<String> = self.open.keys().cloned().collect();
        for prefix in all {
            self.seal(&prefix)?;
        }
        self.finished = true;
        if let Some(store) = &mut self.store {
            store.close()?;
        }
        Ok(self.stats())
    }

    /// Closes the batch of `prefix`: gives its events their sequence numbers and hands
    /// it to the workers.
    fn seal(&mut self, prefix: &str) -> Result<(), WriteError> {
        let Some(open) = self.open.remove(prefix) else { return Ok(()) };
        if !open.errors {
            self.recency.remove(&open.touched);
        }
        if open.events.is_empty() {
            return Ok(());
        }
        let first_sequence = self.sequence + 1;
        self.sequence += open.events.len() as u64;
        let sealed = Sealed {
            dir: self.dir.join(prefix),
            name: object_name(&self.config.name, open.opened_at, self.config.compression),
            id: open.id,
            first_sequence,
            events: open.events,
            versions: open.versions,
        };
        let (threads, format) = (
            self.threads,
            Format {
                framing: self.config.framing,
                compression: self.config.compression,
                level: self.config.compression_level,
            },
        );
        self.store.get_or_insert_with(|| Store::start(threads, format)).submit(sealed)
    }
}

/// Batches on disk as the sink of a batch pass: delivered events go to their
/// partitions (stamped with their version unless the pipeline turned that off), dead
/// letters under the error prefix as `rejected` or `malformed`.
impl Sink for BatchWriter {
    type Error = WriteError;

    fn deliver(&mut self, delivered: Delivered<'_>) -> Result<Placed, WriteError> {
        let version = delivered.version.config.metadata.rules_version.then_some(&delivered.version.id);
        self.add(&delivered.event, version)
    }

    fn dead_letter(&mut self, letter: Letter<'_>) -> Result<(), WriteError> {
        let mut line = Vec::new();
        letter.write(&mut line);
        self.add_error(if letter.stage.is_some() { "rejected" } else { "malformed" }, &line)
    }
}

fn error_record(reason: &str, raw: &[u8]) -> Vec<u8> {
    let mut record = json!({"reason": reason});
    super::dead_letter::add_raw(&mut record, raw);
    serde_json::to_vec(&record).expect("serializes")
}

/// `events-2024-01-15-14-30-45-AB12CD34.json.gz`.
fn object_name(name: &str, at: DateTime<Utc>, compression: Compression) -> String {
    let id: String = uuid::Uuid::new_v4().simple().to_string()[..8].to_ascii_uppercase();
    let extension = match compression {
        Compression::Gzip => ".json.gz",
        Compression::Snappy => ".json.snappy",
        Compression::Lz4 => ".json.lz4",
        Compression::None => ".json",
    };
    format!("{}-{}-{id}{extension}", safe(name), at.format("%Y-%m-%d-%H-%M-%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_objects_like_firehose() {
        let at = DateTime::parse_from_rfc3339("2024-01-15T14:30:45Z").unwrap().with_timezone(&Utc);
        let name = object_name("events", at, Compression::Gzip);
        assert!(name.starts_with("events-2024-01-15-14-30-45-") && name.ends_with(".json.gz"), "{name}");
        assert_eq!(name.len(), "events-2024-01-15-14-30-45-".len() + 8 + ".json.gz".len());
        assert_ne!(name, object_name("events", at, Compression::Gzip));
        assert!(object_name("x", at, Compression::Lz4).ends_with(".json.lz4"));
    }
}
