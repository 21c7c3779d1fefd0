//! JSONPath (RFC 9535) expressions evaluated lazily over an event's bytes.
//!
//! The common forms (`$.a.b`, `$['a b']`, `$.items[0]`, `$.items[-1]`, `$.*`, `$[*]`,
//! `$..email`) are evaluated by scanning only the parts of the event they touch.
//! Anything else RFC 9535 allows (filters `[?@.x > 1]`, slices, unions) is handed to
//! `jsonpath-rust` over a full parse of the event: correct, but slower.

use std::fmt;

use super::scan::{Field, Fields, Items, skip_ws};
use super::value::{Kind, RawValue, root};

/// What a path step selects among a value's children.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// The member with this name.
    Name(String),
    /// The array item at this index; negative counts from the end.
    Index(i64),
    /// Every member or item.
    Wildcard,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Select among the current value's direct children (`.a`, `[0]`, `[*]`).
    Child(Selector),
    /// Select among the current value and all its descendants (`..a`).
    Descendant(Selector),
}

/// A parsed JSONPath expression.
#[derive(Clone)]
pub struct Path {
    text: String,
    plan: Plan,
}

#[derive(Clone)]
enum Plan {
    Fast(Vec<Segment>),
    Full(jsonpath_rust::parser::model::JpQuery),
}

/// A JSONPath expression that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The expression as given.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSONPath `{}`: {}", self.path, self.message)
    }
}

impl std::error::Error for PathError {}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({})", self.text)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Path::parse(s)
    }
}

impl Path {
    /// Parses a JSONPath expression; it must start with `$`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let fail = |message: &str| PathError { path: text.to_string(), message: message.to_string() };
        if !text.starts_with('$') {
            return Err(fail("a JSONPath starts with `$`, e.g. `$.lead_data.email`"));
        }
        let plan = match parse_fast(text) {
            Some(segments) => Plan::Fast(segments),
            None => Plan::Full(jsonpath_rust::parser::parse_json_path(text).map_err(|e| fail(&e.to_string()))?),
        };
        Ok(Path { text: text.to_string(), plan })
    }

    /// The steps of this path, if it is one of the common forms evaluated without a full parse.
    pub fn segments(&self) -> Option<&[Segment]> {
        match &self.plan {
            Plan::Fast(segments) => Some(segments),
            Plan::Full(_) => None,
        }
    }

    /// The top-level member every value this path selects lies in, when the path
    /// starts by naming one (`$.a.b[0]`, `$['a']..c`: `a`); `None` when it may reach
    /// any member (`$`, `$..a`, `$.*`, a filter): a rule reading it needs whole events.
    pub fn top_level_member(&self) -> Option<&str> {
        match self.segments()?.first()? {
            Segment::Child(Selector::Name(name)) => Some(name),
            _ => None,
        }
    }

    /// Calls `found` with every value the path selects in `event`, in document order.
    ///
    /// Paths that need a full parse produce owned copies; for those, `found` receives
    /// values that borrow from a temporary buffer, so the callback form is used.
    pub fn for_each(&self, event: &[u8], mut found: impl FnMut(RawValue<'_>)) {
        match &self.plan {
            Plan::Fast(segments) => select(root(event), segments, &mut found),
            Plan::Full(query) => {
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(event) else {
                    return;
                };
                let Ok(results) = jsonpath_rust::query::js_path_process(query, &doc) else {
                    return;
                };
                for result in results {
                    let text = serde_json::to_vec(result.val()).unwrap_or_default();
                    found(RawValue::new(&text));
                }
            }
        }
    }

    /// The first value the path selects, for fast paths; `None` if nothing matches.
    /// For paths that need a full parse use [`Path::for_each`].
    pub fn first<'a>(&self, event: &'a [u8]) -> Option<RawValue<'a>> {
        let Plan::Fast(segments) = &self.plan else {
            return None;
        };
        let mut first = None;
        select_first(root(event), segments, &mut first);
        first
    }

    /// Whether this path is evaluated without a full parse of the event.
    pub fn is_fast(&self) -> bool {
        matches!(self.plan, Plan::Fast(_))
    }
}

fn select<'a>(value: RawValue<'a>, segments: &[Segment], found: &mut impl FnMut(RawValue<'_>)) {
    let Some((segment, rest)) = segments.split_first() else {
        found(value);
        return;
    };
    match segment {
        Segment::Child(selector) => children(value, selector, |child| select(child, rest, found)),
        Segment::Descendant(selector) => {
            children(value, selector, |child| select(child, rest, found));
            children(value, &Selector::Wildcard, |child| {
                if matches!(child.kind(), Kind::Object | Kind::Array) {
                    select(child, segments, found)
                }
            });
        }
    }
}

fn select_first<'a>(value: RawValue<'a>, segments: &[Segment], first: &mut Option<RawValue<'a>>) {
    if first.is_some() {
        return;
    }
    let Some((segment, rest)) = segments.split_first() else {
        *first = Some(value);
        return;
    };
    match segment {
        Segment::Child(Selector::Name(name)) if value.kind() == Kind::Object => {
            if let Some(child) = member(value, name) {
                select_first(child, rest, first);
            }
        }
        Segment::Child(selector) => children(value, selector, |child| select_first(child, rest, first)),
        Segment::Descendant(selector) => {
            children(value, selector, |child| select_first(child, rest, first));
            children(value, &Selector::Wildcard, |child| {
                if matches!(child.kind(), Kind::Object | Kind::Array) {
                    select_first(child, segments, first)
                }
            });
        }
    }
}

/// The first member named `name` of an object value.
#[inline]
pub(crate) fn member<'a>(object: RawValue<'a>, name: &str) -> Option<RawValue<'a>> {
    let bytes = object.raw();
    let fields = Fields::new(bytes, skip_ws(bytes, 0)).ok()?;
    for field in fields {
        let Field { key, key_escaped, value } = field.ok()?;
        let matches = if key_escaped {
            super::unescape(&bytes[key]).is_some_and(|k| k == name)
        } else {
            &bytes[key] == name.as_bytes()
        };
        if matches {
            return Some(RawValue::new(&bytes[value]));
        }
    }
    None
}

fn children<'a>(value: RawValue<'a>, selector: &Selector, mut each: impl FnMut(RawValue<'a>)) {
    let bytes = value.raw();
    match (value.kind(), selector) {
        (Kind::Object, Selector::Name(name)) => {
            if let Some(child) = member(value, name) {
                each(child)
            }
        }
        (Kind::Object, Selector::Wildcard) => {
            if let Ok(fields) = Fields::new(bytes, 0) {
                fields.map_while(Result::ok).for_each(|f| each(RawValue::new(&bytes[f.value])))
            }
        }
        (Kind::Array, Selector::Wildcard) => {
            if let Ok(items) = Items::new(bytes, 0) {
                items.map_while(Result::ok).for_each(|r| each(RawValue::new(&bytes[r])))
            }
        }
        (Kind::Array, Selector::Index(index)) => {
            let Ok(items) = Items::new(bytes, 0) else {
                return;
            };
            let item = if *index >= 0 {
                items.map_while(Result::ok).nth(*index as usize)
            } else {
                let all: Vec<_> = items.map_while(Result::ok).collect();
                all.len().checked_sub(index.unsigned_abs() as usize).map(|i| all[i].clone())
            };
            if let Some(r) = item {
                each(RawValue::new(&bytes[r]))
            }
        }
        _ => {}
    }
}

/// Parses the common JSONPath forms; `None` means "use the full evaluator".
fn parse_fast(text: &str) -> Option<Vec<Segment>> {
    let b = text.as_bytes();
    let mut i = 1;
    let mut segments = Vec::new();
    while i < b.len() {
        let descendant = b[i..].starts_with(b"..");
        if descendant {
            i += 2;
        } else if b[i] == b'.' {
            i += 1;
        } else if b[i] != b'[' {
            return None;
        }
        let selector = if b.get(i) == Some(&b'[') {
            let close = i + text[i..].find(']')?;
            let inner = text[i + 1..close].trim();
            i = close + 1;
            bracket_selector(inner)?
        } else if b.get(i) == Some(&b'*') {
            i += 1;
            Selector::Wildcard
        } else {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-' || b[i] >= 0x80) {
                i += 1;
            }
            if i == start {
                return None;
            }
            Selector::Name(text[start..i].to_string())
        };
        segments.push(if descendant { Segment::Descendant(selector) } else { Segment::Child(selector) });
    }
    Some(segments)
}

fn bracket_selector(inner: &str) -> Option<Selector> {
    if inner == "*" {
        return Some(Selector::Wildcard);
    }
    // RFC 9535 indexes: `0`, `7`, `-1`; not `01` or `+1` (those go to jsonpath-rust,
    // which refuses them).
    let digits = inner.strip_prefix('-').unwrap_or(inner);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && inner != "-0";
    if canonical && let Ok(index) = inner.parse::<i64>() {
        return Some(Selector::Index(index));
    }
    let quote = inner.chars().next()?;
    if (quote == '\'' || quote == '"') && inner.len() >= 2 && inner.ends_with(quote) {
        let name = &inner[1..inner.len() - 1];
        if !name.contains(['\\', '\'', '"']) {
            return Some(Selector::Name(name.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_top_level_member_a_path_stays_in() {
        let top = |text: &str| Path::parse(text).unwrap().top_level_member().map(str::to_string);
        assert_eq!(top("$.lead_data.email").as_deref(), Some("lead_data"));
        assert_eq!(top("$['a b'][0]..c").as_deref(), Some("a b"));
        assert_eq!(top("$.a"), Some("a".to_string()));
        for anywhere in ["$", "$..email", "$.*", "$[*].a", "$[0]", "$[?(@.a > 1)]"] {
            assert_eq!(top(anywhere), None, "{anywhere}");
        }
    }

    const EVENT: &[u8] = br#"{"event_type": "recipient.delivered", "metadata": {"buyer_response": {"price": 25.5}},
        "lead_data": {"state": "CA", "email": "jo@example.com", "phones": ["555-123-4567", "555-000-1111"],
        "contacts": [{"email": "a@b.co"}, {"email": "c@d.co"}], "odd key": 1}}"#;

    fn all(path: &str) -> Vec<String> {
        let path = Path::parse(path).unwrap();
        let mut out = Vec::new();
        path.for_each(EVENT, |v| out.push(String::from_utf8(v.raw().to_vec()).unwrap()));
        out
    }

    #[test]
    fn common_forms_take_the_fast_path() {
        for p in ["$.a", "$['a b']", "$.a[0]", "$.a[-1]", "$.*", "$[*]", "$..email", "$.a.*.b"] {
            assert!(Path::parse(p).unwrap().is_fast(), "{p}");
        }
        assert!(!Path::parse("$.contacts[?@.email]").unwrap().is_fast());
    }

    #[test]
    fn selects_members_indexes_wildcards_and_descendants() {
        assert_eq!(all("$.metadata.buyer_response.price"), vec!["25.5"]);
        assert_eq!(all("$.lead_data['odd key']"), vec!["1"]);
        assert_eq!(all("$.lead_data.phones[1]"), vec![r#""555-000-1111""#]);
        assert_eq!(all("$.lead_data.phones[-1]"), vec![r#""555-000-1111""#]);
        assert_eq!(all("$.lead_data.phones[*]").len(), 2);
        assert_eq!(all("$..email"), vec![r#""jo@example.com""#, r#""a@b.co""#, r#""c@d.co""#]);
        assert!(all("$.missing.deeper").is_empty());
        assert!(all("$.lead_data.phones[7]").is_empty());
    }

    #[test]
    fn full_jsonpath_falls_back_to_jsonpath_rust() {
        assert_eq!(all("$.lead_data.contacts[?@.email == 'c@d.co'].email"), vec![r#""c@d.co""#]);
    }

    #[test]
    fn agrees_with_jsonpath_rust_on_fast_forms() {
        let doc: serde_json::Value = serde_json::from_slice(EVENT).unwrap();
        for p in ["$.lead_data.state", "$.lead_data.phones[0]", "$.lead_data.contacts[*].email", "$.metadata.*"] {
            use jsonpath_rust::JsonPath;
            let expected: Vec<String> = doc.query(p).unwrap().into_iter().map(|v| v.to_string()).collect();
            let got: Vec<String> = all(p)
                .into_iter()
                .map(|raw| serde_json::from_str::<serde_json::Value>(&raw).unwrap().to_string())
                .collect();
            assert_eq!(got, expected, "{p}");
        }
    }

    #[test]
    fn only_canonical_indexes_take_the_fast_path() {
        assert!(Path::parse("$.a[0]").unwrap().is_fast());
        assert!(Path::parse("$.a[-1]").unwrap().is_fast());
        for odd in ["$.a[01]", "$.a[+1]", "$.a[-0]"] {
            assert!(Path::parse(odd).map_or(true, |p| !p.is_fast()), "{odd}");
        }
    }

    #[test]
    fn refuses_paths_without_root() {
        assert!(Path::parse("lead_data.email").unwrap_err().message.contains("starts with `$`"));
        assert!(Path::parse("$[?").is_err());
    }
}
