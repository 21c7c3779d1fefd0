//! Finding personal data inside free text: US social security numbers, e-mail
//! addresses, North American phone numbers, payment card numbers (Luhn-checked), IPv4
//! and IPv6 addresses, IBANs (mod-97-checked) and US dates of birth (near a context word).
//!
//! One pass classifies each string (does it contain `@`? enough digits?) so that the
//! common case, text with no PII, costs a single scan. Kinds that are not enabled cost
//! nothing: each scanner runs only when its kind is on and the prefilter allows it.

use std::ops::Range;

use super::context::ContextWords;
use super::{dob, iban, network};

/// A kind of personal data the detectors recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// `123-45-6789` or `123 45 6789`, with the SSA's never-issued ranges excluded.
    Ssn,
    /// `local@domain.tld`.
    Email,
    /// `555-123-4567`, `(555) 123-4567`, `+1 555.123.4567`, `5551234567`.
    Phone,
    /// 13–19 digits, optionally grouped by spaces or dashes, passing the Luhn check.
    Card,
    /// `203.0.113.7`: four parts of 0–255, not inside a version string.
    Ipv4,
    /// `2001:db8::8a2e:370:7334`, any form `std::net::Ipv6Addr` parses except `::`.
    Ipv6,
    /// `DE89 3704 0044 0532 0130 00`, compact or grouped by four, passing mod 97.
    Iban,
    /// `04/01/1990`, `4-1-1990`, `1990-04-01`: a calendar date after a context word.
    Dob,
}

impl PiiKind {
    /// Every kind, in the order conflicts at one position are resolved.
    pub const ALL: [PiiKind; 8] = [
        PiiKind::Ssn,
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Card,
        PiiKind::Ipv4,
        PiiKind::Ipv6,
        PiiKind::Iban,
        PiiKind::Dob,
    ];

    /// The kind's name as written in configurations.
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Ssn => "ssn",
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Card => "card",
            PiiKind::Ipv4 => "ipv4",
            PiiKind::Ipv6 => "ipv6",
            PiiKind::Iban => "iban",
            PiiKind::Dob => "dob",
        }
    }

    /// The kind's position in [`PiiKind::ALL`], for tables indexed by kind.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the kind has a validity rule that context words can relax (or, for
    /// dates of birth, context words it requires).
    pub fn takes_context(self) -> bool {
        !matches!(self, PiiKind::Email | PiiKind::Ipv4 | PiiKind::Ipv6)
    }
}

/// One piece of personal data found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What was found.
    pub kind: PiiKind,
    /// Where, as a byte range of the text.
    pub range: Range<usize>,
}

/// Which kinds to look for, and the context words of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detectors {
    /// Look for social security numbers.
    pub ssn: bool,
    /// Look for e-mail addresses.
    pub email: bool,
    /// Look for phone numbers.
    pub phone: bool,
    /// Look for card numbers.
    pub card: bool,
    /// Look for IPv4 addresses.
    pub ipv4: bool,
    /// Look for IPv6 addresses.
    pub ipv6: bool,
    /// Look for IBANs.
    pub iban: bool,
    /// Look for dates of birth (always with context words; see [`Detectors::of`]).
    pub dob: bool,
    /// Context words by [`PiiKind::index`].
    context: [Option<ContextWords>; 8],
    /// Whether SSNs, cards or phones have context words (the lenient pass runs).
    lenient: bool,
}

impl Detectors {
    /// Detectors for the given kinds. Dates of birth get their default context words
    /// ([`ContextWords::defaults`]) within the default window: a date alone is not PII.
    pub fn of(kinds: impl IntoIterator<Item = PiiKind>) -> Self {
        let mut d = Detectors::default();
        for kind in kinds {
            match kind {
                PiiKind::Ssn => d.ssn = true,
                PiiKind::Email => d.email = true,
                PiiKind::Phone => d.phone = true,
                PiiKind::Card => d.card = true,
                PiiKind::Ipv4 => d.ipv4 = true,
                PiiKind::Ipv6 => d.ipv6 = true,
                PiiKind::Iban => d.iban = true,
                PiiKind::Dob => d.dob = true,
            }
        }
        if d.dob {
            let words = ContextWords::new(ContextWords::defaults(PiiKind::Dob), super::context::DEFAULT_WINDOW);
            d = d.with_context(PiiKind::Dob, words);
        }
        d
    }

    /// Sets the context words of `kind`: a candidate failing the kind's validity rule
    /// is still reported when one of them precedes it (for dates: the words a date
    /// needs). Ignored for kinds without such a rule ([`PiiKind::takes_context`]).
    pub fn with_context(mut self, kind: PiiKind, words: ContextWords) -> Self {
        if kind.takes_context() {
            self.context[kind.index()] = Some(words);
        }
        self.lenient = [PiiKind::Ssn, PiiKind::Card, PiiKind::Phone].iter().any(|k| self.context[k.index()].is_some());
        self
    }

    /// Whether no kind is enabled.
    pub fn is_empty(&self) -> bool {
        !(self.ssn || self.email || self.phone || self.card || self.ipv4 || self.ipv6 || self.iban || self.dob)
    }

    /// Whether a context word of `kind` occurs before byte `start` of `b`.
    fn near(&self, kind: PiiKind, b: &[u8], start: usize) -> bool {
        self.context[kind.index()].as_ref().is_some_and(|c| c.near(b, start))
    }

    /// Appends every piece of personal data in `text` to `out`, in order, without overlaps.
    pub fn find(&self, text: &str, out: &mut Vec<Found>) {
        self.find_bytes(text.as_bytes(), out)
    }

    /// Like [`Detectors::find`] on UTF-8 bytes not yet checked as `str`: every pattern
    /// is ASCII, and matches start and end on ASCII bytes or on whole runs of non-ASCII
    /// bytes, so ranges always fall on character boundaries.
    #[inline]
    pub fn find_bytes(&self, b: &[u8], out: &mut Vec<Found>) {
        self.find_bytes_filtered(b, out, true);
    }

    /// Whether a text with `digits` ASCII digits (and an `@` when `at_sign`) can hold a
    /// finding of an enabled kind: each kind's least count of digits.
    #[inline]
    fn may_hold(&self, digits: usize, at_sign: bool) -> bool {
        (self.email && at_sign)
            || (self.ssn && digits >= 9)
            || (self.phone && digits >= 10)
            || (self.card && digits >= 13)
            || (self.ipv4 && digits >= 4)
            || (self.dob && digits >= 6)
            || (self.ipv6 && digits >= 1)
            || (self.iban && digits >= 2)
    }

    /// [`Detectors::find_bytes`], with the prefilters on or (in tests, to check that they
    /// never hide a finding) off: every enabled card, SSN, phone, IPv4 address and date
    /// is then looked for everywhere. Most strings are short, or hold neither an `@` nor
    /// the digits of any kind: answered here, inlined into the caller's code (in a
    /// module, a call costs a prologue with stack and epoch checks, for every string of
    /// every event).
    #[inline]
    fn find_bytes_filtered(&self, b: &[u8], out: &mut Vec<Found>, prefilter: bool) {
        if b.len() < 6 {
            return;
        }
        let (digits, at_sign) = digits_and_at_sign(b);
        if self.may_hold(digits, at_sign) || !prefilter {
            self.find_counted(b, digits, at_sign, out, prefilter);
        }
    }

    /// The search behind [`Detectors::find_bytes`], given the text's digit count and
    /// whether it holds an `@`.
    #[inline(never)]
    fn find_counted(&self, b: &[u8], digits: usize, at_sign: bool, out: &mut Vec<Found>, prefilter: bool) {
        let first = out.len();
        if self.email && at_sign {
            find_emails(b, out);
        }
        // Cards, SSNs and phones need their digits close together: a user agent or a
        // version list has enough digits in all but not in one run, and is not walked;
        // a kind whose digit count the longest run does not reach is not tried at all
        // (most strings with numbers hold phones and SSNs, too short to be cards).
        let grouped = if prefilter {
            let mut grouped = Grouped {
                ssn: self.ssn && digits >= 9,
                phone: self.phone && digits >= 10,
                card: self.card && digits >= 13,
            };
            if grouped.any() {
                let run = longest_number_run(b);
                grouped.ssn &= run >= 9;
                grouped.phone &= run >= 10;
                grouped.card &= run >= 13;
            }
            grouped
        } else {
            Grouped { ssn: self.ssn, phone: self.phone, card: self.card }
        };
        let numeric =
            grouped.any() || (self.ipv4 && (digits >= 4 || !prefilter)) || (self.dob && (digits >= 6 || !prefilter));
        if numeric {
            self.find_numbers(b, first, grouped, out);
        }
        let before_extra = out.len();
        if self.ipv6 && digits >= 1 {
            network::find_ipv6(b, out);
        }
        if self.iban && digits >= 2 {
            iban::find_ibans(b, self.context[PiiKind::Iban.index()].as_ref(), out);
        }
        if out.len() > before_extra {
            keep_leftmost_longest(out, first);
        }
    }

    /// The number-shaped kinds (the `grouped` ones, IPv4 addresses, dates), found in one
    /// left-to-right pass that steps over the e-mails already in `out[first..]`.
    fn find_numbers(&self, b: &[u8], first: usize, grouped: Grouped, out: &mut Vec<Found>) {
        let emails = out.len();
        let mut i = 0;
        let mut next_email = first;
        while i < b.len() {
            if next_email < emails && i >= out[next_email].range.start {
                i = out[next_email].range.end;
                next_email += 1;
                continue;
            }
            let limit = if next_email < emails { out[next_email].range.start } else { b.len() };
            if !starts_number(&b[i]) {
                // Up to the next e-mail at most: the check above steps over it.
                i = next_number_start(&b[..limit], i);
                continue;
            }
            if i > 0 && is_word(b[i - 1]) {
                i += 1;
                continue;
            }
            let found = grouped
                .card
                .then(|| card(&b[..limit], i))
                .flatten()
                .map(|end| (PiiKind::Card, end))
                .or_else(|| grouped.ssn.then(|| ssn(&b[..limit], i)).flatten().map(|end| (PiiKind::Ssn, end)))
                .or_else(|| grouped.phone.then(|| phone(&b[..limit], i)).flatten().map(|end| (PiiKind::Phone, end)))
                .or_else(|| self.ipv4.then(|| network::ipv4(&b[..limit], i)).flatten().map(|end| (PiiKind::Ipv4, end)))
                .or_else(|| {
                    self.dob
                        .then(|| dob::date(&b[..limit], i))
                        .flatten()
                        .filter(|_| self.near(PiiKind::Dob, b, i))
                        .map(|end| (PiiKind::Dob, end))
                })
                .or_else(|| self.lenient.then(|| self.lenient_number(&b[..limit], i, grouped)).flatten());
            match found {
                Some((kind, end)) => {
                    out.push(Found { kind, range: i..end });
                    i = end;
                }
                None => {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
        }
        if emails > first && out.len() > emails {
            // Both lists are in order and never overlap: merge them.
            merge_in_order(&mut out[first..], emails - first);
        }
    }

    /// A well-formed card, SSN or phone number that failed its validity rule, kept
    /// because one of its kind's context words comes just before it.
    fn lenient_number(&self, b: &[u8], i: usize, grouped: Grouped) -> Option<(PiiKind, usize)> {
        let candidates = [
            (PiiKind::Card, grouped.card, card_shape as fn(&[u8], usize) -> Option<usize>),
            (PiiKind::Ssn, grouped.ssn, |b: &[u8], i| ssn_shape(b, i).map(|(end, _)| end)),
            (PiiKind::Phone, grouped.phone, |b: &[u8], i| phone_shape(b, i, true)),
        ];
        candidates.into_iter().find_map(|(kind, on, shape)| {
            if !on || self.context[kind.index()].is_none() {
                return None;
            }
            let end = shape(b, i)?;
            self.near(kind, b, i).then_some((kind, end))
        })
    }
}

/// The number kinds whose digits must lie in one run (see [`longest_number_run`])
/// that one string can still hold.
#[derive(Debug, Clone, Copy)]
struct Grouped {
    ssn: bool,
    phone: bool,
    card: bool,
}

impl Grouped {
    fn any(self) -> bool {
        self.ssn || self.phone || self.card
    }
}

/// Sorts `out[first..]` by start and drops every finding that overlaps an earlier
/// one: the leftmost finding wins, and at one start the longest (then the kind found
/// first). An IBAN whose digits look like a card stays one IBAN.
pub(crate) fn keep_leftmost_longest(out: &mut Vec<Found>, first: usize) {
    out[first..].sort_by_key(|f| (f.range.start, std::cmp::Reverse(f.range.end)));
    let mut kept = first;
    for i in first..out.len() {
        if kept > first && out[i].range.start < out[kept - 1].range.end {
            continue;
        }
        out.swap(kept, i);
        kept += 1;
    }
    out.truncate(kept);
}

/// How many ASCII digits `b` holds and whether it holds an `@`: the prefilter that
/// lets text without personal data through after one pass, sixteen bytes at a time
/// (SSE2 natively, `simd128` in modules), else eight. No byte-at-a-time tail: the last
/// sixteen (or eight) bytes are read again and only their lanes not yet seen count.
fn digits_and_at_sign(b: &[u8]) -> (usize, bool) {
    #[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
    if b.len() >= 16 {
        let (mut digits, mut at) = (0, 0);
        let mut sixteens = b.chunks_exact(16);
        for chunk in &mut sixteens {
            let (d, a) = simd::digit_and_at_masks(chunk);
            digits += d.count_ones();
            at |= a;
        }
        let rest = sixteens.remainder().len();
        if rest > 0 {
            let (d, a) = simd::digit_and_at_masks(&b[b.len() - 16..]);
            let unseen = !0u32 << (16 - rest);
            digits += (d & unseen).count_ones();
            at |= a & unseen;
        }
        return (digits as usize, at != 0);
    }
    digits_and_at_sign_by_words(b)
}

/// [`digits_and_at_sign`] eight bytes a step: texts shorter than sixteen bytes, and
/// every text where SSE2 and `simd128` are not available.
fn digits_and_at_sign_by_words(b: &[u8]) -> (usize, bool) {
    let (mut digits, mut at) = (0, 0);
    if b.len() >= 8 {
        let mut eights = b.chunks_exact(8);
        for chunk in &mut eights {
            let (d, a) = swar::digits_and_at_signs(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
            digits += d.count_ones();
            at |= a;
        }
        let rest = eights.remainder().len();
        if rest > 0 {
            let last = u64::from_le_bytes(b[b.len() - 8..].try_into().expect("eight bytes"));
            let (d, a) = swar::digits_and_at_signs(last);
            let unseen = !0u64 << (8 * (8 - rest));
            digits += (d & unseen).count_ones();
            at |= a & unseen;
        }
    } else if b.len() >= 4 {
        // Four to seven bytes as one word: the first four and the last four overlap on
        // the same bytes, so or-ing them in place leaves each byte as it is; the lanes
        // above the text are zero, which is neither a digit nor `@`.
        let first = u32::from_le_bytes(b[..4].try_into().expect("four bytes"));
        let last = u32::from_le_bytes(b[b.len() - 4..].try_into().expect("four bytes"));
        let (d, a) = swar::digits_and_at_signs(u64::from(first) | u64::from(last) << (8 * (b.len() - 4)));
        digits += d.count_ones();
        at |= a;
    } else {
        return (b.iter().filter(|c| c.is_ascii_digit()).count(), b.contains(&b'@'));
    }
    (digits as usize, at != 0)
}

/// Eight bytes in one `u64`, classified by bit tricks (SWAR).
mod swar {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// The high bit of each byte of `x` (little-endian lanes) that is an ASCII digit,
    /// exact per lane; and a mask that is non-zero when some byte is `@` (its lanes are
    /// exact up to the first `@`, which is all a caller asking "any?" needs).
    #[inline]
    pub fn digits_and_at_signs(x: u64) -> (u64, u64) {
        // Clear high bits first so the additions cannot carry between bytes.
        let y = x & !HIGH;
        let at_least_0 = y.wrapping_add(ONES * (0x80 - b'0' as u64));
        let above_9 = y.wrapping_add(ONES * (0x80 - b'9' as u64 - 1));
        let digits = at_least_0 & !above_9 & !x & HIGH;
        let v = x ^ (ONES * b'@' as u64);
        (digits, v.wrapping_sub(ONES) & !v & HIGH)
    }
}

/// Sixteen bytes at a time: masks of the digits, `@` signs and number starts.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// The sixteen bytes of `chunk` (exactly sixteen).
    #[inline]
    fn load(chunk: &[u8]) -> __m128i {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: SSE2 is part of every x86-64 CPU; the load reads the sixteen bytes of
        // `chunk` (unaligned loads allowed).
        unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) }
    }

    /// All ones in the lanes of `x` that hold an ASCII digit: a byte whose distance from
    /// `0`, unsigned, is at most 9.
    #[inline]
    fn digits(x: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of every x86-64 CPU.
        unsafe {
            let from_zero = _mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8));
            _mm_cmpeq_epi8(_mm_min_epu8(from_zero, _mm_set1_epi8(9)), from_zero)
        }
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit;
    /// and the same for `@`.
    #[inline]
    pub fn digit_and_at_masks(chunk: &[u8]) -> (u32, u32) {
        let x = load(chunk);
        // SAFETY: as in `digits`.
        unsafe {
            let at = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'@' as i8));
            (_mm_movemask_epi8(digits(x)) as u32, _mm_movemask_epi8(at) as u32)
        }
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit.
    #[inline]
    pub fn digit_mask(chunk: &[u8]) -> u32 {
        // SAFETY: as in `digits`.
        unsafe { _mm_movemask_epi8(digits(load(chunk))) as u32 }
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit,
    /// `(` or `+`.
    #[inline]
    pub fn number_start_mask(chunk: &[u8]) -> u32 {
        let x = load(chunk);
        // SAFETY: as in `digits`.
        unsafe {
            let open = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'(' as i8));
            let plus = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'+' as i8));
            _mm_movemask_epi8(_mm_or_si128(digits(x), _mm_or_si128(open, plus))) as u32
        }
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit;
    /// and the same for a run separator (` -.()+/`).
    #[inline]
    pub fn digit_and_separator_masks(chunk: &[u8]) -> (u32, u32) {
        let x = load(chunk);
        // SAFETY: as in `digits`.
        unsafe {
            let is = |c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c as i8));
            // `(`, `)` and `/` are 0x28, 0x29 and 0x2f; with the low bit cleared, `(` and
            // `)` are one compare, `.` and `/` another.
            let even = _mm_andnot_si128(_mm_set1_epi8(1), x);
            let paren_or_dot = _mm_or_si128(
                _mm_cmpeq_epi8(even, _mm_set1_epi8(b'(' as i8)),
                _mm_cmpeq_epi8(even, _mm_set1_epi8(b'.' as i8)),
            );
            let seps = _mm_or_si128(_mm_or_si128(is(b' '), is(b'-')), _mm_or_si128(is(b'+'), paren_or_dot));
            (_mm_movemask_epi8(digits(x)) as u32, _mm_movemask_epi8(seps) as u32)
        }
    }
}

/// Sixteen bytes at a time: masks of the digits, `@` signs and number starts.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use std::arch::wasm32::*;

    /// The sixteen bytes of `chunk` (exactly sixteen).
    #[inline]
    fn load(chunk: &[u8]) -> v128 {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: the module is built with simd128; the load reads the sixteen bytes of
        // `chunk` (v128 loads need no alignment).
        unsafe { v128_load(chunk.as_ptr().cast()) }
    }

    /// All ones in the lanes of `x` that hold an ASCII digit.
    #[inline]
    fn digits(x: v128) -> v128 {
        u8x16_le(u8x16_sub(x, u8x16_splat(b'0')), u8x16_splat(9))
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit;
    /// and the same for `@`.
    #[inline]
    pub fn digit_and_at_masks(chunk: &[u8]) -> (u32, u32) {
        let x = load(chunk);
        let at = u8x16_eq(x, u8x16_splat(b'@'));
        (u32::from(u8x16_bitmask(digits(x))), u32::from(u8x16_bitmask(at)))
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit.
    #[inline]
    pub fn digit_mask(chunk: &[u8]) -> u32 {
        u32::from(u8x16_bitmask(digits(load(chunk))))
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit,
    /// `(` or `+`.
    #[inline]
    pub fn number_start_mask(chunk: &[u8]) -> u32 {
        let x = load(chunk);
        let open = u8x16_eq(x, u8x16_splat(b'('));
        let plus = u8x16_eq(x, u8x16_splat(b'+'));
        u32::from(u8x16_bitmask(v128_or(digits(x), v128_or(open, plus))))
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit;
    /// and the same for a run separator (` -.()+/`).
    #[inline]
    pub fn digit_and_separator_masks(chunk: &[u8]) -> (u32, u32) {
        let x = load(chunk);
        let is = |c: u8| u8x16_eq(x, u8x16_splat(c));
        // `(`, `)` and `/` are 0x28, 0x29 and 0x2f; with the low bit cleared, `(` and `)`
        // are one compare, `.` and `/` another.
        let even = v128_andnot(x, u8x16_splat(1));
        let paren_or_dot = v128_or(u8x16_eq(even, u8x16_splat(b'(')), u8x16_eq(even, u8x16_splat(b'.')));
        let seps = v128_or(v128_or(is(b' '), is(b'-')), v128_or(is(b'+'), paren_or_dot));
        (u32::from(u8x16_bitmask(digits(x))), u32::from(u8x16_bitmask(seps)))
    }
}

/// The masks a byte at a time, where neither SSE2 nor `simd128` is available.
#[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
mod simd {
    fn mask(chunk: &[u8], is: impl Fn(u8) -> bool) -> u32 {
        chunk.iter().enumerate().fold(0, |mask, (i, &c)| mask | u32::from(is(c)) << i)
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit.
    pub fn digit_mask(chunk: &[u8]) -> u32 {
        mask(chunk, |c| c.is_ascii_digit())
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit,
    /// `(` or `+`.
    pub fn number_start_mask(chunk: &[u8]) -> u32 {
        mask(chunk, |c| super::starts_number(&c))
    }

    /// Bit `i` set when byte `i` of `chunk` (exactly sixteen bytes) is an ASCII digit;
    /// and the same for a run separator (` -.()+/`).
    pub fn digit_and_separator_masks(chunk: &[u8]) -> (u32, u32) {
        (mask(chunk, |c| c.is_ascii_digit()), mask(chunk, super::is_run_separator))
    }
}

/// The most digits in one run of `b`: digits with at most three of ` -.()+/` in a row
/// between them. Every card, SSN and phone shape the detectors accept (also the lenient
/// shapes used with context words) lies inside one such run, so a string whose longest
/// run is shorter than a kind's digit count cannot hold that kind.
fn longest_number_run(b: &[u8]) -> usize {
    if b.len() < 16 {
        return longest_number_run_bytewise(b);
    }
    let (mut longest, mut run, mut separators) = (0, 0, 0);
    let mut i = 0;
    while i < b.len() {
        if run == 0 {
            // Nothing before a run's first digit counts (a digit resets the separators):
            // go to the next digit sixteen bytes a step, not letter by letter.
            i = next_digit(b, i);
            if i == b.len() {
                break;
            }
        }
        // The next sixteen bytes (fewer at the end) at once: the run goes on up to the
        // first byte that is neither a digit nor a separator, or the fourth separator in
        // a row (counting those the run already ends with).
        let (digits, seps, lanes) = run_classes(b, i);
        let valid = u32::MAX >> (32 - lanes);
        let other = !(digits | seps) & valid;
        let carried = (1u32 << separators) - 1;
        let seps_from_3 = seps << 3 | carried << (3 - separators);
        let fourth = (seps_from_3 & seps_from_3 << 1 & seps_from_3 << 2 & seps_from_3 << 3) >> 3;
        let stop = other | fourth;
        if stop != 0 {
            let k = stop.trailing_zeros();
            run += (digits & ((1 << k) - 1)).count_ones();
            longest = longest.max(run);
            (run, separators) = (0, 0);
            i += k as usize + 1;
        } else {
            run += digits.count_ones();
            longest = longest.max(run);
            // The separators the window ends with (with the carried ones when it is
            // nothing else): fewer than four, or `fourth` would have stopped the run.
            let ending = (seps << (32 - lanes)).leading_ones();
            separators = if ending == lanes { separators + lanes } else { ending };
            i += lanes as usize;
        }
    }
    longest as usize
}

/// [`longest_number_run`] a byte at a time, for texts shorter than sixteen bytes.
fn longest_number_run_bytewise(b: &[u8]) -> usize {
    let (mut longest, mut run, mut separators) = (0, 0, 0);
    for &c in b {
        if c.is_ascii_digit() {
            run += 1;
            separators = 0;
            longest = longest.max(run);
        } else if is_run_separator(c) && separators < 3 {
            separators += 1;
        } else {
            run = 0;
            separators = 0;
        }
    }
    longest
}

/// The bytes that may stand between the digits of one number run.
fn is_run_separator(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/')
}

/// The digit and separator masks of the (up to) sixteen bytes of `b` (at least sixteen
/// long) from `i`, bit 0 for byte `i`, and how many bytes they cover: at the end, the
/// last sixteen bytes are read and the ones before `i` shifted out.
#[inline]
fn run_classes(b: &[u8], i: usize) -> (u32, u32, u32) {
    match b.get(i..i + 16) {
        Some(chunk) => {
            let (digits, seps) = simd::digit_and_separator_masks(chunk);
            (digits, seps, 16)
        }
        None => {
            let last = b.len() - 16;
            let (digits, seps) = simd::digit_and_separator_masks(&b[last..]);
            let seen = (i - last) as u32;
            (digits >> seen, seps >> seen, 16 - seen)
        }
    }
}

/// The position of the first ASCII digit in `b[from..]`, or `b.len()`.
fn next_digit(b: &[u8], from: usize) -> usize {
    next_marked(b, from, simd::digit_mask, u8::is_ascii_digit)
}

/// The position of the first byte in `b[from..]` that can start a number (a digit, `(`
/// or `+`), or `b.len()`.
fn next_number_start(b: &[u8], from: usize) -> usize {
    next_marked(b, from, simd::number_start_mask, starts_number)
}

fn starts_number(c: &u8) -> bool {
    c.is_ascii_digit() || *c == b'(' || *c == b'+'
}

/// The position of the first byte in `b[from..]` that `mask` marks (sixteen bytes a
/// step, then the last sixteen overlapping what was seen; `is` for strings shorter than
/// sixteen), or `b.len()`.
#[inline]
fn next_marked(b: &[u8], from: usize, mask: fn(&[u8]) -> u32, is: fn(&u8) -> bool) -> usize {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 16) {
        let marked = mask(chunk);
        if marked != 0 {
            return i + marked.trailing_zeros() as usize;
        }
        i += 16;
    }
    if i < b.len() && b.len() >= 16 {
        let last = b.len() - 16;
        let marked = mask(&b[last..]) >> (i - last);
        return if marked != 0 { i + marked.trailing_zeros() as usize } else { b.len() };
    }
    b[i..].iter().position(is).map_or(b.len(), |at| i + at)
}

/// Puts `found[..split]` and `found[split..]`, each in order, into one order.
fn merge_in_order(found: &mut [Found], split: usize) {
    let mut i = split;
    while i > 0 && i < found.len() {
        // Rotate each later finding back into place; lists are a handful of items long.
        let mut j = i;
        while j > 0 && found[j - 1].range.start > found[j].range.start {
            found.swap(j - 1, j);
            j -= 1;
        }
        i += 1;
    }
}

#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether position `end` of `b` is not inside a word or a longer number.
#[inline]
pub(crate) fn boundary_after(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        None => true,
        Some(&c) if is_word(c) => false,
        // "123-45-6789-1" or "555.123.4567.8" continue a number.
        Some(b'-' | b'.') => !b.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

fn digits_at(b: &[u8], i: usize, n: usize) -> bool {
    b.get(i..i + n).is_some_and(|s| s.iter().all(u8::is_ascii_digit))
}

/// The end of the longest card number (13–19 digits, one kind of separator between
/// groups, Luhn-valid) starting at `start`. Every group boundary is a candidate end, so
/// digits after the number ("4111 1111 1111 1111 12/27") do not hide it.
fn card(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    let mut digits = [0u8; 19];
    let mut count = 0;
    let mut separator = None;
    let mut longest = None;
    let valid_end = |end: usize, count: usize, digits: &[u8; 19]| {
        (13..=19).contains(&count) && boundary_after(b, end) && luhn(&digits[..count])
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            if count == 19 {
                return longest;
            }
            digits[count] = c - b'0';
            count += 1;
            i += 1;
        } else if (c == b' ' || c == b'-') && b.get(i + 1).is_some_and(u8::is_ascii_digit) && count > 0 {
            if *separator.get_or_insert(c) != c {
                break;
            }
            if valid_end(i, count, &digits) {
                longest = Some(i);
            }
            i += 1;
        } else {
            break;
        }
    }
    if valid_end(i, count, &digits) { Some(i) } else { longest }
}

/// The end of a well-formed card number (13–19 digits, one kind of separator)
/// starting at `start`, whatever its checksum: 16 digits when a group ends there
/// (the common length; digits after it may be an expiry date), else the longest.
fn card_shape(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    let mut count = 0;
    let mut separator = None;
    let (mut sixteen, mut longest) = (None, None);
    let mut candidate = |end: usize, count: usize| {
        if (13..=19).contains(&count) && boundary_after(b, end) {
            longest = Some(end);
            if count == 16 {
                sixteen = Some(end);
            }
        }
    };
    while i < b.len() && count < 19 {
        let c = b[i];
        if c.is_ascii_digit() {
            count += 1;
            i += 1;
        } else if (c == b' ' || c == b'-') && b.get(i + 1).is_some_and(u8::is_ascii_digit) && count > 0 {
            if *separator.get_or_insert(c) != c {
                break;
            }
            candidate(i, count);
            i += 1;
        } else {
            break;
        }
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        candidate(i, count);
    }
    sixteen.or(longest)
}

/// The Luhn checksum used by payment card numbers.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = d as u32;
            if k % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn ssn(b: &[u8], i: usize) -> Option<usize> {
    ssn_shape(b, i).and_then(|(end, issued)| issued.then_some(end))
}

/// The end of an SSN-shaped number at `i`, and whether it is in an issued range.
fn ssn_shape(b: &[u8], i: usize) -> Option<(usize, bool)> {
    if !digits_at(b, i, 3) {
        return None;
    }
    let sep = *b.get(i + 3)?;
    if !(sep == b'-' || sep == b' ') || !digits_at(b, i + 4, 2) || b.get(i + 6) != Some(&sep) || !digits_at(b, i + 7, 4)
    {
        return None;
    }
    let area = &b[i..i + 3];
    let never_issued = area == b"000"
        || area == b"666"
        || area[0] == b'9'
        || &b[i + 4..i + 6] == b"00"
        || &b[i + 7..i + 11] == b"0000";
    boundary_after(b, i + 11).then_some((i + 11, !never_issued))
}

fn phone(b: &[u8], start: usize) -> Option<usize> {
    phone_shape(b, start, false)
}

/// The end of a phone number at `start`; `any_area` also accepts area codes starting
/// with 0 or 1, which the North American plan never assigns.
fn phone_shape(b: &[u8], start: usize, any_area: bool) -> Option<usize> {
    let mut i = start;
    // Country code: "+1", "+1 ", "1-", "1 ", "1.".
    if b.get(i) == Some(&b'+') {
        if b.get(i + 1) != Some(&b'1') {
            return None;
        }
        i += 2;
        i += matches!(b.get(i), Some(b' ' | b'-' | b'.')) as usize;
    } else if b.get(i) == Some(&b'1')
        && matches!(b.get(i + 1), Some(b' ' | b'-' | b'.'))
        && b.get(i + 2).is_some_and(|&c| c == b'(' || c.is_ascii_digit())
    {
        i += 2;
    }
    // Area code, first digit 2-9, optionally in parentheses.
    let parenthesised = b.get(i) == Some(&b'(');
    i += parenthesised as usize;
    if !digits_at(b, i, 3) || (b[i] < b'2' && !any_area) {
        return None;
    }
    i += 3;
    if parenthesised {
        if b.get(i) != Some(&b')') {
            return None;
        }
        i += 1;
        i += (b.get(i) == Some(&b' ')) as usize;
    }
    let sep = match b.get(i) {
        Some(&c @ (b'-' | b'.' | b' ')) if !parenthesised => {
            i += 1;
            Some(c)
        }
        Some(b'-') if parenthesised => {
            i += 1;
            Some(b'-')
        }
        _ => None,
    };
    if !digits_at(b, i, 3) {
        return None;
    }
    i += 3;
    match sep {
        Some(s) if b.get(i) == Some(&s) => i += 1,
        Some(_) if parenthesised && b.get(i) == Some(&b'-') => i += 1,
        Some(_) => return None,
        None if parenthesised && b.get(i) == Some(&b'-') => i += 1,
        None => {}
    }
    if !digits_at(b, i, 4) {
        return None;
    }
    i += 4;
    boundary_after(b, i).then_some(i)
}

fn find_emails(b: &[u8], out: &mut Vec<Found>) {
    // Bytes >= 0x80 are UTF-8: internationalized addresses (RFC 6531) allow them, and
    // stopping at one would leave part of the address unmasked. Expanding over whole
    // runs of them keeps the match on character boundaries.
    let local_char = |c: u8| c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain_char = |c: u8| c.is_ascii_alphanumeric() || c >= 0x80 || c == b'.' || c == b'-';
    let mut searched = 0;
    while let Some(offset) = b[searched..].iter().position(|&c| c == b'@') {
        let at = searched + offset;
        searched = at + 1;
        let floor = out.last().map_or(0, |f: &Found| f.range.end);
        let mut start = at;
        while start > floor && local_char(b[start - 1]) {
            start -= 1;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < b.len() && domain_char(b[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start == at || !valid_domain(&b[at + 1..end]) {
            continue;
        }
        out.push(Found { kind: PiiKind::Email, range: start..end });
        searched = end;
    }
}

fn valid_domain(domain: &[u8]) -> bool {
    let mut labels = domain.split(|&c| c == b'.');
    let count = domain.iter().filter(|&&c| c == b'.').count();
    let tld = domain.rsplit(|&c| c == b'.').next().unwrap_or_default();
    let tld_ok = tld.len() >= 2 && (tld.iter().all(u8::is_ascii_alphabetic) || tld.iter().all(|&c| c >= 0x80));
    count >= 1 && labels.all(|l| !l.is_empty()) && tld_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use firehose_json::test_random::below;

    fn found(text: &str) -> Vec<(PiiKind, &str)> {
        let mut out = Vec::new();
        Detectors::of(PiiKind::ALL).find(text, &mut out);
        out.into_iter().map(|f| (f.kind, &text[f.range])).collect()
    }

    #[test]
    fn finds_ssns_but_not_never_issued_ones() {
        assert_eq!(found("ssn 123-45-6789 on file"), vec![(PiiKind::Ssn, "123-45-6789")]);
        assert_eq!(found("ssn 123 45 6789."), vec![(PiiKind::Ssn, "123 45 6789")]);
        for text in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "123-45-67890",
            "a123-45-6789",
            "123-45 6789",
        ] {
            assert!(found(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn finds_emails_with_plausible_domains() {
        assert_eq!(found("mail jo.hn+x@example.co.uk."), vec![(PiiKind::Email, "jo.hn+x@example.co.uk")]);
        assert_eq!(found("a@b.co and c@d.io"), vec![(PiiKind::Email, "a@b.co"), (PiiKind::Email, "c@d.io")]);
        assert_eq!(found("é-mail: zoë.x@exämple.com!"), vec![(PiiKind::Email, "zoë.x@exämple.com")]);
        assert_eq!(found("почта: иван@пример.рф"), vec![(PiiKind::Email, "иван@пример.рф")]);
        for text in ["@example.com", "user@localhost", "user@ex..com", "user@example.c0m", "a @ b.com"] {
            assert!(found(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn finds_phone_numbers_in_common_formats() {
        for phone in [
            "555-123-4567",
            "(555) 123-4567",
            "(555)123-4567",
            "555.123.4567",
            "555 123 4567",
            "5551234567",
            "+1 555-123-4567",
            "+15551234567",
            "1-555-123-4567",
        ] {
            let text = format!("call {phone} now");
            assert_eq!(found(&text), vec![(PiiKind::Phone, phone)], "{phone}");
        }
        for text in ["155-123-4567", "555-123-45678", "555-1234-567", "555-123.4567", "order 12345678901234"] {
            assert!(found(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn finds_only_luhn_valid_cards() {
        for card in
            ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "6011111111111117"]
        {
            let text = format!("card: {card}!");
            assert_eq!(found(&text), vec![(PiiKind::Card, card)], "{card}");
        }
        for text in ["4111111111111112", "4111 1111 1111 1112", "41111111111111111111111"] {
            assert!(found(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn digits_after_a_card_do_not_hide_it() {
        for (text, card) in [
            ("card 4111111111111111 05/27", "4111111111111111"),
            ("card 4111111111111111 2027", "4111111111111111"),
            ("4111 1111 1111 1111 12/27", "4111 1111 1111 1111"),
        ] {
            assert_eq!(found(text).first(), Some(&(PiiKind::Card, card)), "{text}");
        }
    }

    #[test]
    fn reports_mixed_findings_in_order_without_overlap() {
        let text = "Émile (ssn 123-45-6789) paid with 4111 1111 1111 1111, call 555-123-4567 or mail e@x.com";
        assert_eq!(
            found(text),
            vec![
                (PiiKind::Ssn, "123-45-6789"),
                (PiiKind::Card, "4111 1111 1111 1111"),
                (PiiKind::Phone, "555-123-4567"),
                (PiiKind::Email, "e@x.com"),
            ]
        );
    }

    #[test]
    fn digits_inside_emails_are_not_phones() {
        assert_eq!(found("5551234567@example.com"), vec![(PiiKind::Email, "5551234567@example.com")]);
    }

    #[test]
    fn the_prefilter_counts_digits_and_finds_at_signs_exactly() {
        let samples: [&[u8]; 6] =
            [b"", b"abc", b"0123456789", b"a@b", b"\xc3\xa99\xe2\x82\xac/:0@\x7f\xff", b"////::::0000999@@"];
        let expected = |text: &[u8]| (text.iter().filter(|c| c.is_ascii_digit()).count(), text.contains(&b'@'));
        for sample in samples {
            for pad in 0..33 {
                let mut text = vec![b'x'; pad];
                text.extend_from_slice(sample);
                assert_eq!(digits_and_at_sign(&text), expected(&text), "{:?}", String::from_utf8_lossy(&text));
            }
        }
        // Every length to 50 (each tail the last-word reread covers), bytes around the
        // classes' edges, `@` and digits anywhere or nowhere.
        let alphabet = b"0189/:@?A\x00\x7f\x80\xb0\xb9\xc0\xff x";
        let mut next = below(0x2545_f491_4f6c_dd1d);
        for len in 0..=50 {
            for _ in 0..400 {
                let text: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
                assert_eq!(digits_and_at_sign(&text), expected(&text), "{text:?}");
                assert_eq!(digits_and_at_sign_by_words(&text), expected(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn the_number_run_prefilter_never_hides_a_finding() {
        // Random strings over digits, every separator the shapes use, letters, context
        // words and breaks, plus real shapes: with and without the prefilter, the same findings.
        let pieces: [&[u8]; 24] = [
            b"0",
            b"1",
            b"2",
            b"4",
            b"5",
            b"6",
            b"9",
            b"555",
            b"4111",
            b" ",
            b"-",
            b".",
            b"(",
            b")",
            b"+",
            b"/",
            b"a",
            b"x@y.co",
            b"ssn ",
            b"card ",
            b"phone ",
            b";",
            b"\xc3\xa9",
            b"  ",
        ];
        let shapes = [
            "+1 (555) 123-4567",
            "(555) -123-4567",
            "1-(555) 123-4567",
            "4111 1111 1111 1111",
            "666-39-9692",
            "555.123.4567",
            "4111-1111-1111-1112",
            "123 45 6789",
        ];
        let detectors = [
            Detectors::of([PiiKind::Ssn, PiiKind::Phone, PiiKind::Card, PiiKind::Email]),
            with_default_context(&[PiiKind::Ssn, PiiKind::Phone, PiiKind::Card]),
        ];
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let (mut with, mut without) = (Vec::new(), Vec::new());
        let mut walked = 0;
        for round in 0..60_000 {
            let mut text = Vec::new();
            for _ in 0..next(24) {
                text.extend_from_slice(pieces[next(pieces.len())]);
            }
            if round % 4 == 0 {
                let at = next(text.len() + 1);
                text.splice(at..at, shapes[next(shapes.len())].bytes());
            }
            for d in &detectors {
                with.clear();
                without.clear();
                d.find_bytes_filtered(&text, &mut with, true);
                d.find_bytes_filtered(&text, &mut without, false);
                assert_eq!(with, without, "{:?}", String::from_utf8_lossy(&text));
                walked += !without.is_empty() as usize;
            }
        }
        assert!(walked > 10_000, "the strings must hold findings often enough to mean something: {walked}");
        assert_eq!(longest_number_run(b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"), 5);
        assert_eq!(longest_number_run(b"Chrome/120.0.6099.109"), 11, "a dotted version is one run: walked");
        assert_eq!(longest_number_run(b"call +1 (555) 123-4567 now"), 11);
    }

    #[test]
    fn the_run_skips_to_digits_and_counts_what_a_byte_walk_counts() {
        // The run rule a byte at a time, as it was before runs skipped to their digits.
        fn bytewise(b: &[u8]) -> usize {
            let (mut longest, mut run, mut separators) = (0, 0, 0);
            for &c in b {
                if c.is_ascii_digit() {
                    run += 1;
                    separators = 0;
                    longest = longest.max(run);
                } else if matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/') && separators < 3 {
                    separators += 1;
                } else {
                    run = 0;
                    separators = 0;
                }
            }
            longest
        }
        let pieces: [&[u8]; 12] =
            [b"7", b"42", b" ", b"-", b"(", b")", b"+", b"/", b".", b"abc", b"Mozilla ", b"\xc3\xa9"];
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        for _ in 0..50_000 {
            let mut text = Vec::new();
            for _ in 0..next(40) {
                text.extend_from_slice(pieces[next(pieces.len())]);
            }
            assert_eq!(longest_number_run(&text), bytewise(&text), "{:?}", String::from_utf8_lossy(&text));
            for from in [0, text.len() / 3, text.len()] {
                let expected = text[from..].iter().position(u8::is_ascii_digit).map_or(text.len(), |at| from + at);
                assert_eq!(next_digit(&text, from), expected, "from {from} in {:?}", String::from_utf8_lossy(&text));
                let expected = text[from..].iter().position(starts_number).map_or(text.len(), |at| from + at);
                let found = next_number_start(&text, from);
                assert_eq!(found, expected, "from {from} in {:?}", String::from_utf8_lossy(&text));
            }
        }
    }

    fn found_with(detectors: &Detectors, text: &str) -> Vec<(PiiKind, String)> {
        let mut out = Vec::new();
        detectors.find(text, &mut out);
        out.into_iter().map(|f| (f.kind, text[f.range].to_string())).collect()
    }

    fn with_default_context(kinds: &[PiiKind]) -> Detectors {
        kinds.iter().fold(Detectors::of(kinds.iter().copied()), |d, &kind| {
            d.with_context(kind, ContextWords::new(ContextWords::defaults(kind), super::super::DEFAULT_WINDOW))
        })
    }

    #[test]
    fn context_words_keep_numbers_that_fail_their_validity_rule() {
        let plain = Detectors::of([PiiKind::Ssn, PiiKind::Card, PiiKind::Phone]);
        let context = with_default_context(&[PiiKind::Ssn, PiiKind::Card, PiiKind::Phone]);
        for (text, kind, value) in [
            ("ssn 666-39-9692", PiiKind::Ssn, "666-39-9692"),
            ("Social Security: 000-12-3456.", PiiKind::Ssn, "000-12-3456"),
            ("card no 4111 1111 1111 1112 05/27", PiiKind::Card, "4111 1111 1111 1112"),
            ("call 155-123-4567", PiiKind::Phone, "155-123-4567"),
        ] {
            assert!(found_with(&plain, text).is_empty(), "{text}");
            assert_eq!(found_with(&context, text), vec![(kind, value.to_string())], "{text}");
        }
        // Valid numbers need no context; invalid ones without a word stay.
        assert_eq!(found_with(&context, "x 123-45-6789").len(), 1);
        assert!(found_with(&context, "order 666-39-9692").is_empty());
        assert!(
            found_with(&context, "ssn was updated last week, see the ticket 666-39-9692").is_empty(),
            "outside the window"
        );
    }

    #[test]
    fn dates_of_birth_need_a_context_word() {
        let d = Detectors::of([PiiKind::Dob]);
        assert_eq!(found_with(&d, "DOB: 04/01/1990"), vec![(PiiKind::Dob, "04/01/1990".into())]);
        assert_eq!(found_with(&d, "born on 1990-04-01, Lyon"), vec![(PiiKind::Dob, "1990-04-01".into())]);
        assert!(found_with(&d, "shipped 04/01/1990").is_empty());
        assert!(found_with(&d, "dob 02/30/1990").is_empty(), "not a calendar date");
    }

    #[test]
    fn ip_addresses_but_not_version_strings() {
        let d = Detectors::of([PiiKind::Ipv4, PiiKind::Ipv6]);
        assert_eq!(
            found_with(&d, "from 203.0.113.7 and 2001:db8::7, ok"),
            vec![(PiiKind::Ipv4, "203.0.113.7".into()), (PiiKind::Ipv6, "2001:db8::7".into())]
        );
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert!(found_with(&Detectors::of(PiiKind::ALL), ua).is_empty(), "{ua}");
        assert_eq!(found_with(&d, "mapped ::ffff:192.0.2.1"), vec![(PiiKind::Ipv6, "::ffff:192.0.2.1".into())]);
    }

    #[test]
    fn overlapping_candidates_resolve_to_the_leftmost_longest() {
        let all = Detectors::of(PiiKind::ALL);
        // The IBAN's BBAN "3704 0044 0532 0130 00" would pass as a Luhn-valid card by
        // chance in one case of ten; the IBAN starts first and wins either way.
        assert_eq!(
            found_with(&all, "IBAN DE89 3704 0044 0532 0130 00, ssn 123-45-6789"),
            vec![(PiiKind::Iban, "DE89 3704 0044 0532 0130 00".into()), (PiiKind::Ssn, "123-45-6789".into())]
        );
        // A card whose first groups look like an SSN is one card.
        let mut digits: Vec<u8> = b"123456789012345".iter().map(|c| c - b'0').collect();
        let check = (0..10).find(|&d| luhn(&[&digits[..], &[d]].concat())).unwrap();
        digits.push(check);
        let card = format!("123 45 6789 012345{check}");
        assert_eq!(found_with(&all, &format!("paid {card}")), vec![(PiiKind::Card, card.clone())]);
    }

    #[test]
    fn only_enabled_kinds_are_reported() {
        let mut out = Vec::new();
        Detectors::of([PiiKind::Email]).find("123-45-6789 a@b.co", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, PiiKind::Email);
    }
}
