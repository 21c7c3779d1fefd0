//! Resolving `{$table: FILE}`, `{$env: NAME}` and `{$file: FILE}` inside a stage's
//! configuration. The host does the I/O so modules need none.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A reference that could not be resolved, with the config path where it was found.
#[derive(Debug)]
pub struct ReferenceError {
    /// Where in the stage config, e.g. `.lookups[0].table`.
    pub at: String,
    /// What went wrong and how to fix it.
    pub message: String,
}

/// Replaces every reference inside `value`; files read are appended to `files`.
pub fn resolve(value: &mut Value, base: &Path, files: &mut Vec<PathBuf>) -> Result<(), ReferenceError> {
    resolve_at(value, base, files, &mut String::new())
}

fn resolve_at(value: &mut Value, base: &Path, files: &mut Vec<PathBuf>, at: &mut String) -> Result<(), ReferenceError> {
    let fail = |at: &str, message: String| ReferenceError { at: at.to_string(), message };
    match value {
        Value::Object(map) if map.len() == 1 && map.keys().next().is_some_and(|k| k.starts_with('$')) => {
            let (kind, arg) = map.iter().next().expect("one entry");
            let Value::String(arg) = arg else {
                return Err(fail(at, format!("`{kind}` takes a string")));
            };
            *value = match kind.as_str() {
                "$env" => Value::String(std::env::var(arg).map_err(|_| {
                    fail(at, format!("environment variable `{arg}` is not set; export it before starting firehose"))
                })?),
                "$file" => {
                    let path = base.join(arg);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| fail(at, format!("cannot read {}: {e}", path.display())))?;
                    files.push(path);
                    Value::String(text.trim_end_matches(['\n', '\r']).to_string())
                }
                "$table" => {
                    let path = base.join(arg);
                    let rows = load_table(&path)
                        .map_err(|message| fail(at, format!("table {}: {message}", path.display())))?;
                    files.push(path);
                    Value::Array(rows.into_iter().map(Value::Object).collect())
                }
                other => return Err(fail(at, format!("unknown reference `{other}` (expected $table, $env or $file)"))),
            };
            Ok(())
        }
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let len = at.len();
                at.push('.');
                at.push_str(key);
                resolve_at(child, base, files, at)?;
                at.truncate(len);
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                let len = at.len();
                at.push_str(&format!("[{i}]"));
                resolve_at(child, base, files, at)?;
                at.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Loads a lookup table: CSV with a header row (every cell a string), a JSON array of
/// objects, or NDJSON (one object per line). The format follows the extension.
pub fn load_table(path: &Path) -> Result<Vec<Map<String, Value>>, String> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    match extension.as_str() {
        "csv" => {
            let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes.as_slice());
            let headers = reader.headers().map_err(|e| format!("cannot read the header row: {e}"))?.clone();
            reader
                .records()
                .map(|record| {
                    let record = record.map_err(|e| format!("{e}"))?;
                    Ok(headers
                        .iter()
                        .zip(record.iter())
                        .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                        .collect())
                })
                .collect()
        }
        "json" => match serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("not valid JSON: {e}"))? {
            Value::Array(rows) => rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| match row {
                    Value::Object(map) => Ok(map),
                    _ => Err(format!("row {i} is not an object")),
                })
                .collect(),
            _ => Err("expected a JSON array of objects".into()),
        },
        "ndjson" | "jsonl" => String::from_utf8_lossy(&bytes)
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(format!("line {} is not an object", i + 1)),
                Err(e) => Err(format!("line {}: {e}", i + 1)),
            })
            .collect(),
        _ => Err("unknown table format: use a .csv, .json, .ndjson or .jsonl file".into()),
    }
}
