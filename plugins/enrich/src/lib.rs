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
//! at configuration, so enriching an event is one pass over its top-level members
//! (through the host's tape) and a few edits.

mod config;
mod table;

use firehose_sdk::json::{self, Event, Path, Value};
use firehose_sdk::{Batch, ConfigError, Context, Edits, ModuleInfo, Output, Rule, Text};

use config::{EnrichConfig, OnMissing};
use table::Table;

/// The configured enrichment.
#[derive(Debug)]
pub struct Enrich {
    lookups: Vec<Lookup>,
    /// Serialized tags and the index of their member name in `names`.
    tags: Option<(Vec<u8>, usize)>,
    /// The processing member's index in `names`.
    processing: Option<usize>,
    /// Top-level member names to find in each event: lookup keys and added members.
    names: Vec<String>,
    /// The same names, for finding them among an event's keys in one probe each.
    members: json::NameSet,
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
    /// A top-level member: its index in `Enrich::names`.
    TopLevel(usize),
    /// A deeper JSONPath.
    Path(Path),
}

/// A value the enrichment adds.
#[derive(Debug, Clone, Copy)]
enum Addition {
    Row { lookup: usize, row: usize },
    Null,
    Tags,
    Facts,
}

/// Texts written once per batch and shared by the edits of all its events: for each
/// addition, its value and its `"name": value` member form.
#[derive(Debug, Default)]
struct Shared {
    rows: Vec<Vec<[Option<Text>; 2]>>,
    others: foldhash::HashMap<(usize, u8), [Option<Text>; 2]>,
}

impl Enrich {
    /// The values of the wanted top-level members, in one pass over the root.
    fn find_members<'a>(&self, event: &Event<'a>, found: &mut Vec<Option<Value<'a>>>) {
        found.clear();
        found.resize(self.names.len(), None);
        for (key, value) in event.root().members() {
            if let Some(i) = key.find_in(&self.members) {
                found[i].get_or_insert(value);
            }
        }
    }

    fn value_of<'s>(&'s self, addition: Addition, facts: &'s [u8]) -> &'s [u8] {
        match addition {
            Addition::Row { lookup, row } => self.lookups[lookup].table.row(row),
            Addition::Null => b"null",
            Addition::Tags => self.tags.as_ref().map_or(b"{}", |(tags, _)| tags),
            Addition::Facts => facts,
        }
    }

    /// The shared text of `addition` under member `name`, as a value or as a member.
    fn text(
        &self,
        shared: &mut Shared,
        edits: &mut Edits<'_>,
        addition: Addition,
        name: usize,
        member: bool,
        facts: &[u8],
    ) -> Text {
        let slot = match addition {
            Addition::Row { lookup, row } => &mut shared.rows[lookup][row],
            other => shared.others.entry((name, discriminant(other))).or_default(),
        };
        if let Some(text) = slot[member as usize] {
            return text;
        }
        let value = self.value_of(addition, facts);
        let text = edits.text(|out| {
            if member {
                json::write_string(out, &self.names[name]);
                out.push(b':');
            }
            out.extend_from_slice(value);
        });
        slot[member as usize] = Some(text);
        text
    }

    /// Enriches one event, pushing its verdict to `out`.
    fn enrich<'a>(&self, event: &Event<'a>, facts: &[u8], scratch: &mut Scratch<'a>, out: &mut Output) {
        let Scratch { found, additions, shared } = scratch;
        self.find_members(event, found);
        additions.clear();
        for (l, lookup) in self.lookups.iter().enumerate() {
            let key_value = match &lookup.key {
                Key::TopLevel(i) => found[*i],
                Key::Path(path) => event.get(path),
            };
            let key_text = key_value.filter(|v| !v.is_null()).map(|v| v.to_text());
            match (key_text.as_deref().and_then(|k| lookup.table.find(k)), lookup.on_missing) {
                (Some(row), _) => additions.push((lookup.into_index, Addition::Row { lookup: l, row })),
                (None, OnMissing::Skip) => {}
                (None, OnMissing::Null) => additions.push((lookup.into_index, Addition::Null)),
                (None, OnMissing::Reject) => {
                    out.reject(match key_text {
                        Some(k) => format!("no row for `{k}` in the table for `{}`", lookup.into),
                        None => format!("event has no lookup key for `{}`", lookup.into),
                    });
                    return;
                }
            }
        }
        if let Some((_, index)) = &self.tags {
            additions.push((*index, Addition::Tags));
        }
        if let Some(index) = self.processing {
            additions.push((index, Addition::Facts));
        }
        let root = event.root();
        out.edit(|edits: &mut Edits<'_>| {
            for &(name, addition) in additions.iter() {
                match found[name] {
                    Some(existing) => {
                        let text = self.text(shared, edits, addition, name, false, facts);
                        edits.set_text(&existing, text);
                    }
                    None => {
                        let text = self.text(shared, edits, addition, name, true, facts);
                        edits.add_text(&root, text);
                    }
                }
            }
        });
    }
}

fn discriminant(addition: Addition) -> u8 {
    match addition {
        Addition::Row { .. } => 0,
        Addition::Null => 1,
        Addition::Tags => 2,
        Addition::Facts => 3,
    }
}

/// Per-batch working space.
struct Scratch<'a> {
    found: Vec<Option<Value<'a>>>,
    additions: Vec<(usize, Addition)>,
    shared: Shared,
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
        let (mut names, mut members): (Vec<String>, _) = (Vec::new(), json::NameSet::new());
        let mut name = |n: &str| {
            let i = members.insert(n.as_bytes());
            if i == names.len() {
                names.push(n.to_string());
            }
            i
        };
        let mut lookups = Vec::new();
        for (i, l) in config.lookups.iter().enumerate() {
            let field = format!("lookups[{i}]");
            let key = match config::top_level_name(&l.key) {
                Some(top) => Key::TopLevel(name(top)),
                None => {
                    let path =
                        Path::parse(&l.key).map_err(|e| ConfigError::new(format!("{field}.key"), e.to_string()))?;
                    if path.segments().is_none() {
                        return Err(ConfigError::new(
                            format!("{field}.key"),
                            "a lookup key names one value: use names and indexes (no filters or slices)",
                        ));
                    }
                    Key::Path(path)
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
            Some(_) => return Err(ConfigError::new("tags", "expected a map of tag names to values")),
        };
        let processing_into = config.processing.into_name();
        let processing = processing_into.as_deref().map(&mut name);
        // Each destination member is written once per event: two writers would collide.
        let mut destinations: Vec<(String, &str)> =
            lookups.iter().enumerate().map(|(i, l)| (format!("lookups[{i}].into"), l.into.as_str())).collect();
        if tags.is_some() {
            destinations.push(("tags_into".into(), config.tags_into.as_str()));
        }
        if let Some(into) = &processing_into {
            destinations.push(("processing.into".into(), into.as_str()));
        }
        for (i, (field, into)) in destinations.iter().enumerate() {
            if let Some((first, _)) = destinations[..i].iter().find(|(_, other)| other == into) {
                return Err(ConfigError::new(
                    field.clone(),
                    format!("`{into}` is already written by `{first}`; give each a member name of its own"),
                ));
            }
        }
        Ok(Enrich { lookups, tags, processing, names, members })
    }

    fn process(&mut self, batch: &Batch<'_>, ctx: &Context, out: &mut Output) {
        // Facts are the same for every event of the batch: serialize them once.
        let facts = if self.processing.is_some() { processing_facts(ctx) } else { Vec::new() };
        let shared = Shared {
            rows: self.lookups.iter().map(|l| vec![[None; 2]; l.table.len()]).collect(),
            others: foldhash::HashMap::default(),
        };
        let mut scratch = Scratch { found: Vec::with_capacity(self.names.len()), additions: Vec::new(), shared };
        for event in batch.iter() {
            self.enrich(&event, &facts, &mut scratch, out);
        }
    }

    /// The lookup keys' members and the members it adds (it replaces existing ones of
    /// the same name); whole events when a lookup key's path may reach any member.
    fn reads(&self) -> Option<Vec<String>> {
        let mut names = self.names.clone();
        for lookup in &self.lookups {
            if let Key::Path(path) = &lookup.key {
                names.push(path.top_level_member()?.to_string());
            }
        }
        Some(names)
    }
}

firehose_sdk::export_rule!(Enrich);

#[cfg(test)]
mod tests;
