//! The `firehose_metadata` member: which rules version processed an event (and, where
//! the host writes batches itself, which batch and sequence it belongs to). Added by
//! splicing before the event's closing brace; an existing member of that name, left by
//! an earlier pass, is replaced.

use firehose_sdk::json::{Event, tape};
use serde_json::{Map, Value};

/// Precomputed `firehose_metadata` text added to events.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    /// `"firehose_metadata":{...}`, or empty when nothing is added.
    member: Vec<u8>,
}

impl Stamp {
    /// A stamp that adds nothing.
    pub fn none() -> Stamp {
        Stamp::default()
    }

    /// A stamp adding these fields (nothing if `fields` is empty).
    pub fn new(fields: Map<String, Value>) -> Stamp {
        if fields.is_empty() {
            return Stamp::none();
        }
        let mut member = b"\"firehose_metadata\":".to_vec();
        serde_json::to_writer(&mut member, &fields).expect("metadata serializes");
        Stamp { member }
    }

    /// The stamp for a pipeline version: `{rules_version}` if enabled.
    pub fn for_version(version: &str, rules_version: bool) -> Stamp {
        let mut fields = Map::new();
        if rules_version {
            fields.insert("rules_version".into(), Value::String(version.to_string()));
        }
        Stamp::new(fields)
    }

    /// Bytes this stamp adds to an event, at most.
    pub fn len(&self) -> usize {
        self.member.len() + 1
    }

    /// Whether the stamp adds nothing.
    pub fn is_empty(&self) -> bool {
        self.member.is_empty()
    }

    /// Appends `event` (with its tape) with the stamp applied to `out`.
    pub fn apply(&self, event: &Event<'_>, out: &mut Vec<u8>) {
        let bytes = event.bytes();
        if self.member.is_empty() {
            out.extend_from_slice(bytes);
            return;
        }
        let root = event.root();
        let existing = root.members().find(|(key, _)| key.is("firehose_metadata"));
        match existing {
            Some((key, value)) => {
                // Replace `"firehose_metadata": <value>` as a whole.
                let key_start = tape::offset(event.tape(), key.entry);
                out.extend_from_slice(&bytes[..key_start]);
                out.extend_from_slice(&self.member);
                out.extend_from_slice(&bytes[value.span().end..]);
            }
            None => {
                let close = root.span().end - 1;
                out.extend_from_slice(&bytes[..close]);
                if root.members().next().is_some() {
                    out.push(b',');
                }
                out.extend_from_slice(&self.member);
                out.extend_from_slice(&bytes[close..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stamped(event: &str) -> serde_json::Value {
        let tape = firehose_sdk::json::tape_of(event.as_bytes()).unwrap();
        let mut out = Vec::new();
        Stamp::for_version("abc123", true).apply(&Event::new(event.as_bytes(), &tape), &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn adds_or_replaces_the_metadata_member() {
        assert_eq!(stamped(r#"{"a":1}"#), json!({"a": 1, "firehose_metadata": {"rules_version": "abc123"}}));
        assert_eq!(stamped(r#"{ }"#), json!({"firehose_metadata": {"rules_version": "abc123"}}));
        assert_eq!(
            stamped(r#"{"firehose_metadata": {"rules_version": "old"}, "b": 2}"#),
            json!({"b": 2, "firehose_metadata": {"rules_version": "abc123"}})
        );
        let mut out = Vec::new();
        let tape = firehose_sdk::json::tape_of(br#"{"a":1}"#).unwrap();
        Stamp::for_version("abc123", false).apply(&Event::new(br#"{"a":1}"#, &tape), &mut out);
        assert_eq!(out, br#"{"a":1}"#);
    }
}
