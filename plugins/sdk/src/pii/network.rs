//! IP addresses in free text. Version strings look like addresses ("Chrome/120.0.0.0",
//! "10.0"), so boundaries are strict: four decimal parts of 0–255 without leading
//! zeros, not part of a longer dotted run and not right after a product token (`word/`).

use std::net::Ipv6Addr;

use super::detect::{Found, PiiKind, boundary_after, is_word};

/// The end of an IPv4 address starting at `start` of `b`, if one does.
pub(crate) fn ipv4(b: &[u8], start: usize) -> Option<usize> {
    if start > 0 {
        match b[start - 1] {
            // "1.2.3.4.5" or "x.1.2.3.4": part of a longer dotted run.
            b'.' => return None,
            c if is_word(c) => return None,
            // "Chrome/120.0.0.0": a product version, not an address ("//10.0.0.1" is one).
            b'/' if start > 1 && b[start - 2].is_ascii_alphanumeric() => return None,
            _ => {}
        }
    }
    let mut i = start;
    for part in 0..4 {
        if part > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let digits = b[i.min(b.len())..].iter().take(4).take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 3 || (digits > 1 && b[i] == b'0') {
            return None;
        }
        let value: u32 = b[i..i + digits].iter().fold(0, |v, &c| v * 10 + (c - b'0') as u32);
        if value > 255 {
            return None;
        }
        i += digits;
    }
    boundary_after(b, i).then_some(i)
}

/// Appends every IPv6 address of `b` (sorted after `out[first..]`'s own order is
/// restored by the caller). Candidates are runs of hex digits and colons (with a
/// dotted IPv4 tail) holding at least two colons that parse as an address other
/// than `::`.
pub(crate) fn find_ipv6(b: &[u8], out: &mut Vec<Found>) {
    let hex_or_colon = |c: u8| c.is_ascii_hexdigit() || c == b':';
    let mut searched = 0;
    while let Some(offset) = memchr::memchr(b':', &b[searched..]) {
        let colon = searched + offset;
        let mut start = colon;
        while start > 0 && hex_or_colon(b[start - 1]) {
            start -= 1;
        }
        let mut end = colon;
        while end < b.len() && (hex_or_colon(b[end]) || b[end] == b'.') {
            end += 1;
        }
        searched = end.max(colon + 1);
        // A sentence may end right after an address: "…is fe80::1." or "…fe80::1:".
        while end > start && b[end - 1] == b'.' {
            end -= 1;
        }
        if b[start..end].ends_with(b":") && !b[start..end].ends_with(b"::") {
            end -= 1;
        }
        let text = &b[start..end];
        let before_ok = start == 0 || !(is_word(b[start - 1]) || b[start - 1] == b'.');
        if !before_ok || !boundary_after(b, end) || text.iter().filter(|&&c| c == b':').count() < 2 {
            continue;
        }
        let parsed = std::str::from_utf8(text).ok().and_then(|t| t.parse::<Ipv6Addr>().ok());
        if parsed.is_some_and(|ip| !ip.is_unspecified()) {
            out.push(Found { kind: PiiKind::Ipv6, range: start..end });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Option<&str> {
        let start = text.find(|c: char| c.is_ascii_digit())?;
        ipv4(text.as_bytes(), start).map(|end| &text[start..end])
    }

    fn v6(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_ipv6(text.as_bytes(), &mut out);
        out.iter().map(|f| &text[f.range.clone()]).collect()
    }

    #[test]
    fn ipv4_needs_four_canonical_parts() {
        assert_eq!(v4("from 203.0.113.7, twice"), Some("203.0.113.7"));
        assert_eq!(v4("http://10.0.0.1/admin"), Some("10.0.0.1"));
        assert_eq!(v4("255.255.255.255."), Some("255.255.255.255"));
        for text in ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "1.2.3.4a", "10.0", "1.2.3.1000"] {
            assert_eq!(v4(text), None, "{text}");
        }
    }

    #[test]
    fn ipv4_is_not_found_in_version_strings() {
        for text in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
            "Chrome/120.0.6099.129 v1.2.3.4 build 1.2.3.4.5",
        ] {
            let b = text.as_bytes();
            assert!((0..b.len()).all(|i| ipv4(b, i).is_none()), "{text}");
        }
    }

    #[test]
    fn ipv6_in_its_usual_forms() {
        assert_eq!(v6("from 2001:db8::8a2e:370:7334, then"), vec!["2001:db8::8a2e:370:7334"]);
        assert_eq!(v6("link fe80::1."), vec!["fe80::1"]);
        assert_eq!(
            v6("[2001:0db8:0000:0000:0000:ff00:0042:8329]:443"),
            vec!["2001:0db8:0000:0000:0000:ff00:0042:8329"]
        );
        assert_eq!(v6("mapped ::ffff:192.0.2.1"), vec!["::ffff:192.0.2.1"]);
        for text in ["at 12:30:45", "mac 00:1a:2b:3c:4d:5e", "ratio 1:2", "std::vector", "::", "x2001:db8::1"] {
            assert!(v6(text).is_empty(), "{text}");
        }
    }
}
