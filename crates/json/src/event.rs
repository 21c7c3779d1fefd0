//! An event as modules see it: its bytes plus the host-built [tape](super::tape).
//! Lookups follow the tape (a container is skipped in one step), so finding a member
//! costs a few comparisons no matter how large the event is.

use std::borrow::Cow;
use std::ops::Range;

use super::path::{Path, Segment, Selector};
use super::tape::{self, ARRAY, FALSE, KEY_ESCAPED, NULL, NUMBER, OBJECT, STRING, STRING_ESCAPED, TRUE};
use super::value::{Kind, RawValue};

/// One event: JSON bytes and their tape.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    bytes: &'a [u8],
    tape: &'a [u32],
}

impl<'a> Event<'a> {
    /// An event over `bytes` with the tape the host built for them.
    pub fn new(bytes: &'a [u8], tape: &'a [u32]) -> Self {
        Event { bytes, tape }
    }

    /// The event's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The event's tape.
    pub fn tape(&self) -> &'a [u32] {
        self.tape
    }

    /// The root object.
    pub fn root(&self) -> Value<'a> {
        Value { event: *self, at: 0 }
    }

    /// The value at tape entry `entry` (which must start a value).
    #[inline]
    pub fn value_at(&self, entry: usize) -> Value<'a> {
        Value { event: *self, at: entry }
    }

    /// The top-level member `name`.
    pub fn member(&self, name: &str) -> Option<Value<'a>> {
        self.root().member(name)
    }

    /// The first value `path` selects; `None` if nothing matches. Paths outside the
    /// fast forms need a full parse: use [`Path::for_each`] for those.
    pub fn get(&self, path: &Path) -> Option<Value<'a>> {
        let mut first = None;
        select(self.root(), path.segments()?, &mut |v| {
            if first.is_none() {
                first = Some(v);
            }
        });
        first
    }

    /// Calls `found` with every value `path` selects, in document order.
    pub fn for_each(&self, path: &Path, mut found: impl FnMut(Value<'a>)) {
        if let Some(segments) = path.segments() {
            select(self.root(), segments, &mut found);
        }
    }
}

/// A member key inside an event.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// The key's bytes between the quotes, still escaped.
    pub raw: &'a [u8],
    /// Whether `raw` has escapes.
    pub escaped: bool,
    /// The key's tape entry.
    pub entry: usize,
}

impl Key<'_> {
    /// Whether the key equals `name`.
    #[inline(always)]
    pub fn is(&self, name: &str) -> bool {
        if self.escaped { self.unescaped_is(name) } else { super::bytes_equal(self.raw, name.as_bytes()) }
    }

    /// [`Key::is`] for a key written with escapes: rare, kept out of the callers' code.
    #[cold]
    #[inline(never)]
    fn unescaped_is(&self, name: &str) -> bool {
        super::unescape(self.raw).is_some_and(|k| k == name)
    }

    /// The index of the key in `names`, if it is one of them.
    #[inline]
    pub fn find_in(&self, names: &super::NameSet) -> Option<usize> {
        if self.escaped {
            super::unescape(self.raw).and_then(|k| names.find(k.as_bytes()))
        } else {
            names.find(self.raw)
        }
    }

    /// The decoded key.
    pub fn as_str(&self) -> Cow<'_, str> {
        super::unescape(self.raw).unwrap_or_default()
    }
}

/// One value inside an event, identified by its tape entry.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    event: Event<'a>,
    at: usize,
}

impl<'a> Value<'a> {
    /// The value's tape entry (what edits refer to).
    pub fn entry(&self) -> usize {
        self.at
    }

    /// The event this value belongs to.
    pub fn event(&self) -> Event<'a> {
        self.event
    }

    /// The value's JSON type.
    #[inline]
    pub fn kind(&self) -> Kind {
        match tape::tag(self.event.tape, self.at) {
            OBJECT => Kind::Object,
            ARRAY => Kind::Array,
            STRING | STRING_ESCAPED => Kind::String,
            NUMBER => Kind::Number,
            TRUE | FALSE => Kind::Bool,
            _ => Kind::Null,
        }
    }

    /// Whether this is a string with escape sequences.
    #[inline]
    pub fn is_escaped(&self) -> bool {
        tape::tag(self.event.tape, self.at) == STRING_ESCAPED
    }

    /// The value's byte range in the event.
    #[inline]
    pub fn span(&self) -> Range<usize> {
        tape::value_span(self.event.tape, self.at)
    }

    /// The value's JSON text.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        &self.event.bytes[self.span()]
    }

    /// A string's bytes between the quotes, still escaped.
    #[inline]
    pub fn str_body(&self) -> Option<&'a [u8]> {
        match self.kind() {
            Kind::String => {
                let span = self.span();
                Some(&self.event.bytes[span.start + 1..span.end - 1])
            }
            _ => None,
        }
    }

    /// The value as a byte-level [`RawValue`] (for typed reads).
    pub fn as_raw(&self) -> RawValue<'a> {
        RawValue::new(self.raw())
    }

    /// The decoded string, if this is a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let body = self.str_body()?;
        if self.is_escaped() { super::unescape(body) } else { super::utf8(body).map(Cow::Borrowed) }
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_raw().as_f64()
    }

    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match tape::tag(self.event.tape, self.at) {
            TRUE => Some(true),
            FALSE => Some(false),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        tape::tag(self.event.tape, self.at) == NULL
    }

    /// The members of this object, in order; empty for other kinds.
    pub fn members(&self) -> Members<'a> {
        let tape = self.event.tape;
        let (next, end) = match tape::tag(tape, self.at) {
            OBJECT => (self.at + 1, tape::word(tape, self.at)),
            _ => (0, 0),
        };
        Members { event: self.event, next, end }
    }

    /// The member `name` of this object.
    pub fn member(&self, name: &str) -> Option<Value<'a>> {
        self.members().find(|(key, _)| key.is(name)).map(|(_, value)| value)
    }

    /// The items of this array, in order; empty for other kinds.
    pub fn items(&self) -> Items<'a> {
        let tape = self.event.tape;
        let (next, end) = match tape::tag(tape, self.at) {
            ARRAY => (self.at + 1, tape::word(tape, self.at)),
            _ => (0, 0),
        };
        Items { event: self.event, next, end }
    }

    /// The value as display text: strings decoded, others as their JSON text.
    pub fn to_text(&self) -> Cow<'a, str> {
        self.as_str().unwrap_or_else(|| String::from_utf8_lossy(self.raw()))
    }
}

/// Iterator over an object's members.
pub struct Members<'a> {
    event: Event<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Key<'a>, Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let tape = self.event.tape;
        let k = self.next;
        let start = tape::offset(tape, k);
        let key = Key {
            raw: &self.event.bytes[start + 1..tape::word(tape, k) - 1],
            escaped: tape::tag(tape, k) == KEY_ESCAPED,
            entry: k,
        };
        let value = Value { event: self.event, at: k + 1 };
        self.next = tape::next_value(tape, k + 1);
        Some((key, value))
    }
}

/// Iterator over an array's items.
pub struct Items<'a> {
    event: Event<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let value = Value { event: self.event, at: self.next };
        self.next = tape::next_value(self.event.tape, self.next);
        Some(value)
    }
}

fn select<'a>(value: Value<'a>, segments: &[Segment], found: &mut impl FnMut(Value<'a>)) {
    let Some((segment, rest)) = segments.split_first() else {
        found(value);
        return;
    };
    match segment {
        Segment::Child(selector) => children(value, selector, &mut |child| select(child, rest, found)),
        Segment::Descendant(selector) => {
            children(value, selector, &mut |child| select(child, rest, found));
            children(value, &Selector::Wildcard, &mut |child| {
                if matches!(child.kind(), Kind::Object | Kind::Array) {
                    select(child, segments, found)
                }
            });
        }
    }
}

fn children<'a>(value: Value<'a>, selector: &Selector, each: &mut impl FnMut(Value<'a>)) {
    match (value.kind(), selector) {
        (Kind::Object, Selector::Name(name)) => {
            if let Some(child) = value.member(name) {
                each(child)
            }
        }
        (Kind::Object, Selector::Wildcard) => value.members().for_each(|(_, v)| each(v)),
        (Kind::Array, Selector::Wildcard) => value.items().for_each(each),
        (Kind::Array, Selector::Index(index)) => {
            let item = if *index >= 0 {
                value.items().nth(*index as usize)
            } else {
                let count = value.items().count();
                count.checked_sub(index.unsigned_abs() as usize).and_then(|i| value.items().nth(i))
            };
            if let Some(item) = item {
                each(item)
            }
        }
        _ => {}
    }
}

/// Builds the tape of a JSON object; for tests and tools that start from text.
pub fn tape_of(bytes: &[u8]) -> Result<Vec<u32>, super::Error> {
    let mut tape = Vec::new();
    super::validate::validate_event(bytes, &mut tape)?;
    Ok(tape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &[u8] = br#"{"event_type": "recipient.delivered", "metadata": {"buyer_response": {"price": 25.5}},
        "lead_data": {"state": "CA", "email": "jo@example.com", "phones": ["555-123-4567", "555-000-1111"],
        "contacts": [{"email": "a@b.co"}, {"email": "c@d.co"}], "odd key": 1, "t": true, "n": null, "esc\"aped": "x\ny"}}"#;

    #[test]
    fn keys_are_found_in_a_name_set_escaped_or_not() {
        let text = br#"{"flow_id": 1, "flow\u005fid": 2, "acc\"t": 3, "other": 4}"#;
        let tape = tape_of(text).unwrap();
        let event = Event::new(text, &tape);
        let mut names = crate::NameSet::new();
        names.insert(b"flow_id");
        names.insert(br#"acc"t"#);
        let found: Vec<Option<usize>> = event.root().members().map(|(key, _)| key.find_in(&names)).collect();
        assert_eq!(found, [Some(0), Some(0), Some(1), None]);
    }

    #[test]
    fn keys_equal_names_escaped_or_not_and_at_any_length() {
        let text =
            br#"{"flow_id": 1, "flow\u005fid": 2, "flow_ie": 3, "a_key_longer_than_16": 4, "a_key_longer_than_17": 5}"#;
        let tape = tape_of(text).unwrap();
        let event = Event::new(text, &tape);
        let is = |name: &str| -> Vec<bool> { event.root().members().map(|(key, _)| key.is(name)).collect() };
        assert_eq!(is("flow_id"), [true, true, false, false, false]);
        assert_eq!(is("flow_i"), [false; 5]);
        assert_eq!(is("a_key_longer_than_17"), [false, false, false, false, true]);
    }

    fn all(path: &str) -> Vec<String> {
        let tape = tape_of(EVENT).unwrap();
        let event = Event::new(EVENT, &tape);
        let mut out = Vec::new();
        event.for_each(&Path::parse(path).unwrap(), |v| out.push(String::from_utf8(v.raw().to_vec()).unwrap()));
        out
    }

    #[test]
    fn reads_members_and_items_through_the_tape() {
        let tape = tape_of(EVENT).unwrap();
        let event = Event::new(EVENT, &tape);
        assert_eq!(event.member("event_type").unwrap().as_str().unwrap(), "recipient.delivered");
        let lead = event.member("lead_data").unwrap();
        assert_eq!(lead.member("state").unwrap().as_str().unwrap(), "CA");
        assert_eq!(lead.member("t").unwrap().as_bool(), Some(true));
        assert!(lead.member("n").unwrap().is_null());
        assert_eq!(lead.member("esc\"aped").unwrap().as_str().unwrap(), "x\ny");
        assert_eq!(lead.member("phones").unwrap().items().count(), 2);
        assert_eq!(lead.members().count(), 8);
        assert!(event.member("missing").is_none());
        assert_eq!(event.get(&Path::parse("$.metadata.buyer_response.price").unwrap()).unwrap().as_f64(), Some(25.5));
    }

    #[test]
    fn evaluates_paths_like_the_byte_scanner_does() {
        assert_eq!(all("$.lead_data['odd key']"), vec!["1"]);
        assert_eq!(all("$.lead_data.phones[1]"), vec![r#""555-000-1111""#]);
        assert_eq!(all("$.lead_data.phones[-1]"), vec![r#""555-000-1111""#]);
        assert_eq!(all("$.lead_data.phones[*]").len(), 2);
        assert_eq!(all("$..email"), vec![r#""jo@example.com""#, r#""a@b.co""#, r#""c@d.co""#]);
        assert!(all("$.missing.deeper").is_empty());
        for path in ["$.lead_data.state", "$.lead_data.contacts[*].email", "$.metadata.*", "$..email", "$.*"] {
            let mut bytes_scan = Vec::new();
            Path::parse(path)
                .unwrap()
                .for_each(EVENT, |v| bytes_scan.push(String::from_utf8(v.raw().to_vec()).unwrap()));
            assert_eq!(all(path), bytes_scan, "{path}");
        }
    }
}
