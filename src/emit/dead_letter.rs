//! Dead-letter records: one JSON line per event that could not be processed, with
//! enough to understand and replay it.

use base64::Engine;
use serde_json::{Value, json};

use crate::intake::Intake;
use crate::pipeline::BatchOutcome;

/// A record of a batch that did not come through: unreadable at intake, or refused by
/// a stage.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// Its input line (or array element, or chunk record), from 1.
    pub line: u64,
    /// The stage that refused it; None when it never reached one.
    pub stage: Option<&'a str>,
    /// Why.
    pub reason: &'a str,
    /// The record as received.
    pub raw: &'a [u8],
}

impl Letter<'_> {
    /// Appends it as a dead-letter line (see [`dead_letter`]).
    pub fn write(&self, out: &mut Vec<u8>) {
        dead_letter(self.line, self.stage, self.reason, self.raw, out);
    }
}

/// The dead letters of one batch run: the records `intake` could not read, then the
/// events the stages refused in `outcome`, each named by its input line.
pub fn batch_letters<'a>(intake: &'a Intake, outcome: &'a BatchOutcome) -> impl Iterator<Item = Letter<'a>> {
    let unreadable =
        intake.malformed.iter().map(|m| Letter { line: m.line, stage: None, reason: &m.reason, raw: &m.raw });
    let refused = outcome.dead_letters.iter().map(|d| {
        let i = d.index as usize;
        Letter { line: intake.lines[i], stage: Some(&d.stage), reason: &d.reason, raw: intake.events.get(i) }
    });
    unreadable.chain(refused)
}

/// Appends one dead-letter line: `{"line": N, "stage": S, "reason": R, "raw": TEXT}`
/// (`stage` omitted for input that never reached a stage; `raw_base64` added when the
/// record is not valid UTF-8, see [`add_raw`]).
pub fn dead_letter(line: u64, stage: Option<&str>, reason: &str, raw: &[u8], out: &mut Vec<u8>) {
    dead_letter_with(line, stage, reason, raw, &[], out);
}

/// Like [`dead_letter`], with more members telling where the record came from (such
/// as Fluent Bit's tag and the record's time).
pub fn dead_letter_with(
    line: u64,
    stage: Option<&str>,
    reason: &str,
    raw: &[u8],
    origin: &[(&str, Value)],
    out: &mut Vec<u8>,
) {
    let mut record = match stage {
        Some(stage) => json!({"line": line, "stage": stage, "reason": reason}),
        None => json!({"line": line, "reason": reason}),
    };
    for (key, value) in origin {
        record[*key] = value.clone();
    }
    add_raw(&mut record, raw);
    serde_json::to_writer(&mut *out, &record).expect("dead letter serializes");
    out.push(b'\n');
}

/// Adds the record as it came in to a dead letter: `raw` as text and, when the bytes
/// are not valid UTF-8 (so `raw` had to replace some), also `raw_base64` with the exact
/// bytes, so a dead letter can always be replayed as it was.
pub fn add_raw(record: &mut Value, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let exact = matches!(text, std::borrow::Cow::Borrowed(_));
    record["raw"] = Value::String(text.into_owned());
    if !exact {
        record["raw_base64"] = Value::String(base64::engine::general_purpose::STANDARD.encode(raw));
    }
}

/// The exact bytes of the record a dead letter carries (what [`add_raw`] wrote):
/// `raw_base64` when present, else `raw`'s text. `None` when neither is readable.
pub fn raw_of(letter: &Value) -> Option<Vec<u8>> {
    match letter.get("raw_base64") {
        Some(encoded) => base64::engine::general_purpose::STANDARD.decode(encoded.as_str()?).ok(),
        None => Some(letter.get("raw")?.as_str()?.as_bytes().to_vec()),
    }
}

/// Reads back a dead-letter line (for tools and tests).
pub fn parse_dead_letter(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_that_are_not_utf8() {
        let mut out = Vec::new();
        dead_letter(3, None, "not JSON", b"{\"a\": \"\xff\xfe\"}", &mut out);
        let record = parse_dead_letter(std::str::from_utf8(&out).unwrap()).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(record["raw_base64"].as_str().unwrap()).unwrap();
        assert_eq!(bytes, b"{\"a\": \"\xff\xfe\"}");
        assert_eq!(raw_of(&record).unwrap(), bytes, "the exact bytes, read back");
        let mut out = Vec::new();
        dead_letter(3, Some("mask"), "refused", "{\"name\": \"Zoë\"}".as_bytes(), &mut out);
        let record = parse_dead_letter(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(record["raw"], "{\"name\": \"Zoë\"}");
        assert!(record.get("raw_base64").is_none());
        assert_eq!(raw_of(&record).unwrap(), "{\"name\": \"Zoë\"}".as_bytes(), "the text when it is exact");
    }
}
