//! A lookup table: rows keyed by one column, each pre-serialized as the JSON object
//! to add to matching events.

use std::collections::HashMap;

use firehose_sdk::ConfigError;
use serde_json::{Map, Value};

/// Rows by key, each already serialized.
#[derive(Debug, Default)]
pub struct Table {
    rows: HashMap<String, Vec<u8>>,
}

impl Table {
    /// Builds the table from rows, keyed by `key_column`, keeping `columns` (or all
    /// columns but the key). Duplicate keys are refused: a lookup must be unambiguous.
    pub fn build(
        rows: &[Map<String, Value>],
        key_column: &str,
        columns: Option<&[String]>,
    ) -> Result<Table, ConfigError> {
        let mut table = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let key = match row.get(key_column) {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => {
                    return Err(ConfigError::new(
                        format!("table[{i}]"),
                        format!(
                            "row has no `{key_column}` (the key_column); columns are: {}",
                            row.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            };
            let kept: Map<String, Value> = match columns {
                Some(columns) => columns.iter().filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone()))).collect(),
                None => row.iter().filter(|(k, _)| *k != key_column).map(|(k, v)| (k.clone(), v.clone())).collect(),
            };
            let bytes = serde_json::to_vec(&kept).expect("row serializes");
            if table.insert(key.clone(), bytes).is_some() {
                return Err(ConfigError::new(
                    format!("table[{i}]"),
                    format!("duplicate key `{key}` in column `{key_column}`"),
                ));
            }
        }
        if let Some(columns) = columns
            && let (Some(missing), Some(first)) =
                (columns.iter().find(|c| rows.iter().all(|r| !r.contains_key(*c))), rows.first())
        {
            return Err(ConfigError::new(
                "columns",
                format!(
                    "no row has column `{missing}`; columns are: {}",
                    first.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(Table { rows: table })
    }

    /// The serialized row for `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.rows.get(key).map(Vec::as_slice)
    }
}
