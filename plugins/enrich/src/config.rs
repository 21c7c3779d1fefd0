//! The enrichment's configuration as users write it (after the host has replaced
//! `{$table: file}` references with the table's rows).

use serde::Deserialize;

/// Top-level configuration of the `enrich` module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// Table lookups, applied in order.
    #[serde(default)]
    pub lookups: Vec<LookupConfig>,
    /// Static tags added to every event.
    #[serde(default)]
    pub tags: Option<serde_json::Value>,
    /// Member name for the tags.
    #[serde(default = "default_tags_into")]
    pub tags_into: String,
    /// Processing facts: `true` (under `firehose_processing`), `false`, or `{into: name}`.
    #[serde(default)]
    pub processing: Processing,
}

fn default_tags_into() -> String {
    "tags".to_string()
}

/// One table lookup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// The event field holding the lookup key: a top-level name (`flow_id`) or a JSONPath.
    pub key: String,
    /// The table's rows: a list of objects (the host fills this from `{$table: file}`).
    pub table: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The table column matched against the key.
    #[serde(default = "default_key_column")]
    pub key_column: String,
    /// Member added to the event with the matching row.
    pub into: String,
    /// Columns to copy; default: every column except `key_column`.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// What to do when no row matches: `skip` (default), `null`, or `reject`.
    #[serde(default)]
    pub on_missing: OnMissing,
}

fn default_key_column() -> String {
    "id".to_string()
}

/// What to do when a lookup finds no row.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// Add nothing.
    #[default]
    Skip,
    /// Add the member with `null`.
    Null,
    /// Reject the event (it is dead-lettered with the reason).
    Reject,
}

/// Whether and where to add processing facts.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "true, false or {into: NAME}")]
pub enum Processing {
    /// `true`: add under the default name; `false`: do not add.
    Enabled(bool),
    /// Add under `into`.
    Named {
        /// The member name.
        into: String,
    },
}

impl Default for Processing {
    fn default() -> Self {
        Processing::Enabled(true)
    }
}

impl Processing {
    /// The member name to add facts under, if enabled.
    pub fn into_name(self) -> Option<String> {
        match self {
            Processing::Enabled(true) => Some("firehose_processing".to_string()),
            Processing::Enabled(false) => None,
            Processing::Named { into } => Some(into),
        }
    }
}

/// `Some(name)` if `key` names a top-level member (`flow_id` or `$.flow_id`).
pub fn top_level_name(key: &str) -> Option<&str> {
    let name = key.strip_prefix("$.").unwrap_or(key);
    let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (plain && (key.starts_with("$.") || !key.starts_with('$'))).then_some(name)
}
