//! The `pii-mask` rule module: hides personal data.
//!
//! - **By path**: each of `fields` names a JSONPath and a strategy. A path that
//!   selects an object or array masks every string and number inside it.
//! - **By detection**: every other string, at any depth, is scanned for the kinds
//!   listed in `detect`, each masked with its own strategy, and for the `custom`
//!   patterns. `skip` lists paths never scanned by the detectors (a field inside a
//!   skipped object is still masked).
//! - **Not scanned**: numbers (epoch-millisecond timestamps are 13 digits and one in ten
//!   passes the Luhn check, so detection would mask them as cards; name numeric PII in
//!   `fields`) and member keys (a key cannot be edited in place; keep PII out of keys).
//!
//! Without `detect`, the module reads only the top-level members its `fields` lie in
//! (`Rule::reads`), so the host sends it just those: masking a few named fields costs
//! little more than the copy of those members.
//!
//! # Strategies
//!
//! | name | effect |
//! |---|---|
//! | `last4` | keep the last four letters or digits, star the rest, keep separators: `***-**-6789` |
//! | `email` | first character of the local part and the domain: `j***@example.com` |
//! | `area_code` | keep the area code (and `+1`), star the other digits: `(555) ***-****` |
//! | `first_letter` | first letter of each word: `É*** Z***` |
//! | `redact` | `[REDACTED]` |
//! | `hash` | hex HMAC-SHA-256 under `hash_key`: equal values stay joinable |
//! | `network` | keep an IP address's network: IPv4 `/24` (`203.0.113.7` → `203.0.113.0/24`), IPv6 `/48` (`2001:db8:85a3::/48`; a /64 can single out one household), an IPv4-mapped IPv6 address its IPv4 `/24`; anything else → `[REDACTED]`. For `ipv4`/`ipv6` (and `fields`, `custom`) only |
//! | `{replace: TEXT}` | a fixed replacement: `{replace: "[IP]"}` |
//!
//! # Built-in kinds
//!
//! Each kind is off unless named in `detect`, and costs nothing then. A kind is
//! written `ssn: last4` (a strategy), `ssn: {replace: "[SSN]"}`, or in the long form
//! `ssn: {strategy: last4, context: [ssn, social security], window: 32}`
//! (`context: default` takes the default words below).
//!
//! | kind | finds | validity rule | context words (`context: default`) | cost when on |
//! |---|---|---|---|---|
//! | `ssn` | `123-45-6789`, `123 45 6789` | area not 000, 666 or 9xx; group not 00; serial not 0000 | ssn, ssn#, social security, social sec, soc sec, taxpayer id, tin | part of the one numeric pass; strings with < 9 digits skipped |
//! | `email` | `local@domain.tld` (UTF-8 allowed) | domain with a dot and a letter TLD | — (none: no rule to relax) | strings without `@` skipped |
//! | `phone` | `555-123-4567`, `(555) 123-4567`, `+1 555.123.4567`, `5551234567` | area code starts with 2–9 | phone, tel, telephone, mobile, cell, call, fax | numeric pass; < 10 digits skipped |
//! | `card` | 13–19 digits, one kind of separator (space or dash) | Luhn checksum | card, card no, card number, credit card, debit card, cc, visa, mastercard, amex | numeric pass; < 13 digits skipped |
//! | `ipv4` | `203.0.113.7` | four parts 0–255 without leading zeros, not inside a longer dotted run (`1.2.3.4.5`) nor after a product token (`Chrome/120.0.0.0`) | — | numeric pass; < 4 digits skipped |
//! | `ipv6` | `2001:db8::7`, `::ffff:192.0.2.1` | parses as an IPv6 address, two colons at least, not `::`; not after a letter or digit | — | one `memchr` for `:` per string with a digit |
//! | `iban` | `DE89 3704 0044 0532 0130 00` or compact, upper-case country code | ISO 7064 mod 97 (15–34 characters) | iban, account, bank account, acct | one byte scan per string with 2+ digits |
//! | `dob` | `04/01/1990`, `4/1/1990`, `04-01-1990`, `1990-04-01` | a calendar date, 1900–2099, **and** a context word before it (always: a date alone is not a birth date) | dob, d.o.b, born, birth, birthday, date of birth, birthdate (used when `context` is not given) | numeric pass; < 6 digits skipped |
//!
//! **Context words.** For `ssn`, `phone`, `card` and `iban`, a candidate of the
//! right shape that *fails* the validity rule (`ssn 666-39-9692`, a card number with a
//! typo) is still masked when one of the words occurs in the `window` characters
//! (Unicode characters, not bytes; default 32, at most 1000) before the candidate's
//! start, in the same string. Words match whole words (a letter, digit, `_` or
//! non-ASCII character on either side breaks the match), case-insensitively for ASCII
//! letters. Candidates that pass the rule are masked as without context. Context is off unless configured, so
//! the default behaviour is unchanged: `ssn 666-39-9692` stays as it is (Vector's
//! `redact` makes the same choice). `email`, `ipv4` and `ipv6` have no rule to relax
//! and refuse `context`.
//!
//! # Custom patterns
//!
//! `detect.custom: [{name, pattern, strategy, context?, window?}]`: regular expressions
//! in the [`regex`] crate's syntax (no look-around or back-references). All patterns of a
//! stage are compiled into one `RegexSet`: a string costs one pass over it, and only the
//! patterns that set reports are searched for their matches. The engine runs in time
//! linear in the text whatever the pattern (`(a+)+$` cannot backtrack
//! catastrophically). Empty matches (`\d*` between words) mask nothing. With
//! `context`, a match counts only when one of the words precedes it within `window`.
//! A bad pattern is refused at load, naming `detect.custom[i].pattern`.
//!
//! **Overlaps.** Built-in kinds are resolved first (a card whose first groups look
//! like an SSN is one card; an IBAN whose digits look like a card is one IBAN); then,
//! among built-in findings and custom matches, the leftmost wins, then the longest,
//! then the built-in kind, then the pattern listed first.
//!
//! Each event is walked once over the host's tape; only masked values become edits,
//! so an event without PII passes unchanged and costs one pass over its index plus a
//! prefilter over its strings' bytes. What every kind and three custom patterns cost
//! on the demo pipeline: `firehose bench` (line `all PII kinds / demo`).

mod config;
mod custom;

use std::ops::Range;

use firehose_sdk::json::{self, Event, PathMatcher, Value, Visitor, Walker};
use firehose_sdk::pii::{self, Detectors, Found, Masker, Strategy};
use firehose_sdk::{Batch, ConfigError, Context, Edits, ModuleInfo, Output, Rule, Text};

use custom::CustomPatterns;

/// The configured masking.
#[derive(Debug)]
pub struct PiiMask {
    /// Field paths first (their index is the strategy index), then skip paths.
    matcher: PathMatcher,
    strategies: Vec<Strategy>,
    detectors: Detectors,
    /// The strategy of each built-in kind, by `PiiKind::index`.
    detect_strategy: [Strategy; 8],
    /// `detect.custom`, when any.
    custom: Option<CustomPatterns>,
    masker: Masker,
    /// The top-level members the fields lie in, when nothing is detected (see
    /// [`Rule::reads`]).
    reads: Option<Vec<String>>,
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    walker: Walker,
    found: Vec<Found>,
    matches: Vec<custom::Match>,
    hits: Vec<(Range<usize>, usize)>,
    text: String,
    /// Per field of a strategy that writes a fixed text (`redact`, `replace`): that
    /// text, written once per batch and shared by every event's edit.
    fixed: Vec<Option<Text>>,
}

struct MaskVisitor<'r, 'e, 'o> {
    rule: &'r PiiMask,
    edits: &'e mut Edits<'o>,
    scratch: &'r mut Scratch,
}

impl<'a> Visitor<'a> for MaskVisitor<'_, '_, '_> {
    fn string(&mut self, value: Value<'a>, matched: Option<usize>) {
        let rule = self.rule;
        let strategy = match matched {
            Some(field) if field < rule.strategies.len() => Some(&rule.strategies[field]),
            Some(_skipped) => return,
            None if rule.detectors.is_empty() && rule.custom.is_none() => return,
            None => None,
        };
        if let (Some(field), Some(fixed)) = (matched, strategy.and_then(Strategy::fixed_text)) {
            self.set_fixed(&value, field, fixed);
            return;
        }
        let Scratch { found, matches, hits, text: out, .. } = &mut *self.scratch;
        let body = value.str_body().unwrap_or_default();
        let decoded = if value.is_escaped() {
            match json::unescape(body) {
                Some(text) => Some(text),
                None => return,
            }
        } else {
            None
        };
        if strategy.is_none() {
            // Most strings hold no personal data: look at the bytes before anything else.
            found.clear();
            if !rule.detectors.is_empty() {
                rule.detectors.find_bytes(decoded.as_deref().map_or(body, str::as_bytes), found);
            }
            if found.is_empty() && rule.custom.is_none() {
                return;
            }
        }
        let text: &str = match &decoded {
            Some(text) => text,
            // The host validated the event, so a string body without escapes is UTF-8.
            None => match json::utf8(body) {
                Some(text) => text,
                None => return,
            },
        };
        out.clear();
        match (strategy, &rule.custom) {
            (Some(strategy), _) => rule.masker.mask(strategy, text, out),
            (None, None) => {
                let strategy_for = |kind: pii::PiiKind| &rule.detect_strategy[kind.index()];
                pii::mask_findings(text, found, &rule.masker, strategy_for, out);
            }
            (None, Some(custom)) => {
                matches.clear();
                custom.find(text, matches);
                if found.is_empty() && matches.is_empty() {
                    return;
                }
                rule.mask_hits(text, found, matches, hits, out);
            }
        }
        self.edits.set_str(&value, out);
    }

    /// Skipped paths (numbered after the fields): nothing under them is scanned, and the
    /// walk steps over them whole unless a field lies inside.
    fn ignores(&self, matched: usize) -> bool {
        matched >= self.rule.strategies.len()
    }

    fn scalar(&mut self, value: Value<'a>, matched: Option<usize>) {
        let Some(field) = matched.filter(|&f| f < self.rule.strategies.len()) else { return };
        if value.as_f64().is_none() {
            return; // true / false / null carry no personal data.
        }
        if let Some(fixed) = self.rule.strategies[field].fixed_text() {
            self.set_fixed(&value, field, fixed);
            return;
        }
        let text = String::from_utf8_lossy(value.raw());
        let out = &mut self.scratch.text;
        out.clear();
        self.rule.masker.mask(&self.rule.strategies[field], &text, out);
        self.edits.set_str(&value, out);
    }
}

impl MaskVisitor<'_, '_, '_> {
    /// Replaces `value` with `fixed`, the text of field `field`'s strategy, written into
    /// the batch's answer the first time only.
    fn set_fixed(&mut self, value: &Value<'_>, field: usize, fixed: &str) {
        let slot = &mut self.scratch.fixed[field];
        let text = *slot.get_or_insert_with(|| self.edits.text(|out| json::write_string(out, fixed)));
        self.edits.set_text(value, text);
    }
}

impl PiiMask {
    /// Masks built-in findings and custom matches together: where they overlap, the
    /// leftmost wins, then the longest, then the built-in kind.
    fn mask_hits(
        &self,
        text: &str,
        found: &[Found],
        matches: &[custom::Match],
        hits: &mut Vec<(Range<usize>, usize)>,
        out: &mut String,
    ) {
        const BUILT_IN: usize = 8;
        hits.clear();
        hits.extend(found.iter().map(|f| (f.range.clone(), f.kind.index())));
        hits.extend(matches.iter().map(|m| (m.range.clone(), BUILT_IN + m.pattern)));
        hits.sort_by_key(|(range, slot)| (range.start, std::cmp::Reverse(range.end), *slot));
        let custom = self.custom.as_ref().map_or(&[][..], |c| &c.strategies);
        let mut copied = 0;
        for (range, slot) in hits.iter() {
            if range.start < copied {
                continue; // overlaps the hit just masked
            }
            out.push_str(&text[copied..range.start]);
            let strategy = match slot.checked_sub(BUILT_IN) {
                None => &self.detect_strategy[*slot],
                Some(pattern) => &custom[pattern],
            };
            self.masker.mask(strategy, &text[range.clone()], out);
            copied = range.end;
        }
        out.push_str(&text[copied..]);
    }

    /// Masks one event, pushing its verdict to `out`.
    fn mask_event(&mut self, event: &Event<'_>, out: &mut Output) {
        // The visitor reads the configuration while writing to the scratch buffers.
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut walker = std::mem::take(&mut scratch.walker);
        out.edit(|edits| {
            let mut visitor = MaskVisitor { rule: self, edits, scratch: &mut scratch };
            walker.walk(event, &self.matcher, &mut visitor);
        });
        scratch.walker = walker;
        self.scratch = scratch;
    }
}

impl Rule for PiiMask {
    fn describe() -> ModuleInfo {
        firehose_sdk::module_info!("pii-mask")
    }

    fn configure(text: &str) -> Result<Self, ConfigError> {
        config::build(text)
    }

    fn process(&mut self, batch: &Batch<'_>, _ctx: &Context, out: &mut Output) {
        // Shared texts belong to one batch's answer.
        self.scratch.fixed.clear();
        self.scratch.fixed.resize(self.strategies.len(), None);
        for event in batch.iter() {
            self.mask_event(&event, out);
        }
    }

    /// The members its `fields` lie in when nothing is detected; whole events when
    /// detectors scan every string, or a field's path may reach any member.
    fn reads(&self) -> Option<Vec<String>> {
        self.reads.clone()
    }
}

firehose_sdk::export_rule!(PiiMask);

#[cfg(test)]
mod tests;
