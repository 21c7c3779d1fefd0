//! Byte-level scanning of JSON text: skipping values, finding string ends, iterating
//! object fields and array items. Nothing here allocates.
//!
//! Scanning assumes input the host already [validated](super::validate), but never
//! panics or reads out of bounds on anything else: malformed input yields an [`Error`].

use std::ops::Range;

/// A structural problem found while scanning, with the byte offset where it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// Byte offset into the scanned text.
    pub offset: usize,
    /// What was expected or found.
    pub message: &'static str,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for Error {}

pub(crate) fn err<T>(offset: usize, message: &'static str) -> Result<T, Error> {
    Err(Error { offset, message })
}

/// Bytes that end a run of plain string content: `"`, `\` and control characters.
pub(crate) static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Index of the first byte at or after `i` that is `"`, `\` or a control character,
/// or `b.len()`. String bodies are most of an event's bytes, so this loop is most of the
/// cost of scanning one: it looks at sixteen bytes per step with SIMD where the target
/// has it (SSE2 on x86-64, simd128 in modules built with it), else eight (SWAR).
#[inline]
pub(crate) fn find_string_stop(b: &[u8], mut i: usize) -> usize {
    #[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
    while i + 16 <= b.len() {
        let hits = simd::string_stops(&b[i..i + 16]);
        if hits != 0 {
            return i + hits.trailing_zeros() as usize;
        }
        i += 16;
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        let quote = x ^ (ONES * b'"' as u64);
        let backslash = x ^ (ONES * b'\\' as u64);
        // A byte is zero in `v` iff `(v - 1) & !v` has its high bit; a byte is below
        // 0x20 iff `(x - 0x20) & !x` has it. The lowest flagged byte is always exact.
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STRING_STOP[b[i] as usize] {
        i += 1;
    }
    i
}

/// Whether `b[range]` is ASCII with nothing a JSON string must escape (no `"`, `\` or
/// control character), so it can be copied between quotes as it is; false for a range
/// past the end of `b`. Decoders of structured input (msgpack) call this for every
/// string, most of them short: it loads sixteen bytes at a time and, where `b` goes on
/// past the range, reads those bytes too and ignores them, so a short string costs one
/// load instead of a byte loop.
#[inline]
pub fn is_plain_ascii(b: &[u8], range: Range<usize>) -> bool {
    if range.end > b.len() {
        return false;
    }
    let Range { start: mut i, end } = range;
    #[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
    while i < end && i + 16 <= b.len() {
        let mut hits = simd::string_stops_or_high(&b[i..i + 16]);
        if end - i < 16 {
            hits &= (1 << (end - i)) - 1;
        }
        if hits != 0 {
            return false;
        }
        i += 16;
    }
    while i < end {
        if !b[i].is_ascii() || STRING_STOP[b[i] as usize] {
            return false;
        }
        i += 1;
    }
    true
}

/// Sixteen bytes at a time: a bit per byte that is `"`, `\` or below 0x20.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// The stop bits of `chunk` (exactly sixteen bytes), lowest bit first.
    #[inline]
    pub fn string_stops(chunk: &[u8]) -> u32 {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: SSE2 is part of every x86-64 CPU; the load reads the sixteen bytes of
        // `chunk` (unaligned loads allowed).
        unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            // Unsigned x <= 0x1f iff saturating x - 0x1f is zero.
            let control = _mm_cmpeq_epi8(_mm_subs_epu8(x, _mm_set1_epi8(0x1f)), _mm_setzero_si128());
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
        }
    }

    /// The stop bits of `chunk` (exactly sixteen bytes) or'ed with a bit per byte of
    /// 0x80 and above.
    #[inline]
    pub fn string_stops_or_high(chunk: &[u8]) -> u32 {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: as in `string_stops`.
        let high = unsafe { _mm_movemask_epi8(_mm_loadu_si128(chunk.as_ptr().cast())) as u32 };
        string_stops(chunk) | high
    }
}

/// Sixteen bytes at a time: a bit per byte that is `"`, `\` or below 0x20.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use std::arch::wasm32::*;

    /// The stop bits of `chunk` (exactly sixteen bytes), lowest bit first.
    #[inline]
    pub fn string_stops(chunk: &[u8]) -> u32 {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: the module is built with simd128; the load reads the sixteen bytes of
        // `chunk` (v128 loads need no alignment).
        let x = unsafe { v128_load(chunk.as_ptr().cast()) };
        let hits = v128_or(
            v128_or(u8x16_eq(x, u8x16_splat(b'"')), u8x16_eq(x, u8x16_splat(b'\\'))),
            u8x16_lt(x, u8x16_splat(0x20)),
        );
        u8x16_bitmask(hits) as u32
    }

    /// The stop bits of `chunk` (exactly sixteen bytes) or'ed with a bit per byte of
    /// 0x80 and above.
    #[inline]
    pub fn string_stops_or_high(chunk: &[u8]) -> u32 {
        // SAFETY: as in `string_stops`.
        let x = unsafe { v128_load(chunk.as_ptr().cast()) };
        string_stops(chunk) | u8x16_bitmask(x) as u32
    }
}

/// Returns the index of the first non-whitespace byte at or after `i`.
#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// Scans the string whose opening quote is at `i`.
/// Returns the index just past the closing quote and whether the string has escapes.
#[inline]
pub fn scan_string(b: &[u8], i: usize) -> Result<(usize, bool), Error> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = find_string_stop(b, j);
        match b.get(j) {
            Some(b'"') => return Ok((j + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                j += 2;
            }
            // Control characters are invalid JSON, but scanning is not validation.
            Some(_) => j += 1,
            None => return err(i, "unterminated string"),
        }
    }
}

/// Skips the value starting at `i` (no leading whitespace) and returns the index just past it.
#[inline]
pub fn skip_value(b: &[u8], i: usize) -> Result<usize, Error> {
    match b.get(i) {
        Some(b'"') => scan_string(b, i).map(|(end, _)| end),
        Some(b'{' | b'[') => skip_container(b, i),
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                j += 1;
            }
            Ok(j)
        }
        None => err(i, "expected a value"),
    }
}

fn skip_container(b: &[u8], i: usize) -> Result<usize, Error> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = scan_string(b, j)?.0;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    err(i, "unterminated object or array")
}

/// One `"key": value` member of an object, as byte ranges into the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The key's bytes between its quotes, still escaped.
    pub key: Range<usize>,
    /// Whether the key contains escape sequences.
    pub key_escaped: bool,
    /// The value's exact bytes.
    pub value: Range<usize>,
}

impl Field {
    /// Whether this field's key equals `name`.
    #[inline]
    pub fn key_is(&self, text: &[u8], name: &str) -> bool {
        let raw = &text[self.key.clone()];
        if self.key_escaped { super::unescape(raw).is_some_and(|k| k == name) } else { raw == name.as_bytes() }
    }
}

/// Iterates the members of the object whose `{` is at the given index.
pub struct Fields<'a> {
    text: &'a [u8],
    pos: usize,
    done: bool,
    first: bool,
}

impl<'a> Fields<'a> {
    /// Starts iterating the object that opens at `open` (the index of its `{`).
    pub fn new(text: &'a [u8], open: usize) -> Result<Self, Error> {
        if text.get(open) != Some(&b'{') {
            return err(open, "expected an object");
        }
        Ok(Self { text, pos: open + 1, done: false, first: true })
    }

    /// Index just past the closing `}`; meaningful once iteration has finished.
    pub fn end(&self) -> usize {
        self.pos
    }

    fn next_field(&mut self) -> Result<Option<Field>, Error> {
        let b = self.text;
        let Some(i) = next_member(b, &mut self.pos, &mut self.first, b'}', "expected `,` or `}` in object")? else {
            return Ok(None);
        };
        if b.get(i) != Some(&b'"') {
            return err(i, "expected a string key");
        }
        let (key_end, key_escaped) = scan_string(b, i)?;
        let mut j = skip_ws(b, key_end);
        if b.get(j) != Some(&b':') {
            return err(j, "expected `:` after key");
        }
        j = skip_ws(b, j + 1);
        let value_end = skip_value(b, j)?;
        self.pos = value_end;
        Ok(Some(Field { key: i + 1..key_end - 1, key_escaped, value: j..value_end }))
    }
}

impl Iterator for Fields<'_> {
    type Item = Result<Field, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_field() {
            Ok(Some(field)) => Some(Ok(field)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Steps over the separator before the next member of an object or array: returns the
/// index where the member starts, or `None` (with `pos` past `close`) at the end.
fn next_member(
    b: &[u8],
    pos: &mut usize,
    first: &mut bool,
    close: u8,
    expected: &'static str,
) -> Result<Option<usize>, Error> {
    let mut i = skip_ws(b, *pos);
    if b.get(i) == Some(&close) {
        *pos = i + 1;
        return Ok(None);
    }
    if !*first {
        if b.get(i) != Some(&b',') {
            return err(i, expected);
        }
        i = skip_ws(b, i + 1);
    }
    *first = false;
    Ok(Some(i))
}

/// Iterates the items of the array whose `[` is at the given index, as byte ranges.
pub struct Items<'a> {
    text: &'a [u8],
    pos: usize,
    done: bool,
    first: bool,
}

impl<'a> Items<'a> {
    /// Starts iterating the array that opens at `open` (the index of its `[`).
    pub fn new(text: &'a [u8], open: usize) -> Result<Self, Error> {
        if text.get(open) != Some(&b'[') {
            return err(open, "expected an array");
        }
        Ok(Self { text, pos: open + 1, done: false, first: true })
    }

    fn next_item(&mut self) -> Result<Option<Range<usize>>, Error> {
        let b = self.text;
        let Some(i) = next_member(b, &mut self.pos, &mut self.first, b']', "expected `,` or `]` in array")? else {
            return Ok(None);
        };
        let end = skip_value(b, i)?;
        self.pos = end;
        Ok(Some(i..end))
    }
}

impl Iterator for Items<'_> {
    type Item = Result<Range<usize>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_agrees_with_a_byte_by_byte_check_at_every_offset_and_length() {
        let plain = |b: &[u8]| b.iter().all(|&c| (0x20..0x80).contains(&c) && c != b'"' && c != b'\\');
        for odd in [b'"', b'\\', 0x1f, 0x00, 0x80, 0xc3, 0xff] {
            for at in 0..40 {
                let mut b: Vec<u8> = (0..40u8).map(|k| b'a' + k % 26).collect();
                b[at] = odd;
                b[(at * 7) % 40] = 0x7f; // DEL is ASCII and needs no escape
                for start in 0..40 {
                    for end in start..=40 {
                        assert_eq!(
                            is_plain_ascii(&b, start..end),
                            plain(&b[start..end]),
                            "{odd:#x} at {at}, {start}..{end}"
                        );
                    }
                }
            }
        }
        assert!(!is_plain_ascii(b"abc", 1..4), "a range past the end is not plain");
    }

    #[test]
    fn fields_give_key_and_value_ranges() {
        let text = br#" { "a" : 1, "b\"c": {"x": [1, "}"]}, "d": "e" } "#;
        let fields: Vec<Field> = Fields::new(text, 1).unwrap().map(Result::unwrap).collect();
        assert_eq!(fields.len(), 3);
        assert_eq!(&text[fields[0].key.clone()], b"a");
        assert_eq!(&text[fields[0].value.clone()], b"1");
        assert!(fields[1].key_is(text, "b\"c"));
        assert_eq!(&text[fields[1].value.clone()], br#"{"x": [1, "}"]}"#);
        assert_eq!(&text[fields[2].value.clone()], br#""e""#);
    }

    #[test]
    fn items_give_value_ranges() {
        let text = br#"[1, "two", [3], {"four": 4}]"#;
        let items: Vec<&[u8]> = Items::new(text, 0).unwrap().map(|r| &text[r.unwrap()]).collect();
        assert_eq!(items, vec![&b"1"[..], b"\"two\"", b"[3]", br#"{"four": 4}"#]);
    }

    #[test]
    fn string_stops_are_found_at_every_offset() {
        for stop in [b'"', b'\\', 0x01, 0x1f] {
            for len in 0..40 {
                let mut text = vec![b'a'; len];
                text.extend_from_slice("é€😀".as_bytes());
                text.push(stop);
                text.extend_from_slice(b"zz\"");
                for start in 0..=len {
                    assert_eq!(find_string_stop(&text, start), text.len() - 4, "stop {stop} len {len} start {start}");
                }
            }
        }
        assert_eq!(find_string_stop(b"plain text without end", 0), 22);
        assert_eq!(find_string_stop(b" \x7f\x80 ", 0), 4);
        // Every byte that is not a stop, in runs long enough for the sixteen-byte steps,
        // then each stop in turn.
        let plain: Vec<u8> = (0x20..=0xffu8).filter(|&b| b != b'"' && b != b'\\').collect();
        assert_eq!(find_string_stop(&plain, 0), plain.len());
        for stop in (0..0x20u8).chain([b'"', b'\\']) {
            for at in [0, 1, 15, 16, 17, 31, 100, plain.len()] {
                let mut text = plain.clone();
                text.insert(at, stop);
                assert_eq!(find_string_stop(&text, 0), at, "stop {stop:#x} at {at}");
            }
        }
    }

    #[test]
    fn string_stops_agree_with_a_byte_walk_at_every_length_and_start() {
        // Texts shorter and longer than each step (eight, sixteen bytes), ending without
        // a stop or with stops anywhere, from every start, against the plain byte walk
        // (the SWAR flags can be wrong above a stop). Bytes next to the stops' values
        // (0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f) catch a comparison off by one.
        let alphabet = [b'a', b' ', 0x21, b'"', 0x23, b'[', b'\\', b']', 0x7f, 0x00, 0x1f, 0x1e, 0xc3, 0xa9, 0xff];
        let walk = |b: &[u8], mut i: usize| {
            while i < b.len() && !STRING_STOP[b[i] as usize] {
                i += 1;
            }
            i
        };
        let mut next = crate::test_random::below(0x5eed_0f57);
        for len in 0..=48 {
            for round in 0..200 {
                // Half the texts plain (no stop), so that the tails are read to the end.
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        if round % 2 == 0 && next(8) != 0 {
                            b'a' + next(26) as u8
                        } else {
                            alphabet[next(alphabet.len())]
                        }
                    })
                    .map(|c| if round % 4 == 0 && STRING_STOP[c as usize] { b'q' } else { c })
                    .collect();
                for start in 0..=len {
                    assert_eq!(find_string_stop(&text, start), walk(&text, start), "{text:?} from {start}");
                }
            }
        }
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        for text in [&br#"{"a": "#[..], br#"{"a": "x"#, br#"{"a" 1}"#, br#"{"a": [1, 2"#, br#"{"#] {
            let result: Result<Vec<Field>, Error> = Fields::new(text, 0).unwrap().collect();
            assert!(result.is_err(), "{}", String::from_utf8_lossy(text));
        }
    }
}
