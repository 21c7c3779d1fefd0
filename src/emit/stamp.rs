//! What the host adds to each delivered event: a member of the root object saying which
//! rules version processed it (`firehose_metadata.rules_version` by default) and, where
//! the host writes batches itself, which batch and sequence it belongs to. One type for
//! every front door and both formats: spliced into JSON text before the event's closing
//! brace (an existing member of that name, left by an earlier pass, is replaced), or
//! appended to a msgpack map (Fluent Bit).

use firehose_json::{Event, tape, write_string};

use crate::config::MetadataConfig;

/// Where the version goes in each event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Nowhere.
    Off,
    /// A top-level member holding the version as a string.
    Top(String),
    /// A field of a top-level object member: `firehose_metadata.rules_version`.
    Nested(String, String),
}

impl Default for Place {
    fn default() -> Place {
        Place::Nested("firehose_metadata".into(), "rules_version".into())
    }
}

impl Place {
    /// Reads a place as users write it: `off` (also `false`, `no`, empty; any case), a
    /// member name, or `member.field`.
    pub fn parse(text: &str) -> Place {
        let name = text.trim();
        match name.to_ascii_lowercase().as_str() {
            "" | "off" | "false" | "no" => Place::Off,
            _ => match name.split_once('.') {
                Some((outer, inner)) => Place::Nested(outer.to_string(), inner.to_string()),
                None => Place::Top(name.to_string()),
            },
        }
    }
}

/// A field value of a stamp.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    /// A string.
    Str(&'a str),
    /// An unsigned integer.
    Uint(u64),
}

/// One member added to events, prepared once in both formats.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    /// The root member's name; empty when nothing is added.
    key: String,
    /// `"key":value` as JSON text.
    member: Vec<u8>,
    /// The value as msgpack.
    msgpack: Vec<u8>,
}

impl Stamp {
    /// A stamp that adds nothing.
    pub fn none() -> Stamp {
        Stamp::default()
    }

    /// The stamp of a pipeline version: `firehose_metadata: {rules_version}` unless the
    /// pipeline's `metadata.rules_version` is off.
    pub fn rules_version(metadata: &MetadataConfig, version: &str) -> Stamp {
        if metadata.rules_version { Stamp::version_at(&Place::default(), version) } else { Stamp::none() }
    }

    /// The version written at `place`.
    pub fn version_at(place: &Place, version: &str) -> Stamp {
        let mut stamp = Stamp::none();
        match place {
            Place::Off => {}
            Place::Top(key) => stamp.set(key, &[], Some(version)),
            Place::Nested(key, field) => stamp.set(key, &[(field, Field::Str(version))], None),
        }
        stamp
    }

    /// Makes this stamp the object member `key` with `fields` (reusing its buffers).
    pub fn set_object(&mut self, key: &str, fields: &[(&str, Field<'_>)]) {
        self.set(key, fields, None);
    }

    fn set(&mut self, key: &str, fields: &[(&str, Field<'_>)], string: Option<&str>) {
        self.key.clear();
        self.key.push_str(key);
        self.member.clear();
        self.msgpack.clear();
        write_string(&mut self.member, key);
        self.member.push(b':');
        if let Some(text) = string {
            write_string(&mut self.member, text);
            let _ = rmp::encode::write_str(&mut self.msgpack, text);
            return;
        }
        self.member.push(b'{');
        let _ = rmp::encode::write_map_len(&mut self.msgpack, fields.len() as u32);
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                self.member.push(b',');
            }
            write_string(&mut self.member, name);
            self.member.push(b':');
            let _ = rmp::encode::write_str(&mut self.msgpack, name);
            match *value {
                Field::Str(text) => {
                    write_string(&mut self.member, text);
                    let _ = rmp::encode::write_str(&mut self.msgpack, text);
                }
                Field::Uint(n) => {
                    self.member.extend_from_slice(n.to_string().as_bytes());
                    let _ = rmp::encode::write_uint(&mut self.msgpack, n);
                }
            }
        }
        self.member.push(b'}');
    }

    /// The root member this stamp sets, if any.
    pub fn key(&self) -> Option<&str> {
        (!self.key.is_empty()).then_some(self.key.as_str())
    }

    /// The member's value as msgpack (empty when nothing is added).
    pub fn msgpack_value(&self) -> &[u8] {
        &self.msgpack
    }

    /// Bytes this stamp adds to a JSON event, at most.
    pub fn len(&self) -> usize {
        self.member.len() + 1
    }

    /// Whether the stamp adds nothing.
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }

    /// Appends `event` (with its tape) with the stamp applied to `out`, as JSON.
    pub fn apply(&self, event: &Event<'_>, out: &mut Vec<u8>) {
        let bytes = event.bytes();
        if self.key.is_empty() {
            out.extend_from_slice(bytes);
            return;
        }
        let root = event.root();
        let existing = root.members().find(|(key, _)| key.is(&self.key));
        match existing {
            Some((key, value)) => {
                // Replace `"key": <value>` as a whole.
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

    fn stamped(stamp: &Stamp, event: &str) -> serde_json::Value {
        let tape = firehose_json::tape_of(event.as_bytes()).unwrap();
        let mut out = Vec::new();
        stamp.apply(&Event::new(event.as_bytes(), &tape), &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn adds_or_replaces_the_metadata_member() {
        let stamp = Stamp::rules_version(&MetadataConfig { rules_version: true }, "abc123");
        assert_eq!(stamped(&stamp, r#"{"a":1}"#), json!({"a": 1, "firehose_metadata": {"rules_version": "abc123"}}));
        assert_eq!(stamped(&stamp, r#"{ }"#), json!({"firehose_metadata": {"rules_version": "abc123"}}));
        assert_eq!(
            stamped(&stamp, r#"{"firehose_metadata": {"rules_version": "old"}, "b": 2}"#),
            json!({"b": 2, "firehose_metadata": {"rules_version": "abc123"}})
        );
        let off = Stamp::rules_version(&MetadataConfig { rules_version: false }, "abc123");
        let tape = firehose_json::tape_of(br#"{"a":1}"#).unwrap();
        let mut out = Vec::new();
        off.apply(&Event::new(br#"{"a":1}"#, &tape), &mut out);
        assert_eq!(out, br#"{"a":1}"#);
        assert!(off.key().is_none() && off.msgpack_value().is_empty());
    }

    #[test]
    fn places_the_version_where_asked_in_json_and_msgpack() {
        let top = Stamp::version_at(&Place::parse("Rules"), "v1");
        assert_eq!(stamped(&top, r#"{"a":1}"#), json!({"a": 1, "Rules": "v1"}));
        assert_eq!(rmpv::decode::read_value(&mut top.msgpack_value()).unwrap(), rmpv::Value::from("v1"));
        let nested = Stamp::version_at(&Place::parse("meta.version"), "v1");
        assert_eq!(stamped(&nested, r#"{"meta":[1]}"#), json!({"meta": {"version": "v1"}}));
        let value = rmpv::decode::read_value(&mut nested.msgpack_value()).unwrap();
        assert_eq!(value, rmpv::Value::Map(vec![("version".into(), "v1".into())]));
    }

    #[test]
    fn batch_stamps_are_rewritten_in_place() {
        let mut stamp = Stamp::none();
        stamp.set_object("firehose_metadata", &[("batch_id", Field::Str("b\"1")), ("sequence", Field::Uint(7))]);
        assert_eq!(stamped(&stamp, "{}"), json!({"firehose_metadata": {"batch_id": "b\"1", "sequence": 7}}));
        stamp.set_object("firehose_metadata", &[("sequence", Field::Uint(8))]);
        assert_eq!(stamped(&stamp, "{}"), json!({"firehose_metadata": {"sequence": 8}}));
    }

    #[test]
    fn version_places_switch_off_in_any_case() {
        for off in ["", "off", "Off", "OFF", "false", "False", "no"] {
            assert_eq!(Place::parse(off), Place::Off, "{off:?}");
        }
        assert_eq!(Place::parse("Rules"), Place::Top("Rules".into()));
        assert_eq!(
            Place::parse("firehose_metadata.rules_version"),
            Place::Nested("firehose_metadata".into(), "rules_version".into())
        );
    }
}
