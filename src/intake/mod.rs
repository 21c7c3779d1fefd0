//! Turning input bytes into validated events. Anything that is not one JSON object
//! becomes a [`Malformed`] record with its position and reason: never a crash, never
//! silently skipped. Blank lines are not events and are ignored.

mod decode;

pub use decode::{DecodeError, decode};

use firehose_json as json;

use crate::pipeline::Events;

/// An input record that is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// 1-based line number (NDJSON) or element number (JSON array).
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
    /// The record as received.
    pub raw: Vec<u8>,
}

/// Largest event accepted by default: Amazon Data Firehose's record limit, 1,000 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1000 * 1024;

/// Validated events with the input position of each.
#[derive(Debug, Clone)]
pub struct Intake {
    /// The valid events, with their tapes.
    pub events: Events,
    /// For each event, its 1-based line (or element) number.
    pub lines: Vec<u64>,
    /// Records that are not valid events.
    pub malformed: Vec<Malformed>,
    /// Records longer than this are refused.
    pub max_event_bytes: usize,
    tape: Vec<u32>,
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            events: Events::default(),
            lines: Vec::new(),
            malformed: Vec::new(),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            tape: Vec::new(),
        }
    }
}

impl Intake {
    /// Validates one record and files it as an event (building its tape) or as malformed.
    pub fn add(&mut self, line: u64, record: &[u8]) {
        let record = trim(record);
        if record.len() > self.max_event_bytes {
            let reason =
                format!("event of {} bytes is larger than the {}-byte limit", record.len(), self.max_event_bytes);
            self.malformed.push(Malformed { line, reason, raw: record.to_vec() });
            return;
        }
        match json::validate_event(record, &mut self.tape) {
            Ok(()) => {
                if memchr::memchr2(b'\n', b'\r', record).is_some() {
                    // A pretty-printed event (from a JSON array): its line breaks are
                    // whitespace between tokens (a JSON string cannot hold a raw one), so
                    // spaces keep every offset of the tape and make it one NDJSON line.
                    let flat: Vec<u8> =
                        record.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect();
                    self.events.push(&flat, &self.tape);
                } else {
                    self.events.push(record, &self.tape);
                }
                self.lines.push(line);
            }
            Err(e) => {
                self.malformed.push(Malformed { line, reason: format!("not a JSON object: {e}"), raw: record.to_vec() })
            }
        }
    }

    /// Files one event whose JSON text and tape were written together by an encoder that
    /// only writes valid JSON (the Fluent Bit plugin's msgpack decoder), without reading
    /// it again; the size limit still applies.
    pub fn add_encoded(&mut self, line: u64, event: &[u8], tape: &[u32]) {
        if event.len() > self.max_event_bytes {
            let reason =
                format!("event of {} bytes is larger than the {}-byte limit", event.len(), self.max_event_bytes);
            self.malformed.push(Malformed { line, reason, raw: event.to_vec() });
            return;
        }
        self.events.push(event, tape);
        self.lines.push(line);
    }

    /// Records seen: valid plus malformed.
    pub fn records(&self) -> usize {
        self.events.len() + self.malformed.len()
    }
}

fn trim(record: &[u8]) -> &[u8] {
    let start = json::skip_ws(record, 0);
    let mut end = record.len();
    while end > start && matches!(record[end - 1], b' ' | b'\n' | b'\r' | b'\t') {
        end -= 1;
    }
    &record[start..end]
}

/// Splits NDJSON text into records; `first_line` is the number of its first line.
/// A final line without a newline is a record too.
pub fn ndjson(text: &[u8], first_line: u64, into: &mut Intake) {
    into.events.reserve_for_text(text.len());
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
    for (line, end) in (first_line..).zip(ends) {
        let record = &text[start..end];
        if record.iter().any(|b| !b.is_ascii_whitespace()) {
            into.add(line, record);
        }
        start = end + 1;
    }
}

/// Splits a JSON array of objects into records, numbered from 1. If the array itself
/// is broken, the unreadable rest becomes one malformed record.
pub fn json_array(text: &[u8], into: &mut Intake) {
    let start = json::skip_ws(text, 0);
    let items = match json::Items::new(text, start) {
        Ok(items) => items,
        Err(e) => {
            into.malformed.push(Malformed { line: 1, reason: format!("not a JSON array: {e}"), raw: text.to_vec() });
            return;
        }
    };
    let mut number = 0;
    let mut end = start;
    for item in items {
        number += 1;
        match item {
            Ok(range) => {
                end = range.end;
                into.add(number, &text[range]);
            }
            Err(e) => {
                let rest = &text[end..];
                into.malformed.push(Malformed {
                    line: number,
                    reason: format!("the JSON array breaks off here: {e}"),
                    raw: rest.to_vec(),
                });
                return;
            }
        }
    }
    // Text after the closing bracket.
    let close = text[end..].iter().position(|&b| b == b']').map_or(text.len(), |p| end + p + 1);
    let tail = json::skip_ws(text, close);
    if tail < text.len() {
        into.malformed.push(Malformed {
            line: number + 1,
            reason: "unexpected data after the JSON array".into(),
            raw: text[tail..].to_vec(),
        });
    }
}

/// Splits a body in either framing: a JSON array, or NDJSON (with or without a
/// trailing newline).
pub fn any(text: &[u8], into: &mut Intake) {
    if looks_like_array(text) { json_array(text, into) } else { ndjson(text, 1, into) }
}

/// Whether input text is a JSON array (rather than NDJSON), from its first byte.
pub fn looks_like_array(text: &[u8]) -> bool {
    text.get(json::skip_ws(text, 0)) == Some(&b'[')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_keeps_valid_lines_and_reports_the_rest_by_line() {
        let mut intake = Intake::default();
        ndjson(b"{\"a\":1}\r\n\n  \nnot json\n{\"b\":2}\n[1]\n{\"c\":3}", 10, &mut intake);
        assert_eq!(intake.events.iter().collect::<Vec<_>>(), vec![&b"{\"a\":1}"[..], b"{\"b\":2}", b"{\"c\":3}"]);
        assert_eq!(intake.lines, vec![10, 14, 16]);
        let bad: Vec<(u64, &str)> = intake.malformed.iter().map(|m| (m.line, m.reason.as_str())).collect();
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].0, 13);
        assert!(bad[0].1.contains("not a JSON object"));
        assert_eq!(bad[1].0, 15);
        assert!(bad[1].1.contains("must be a JSON object"), "{}", bad[1].1);
    }

    #[test]
    fn json_array_yields_each_element() {
        let mut intake = Intake::default();
        json_array(b" [ {\"a\":1}, 2, {\"b\":[3]} ] ", &mut intake);
        assert_eq!(intake.events.len(), 2);
        assert_eq!(intake.lines, vec![1, 3]);
        assert_eq!(intake.malformed[0].line, 2);
    }

    #[test]
    fn pretty_printed_array_elements_become_single_lines() {
        let mut intake = Intake::default();
        json_array(b"[\n  {\r\n    \"a\": 1,\n    \"b\": \"x y\"\n  }\n]\n", &mut intake);
        assert_eq!(intake.events.get(0), b"{      \"a\": 1,     \"b\": \"x y\"   }");
        let mut out = Vec::new();
        crate::emit::ndjson(&intake.events, &crate::emit::Stamp::none(), &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn oversized_events_are_refused_with_their_size() {
        let mut intake = Intake { max_event_bytes: 10, ..Intake::default() };
        ndjson(b"{\"a\": 1}\n{\"long\": \"xxxxxxxx\"}", 1, &mut intake);
        assert_eq!(intake.events.len(), 1);
        assert_eq!(intake.malformed[0].reason, "event of 20 bytes is larger than the 10-byte limit");
    }

    #[test]
    fn broken_arrays_lose_nothing() {
        let mut intake = Intake::default();
        json_array(b"[{\"a\":1}, {\"b\": ", &mut intake);
        assert_eq!(intake.events.len(), 1);
        assert_eq!(intake.malformed.len(), 1);
        assert!(intake.malformed[0].reason.contains("breaks off"));
        let mut intake = Intake::default();
        json_array(b"[{\"a\":1}] trailing", &mut intake);
        assert_eq!(intake.malformed[0].raw, b"trailing");
        assert!(looks_like_array(b"\n [") && !looks_like_array(b"{}"));
    }
}
