//! JSON string escaping and unescaping.

use std::borrow::Cow;

use super::validate::hex4;

/// `bytes` as text, if they are UTF-8. ASCII, most of an event's strings, is recognized
/// eight bytes at a time, the last eight read again; anything else goes through
/// `std::str::from_utf8`, whose word loop wants aligned words and walks the rest byte
/// by byte (in a module, ~170 instructions for a ten-byte string).
#[inline]
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// Whether every byte of `b` is ASCII: eight bytes a step and the last eight again
/// (four and four, overlapping, below eight), no byte loop but for three bytes or fewer.
#[inline]
fn is_ascii(b: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = b.len();
    if n >= 8 {
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"));
        let mut seen = word(n - 8);
        let mut at = 0;
        while at + 8 <= n {
            seen |= word(at);
            at += 8;
        }
        seen & HIGH == 0
    } else if n >= 4 {
        let word = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes"));
        (word(0) | word(n - 4)) & HIGH as u32 == 0
    } else {
        b.iter().all(u8::is_ascii)
    }
}

/// Decodes the bytes between a JSON string's quotes. Returns `None` if they are not a
/// valid JSON string body (bad escape, unpaired surrogate, invalid UTF-8).
pub fn unescape(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.contains(&b'\\') {
        return utf8(raw).map(Cow::Borrowed);
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let next = raw[i..].iter().position(|&b| b == b'\\').map_or(raw.len(), |p| i + p);
        out.push_str(std::str::from_utf8(&raw[i..next]).ok()?);
        if next == raw.len() {
            break;
        }
        i = next + 2;
        match raw.get(next + 1)? {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let unit = hex4(raw, next + 2).ok()?;
                i = next + 6;
                let c = if (0xD800..0xDC00).contains(&unit) {
                    if raw.get(i) != Some(&b'\\') || raw.get(i + 1) != Some(&b'u') {
                        return None;
                    }
                    let low = hex4(raw, i + 2).ok()?;
                    i += 6;
                    let code = 0x10000 + ((unit as u32 - 0xD800) << 10) + (low as u32).checked_sub(0xDC00)?;
                    char::from_u32(code)?
                } else {
                    char::from_u32(unit as u32)?
                };
                out.push(c);
            }
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// Appends `s` to `out` as a quoted JSON string.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_string_body(out, s);
    out.push(b'"');
}

/// Appends `s` to `out` escaped for use between a JSON string's quotes.
pub fn write_string_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if super::scan::find_string_stop(bytes, 0) == bytes.len() {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_agrees_with_the_standard_check_at_every_length() {
        // ASCII, a high byte alone (invalid), and whole two- and three-byte characters,
        // at every length to 40 (each of the word paths and their overlapping tails).
        let pieces: [&[u8]; 6] = [b"a", b"7", b"\x7f", b"\xff", "é".as_bytes(), "€".as_bytes()];
        let mut next = crate::test_random::below(0x9e37_79b9_7f4a_7c15);
        for len in 0..=40 {
            for _ in 0..300 {
                let mut text = Vec::new();
                while text.len() < len {
                    // Mostly ASCII, as events are, so that long ASCII texts occur.
                    let piece = if next(4) == 0 { pieces[next(pieces.len())] } else { pieces[next(3)] };
                    text.extend_from_slice(piece);
                }
                // As bytes: a wrong `Some` must not be printed as a `str`.
                let expected = std::str::from_utf8(&text).ok().map(str::as_bytes);
                assert_eq!(utf8(&text).map(str::as_bytes), expected, "{text:?}");
            }
        }
    }

    #[test]
    fn round_trips_through_serde_json() {
        for s in ["plain", "quote \" backslash \\ slash /", "ctl \u{1} \n\t", "émile 😀", ""] {
            let mut out = Vec::new();
            write_string(&mut out, s);
            let decoded: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(decoded, s);
            assert_eq!(unescape(&out[1..out.len() - 1]).unwrap(), s);
        }
    }

    #[test]
    fn decodes_surrogate_pairs_and_refuses_broken_ones() {
        assert_eq!(unescape(br"\ud83d\ude00x").unwrap(), "😀x");
        assert_eq!(unescape(br"\u00e9").unwrap(), "é");
        assert!(unescape(br"\ud83d").is_none());
        assert!(unescape(br"\q").is_none());
    }
}
