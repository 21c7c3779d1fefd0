//! Writing batches to a directory the way Amazon Data Firehose writes them to S3:
//! events grouped per partition (a path rendered from a template), cut by size, count
//! or time, stamped with `firehose_metadata`, framed (NDJSON or a JSON array),
//! compressed, and written atomically under names like
//! `events-2024-01-15-14-30-45-AB12CD34.json.gz`.
//!
//! A batch is written to a hidden temporary name, synced, renamed and its directory
//! synced: a reader never sees half a batch under a final name, and a crash leaves at
//! most hidden `.…tmp` files behind. Dead letters and events that cannot be placed
//! (missing partition key, too many open partitions) go under the error prefix in the
//! same layout, each with its reason.

mod template;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use firehose_json::Event;
use serde_json::json;

pub use template::{Missing, Template, TemplateError, event_time, safe};

use super::stamp::{Field, Stamp};
use crate::Error;
use crate::config::{Compression, Framing, OutputConfig, TimeSource};
use crate::emit::Letter;
use crate::error::report;
use crate::intake::Intake;
use crate::pass::{Delivered, Placed, Sink};
use crate::pipeline::Events;

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
}

/// Groups events into batches and writes them under a directory.
pub struct BatchWriter {
    dir: PathBuf,
    config: OutputConfig,
    prefix: Template,
    error_prefix: Template,
    open: HashMap<String, Open>,
    /// Open batches outside the error prefix.
    open_partitions: usize,
    sequence: u64,
    stats: WriterStats,
}

impl BatchWriter {
    /// A writer into `dir` with `config`'s layout and buffering.
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
            open_partitions: 0,
            sequence: 0,
            stats: WriterStats::default(),
        })
    }

    /// The template of the error prefix (where dead letters go).
    pub fn error_prefix(&self) -> &str {
        &self.config.error_prefix
    }

    /// What has been written so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Adds a delivered event, stamped with the rules `version` that processed it (if
    /// given); says whether it went to its partition ([`Placed::Delivered`]) or, when
    /// it cannot be placed, to the error prefix with the reason.
    pub fn add(&mut self, event: &Event<'_>, version: Option<&Arc<str>>) -> std::io::Result<Placed> {
        let now = Utc::now();
        let time = match self.config.time_source {
            TimeSource::Event => event_time(event).unwrap_or(now),
            TimeSource::Processing => now,
        };
        let prefix = match self.prefix.render(Some(event), time, "") {
            Ok(prefix) if self.open.contains_key(&prefix) || self.open_partitions < self.config.max_open_partitions => {
                prefix
            }
            Ok(_) => {
                let reason = format!(
                    "more than output.max_open_partitions ({}) partitions have open batches",
                    self.config.max_open_partitions
                );
                self.add_error("partition-limit", &error_record(&reason, event.bytes()))?;
                return Ok(Placed::DeadLettered);
            }
            Err(Missing(reason)) => {
                self.add_error("partition-key-missing", &error_record(&reason, event.bytes()))?;
                return Ok(Placed::DeadLettered);
            }
        };
        self.push(prefix, event, version.cloned(), false)?;
        Ok(Placed::Delivered)
    }

    /// Adds a dead-letter record (one JSON object) under the error prefix.
    pub fn add_error(&mut self, error_type: &str, record: &[u8]) -> std::io::Result<()> {
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
    ) -> std::io::Result<()> {
        let open = self.open.entry(prefix.clone()).or_insert_with(|| {
            if !errors {
                self.open_partitions += 1;
            }
            Open {
                id: uuid::Uuid::new_v4().to_string(),
                started: Instant::now(),
                opened_at: Utc::now(),
                events: Events::new(),
                versions: Vec::new(),
                errors,
            }
        });
        open.events.push(event.bytes(), event.tape());
        open.versions.push(version);
        // Sizes count what is written: the events plus the metadata each one gets.
        let size = open.events.byte_len() + open.events.len() * STAMP_BYTES;
        let full = size as u64 >= self.config.size_mib << 20
            || self.config.max_events.is_some_and(|max| open.events.len() >= max)
            || self.config.interval_secs == 0;
        if full {
            self.flush(&prefix)?;
        }
        Ok(())
    }

    /// Writes every batch open longer than the buffering interval.
    pub fn tick(&mut self) -> std::io::Result<()> {
        let interval = Duration::from_secs(self.config.interval_secs);
        let due: Vec<String> =
            self.open.iter().filter(|(_, o)| o.started.elapsed() >= interval).map(|(p, _)| p.clone()).collect();
        for prefix in due {
            self.flush(&prefix)?;
        }
        Ok(())
    }

    /// Writes every open batch (at shutdown).
    pub fn finish(&mut self) -> std::io::Result<WriterStats> {
        let all: Vec<String> = self.open.keys().cloned().collect();
        for prefix in all {
            self.flush(&prefix)?;
        }
        Ok(self.stats)
    }

    fn flush(&mut self, prefix: &str) -> std::io::Result<()> {
        let Some(open) = self.open.remove(prefix) else { return Ok(()) };
        if !open.errors {
            self.open_partitions -= 1;
        }
        if open.events.is_empty() {
            return Ok(());
        }
        let delivered_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut body = Vec::with_capacity(open.events.byte_len() + open.events.len() * 160);
        if self.config.framing == Framing::JsonArray {
            body.push(b'[');
        }
        let mut stamp = Stamp::none();
        for i in 0..open.events.len() {
            self.sequence += 1;
            let version = open.versions[i].as_deref();
            let fields = [
                ("rules_version", Field::Str(version.unwrap_or_default())),
                ("batch_id", Field::Str(&open.id)),
                ("sequence", Field::Uint(self.sequence)),
                ("delivered_at", Field::Str(&delivered_at)),
            ];
            stamp.set_object(METADATA, if version.is_some() { &fields } else { &fields[1..] });
            if i > 0 && self.config.framing == Framing::JsonArray {
                body.push(b',');
            }
            stamp.apply(&open.events.event(i), &mut body);
            if self.config.framing == Framing::Ndjson {
                body.push(b'\n');
            }
        }
        if self.config.framing == Framing::JsonArray {
            body.extend_from_slice(b"]\n");
        }
        let compressed = compress(self.config.compression, &body)?;
        let name = object_name(&self.config.name, open.opened_at, self.config.compression);
        let dir = self.dir.join(prefix);
        write_atomically(&dir, &name, &compressed)?;
        self.stats.events += open.events.len() as u64;
        self.stats.bytes += compressed.len() as u64;
        self.stats.batches += 1;
        Ok(())
    }
}

/// Batches on disk as the sink of a batch pass: delivered events go to their
/// partitions (stamped with their version unless the pipeline turned that off), dead
/// letters under the error prefix as `rejected` or `malformed`.
impl Sink for BatchWriter {
    type Error = std::io::Error;

    fn deliver(&mut self, delivered: Delivered<'_>) -> std::io::Result<Placed> {
        let version = delivered.version.config.metadata.rules_version.then_some(&delivered.version.id);
        self.add(&delivered.event, version)
    }

    fn dead_letter(&mut self, letter: Letter<'_>) -> std::io::Result<()> {
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

/// Compresses `data` in a format the standard tools read.
pub fn compress(compression: Compression, data: &[u8]) -> std::io::Result<Vec<u8>> {
    Ok(match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::default());
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
    })
}

/// Writes `dir/name` so that it appears whole or not at all: a hidden temporary file,
/// synced, renamed, and the directory synced.
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
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
