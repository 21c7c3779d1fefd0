//! The filter instance behind the C callbacks: reads its properties, runs each chunk
//! through the shared batch pass and writes dead letters. Safe code only; the unsafe
//! boundary is in `abi`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::metrics_endpoint::MetricsEndpoint;
use super::msgpack::{self, DecodeError, LogRecord, Record};
use crate::emit::location::{DeadLetterPath, NotWritable};
use crate::emit::{self, Letter, Place, Stamp};
use crate::engine::Engine;
use crate::intake::{Intake, Malformed};
use crate::metrics::Metrics;
use crate::pass::{Delivered, LivePass, Passed, Placed, Sink};
use crate::reload::{Live, Reloader, WatchOptions, Watcher};
use crate::shadow::{Shadow, ShadowOptions};
use crate::{Error, Pipeline};

/// Why a filter instance cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No `Pipeline` property.
    #[error("the `Pipeline` property is required: the path of a Firehose pipeline file")]
    NoPipeline,
    /// An on/off property with another value.
    #[error("property `{name}`: expected on or off, got `{value}`")]
    BadFlag {
        /// The property.
        name: String,
        /// Its value.
        value: String,
    },
    /// The engine or the pipeline cannot be loaded.
    #[error(transparent)]
    Load(#[from] Error),
    /// The dead-letter file cannot be written.
    #[error(transparent)]
    DeadLetter(#[from] NotWritable),
    /// The metrics endpoint cannot listen.
    #[error("property `Metrics_Listen`: cannot listen on `{addr}` (expected HOST:PORT, e.g. 127.0.0.1:2021)")]
    MetricsListen {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `Shadow` candidate cannot be used.
    #[error("property `{name}`: {message}")]
    Shadow {
        /// The property.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The pipeline's files cannot be watched.
    #[error("cannot watch the pipeline")]
    Watch(#[source] std::io::Error),
}

/// What runs the batch of a chunk's log records, and what to add to each record that
/// comes through: the filter's live pass with its `Version_Field`, or (in the
/// benchmark) a fixed runner.
pub trait ChunkPass {
    /// Runs one batch.
    fn run(&mut self, intake: Intake) -> Passed;

    /// What to add to the records of the batch just run.
    fn stamp(&self) -> &Stamp;
}

/// The live rules with the version written where `Version_Field` says; each chunk's
/// events are counted in the metrics (a chunk's sink never refuses an event, so its
/// counts are final when the pass is done).
struct StampedPass {
    pass: LivePass,
    metrics: Arc<Metrics>,
    place: Place,
    /// The stamp of `version`.
    stamp: Stamp,
    version: Arc<str>,
}

impl ChunkPass for StampedPass {
    fn run(&mut self, intake: Intake) -> Passed {
        let passed = self.pass.run(intake);
        self.metrics.events(&passed.counts());
        if passed.version().id != self.version {
            self.version = passed.version().id.clone();
            self.stamp = Stamp::version_at(&self.place, &self.version);
        }
        passed
    }

    fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

/// A running `firehose` filter instance.
pub struct Filter {
    pass: StampedPass,
    /// Opened (for appending) at the first dead letter; its place is checked at start.
    dead_letters: Option<BufWriter<File>>,
    dead_letter_path: PathBuf,
    metrics: Arc<Metrics>,
    live: Arc<Live>,
    endpoint: Option<MetricsEndpoint>,
    // Dropped last: stops the watcher thread, then the engine's epoch thread.
    watcher: Option<Watcher>,
    _engine: Arc<Engine>,
}

impl Filter {
    /// Starts an instance from its properties (`property(name)` is case-insensitive).
    pub fn start(property: impl Fn(&str) -> Option<String>) -> Result<Filter, StartError> {
        let pipeline_path = property("pipeline").map(PathBuf::from).ok_or(StartError::NoPipeline)?;
        let flag = |name: &str, default: bool| match property(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["on", "true", "yes", "1"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["off", "false", "no", "0"].contains(&v.as_str()) => Ok(false),
            Some(value) => Err(StartError::BadFlag { name: name.to_string(), value }),
        };
        let watch = flag("watch", true)?;
        let cache = property("cache_dir").map(PathBuf::from).or_else(Engine::default_cache_dir);
        let engine = Engine::new(cache.as_deref())?;
        let pipeline = Pipeline::load(&engine, &pipeline_path)?;
        let place = match property("version_field") {
            Some(text) => Place::parse(&text),
            None if pipeline.config.metadata.rules_version => Place::default(),
            None => Place::Off,
        };
        let located = DeadLetterPath::locate(
            "the `Dead_Letter` property",
            property("dead_letter").as_deref().map(std::path::Path::new),
        );
        located.check_writable("the `Dead_Letter` property")?;
        let dead_letter_path = located.path;
        let live = Live::new(pipeline);
        let metrics = Arc::new(Metrics::new());
        let endpoint = match property("metrics_listen") {
            Some(addr) => Some(
                MetricsEndpoint::start(addr.trim(), metrics.clone(), live.clone())
                    .map_err(|source| StartError::MetricsListen { addr, source })?,
            ),
            None => None,
        };
        let watcher = if watch {
            let reloader = Reloader::new(engine.clone(), pipeline_path.clone(), live.clone(), 1);
            Some(Watcher::start(reloader, WatchOptions::default()).map_err(StartError::Watch)?)
        } else {
            None
        };
        let pass = LivePass::new(&live).with_metrics(metrics.clone()).with_shadow(start_shadow(&engine, &property)?);
        let version = pass.version().id.clone();
        let stamp = Stamp::version_at(&place, &version);
        log::info!(
            "rules version {version} from {}, dead letters to {}{}{}",
            pipeline_path.display(),
            dead_letter_path.display(),
            endpoint.as_ref().map_or(String::new(), |e| format!(", metrics on http://{}/metrics", e.addr())),
            if watch { ", watching for changes" } else { "" }
        );
        Ok(Filter {
            pass: StampedPass { pass, metrics: metrics.clone(), place, stamp, version },
            dead_letters: None,
            dead_letter_path,
            metrics,
            live,
            endpoint,
            watcher,
            _engine: engine,
        })
    }

    /// Asks for a reload now (SIGHUP is Fluent Bit's own; this is for tests and tools).
    pub fn reload_now(&self) -> Option<crate::reload::ReloadOutcome> {
        self.watcher.as_ref().and_then(Watcher::reload_now)
    }

    /// The instance's metrics in Prometheus text, as `Metrics_Listen` serves them.
    pub fn metrics_text(&self) -> String {
        self.metrics.render_live(&self.live)
    }

    /// Where `Metrics_Listen` listens, if it is on.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.as_ref().map(MetricsEndpoint::addr)
    }

    /// Runs one chunk. `Ok(None)`: pass it on unchanged; `Ok(Some(bytes))`: replace it
    /// (empty when every record was dropped). A chunk that is not msgpack records is
    /// passed on unchanged with the reason.
    pub fn process(&mut self, tag: &str, chunk: &[u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        let mut dead = Vec::new();
        let result = filter_chunk(&mut self.pass, tag, chunk, &mut dead);
        // Last, so that a failure on the way leaves no record both dead-lettered and
        // passed on.
        self.store_dead_letters(tag, &dead);
        result.map_err(|source| ChunkError { tag: tag.to_string(), source })
    }

    /// Appends to the dead-letter file, opening it on first use.
    fn write_dead_letters(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.dead_letters.is_none() {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.dead_letter_path)?;
            self.dead_letters = Some(BufWriter::new(file));
        }
        // On disk before Fluent Bit hears the chunk is processed: it forgets the dropped
        // records then, so a crash or power cut must not lose their dead letters. Only
        // chunks with dead letters pay for the fsync.
        let file = self.dead_letters.as_mut().expect("opened above");
        file.write_all(lines)?;
        file.flush()?;
        file.get_ref().sync_data()
    }

    fn store_dead_letters(&mut self, tag: &str, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let written = self.write_dead_letters(lines);
        if let Err(e) = written {
            log::error!(
                "cannot write dead letters of tag `{tag}` to {}: {e}; they are in this log instead: {}",
                self.dead_letter_path.display(),
                String::from_utf8_lossy(lines)
            );
        }
    }
}

/// The `Shadow` candidate (and its `Shadow_Share` of chunks), if the property is set.
fn start_shadow(
    engine: &Arc<Engine>,
    property: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Arc<Shadow>>, StartError> {
    let Some(path) = property("shadow").map(PathBuf::from) else {
        return Ok(None);
    };
    let share = match property("shadow_share") {
        None => 1.0,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(share) if (0.0..=1.0).contains(&share) => share,
            _ => {
                let message = format!("expected a fraction between 0 and 1, got `{text}`");
                return Err(StartError::Shadow { name: "Shadow_Share", message });
            }
        },
    };
    let shadow =
        Shadow::load(engine, &path, ShadowOptions { share, ..ShadowOptions::default() }, None).map_err(|e| {
            StartError::Shadow {
                name: "Shadow",
                message: format!("cannot load the candidate {}: {}", path.display(), crate::error::report(&e)),
            }
        })?;
    Ok(Some(shadow))
}

/// A chunk that could not be read as msgpack records; it is passed on unchanged.
#[derive(Debug, thiserror::Error)]
#[error("chunk of tag `{tag}` is not valid msgpack; passed on unchanged")]
pub struct ChunkError {
    /// The chunk's tag.
    pub tag: String,
    /// Where the msgpack breaks.
    #[source]
    pub source: DecodeError,
}

/// Runs the log records of one chunk as one batch through `pass` and encodes what comes
/// out as msgpack records in their original order, with their original headers and the
/// pass's stamp; markers and other records pass through byte for byte. Dead letters,
/// naming the record by its position in the chunk, the tag and the record's time, are
/// appended to `dead`. `Ok(None)` when the chunk goes on unchanged.
pub fn filter_chunk(
    pass: &mut impl ChunkPass,
    tag: &str,
    chunk: &[u8],
    dead: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, DecodeError> {
    // The log records are decoded as the chunk is split, in order; the intake numbers
    // them from 1.
    let mut intake = Intake::default();
    let (mut json, mut tape) = (Vec::new(), Vec::new());
    let records = msgpack::records_decoded(chunk, &mut json, &mut tape, |body, event| {
        let line = intake.records() as u64 + 1;
        match event {
            Ok((json, tape)) => intake.add_encoded(line, json, tape),
            // An unreadable body is dead-lettered as it came.
            Err(e) => intake.malformed.push(Malformed {
                line,
                reason: format!("record body cannot be read: {e}"),
                raw: chunk[body].to_vec(),
            }),
        }
    })?;
    let logs: Vec<(usize, &LogRecord)> = records
        .iter()
        .enumerate()
        .filter_map(|(r, record)| match record {
            Record::Log(log) => Some((r, log)),
            Record::Other { .. } => None,
        })
        .collect();
    let passed = pass.run(intake);
    let stamp = pass.stamp();
    let mut sink = ChunkSink { chunk, records: &records, logs: &logs, tag, stamp, next: 0, out: Vec::new(), dead };
    // Nothing to add and every record came out as it went in: the chunk goes on as it is.
    let outcome = passed.outcome();
    let unchanged = stamp.is_empty()
        && outcome.delivered.len() == records.len()
        && outcome
            .origin
            .iter()
            .enumerate()
            .all(|(k, &i)| outcome.delivered.get(k) == passed.intake().events.get(i as usize));
    if unchanged {
        for letter in passed.letters() {
            let Ok(()) = sink.dead_letter(letter);
        }
        return Ok(None);
    }
    sink.out.reserve(chunk.len() + records.len() * 32);
    let Ok(_) = passed.deliver(&mut sink);
    sink.copy_other_records(records.len());
    Ok(Some(sink.out))
}

/// Encodes a chunk's delivered events as msgpack records, in their original order.
struct ChunkSink<'a> {
    chunk: &'a [u8],
    records: &'a [Record],
    /// The log records with their positions in `records`; event line `n` is `logs[n-1]`.
    logs: &'a [(usize, &'a LogRecord)],
    tag: &'a str,
    stamp: &'a Stamp,
    /// The first record not yet looked at.
    next: usize,
    out: Vec<u8>,
    dead: &'a mut Vec<u8>,
}

impl ChunkSink<'_> {
    /// Copies the records from `next` up to `end` that are not log records (markers),
    /// skipping log records that did not come through.
    fn copy_other_records(&mut self, end: usize) {
        for record in &self.records[self.next.min(end)..end] {
            if let Record::Other { span } = record {
                self.out.extend_from_slice(&self.chunk[span.clone()]);
            }
        }
        self.next = self.next.max(end);
    }

    /// Appends a record no stage changed as it came, plus the stamp; false (nothing
    /// written) when that needs re-encoding (the stamp's member already exists).
    fn copy_untouched(&mut self, log: &LogRecord) -> bool {
        let Some(key) = self.stamp.key() else {
            self.out.extend_from_slice(&self.chunk[log.span.clone()]);
            return true;
        };
        let mark = self.out.len();
        self.out.push(0x92);
        self.out.extend_from_slice(&self.chunk[log.header.clone()]);
        if msgpack::append_member(&self.chunk[log.body.clone()], key, self.stamp.msgpack_value(), &mut self.out) {
            return true;
        }
        self.out.truncate(mark);
        false
    }
}

impl Sink for ChunkSink<'_> {
    type Error = std::convert::Infallible;

    fn deliver(&mut self, delivered: Delivered<'_>) -> Result<Placed, Self::Error> {
        let (r, log) = self.logs[delivered.line as usize - 1];
        self.copy_other_records(r);
        self.next = r + 1;
        // No stage changed it: its original bytes go on (binary, ext and float widths
        // that JSON cannot carry survive).
        if !(delivered.untouched() && self.copy_untouched(log)) {
            let header = &self.chunk[log.header.clone()];
            msgpack::encode_record_stamped(header, &delivered.event, self.stamp, &mut self.out);
        }
        Ok(Placed::Delivered)
    }

    fn dead_letter(&mut self, letter: Letter<'_>) -> Result<(), Self::Error> {
        let (r, log) = self.logs[letter.line as usize - 1];
        let origin = origin(self.tag, self.chunk, log);
        emit::dead_letter_with(r as u64 + 1, letter.stage, letter.reason, letter.raw, &origin, self.dead);
        Ok(())
    }
}

/// Where a dead-lettered record came from: Fluent Bit's tag and the record's time
/// (seconds since the epoch), so it can be found and replayed.
fn origin(tag: &str, chunk: &[u8], log: &LogRecord) -> [(&'static str, serde_json::Value); 2] {
    let time = msgpack::record_time(&chunk[log.header.clone()]);
    [("tag", serde_json::Value::from(tag)), ("time", time.map_or(serde_json::Value::Null, serde_json::Value::from))]
}
