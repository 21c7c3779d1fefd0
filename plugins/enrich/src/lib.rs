//! The `enrich` rule module: adds context to every event.
//!
//! - **Lookups**: the value at `key` (e.g. `flow_id`) is looked up in a table the host
//!   loaded from a CSV or JSON file; the matching row (minus its key column, or just
//!   the chosen `columns`) is added under `into`.
//! - **Tags**: a static object added under `tags_into` (default `tags`).
//! - **Processing facts**: when and by which pipeline version and modules the event
//!   was processed, added under `processing.into` (default `firehose_processing`).
//!
//! Added members replace existing members of the same name. Rows are serialized once
//! at configuration, so enriching an event is a lookup and a byte splice.

mod config;
mod table;

use firehose_sdk::json::{self, Fields, Path, RawValue, Splices};
use firehose_sdk::memmem;
use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule};

use config::{EnrichConfig, OnMissing};
use table::Table;

/// The configured enrichment.
#[derive(Debug)]
pub struct Enrich {
    lookups: Vec<Lookup>,
    /// Serialized tags and the index of their member name in `names`.
    tags: Option<(Vec<u8>, usize)>,
    tags_into: String,
    /// The processing member's name and its index in `names`.
    processing_into: Option<(String, usize)>,
    /// Top-level member names to find in each event: lookup keys, then `into` names.
    names: Vec<String>,
    /// For each name, a finder for `"name"` if the member matters only when present
    /// (the `into` names): when the text is nowhere in the event, no scan is needed.
    presence: Vec<Option<memmem::Finder<'static>>>,
    splices: Splices,
}

#[derive(Debug)]
struct Lookup {
    key: Key,
    table: Table,
    into: String,
    /// Index of `into` in `Enrich::names`.
    into_index: usize,
    on_missing: OnMissing,
}

#[derive(Debug)]
enum Key {
    /// A top-level member, found during the single top-level scan.
    TopLevel(usize),
    /// A deeper JSONPath.
    Path(Path),
}

/// What one top-level scan found: the value of each wanted name.
struct Found {
    values: Vec<Option<std::ops::Range<usize>>>,
    /// Which names can be in this event.
    wanted: Vec<bool>,
}

impl Enrich {
    /// Finds the wanted top-level members, stopping as soon as every one that can be
    /// present has been seen.
    fn scan_top_level(&self, event: &[u8], found: &mut Found) {
        found.values.clear();
        found.values.resize(self.names.len(), None);
        found.wanted.clear();
        found.wanted.extend(self.presence.iter().map(|p| p.as_ref().is_none_or(|f| f.find(event).is_some())));
        let mut remaining = found.wanted.iter().filter(|w| **w).count();
        if remaining == 0 {
            return;
        }
        let Ok(fields) = Fields::new(event, json::skip_ws(event, 0)) else {
            return;
        };
        for field in fields.map_while(Result::ok) {
            let Some(i) = self.names.iter().position(|n| field.key_is(event, n)) else { continue };
            if found.values[i].is_none() {
                found.values[i] = Some(field.value);
                if found.wanted[i] {
                    remaining -= 1;
                    if remaining == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// Enriches one event, pushing its verdict to `out`.
    fn enrich(&mut self, event: &[u8], processing: Option<&[u8]>, found: &mut Found, out: &mut Output) {
        self.scan_top_level(event, found);
        let Some(close) = json::closing_brace(event) else {
            out.reject("event is not a JSON object");
            return;
        };
        let mut needs_comma = !json::object_is_empty(event, close);
        self.splices.clear();
        let mut put = |splices: &mut Splices, existing: Option<std::ops::Range<usize>>, into: &str, value: &[u8]| {
            match existing {
                Some(range) => splices.replace(range, |t| t.extend_from_slice(value)),
                None => {
                    splices.insert(close, |t| {
                        if needs_comma {
                            t.push(b',');
                        }
                        json::write_string(t, into);
                        t.push(b':');
                        t.extend_from_slice(value);
                    });
                    needs_comma = true;
                }
            }
        };
        for lookup in &self.lookups {
            let key_value = match &lookup.key {
                Key::TopLevel(i) => found.values[*i].clone().map(|r| RawValue::new(&event[r])),
                Key::Path(path) => path.first(event),
            };
            let key_text = key_value.filter(|v| !v.is_null()).map(|v| v.to_text());
            let row = key_text.as_deref().and_then(|k| lookup.table.get(k));
            let existing = found.values[lookup.into_index].clone();
            match (row, lookup.on_missing) {
                (Some(row), _) => put(&mut self.splices, existing, &lookup.into, row),
                (None, OnMissing::Skip) => {}
                (None, OnMissing::Null) => put(&mut self.splices, existing, &lookup.into, b"null"),
                (None, OnMissing::Reject) => {
                    out.reject(match key_text {
                        Some(k) => format!("no row for `{k}` in the table for `{}`", lookup.into),
                        None => format!("event has no lookup key for `{}`", lookup.into),
                    });
                    return;
                }
            }
        }
        if let Some((tags, index)) = &self.tags {
            put(&mut self.splices, found.values[*index].clone(), &self.tags_into, tags);
        }
        if let (Some((into, index)), Some(facts)) = (&self.processing_into, processing) {
            put(&mut self.splices, found.values[*index].clone(), into, facts);
        }
        if self.splices.is_empty() {
            out.keep();
        } else {
            let splices = &mut self.splices;
            out.replace(|buf| splices.apply(event, buf));
        }
    }
}

/// The processing facts of a batch, serialized once per batch.
fn processing_facts(ctx: &Context) -> Vec<u8> {
    let processed_at = chrono::DateTime::from_timestamp_millis(ctx.now_unix_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let modules: serde_json::Map<String, serde_json::Value> =
        ctx.stages.iter().map(|s| (s.stage.clone(), format!("{}@{}", s.module, s.version).into())).collect();
    let facts = serde_json::json!({
        "processed_at": processed_at,
        "batch_id": ctx.batch_id,
        "pipeline_version": ctx.pipeline_version,
        "modules": modules,
    });
    serde_json::to_vec(&facts).expect("facts serialize")
}

impl Rule for Enrich {
    fn describe() -> ModuleInfo {
        firehose_sdk::module_info!("enrich")
    }

    fn configure(text: &str) -> Result<Self, ConfigError> {
        let config: EnrichConfig = firehose_sdk::config::parse(text)?;
        let mut names: Vec<String> = Vec::new();
        let mut name = |n: &str| match names.iter().position(|x| x == n) {
            Some(i) => i,
            None => {
                names.push(n.to_string());
                names.len() - 1
            }
        };
        let mut lookups = Vec::new();
        for (i, l) in config.lookups.iter().enumerate() {
            let field = format!("lookups[{i}]");
            let key = match config::top_level_name(&l.key) {
                Some(top) => Key::TopLevel(name(top)),
                None => {
                    Key::Path(Path::parse(&l.key).map_err(|e| ConfigError::new(format!("{field}.key"), e.to_string()))?)
                }
            };
            let table = Table::build(&l.table, &l.key_column, l.columns.as_deref()).map_err(|e| e.within(&field))?;
            if l.into.is_empty() {
                return Err(ConfigError::new(
                    format!("{field}.into"),
                    "expected the name of the member to add, e.g. `flow`",
                ));
            }
            let into_index = name(&l.into);
            lookups.push(Lookup { key, table, into: l.into.clone(), into_index, on_missing: l.on_missing });
        }
        let tags = match &config.tags {
            Some(serde_json::Value::Object(map)) if !map.is_empty() => {
                Some((serde_json::to_vec(map).expect("tags serialize"), name(&config.tags_into)))
            }
            Some(serde_json::Value::Object(_)) | None => None,
            Some(_) => {
                return Err(ConfigError::new("tags", "expected a map of tag names to values"));
            }
        };
        let processing_into = config.processing.into_name().map(|into| {
            let index = name(&into);
            (into, index)
        });
        let lookup_keys: Vec<usize> =
            lookups.iter().filter_map(|l| if let Key::TopLevel(i) = l.key { Some(i) } else { None }).collect();
        let presence = (0..names.len())
            .map(|i| {
                (!lookup_keys.contains(&i))
                    .then(|| memmem::Finder::new(format!("\"{}\"", names[i]).as_bytes()).into_owned())
            })
            .collect();
        Ok(Enrich {
            lookups,
            tags,
            tags_into: config.tags_into,
            processing_into,
            names,
            presence,
            splices: Splices::new(),
        })
    }

    fn process(&mut self, batch: &Batch<'_>, ctx: &Context, out: &mut Output) {
        // Facts are the same for every event of the batch: serialize them once.
        let facts = self.processing_into.is_some().then(|| processing_facts(ctx));
        let mut found =
            Found { values: Vec::with_capacity(self.names.len()), wanted: Vec::with_capacity(self.names.len()) };
        for event in batch.iter() {
            self.enrich(event, facts.as_deref(), &mut found, out);
        }
    }
}

firehose_sdk::export_rule!(Enrich);

#[cfg(test)]
mod tests;
