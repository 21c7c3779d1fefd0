//! A borrowed view of one JSON value inside an event, decoded only on demand.

use std::borrow::Cow;

use super::scan::{Fields, Items, skip_ws};

/// The JSON type of a value, read from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// `"..."`
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
}

/// One value of an event: its exact bytes, not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawValue<'a> {
    bytes: &'a [u8],
}

impl<'a> RawValue<'a> {
    /// Wraps the exact bytes of one JSON value (no surrounding whitespace).
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The value's JSON text.
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }

    /// The value's JSON type.
    pub fn kind(&self) -> Kind {
        match self.bytes.first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') | None => Kind::Null,
            Some(_) => Kind::Number,
        }
    }

    /// The decoded string, if this is a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match self.kind() {
            Kind::String => super::unescape(&self.bytes[1..self.bytes.len() - 1]),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind() {
            Kind::Number => std::str::from_utf8(self.bytes).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.bytes {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        self.bytes == b"null"
    }

    /// The value of `key` if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<RawValue<'a>> {
        if self.kind() != Kind::Object {
            return None;
        }
        Fields::new(self.bytes, 0)
            .ok()?
            .map_while(Result::ok)
            .find(|f| f.key_is(self.bytes, key))
            .map(|f| RawValue::new(&self.bytes[f.value]))
    }

    /// The members of this object as `(raw key, value)`; empty for other kinds.
    pub fn fields(&self) -> impl Iterator<Item = (Cow<'a, str>, RawValue<'a>)> + 'a {
        let bytes = self.bytes;
        Fields::new(bytes, 0).into_iter().flatten().map_while(Result::ok).filter_map(move |f| {
            let key = super::unescape(&bytes[f.key.clone()])?;
            Some((key, RawValue::new(&bytes[f.value])))
        })
    }

    /// The items of this array; empty for other kinds.
    pub fn items(&self) -> impl Iterator<Item = RawValue<'a>> + 'a {
        let bytes = self.bytes;
        Items::new(bytes, 0).into_iter().flatten().map_while(Result::ok).map(move |r| RawValue::new(&bytes[r]))
    }

    /// Decodes the value fully into a `serde_json::Value` (allocates; for slow paths).
    pub fn to_value(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.bytes).ok()
    }

    /// The value as display text: strings decoded, everything else as its JSON text.
    pub fn to_text(&self) -> Cow<'a, str> {
        match self.as_str() {
            Some(s) => s,
            None => String::from_utf8_lossy(self.bytes),
        }
    }
}

/// The event's root object as a [`RawValue`], skipping surrounding whitespace.
pub fn root(event: &[u8]) -> RawValue<'_> {
    let start = skip_ws(event, 0);
    let mut end = event.len();
    while end > start && matches!(event[end - 1], b' ' | b'\n' | b'\r' | b'\t') {
        end -= 1;
    }
    RawValue::new(&event[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typed_values_lazily() {
        let event = br#" {"s": "a\nb", "n": -1.5e2, "t": true, "z": null, "o": {"k": [1, 2]}} "#;
        let root = root(event);
        assert_eq!(root.get("s").unwrap().as_str().unwrap(), "a\nb");
        assert_eq!(root.get("n").unwrap().as_f64(), Some(-150.0));
        assert_eq!(root.get("t").unwrap().as_bool(), Some(true));
        assert!(root.get("z").unwrap().is_null());
        let items: Vec<f64> = root.get("o").unwrap().get("k").unwrap().items().filter_map(|v| v.as_f64()).collect();
        assert_eq!(items, vec![1.0, 2.0]);
        assert!(root.get("missing").is_none());
        assert_eq!(root.fields().count(), 5);
    }
}
