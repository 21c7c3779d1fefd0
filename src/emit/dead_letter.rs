//! Dead-letter records: one JSON line per event that could not be processed, with
//! enough to understand and replay it.

use serde_json::{Value, json};

/// Appends one dead-letter line: `{"line": N, "stage": S, "reason": R, "raw": TEXT}`
/// (`stage` omitted for input that never reached a stage).
pub fn dead_letter(line: u64, stage: Option<&str>, reason: &str, raw: &[u8], out: &mut Vec<u8>) {
    let raw = String::from_utf8_lossy(raw);
    let record = match stage {
        Some(stage) => json!({"line": line, "stage": stage, "reason": reason, "raw": raw}),
        None => json!({"line": line, "reason": reason, "raw": raw}),
    };
    serde_json::to_writer(&mut *out, &record).expect("dead letter serializes");
    out.push(b'\n');
}

/// Reads back a dead-letter line (for tools and tests).
pub fn parse_dead_letter(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}
