//! A lookup table: rows keyed by one column, each pre-serialized as the JSON object
//! to add to matching events.

use firehose_sdk::ConfigError;
use firehose_sdk::json::NameSet;
use serde_json::{Map, Value};

/// Rows by key, each already serialized.
#[derive(Debug, Default)]
pub struct Table {
    /// Key `i` is row `i`'s. Every event looks keys up: one probe, and keys compared
    /// eight bytes at a time (a `HashMap<String, _>` hashed with SipHash was 1.5% of the
    /// demo pipeline, and with foldhash its key comparisons, `memcmp` in a module, 1.3%).
    /// The table is fixed at configuration, so there is nothing for colliding keys to
    /// flood.
    index: NameSet,
    rows: Vec<Vec<u8>>,
}

impl Table {
    /// Builds the table from rows, keyed by `key_column`, keeping `columns` (or all
    /// columns but the key). Duplicate keys are refused: a lookup must be unambiguous.
    pub fn build(
        rows: &[Map<String, Value>],
        key_column: &str,
        columns: Option<&[String]>,
    ) -> Result<Table, ConfigError> {
        let mut table = Table { index: NameSet::new(), rows: Vec::with_capacity(rows.len()) };
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
            table.rows.push(bytes);
            if table.index.insert(key.as_bytes()) != table.rows.len() - 1 {
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
        Ok(table)
    }

    /// The index of the row for `key`.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.index.find(key.as_bytes())
    }

    /// The serialized row at `index`.
    pub fn row(&self, index: usize) -> &[u8] {
        &self.rows[index]
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}
