//! The filter instance behind the C callbacks: reads its properties, runs each chunk
//! through the shared batch pass and writes dead letters. Safe code only; the unsafe
//! boundary is in `abi`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use firehose_json::Event;

use super::metrics_endpoint::MetricsEndpoint;
use super::msgpack::{self, DecodeError, LogRecord, Record};
use crate::emit::location::{DeadLetterPath, NotWritable, dead_letter_file_options};
use crate::emit::{self, Letter, Place, Stamp};
use crate::engine::Engine;
use crate::intake::{Intake, Malformed};
use crate::metrics::Metrics;
use crate::pass::{Delivered, LivePass, Passed, Placed, Sink};
use crate::pipeline::Counts;
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

/// The live rules with the version written where `Version_Field` says. A chunk's sink
/// never refuses an event, so its counts are final when the pass is done; they are
/// counted in the metrics once the chunk is through (a chunk the plugin fails on is
/// counted as dead-lettered instead).
struct StampedPass {
    pass: LivePass,
    /// The counts of the chunk being filtered, not yet in the metrics.
    pending: Counts,
    place: Place,
    /// The stamp of `version`.
    stamp: Stamp,
    version: Arc<str>,
}

impl ChunkPass for StampedPass {
    fn run(&mut self, intake: Intake) -> Passed {
        let passed = self.pass.run(intake);
        self.pending = passed.counts();
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
    /// The `Shadow` candidate, kept to start a fresh pass after a failed chunk.
    shadow: Option<Arc<Shadow>>,
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
        let shadow = start_shadow(&engine, &property)?;
        let pass = live_pass(&live, &metrics, &shadow);
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
            pass: StampedPass { pass, pending: Counts::default(), place, stamp, version },
            shadow,
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
    /// (empty when every record was dropped).
    ///
    /// Fails closed: a chunk that is not msgpack records, or that the plugin fails on (a
    /// panic, which is a bug), is taken out of the stream and its records are
    /// dead-lettered with the reason. Passed on, they would reach the destination with
    /// their personal data unmasked. The error says why and holds what goes on instead
    /// (the chunk's group markers).
    pub fn process(&mut self, tag: &str, chunk: &[u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        let mut dead = Vec::new();
        let filtered = filter_chunk_caught(&mut self.pass, tag, chunk, &mut dead);
        let pending = std::mem::take(&mut self.pass.pending);
        match filtered {
            Ok(output) => {
                self.metrics.events(&pending);
                // Last, so that a failure on the way leaves no record both dead-lettered
                // and passed on.
                self.store_dead_letters(tag, &dead);
                Ok(output)
            }
            Err(cause) => {
                if let ChunkFailure::Panicked(_) = cause {
                    // The pass broke half-way: its state is not to be trusted again.
                    self.pass.pass = live_pass(&self.live, &self.metrics, &self.shadow);
                }
                Err(self.take_out(tag, chunk, cause))
            }
        }
    }

    /// Takes `chunk` out of the stream: every log record goes to the dead-letter file
    /// with `cause` as its reason (the body's exact bytes, the tag and the record's
    /// time), or the whole chunk as one letter (`line` 0) when it cannot be split into
    /// records. For a chunk that went through but could not be handed back to Fluent
    /// Bit, too.
    pub fn take_out(&mut self, tag: &str, chunk: &[u8], cause: ChunkFailure) -> ChunkError {
        let mut dead = Vec::new();
        let reason = format!("taken out of the stream with its whole chunk: {}", crate::error::report(&cause));
        let (kept, letters) = dead_letter_chunk(tag, chunk, &reason, &mut dead);
        // A chunk that went through had its events counted then (as delivered or
        // dropped); the others count here, as in and dead-lettered.
        if !matches!(cause, ChunkFailure::OutOfMemory(_)) {
            let mut counts = Counts::default();
            counts.add_unreadable(letters);
            self.metrics.events(&counts);
        }
        self.metrics.taken_out(letters as u64, cause.label());
        self.store_dead_letters(tag, &dead);
        ChunkError { tag: tag.to_string(), dead_letters: self.dead_letter_path.clone(), cause, kept }
    }

    /// Appends to the dead-letter file, opening it on first use.
    fn write_dead_letters(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.dead_letters.is_none() {
            let file = dead_letter_file_options().append(true).open(&self.dead_letter_path)?;
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

/// The pass an instance runs its chunks through: at start, and again after one failed.
fn live_pass(live: &Arc<Live>, metrics: &Arc<Metrics>, shadow: &Option<Arc<Shadow>>) -> LivePass {
    LivePass::new(live).with_metrics(metrics.clone()).with_shadow(shadow.clone())
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

/// A chunk taken out of the stream whole ([`Filter::process`] fails closed): its
/// records are in the dead-letter file instead.
#[derive(Debug, thiserror::Error)]
#[error("chunk of tag `{tag}` taken out of the stream, its records dead-lettered to {}", dead_letters.display())]
pub struct ChunkError {
    /// The chunk's tag.
    pub tag: String,
    /// The dead-letter file.
    pub dead_letters: PathBuf,
    /// Why.
    #[source]
    pub cause: ChunkFailure,
    /// What goes on instead: the chunk's records that are not log records (group
    /// markers), byte for byte; empty when the chunk could not be split.
    pub kept: Vec<u8>,
}

/// Why a chunk was taken out of the stream.
#[derive(Debug, thiserror::Error)]
pub enum ChunkFailure {
    /// It is not msgpack records.
    #[error("the chunk is not valid msgpack records")]
    NotMsgpack(#[source] DecodeError),
    /// The plugin panicked on it.
    #[error("the plugin failed on it (a bug in Firehose; please report it with this message): {0}")]
    Panicked(String),
    /// The output buffer for Fluent Bit could not be allocated.
    #[error("out of memory for the {0} bytes of the filtered chunk")]
    OutOfMemory(usize),
}

impl ChunkFailure {
    /// The `reason` label of `firehose_dead_letters` for its records.
    fn label(&self) -> &'static str {
        match self {
            ChunkFailure::NotMsgpack(_) => "unreadable",
            ChunkFailure::Panicked(_) | ChunkFailure::OutOfMemory(_) => "failed",
        }
    }
}

/// [`filter_chunk`], with a panic on the way caught: a chunk that is not msgpack
/// records or that the plugin fails on is a [`ChunkFailure`], and whatever dead letters
/// the failed pass had written are dropped (every record is dead-lettered again with the
/// failure when the chunk is taken out).
fn filter_chunk_caught(
    pass: &mut impl ChunkPass,
    tag: &str,
    chunk: &[u8],
    dead: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, ChunkFailure> {
    let written = dead.len();
    let failure = match crate::panics::catch(|| filter_chunk(pass, tag, chunk, dead)) {
        Ok(Ok(output)) => return Ok(output),
        Ok(Err(decode)) => ChunkFailure::NotMsgpack(decode),
        Err(panic) => ChunkFailure::Panicked(panic),
    };
    dead.truncate(written);
    Err(failure)
}

/// Dead-letters every log record of `chunk` with `reason` (see [`Filter::take_out`]);
/// returns the records that go on (group markers) and how many letters were written.
fn dead_letter_chunk(tag: &str, chunk: &[u8], reason: &str, dead: &mut Vec<u8>) -> (Vec<u8>, usize) {
    // Splitting is what may have panicked: then the chunk is one letter.
    let records = crate::panics::catch(|| msgpack::records(chunk)).ok().and_then(Result::ok);
    let Some(records) = records else {
        let origin = [("tag", serde_json::Value::from(tag))];
        emit::dead_letter_with(0, None, reason, chunk, &origin, dead);
        return (Vec::new(), 1);
    };
    let (mut kept, mut letters) = (Vec::new(), 0);
    for (r, record) in records.iter().enumerate() {
        match record {
            Record::Log(log) => {
                let origin = origin(tag, chunk, log);
                emit::dead_letter_with(r as u64 + 1, None, reason, &chunk[log.body.clone()], &origin, dead);
                letters += 1;
            }
            Record::Other { span } => kept.extend_from_slice(&chunk[span.clone()]),
        }
    }
    (kept, letters)
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
    // As JSON text, a record's body is ~12% longer than its msgpack (quotes, separators).
    intake.events.reserve_for_text(chunk.len() + chunk.len() / 8);
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
    let (outcome, delivered) = (passed.outcome(), passed.delivered());
    let unchanged = stamp.is_empty()
        && delivered.len() == records.len()
        && (outcome.unchanged()
            || outcome
                .origin
                .iter()
                .enumerate()
                .all(|(k, &i)| delivered.get(k) == passed.intake().events.get(i as usize)));
    if unchanged {
        for letter in passed.letters() {
            let Ok(()) = sink.dead_letter(letter);
        }
        return Ok(None);
    }
    // Room for the records as they are or as the rules left them (an event's msgpack
    // is no longer than its JSON text but for floats), each with its header and stamp
    // (no longer as msgpack than as JSON, which `Stamp::len` gives).
    sink.out.reserve(chunk.len().max(delivered.byte_len()) + records.len() * (32 + stamp.len()));
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

    /// Appends a record no stage changed (`event`, decoded from it) as it came, plus the
    /// stamp; false (nothing written) when that needs re-encoding (the stamp's member
    /// already exists).
    fn copy_untouched(&mut self, log: &LogRecord, event: &Event<'_>) -> bool {
        let Some(key) = self.stamp.key() else {
            self.out.extend_from_slice(&self.chunk[log.span.clone()]);
            return true;
        };
        if event.member(key).is_some() {
            return false;
        }
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
        if !(delivered.untouched() && self.copy_untouched(log, &delivered.event)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value as Mp;

    /// A pass with a bug: it panics on every batch.
    struct PanickingPass(Stamp);

    impl ChunkPass for PanickingPass {
        fn run(&mut self, _intake: Intake) -> Passed {
            panic!("a bug in the pass");
        }

        fn stamp(&self) -> &Stamp {
            &self.0
        }
    }

    fn encoded(records: &[Mp]) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            rmpv::encode::write_value(&mut out, record).unwrap();
        }
        out
    }

    fn record(sec: u32, body: Mp) -> Mp {
        let mut time = sec.to_be_bytes().to_vec();
        time.extend_from_slice(&[0; 4]);
        Mp::Array(vec![Mp::Array(vec![Mp::Ext(0, time), Mp::Map(vec![])]), body])
    }

    fn letters(dead: &[u8]) -> Vec<serde_json::Value> {
        dead.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    }

    #[test]
    fn a_pass_that_panics_fails_the_chunk_and_every_record_is_dead_lettered_with_the_panic() {
        let ssn = Mp::Map(vec![(Mp::from("ssn"), Mp::from("123-45-6789"))]);
        let marker = Mp::Array(vec![
            Mp::Array(vec![Mp::Ext(0, vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), Mp::Map(vec![])]),
            Mp::Map(vec![]),
        ]);
        let chunk = encoded(&[marker.clone(), record(7, ssn.clone()), record(8, Mp::Map(vec![]))]);
        let mut dead = b"{\"an earlier letter\":1}\n".to_vec();
        let mut pass = PanickingPass(Stamp::version_at(&Place::Off, "v"));
        let failure = filter_chunk_caught(&mut pass, "leads", &chunk, &mut dead).unwrap_err();
        let ChunkFailure::Panicked(message) = &failure else { panic!("{failure:?}") };
        assert_eq!(message, "a bug in the pass");
        assert_eq!(dead, b"{\"an earlier letter\":1}\n", "the failed pass's letters are dropped, earlier ones kept");

        let reason = format!("taken out: {}", crate::error::report(&failure));
        let mut dead = Vec::new();
        let (kept, count) = dead_letter_chunk("leads", &chunk, &reason, &mut dead);
        assert_eq!(kept, encoded(&[marker]), "group markers go on, byte for byte");
        assert_eq!(count, 2);
        let letters = letters(&dead);
        assert_eq!(letters.len(), 2);
        assert_eq!((letters[0]["line"].as_u64(), letters[1]["line"].as_u64()), (Some(2), Some(3)), "{letters:?}");
        assert_eq!(letters[0]["tag"], "leads");
        assert_eq!(letters[0]["time"], 7.0);
        assert!(letters[0]["reason"].as_str().unwrap().contains("a bug in the pass"), "{}", letters[0]);
        assert!(letters[0]["raw_base64"].is_string(), "msgpack is not UTF-8: {}", letters[0]);
        let raw = emit::raw_of(&letters[0]).expect("the exact bytes");
        assert_eq!(raw, encoded(&[ssn]), "each body's exact bytes, to replay it");
    }

    #[test]
    fn a_chunk_that_cannot_be_split_is_not_msgpack_and_one_letter_with_line_0() {
        let mut chunk = encoded(&[record(1, Mp::Map(vec![]))]);
        chunk.push(0xc1);
        let mut pass = PanickingPass(Stamp::version_at(&Place::Off, "v"));
        let failure = filter_chunk_caught(&mut pass, "leads", &chunk, &mut Vec::new()).unwrap_err();
        assert!(matches!(failure, ChunkFailure::NotMsgpack(_)), "split before any pass: {failure:?}");
        let mut dead = Vec::new();
        assert_eq!(dead_letter_chunk("leads", &chunk, "unreadable", &mut dead), (Vec::new(), 1));
        let letters = letters(&dead);
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0]["line"], 0);
        assert_eq!(letters[0]["tag"], "leads");
        assert!(letters[0]["raw_base64"].is_string(), "msgpack is not UTF-8: {}", letters[0]);
        let raw = emit::raw_of(&letters[0]).expect("the exact bytes");
        assert_eq!(raw, chunk);
    }
}
