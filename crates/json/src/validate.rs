//! Strict validation of one event: a single JSON object per RFC 8259, in UTF-8.
//!
//! The host runs this once per event at intake, so every module can scan events
//! without re-checking them. It is a single pass that builds nothing.

use super::scan::{Error, err, find_string_stop, skip_ws};
use super::tape;

/// Deepest nesting of objects and arrays accepted; deeper input is refused rather
/// than risking the stack of whoever walks it later.
pub const MAX_DEPTH: usize = 128;

/// Checks that `text` is exactly one JSON object (surrounding whitespace allowed),
/// with valid UTF-8, valid escapes and numbers, and nesting no deeper than [`MAX_DEPTH`].
pub fn validate(text: &[u8]) -> Result<(), Error> {
    validate_event(text, &mut Vec::new())
}

/// Like [`validate`], and writes the event's [tape](super::tape) to `tape` (cleared
/// first). Offsets are relative to `text`.
pub fn validate_event(text: &[u8], tape: &mut Vec<u32>) -> Result<(), Error> {
    tape.clear();
    if text.len() > tape::MAX_EVENT_BYTES {
        return err(0, "event larger than 256 MiB");
    }
    if let Err(e) = std::str::from_utf8(text) {
        return err(e.valid_up_to(), "invalid UTF-8");
    }
    let start = skip_ws(text, 0);
    match text.get(start) {
        None => return err(start, "empty event"),
        Some(b'{') => {}
        Some(_) => return err(start, "an event must be a JSON object"),
    }
    let end = Validator { b: text, tape }.value(start, 0)?;
    let end = skip_ws(text, end);
    if end != text.len() {
        return err(end, "unexpected data after the JSON object");
    }
    Ok(())
}

/// Validates `text` as exactly one JSON value of any type (a fragment a module wants
/// to put into an event) and appends its tape to `tape`, offsets relative to `text`.
pub fn validate_value(text: &[u8], tape: &mut Vec<u32>) -> Result<(), Error> {
    if let Err(e) = std::str::from_utf8(text) {
        return err(e.valid_up_to(), "invalid UTF-8");
    }
    let start = skip_ws(text, 0);
    let end = Validator { b: text, tape }.value(start, 0)?;
    if skip_ws(text, end) != text.len() {
        return err(end, "unexpected data after the value");
    }
    Ok(())
}

/// Validates `text` as exactly one object member, `"key": value`, and appends its tape
/// (the key entry, then the value's) to `tape`.
pub fn validate_member(text: &[u8], tape: &mut Vec<u32>) -> Result<(), Error> {
    if let Err(e) = std::str::from_utf8(text) {
        return err(e.valid_up_to(), "invalid UTF-8");
    }
    let mut v = Validator { b: text, tape };
    let start = skip_ws(text, 0);
    if text.get(start) != Some(&b'"') {
        return err(start, "a member starts with a string key");
    }
    let after_key = v.key(start)?;
    let colon = skip_ws(text, after_key);
    if text.get(colon) != Some(&b':') {
        return err(colon, "expected `:` after key");
    }
    let end = v.value(skip_ws(text, colon + 1), 0)?;
    if skip_ws(text, end) != text.len() {
        return err(end, "unexpected data after the member");
    }
    Ok(())
}

struct Validator<'a> {
    b: &'a [u8],
    tape: &'a mut Vec<u32>,
}

impl Validator<'_> {
    fn value(&mut self, i: usize, depth: usize) -> Result<usize, Error> {
        let b = self.b;
        match b.get(i) {
            Some(b'{') => self.object(i, depth + 1),
            Some(b'[') => self.array(i, depth + 1),
            Some(b'"') => {
                let (end, escaped) = string(b, i)?;
                tape::push(self.tape, i, if escaped { tape::STRING_ESCAPED } else { tape::STRING }, end);
                Ok(end)
            }
            Some(b't') => self.literal(i, b"true", tape::TRUE),
            Some(b'f') => self.literal(i, b"false", tape::FALSE),
            Some(b'n') => self.literal(i, b"null", tape::NULL),
            Some(b'-' | b'0'..=b'9') => {
                let end = number(b, i)?;
                tape::push(self.tape, i, tape::NUMBER, end);
                Ok(end)
            }
            Some(_) => err(i, "expected a JSON value"),
            None => err(i, "unexpected end of input"),
        }
    }

    fn key(&mut self, i: usize) -> Result<usize, Error> {
        let (end, escaped) = string(self.b, i)?;
        tape::push(self.tape, i, if escaped { tape::KEY_ESCAPED } else { tape::KEY }, end);
        Ok(end)
    }

    fn object(&mut self, open: usize, depth: usize) -> Result<usize, Error> {
        if depth > MAX_DEPTH {
            return err(open, "nesting too deep");
        }
        let b = self.b;
        let entry = tape::len(self.tape);
        tape::push(self.tape, open, tape::OBJECT, 0);
        let mut i = skip_ws(b, open + 1);
        if b.get(i) != Some(&b'}') {
            loop {
                if b.get(i) != Some(&b'"') {
                    return err(i, "expected a string key");
                }
                i = skip_ws(b, self.key(i)?);
                if b.get(i) != Some(&b':') {
                    return err(i, "expected `:` after key");
                }
                i = skip_ws(b, i + 1);
                i = skip_ws(b, self.value(i, depth)?);
                match b.get(i) {
                    Some(b',') => i = skip_ws(b, i + 1),
                    Some(b'}') => break,
                    _ => return err(i, "expected `,` or `}` in object"),
                }
            }
        }
        self.close(entry, i, tape::OBJECT_END);
        Ok(i + 1)
    }

    fn array(&mut self, open: usize, depth: usize) -> Result<usize, Error> {
        if depth > MAX_DEPTH {
            return err(open, "nesting too deep");
        }
        let b = self.b;
        let entry = tape::len(self.tape);
        tape::push(self.tape, open, tape::ARRAY, 0);
        let mut i = skip_ws(b, open + 1);
        if b.get(i) != Some(&b']') {
            loop {
                i = skip_ws(b, self.value(i, depth)?);
                match b.get(i) {
                    Some(b',') => i = skip_ws(b, i + 1),
                    Some(b']') => break,
                    _ => return err(i, "expected `,` or `]` in array"),
                }
            }
        }
        self.close(entry, i, tape::ARRAY_END);
        Ok(i + 1)
    }

    fn close(&mut self, start_entry: usize, at: usize, tag: u32) {
        let end_entry = tape::len(self.tape);
        tape::push(self.tape, at, tag, start_entry);
        self.tape[2 * start_entry + 1] = end_entry as u32;
    }

    fn literal(&mut self, i: usize, word: &[u8], tag: u32) -> Result<usize, Error> {
        if self.b.get(i..i + word.len()) == Some(word) {
            tape::push(self.tape, i, tag, i + word.len());
            Ok(i + word.len())
        } else {
            err(i, "invalid literal (expected true, false or null)")
        }
    }
}

/// Checks the string whose quote is at `open`; returns its end and whether it has escapes.
fn string(b: &[u8], open: usize) -> Result<(usize, bool), Error> {
    let mut j = open + 1;
    let mut escaped = false;
    loop {
        j = find_string_stop(b, j);
        match b.get(j) {
            Some(b'"') => return Ok((j + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                j = escape(b, j)?;
            }
            Some(_) => return err(j, "control character in string (escape it)"),
            None => return err(open, "unterminated string"),
        }
    }
}

/// Checks the escape at `i` (its backslash) and returns the index after it.
fn escape(b: &[u8], i: usize) -> Result<usize, Error> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let unit = hex4(b, i + 2)?;
            match unit {
                0xD800..=0xDBFF => {
                    if b.get(i + 6) == Some(&b'\\')
                        && b.get(i + 7) == Some(&b'u')
                        && let 0xDC00..=0xDFFF = hex4(b, i + 8)?
                    {
                        return Ok(i + 12);
                    }
                    err(i, "unpaired surrogate in \\u escape")
                }
                0xDC00..=0xDFFF => err(i, "unpaired surrogate in \\u escape"),
                _ => Ok(i + 6),
            }
        }
        _ => err(i, "invalid escape in string"),
    }
}

pub(crate) fn hex4(b: &[u8], i: usize) -> Result<u16, Error> {
    let digits = b.get(i..i + 4).ok_or(Error { offset: i, message: "truncated \\u escape" })?;
    let mut unit = 0u16;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return err(i, "invalid hex digit in \\u escape"),
        };
        unit = unit << 4 | v as u16;
    }
    Ok(unit)
}

fn number(b: &[u8], i: usize) -> Result<usize, Error> {
    let mut j = i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => j = digits(b, j),
        _ => return err(j, "invalid number"),
    }
    if b.get(j) == Some(&b'.') {
        let after = digits(b, j + 1);
        if after == j + 1 {
            return err(j, "invalid number: digits expected after `.`");
        }
        j = after;
    }
    let mut exponent = false;
    if let Some(b'e' | b'E') = b.get(j) {
        exponent = true;
        j += 1;
        if let Some(b'+' | b'-') = b.get(j) {
            j += 1;
        }
        let after = digits(b, j);
        if after == j {
            return err(j, "invalid number: digits expected in exponent");
        }
        j = after;
    }
    // serde_json, and so every Vector decoder downstream, refuses a number beyond f64's
    // range (`1e400`): refused here, it is one dead letter instead of a refused batch
    // there. Only an exponent or 300+ digits can get there, so the common case is free.
    if (exponent || j - i > 300) && !fits_f64(&b[i..j]) {
        return err(i, "number out of range (beyond what a 64-bit float holds)");
    }
    Ok(j)
}

fn fits_f64(number: &[u8]) -> bool {
    std::str::from_utf8(number).ok().and_then(|t| t.parse::<f64>().ok()).is_some_and(f64::is_finite)
}

fn digits(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_serde_json_accepts() {
        for text in [
            r#"{}"#,
            r#" {"a": [1, -2.5e+3, 0, true, false, null, "x\u00e9\"\\\/\b\f\n\r\t"]} "#,
            r#"{"emoji": "\ud83d\ude00 😀", "nested": {"deep": [[{}]]}}"#,
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok());
            assert_eq!(validate(text.as_bytes()), Ok(()), "{text}");
        }
    }

    /// Found by `cargo xtask fuzz` (ndjson target): `1e400` was accepted here and refused
    /// by serde_json, so by Vector downstream.
    #[test]
    fn numbers_beyond_f64_are_refused_as_serde_json_does() {
        for text in ["{\"a\":1e400}", "{\"a\":-11e4002}", "{\"a\":1.8e308}"] {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "{text}");
            assert!(validate(text.as_bytes()).is_err(), "{text}");
        }
        let digits = format!("{{\"a\":{}}}", "9".repeat(400));
        assert!(serde_json::from_str::<serde_json::Value>(&digits).is_err());
        assert!(validate(digits.as_bytes()).is_err());
        for text in
            ["{\"a\":1e308}", "{\"a\":1e-400}", "{\"a\":18446744073709551616}", "{\"a\":1.7976931348623157e308}"]
        {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "{text}");
            assert_eq!(validate(text.as_bytes()), Ok(()), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            "   ",
            "[1]",
            "\"s\"",
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": .5}"#,
            r#"{"a": 1e}"#,
            r#"{"a": tru}"#,
            r#"{"a": "\x"}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": "\udc00x"}"#,
            "{\"a\": \"tab\there\"}",
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1} {"b": 2}"#,
            r#"{"a": [1, 2}"#,
            r#"{a: 1}"#,
            r#"{"a": "unterminated}"#,
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err() || !text.trim_start().starts_with('{'));
            assert!(validate(text.as_bytes()).is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn builds_the_tape_while_validating() {
        use crate::tape::*;
        let text = br#"{"a": [1, "x\ny"], "b": {}, "c": null}"#;
        let mut t = Vec::new();
        validate_event(text, &mut t).unwrap();
        let tags: Vec<u32> = (0..len(&t)).map(|i| tag(&t, i)).collect();
        assert_eq!(
            tags,
            vec![OBJECT, KEY, ARRAY, NUMBER, STRING_ESCAPED, ARRAY_END, KEY, OBJECT, OBJECT_END, KEY, NULL, OBJECT_END]
        );
        assert_eq!(word(&t, 0), 11);
        assert_eq!(word(&t, 11), 0);
        assert_eq!(&text[value_span(&t, 2)], br#"[1, "x\ny"]"#);
        assert_eq!(&text[value_span(&t, 4)], br#""x\ny""#);
        assert_eq!(&text[value_span(&t, 7)], b"{}");
        assert_eq!(&text[offset(&t, 1)..word(&t, 1)], br#""a""#);
        assert_eq!(next_value(&t, 2), 6);
        assert_eq!(value_span(&t, 0), 0..text.len());
    }

    #[test]
    fn validates_fragments_for_edits() {
        let mut t = Vec::new();
        assert!(validate_value(b" \"ok\" ", &mut t).is_ok());
        assert!(validate_value(b"[1, {\"a\": 2}]", &mut t).is_ok());
        assert!(validate_value(b"1 2", &mut t).is_err());
        assert!(validate_value(b"\"open", &mut t).is_err());
        t.clear();
        assert!(validate_member(b"\"k\": {\"x\": [true]}", &mut t).is_ok());
        assert_eq!(crate::tape::tag(&t, 0), crate::tape::KEY);
        assert!(validate_member(b"\"k\" 1", &mut t).is_err());
        assert!(validate_member(b"\"k\": 1, \"j\": 2", &mut t).is_err());
        assert!(validate_member(b"k: 1", &mut t).is_err());
    }

    #[test]
    fn refuses_invalid_utf8_and_deep_nesting() {
        assert!(validate(b"{\"a\": \"\xff\"}").is_err());
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(validate(deep.as_bytes()).unwrap_err().message, "nesting too deep");
    }
}
