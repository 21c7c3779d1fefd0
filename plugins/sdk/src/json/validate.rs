//! Strict validation of one event: a single JSON object per RFC 8259, in UTF-8.
//!
//! The host runs this once per event at intake, so every module can scan events
//! without re-checking them. It is a single pass that builds nothing.

use super::scan::{Error, err, find_string_stop, skip_ws};

/// Deepest nesting of objects and arrays accepted; deeper input is refused rather
/// than risking the stack of whoever walks it later.
pub const MAX_DEPTH: usize = 128;

/// Checks that `text` is exactly one JSON object (surrounding whitespace allowed),
/// with valid UTF-8, valid escapes and numbers, and nesting no deeper than [`MAX_DEPTH`].
pub fn validate(text: &[u8]) -> Result<(), Error> {
    if let Err(e) = std::str::from_utf8(text) {
        return err(e.valid_up_to(), "invalid UTF-8");
    }
    let start = skip_ws(text, 0);
    match text.get(start) {
        None => return err(start, "empty event"),
        Some(b'{') => {}
        Some(_) => return err(start, "an event must be a JSON object"),
    }
    let end = value(text, start, 0)?;
    let end = skip_ws(text, end);
    if end != text.len() {
        return err(end, "unexpected data after the JSON object");
    }
    Ok(())
}

fn value(b: &[u8], i: usize, depth: usize) -> Result<usize, Error> {
    match b.get(i) {
        Some(b'{') => object(b, i, depth + 1),
        Some(b'[') => array(b, i, depth + 1),
        Some(b'"') => string(b, i),
        Some(b't') => literal(b, i, b"true"),
        Some(b'f') => literal(b, i, b"false"),
        Some(b'n') => literal(b, i, b"null"),
        Some(b'-' | b'0'..=b'9') => number(b, i),
        Some(_) => err(i, "expected a JSON value"),
        None => err(i, "unexpected end of input"),
    }
}

fn object(b: &[u8], open: usize, depth: usize) -> Result<usize, Error> {
    if depth > MAX_DEPTH {
        return err(open, "nesting too deep");
    }
    let mut i = skip_ws(b, open + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return err(i, "expected a string key");
        }
        i = skip_ws(b, string(b, i)?);
        if b.get(i) != Some(&b':') {
            return err(i, "expected `:` after key");
        }
        i = skip_ws(b, i + 1);
        i = skip_ws(b, value(b, i, depth)?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => return err(i, "expected `,` or `}` in object"),
        }
    }
}

fn array(b: &[u8], open: usize, depth: usize) -> Result<usize, Error> {
    if depth > MAX_DEPTH {
        return err(open, "nesting too deep");
    }
    let mut i = skip_ws(b, open + 1);
    if b.get(i) == Some(&b']') {
        return Ok(i + 1);
    }
    loop {
        i = skip_ws(b, value(b, i, depth)?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Ok(i + 1),
            _ => return err(i, "expected `,` or `]` in array"),
        }
    }
}

fn string(b: &[u8], open: usize) -> Result<usize, Error> {
    let mut j = open + 1;
    loop {
        j = find_string_stop(b, j);
        match b.get(j) {
            Some(b'"') => return Ok(j + 1),
            Some(b'\\') => j = escape(b, j)?,
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

fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, Error> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        err(i, "invalid literal (expected true, false or null)")
    }
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
    if let Some(b'e' | b'E') = b.get(j) {
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
    Ok(j)
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
    fn refuses_invalid_utf8_and_deep_nesting() {
        assert!(validate(b"{\"a\": \"\xff\"}").is_err());
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(validate(deep.as_bytes()).unwrap_err().message, "nesting too deep");
    }
}
