//! The filter instance behind the C callbacks: reads its properties, runs each chunk
//! through the live pipeline version and writes dead letters. Safe code only; the
//! unsafe boundary is in `abi`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use firehose_sdk::json::Event;

use super::msgpack::{self, Record};
use crate::emit;
use crate::engine::Engine;
use crate::intake::Intake;
use crate::reload::{Live, Reloader, WatchOptions, Watcher};
use crate::{Pipeline, Runner};

/// Where the version that processed an event is written in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionField {
    /// Not written.
    Off,
    /// A top-level member.
    Top(String),
    /// A member of a top-level object: `firehose_metadata.rules_version`.
    Nested(String, String),
}

impl VersionField {
    fn parse(text: &str) -> VersionField {
        let name = text.trim();
        match name.to_ascii_lowercase().as_str() {
            "" | "off" | "false" | "no" => VersionField::Off,
            _ => match name.split_once('.') {
                Some((outer, inner)) => VersionField::Nested(outer.to_string(), inner.to_string()),
                None => VersionField::Top(name.to_string()),
            },
        }
    }

    /// The member name in the root object, if any.
    fn key(&self) -> Option<&str> {
        match self {
            VersionField::Off => None,
            VersionField::Top(key) | VersionField::Nested(key, _) => Some(key),
        }
    }
}

/// A running `firehose` filter instance.
pub struct Filter {
    live: Arc<Live>,
    runner: Runner,
    version_field: VersionField,
    /// The version value as msgpack (a string, or a one-member map).
    version_value: Vec<u8>,
    dead_letters: BufWriter<File>,
    dead_letter_path: PathBuf,
    // Dropped last: stops the watcher thread, then the engine's epoch thread.
    _watcher: Option<Watcher>,
    _engine: Arc<Engine>,
}

impl Filter {
    /// Starts an instance from its properties (`property(name)` is case-insensitive).
    pub fn start(property: impl Fn(&str) -> Option<String>) -> Result<Filter, String> {
        let pipeline_path = property("pipeline")
            .map(PathBuf::from)
            .ok_or("the `Pipeline` property is required: the path of a Firehose pipeline file")?;
        let flag = |name: &str, default: bool| match property(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["on", "true", "yes", "1"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["off", "false", "no", "0"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(format!("property `{name}`: expected on or off, got `{v}`")),
        };
        let watch = flag("watch", true)?;
        let cache = property("cache_dir").map(PathBuf::from).or_else(Engine::default_cache_dir);
        let engine = Engine::new(cache.as_deref()).map_err(|e| e.to_string())?;
        let pipeline = Pipeline::load(&engine, &pipeline_path).map_err(|e| e.to_string())?;
        let version_field = match property("version_field") {
            Some(text) => VersionField::parse(&text),
            None if pipeline.config.metadata.rules_version => VersionField::parse("firehose_metadata.rules_version"),
            None => VersionField::Off,
        };
        let dead_letter_path = property("dead_letter").map(PathBuf::from).unwrap_or_else(|| {
            pipeline_path.parent().unwrap_or(std::path::Path::new(".")).join("firehose-dead-letters.ndjson")
        });
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&dead_letter_path)
            .map_err(|e| format!("property `Dead_Letter`: cannot open {}: {e}", dead_letter_path.display()))?;
        let live = Live::new(pipeline);
        let watcher = if watch {
            let reloader = Reloader::new(engine.clone(), pipeline_path.clone(), live.clone(), 1);
            Some(
                Watcher::start(reloader, WatchOptions::default())
                    .map_err(|e| format!("cannot watch the pipeline: {e}"))?,
            )
        } else {
            None
        };
        let runner = live.current().runner();
        let mut filter = Filter {
            live,
            runner,
            version_field,
            version_value: Vec::new(),
            dead_letters: BufWriter::new(file),
            dead_letter_path,
            _watcher: watcher,
            _engine: engine,
        };
        filter.refresh_version();
        log::info!(
            "rules version {} from {}, dead letters to {}{}",
            filter.runner.pipeline().id,
            pipeline_path.display(),
            filter.dead_letter_path.display(),
            if watch { ", watching for changes" } else { "" }
        );
        Ok(filter)
    }

    /// Asks for a reload now (SIGHUP is Fluent Bit's own; this is for tests and tools).
    pub fn reload_now(&self) -> Option<crate::reload::ReloadOutcome> {
        self._watcher.as_ref().and_then(Watcher::reload_now)
    }

    fn refresh_version(&mut self) {
        let id = self.runner.pipeline().id.to_string();
        self.version_value.clear();
        match &self.version_field {
            VersionField::Off => {}
            VersionField::Top(_) => {
                let _ = rmp::encode::write_str(&mut self.version_value, &id);
            }
            VersionField::Nested(_, inner) => {
                let _ = rmp::encode::write_map_len(&mut self.version_value, 1);
                let _ = rmp::encode::write_str(&mut self.version_value, inner);
                let _ = rmp::encode::write_str(&mut self.version_value, &id);
            }
        }
    }

    /// Runs one chunk. `Ok(None)`: pass it on unchanged; `Ok(Some(bytes))`: replace it
    /// (empty when every record was dropped).
    pub fn process(&mut self, tag: &str, chunk: &[u8]) -> Result<Option<Vec<u8>>, String> {
        if !self.live.is_current(self.runner.pipeline()) {
            self.runner = self.live.current().runner();
            self.refresh_version();
        }
        let records = msgpack::records(chunk)
            .map_err(|e| format!("chunk of tag `{tag}` is not valid msgpack ({e}); passed on unchanged"))?;
        let mut intake = Intake::default();
        // For each event of the intake, the record it came from.
        let mut record_of = Vec::with_capacity(records.len());
        let mut json = Vec::new();
        let mut dead = Vec::new();
        for (r, record) in records.iter().enumerate() {
            let Record::Log { body, .. } = record else { continue };
            json.clear();
            match msgpack::to_json(&chunk[body.clone()], &mut json) {
                Ok(()) => {
                    let before = intake.events.len();
                    intake.add(r as u64 + 1, &json);
                    if intake.events.len() > before {
                        record_of.push(r);
                    }
                }
                Err(e) => emit::dead_letter_with(
                    r as u64 + 1,
                    None,
                    &format!("record body cannot be read: {e}"),
                    &chunk[body.clone()],
                    &origin(tag, chunk, record),
                    &mut dead,
                ),
            }
        }
        let outcome = self.runner.run(&intake.events);
        // Dead letters name their record by position (from 1), tag and time.
        for l in emit::batch_letters(&intake, &outcome) {
            let origin = origin(tag, chunk, &records[l.line as usize - 1]);
            emit::dead_letter_with(l.line, l.stage, l.reason, l.raw, &origin, &mut dead);
        }
        // For each delivered event, whether no stage changed it.
        let untouched: Vec<bool> = (0..outcome.delivered.len())
            .map(|k| outcome.delivered.get(k) == intake.events.get(outcome.origin[k] as usize))
            .collect();
        let unchanged = self.version_field == VersionField::Off
            && outcome.delivered.len() == records.len()
            && untouched.iter().all(|&u| u);
        if unchanged {
            self.store_dead_letters(tag, &dead);
            return Ok(None);
        }
        // Delivered events by record, in order, with their original headers.
        let mut delivered_of = vec![None; records.len()];
        for (k, &origin) in outcome.origin.iter().enumerate() {
            delivered_of[record_of[origin as usize]] = Some(k);
        }
        let mut out = Vec::with_capacity(chunk.len() + records.len() * 32);
        for (r, record) in records.iter().enumerate() {
            match record {
                Record::Other { span } => out.extend_from_slice(&chunk[span.clone()]),
                Record::Log { span, header, body } => {
                    let Some(k) = delivered_of[r] else { continue };
                    if untouched[k] {
                        // No stage changed it: its original bytes go on (binary, ext
                        // and float widths that JSON cannot carry survive).
                        if self.copy_untouched(
                            &chunk[span.clone()],
                            &chunk[header.clone()],
                            &chunk[body.clone()],
                            &mut out,
                        ) {
                            continue;
                        }
                    }
                    self.encode(&chunk[header.clone()], &outcome.delivered.event(k), &mut out);
                }
            }
        }
        // Last, so that a failure on the way leaves no record both dead-lettered and
        // passed on.
        self.store_dead_letters(tag, &dead);
        Ok(Some(out))
    }

    /// Appends a record no stage changed as it came, plus the version member; false
    /// (nothing written) when that needs re-encoding (the member already exists).
    fn copy_untouched(&self, record: &[u8], header: &[u8], body: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(key) = self.version_field.key() else {
            out.extend_from_slice(record);
            return true;
        };
        let mark = out.len();
        out.push(0x92);
        out.extend_from_slice(header);
        if msgpack::append_member(body, key, &self.version_value, out) {
            return true;
        }
        out.truncate(mark);
        false
    }

    /// Appends `[header, body]` with the version member added (or replaced).
    fn encode(&self, header: &[u8], event: &Event<'_>, out: &mut Vec<u8>) {
        let Some(key) = self.version_field.key() else {
            msgpack::encode_record(header, event, out);
            return;
        };
        out.push(0x92);
        out.extend_from_slice(header);
        let root = event.root();
        let kept: Vec<_> = root.members().filter(|(k, _)| !k.is(key)).collect();
        let _ = rmp::encode::write_map_len(out, kept.len() as u32 + 1);
        for (k, value) in kept {
            let _ = rmp::encode::write_str(out, &k.as_str());
            msgpack::from_json(event, value.entry(), out);
        }
        let _ = rmp::encode::write_str(out, key);
        out.extend_from_slice(&self.version_value);
    }

    fn store_dead_letters(&mut self, tag: &str, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let written = self.dead_letters.write_all(lines).and_then(|()| self.dead_letters.flush());
        if let Err(e) = written {
            log::error!(
                "cannot write dead letters of tag `{tag}` to {}: {e}; they are in this log instead: {}",
                self.dead_letter_path.display(),
                String::from_utf8_lossy(lines)
            );
        }
    }
}

/// Where a dead-lettered record came from: Fluent Bit's tag and the record's time
/// (seconds since the epoch), so it can be found and replayed.
fn origin(tag: &str, chunk: &[u8], record: &Record) -> [(&'static str, serde_json::Value); 2] {
    let time = match record {
        Record::Log { header, .. } => msgpack::record_time(&chunk[header.clone()]),
        Record::Other { .. } => None,
    };
    [("tag", serde_json::Value::from(tag)), ("time", time.map_or(serde_json::Value::Null, serde_json::Value::from))]
}

#[cfg(test)]
mod tests {
    use super::VersionField;

    #[test]
    fn version_field_switches_off_in_any_case() {
        for off in ["", "off", "Off", "OFF", "false", "False", "no"] {
            assert_eq!(VersionField::parse(off), VersionField::Off, "{off:?}");
        }
        assert_eq!(VersionField::parse("Rules"), VersionField::Top("Rules".into()));
        assert_eq!(
            VersionField::parse("firehose_metadata.rules_version"),
            VersionField::Nested("firehose_metadata".into(), "rules_version".into())
        );
    }
}
