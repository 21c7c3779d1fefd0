//! JSON string escaping and unescaping.

use std::borrow::Cow;

use super::validate::hex4;

/// Decodes the bytes between a JSON string's quotes. Returns `None` if they are not a
/// valid JSON string body (bad escape, unpaired surrogate, invalid UTF-8).
pub fn unescape(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
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
