//! International bank account numbers (ISO 13616): a country code, two check digits
//! and up to 30 letters or digits, written compact or in groups of four; valid when
//! the ISO 7064 mod-97 check holds.

use super::context::ContextWords;
use super::detect::{Found, PiiKind, boundary_after, is_word};

/// Appends every IBAN of `b` to `out`, in order. With `context`, a well-formed
/// candidate failing the check is kept when a context word precedes it.
pub(crate) fn find_ibans(b: &[u8], context: Option<&ContextWords>, out: &mut Vec<Found>) {
    let mut i = 0;
    while i + 4 <= b.len() {
        let starts = b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_uppercase()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !is_word(b[i - 1]));
        if let Some(end) = starts.then(|| iban(b, i, context)).flatten() {
            out.push(Found { kind: PiiKind::Iban, range: i..end });
            i = end;
        } else {
            i += 1;
        }
    }
}

/// The end of the IBAN starting at `start`: the longest candidate passing the check,
/// or (with context words near) the longest well-formed one.
fn iban(b: &[u8], start: usize, context: Option<&ContextWords>) -> Option<usize> {
    let mut chars = [0u8; 34];
    let mut count = 0;
    let mut ends: Vec<(usize, usize)> = Vec::new(); // (byte end, characters so far)
    let mut i = start;
    let spaced = b.get(start + 4) == Some(&b' ');
    let mut group = 0;
    while i < b.len() && count < 34 {
        let c = b[i];
        if c.is_ascii_alphanumeric() {
            chars[count] = c.to_ascii_uppercase();
            count += 1;
            group += 1;
            i += 1;
            if spaced && group > 4 {
                break;
            }
        } else if spaced && c == b' ' && group == 4 && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            ends.push((i, count));
            group = 0;
            i += 1;
        } else {
            break;
        }
    }
    if !spaced || group <= 4 {
        ends.push((i, count));
    }
    let candidates = || ends.iter().rev().filter(|&&(end, n)| (15..=34).contains(&n) && boundary_after(b, end));
    if let Some(&(end, _)) = candidates().find(|&&(_, n)| mod97(&chars[..n])) {
        return Some(end);
    }
    let &(end, _) = candidates().next()?;
    context.is_some_and(|c| c.near(b, start)).then_some(end)
}

/// ISO 7064 mod 97-10 over an IBAN's characters (upper-case letters and digits).
fn mod97(chars: &[u8]) -> bool {
    let rotated = chars[4..].iter().chain(&chars[..4]);
    let mut rest = 0u32;
    for &c in rotated {
        rest = if c.is_ascii_digit() {
            (rest * 10 + (c - b'0') as u32) % 97
        } else {
            (rest * 100 + (c - b'A' + 10) as u32) % 97
        };
    }
    rest == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibans<'t>(text: &'t str, context: Option<&ContextWords>) -> Vec<&'t str> {
        let mut out = Vec::new();
        find_ibans(text.as_bytes(), context, &mut out);
        out.iter().map(|f| &text[f.range.clone()]).collect()
    }

    #[test]
    fn finds_check_valid_ibans_compact_or_grouped() {
        assert_eq!(ibans("pay to DE89370400440532013000.", None), vec!["DE89370400440532013000"]);
        assert_eq!(ibans("pay to DE89 3704 0044 0532 0130 00 today", None), vec!["DE89 3704 0044 0532 0130 00"]);
        assert_eq!(ibans("GB82 WEST 1234 5698 7654 32", None), vec!["GB82 WEST 1234 5698 7654 32"]);
        assert_eq!(ibans("FR1420041010050500013M02606", None), vec!["FR1420041010050500013M02606"]);
    }

    #[test]
    fn a_failing_check_needs_a_context_word() {
        let text = "iban DE89 3704 0044 0532 0130 01";
        assert!(ibans(text, None).is_empty());
        let context = ContextWords::new(["iban"], 32);
        assert_eq!(ibans(text, Some(&context)), vec!["DE89 3704 0044 0532 0130 01"]);
        assert!(ibans("XDE89370400440532013000", None).is_empty(), "inside a word");
        assert!(ibans("DE89 3704", Some(&context)).is_empty(), "too short");
    }
}
