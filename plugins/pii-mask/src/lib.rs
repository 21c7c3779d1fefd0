//! The `pii-mask` rule module: hides personal data.
//!
//! - **By path**: each of `fields` names a JSONPath and a strategy (`last4`, `email`,
//!   `area_code`, `first_letter`, `redact`, `hash`). A path that selects an object or
//!   array masks every string and number inside it.
//! - **By detection**: every other string, at any depth, is scanned for the kinds
//!   listed in `detect` (SSN, e-mail, phone, Luhn-valid card), each masked with its
//!   own strategy. `skip` lists paths never scanned by the detectors (a field inside a
//!   skipped object is still masked).
//! - **Not scanned**: numbers (epoch-millisecond timestamps are 13 digits and one in ten
//!   passes the Luhn check, so detection would mask them as cards; name numeric PII in
//!   `fields`) and member keys (a key cannot be edited in place; keep PII out of keys).
//!
//! Each event is walked once over the host's tape; only masked values become edits,
//! so an event without PII passes unchanged and costs one pass over its index plus a
//! prefilter over its strings' bytes.

mod config;
mod custom;

use std::ops::Range;

use firehose_sdk::json::{self, Event, PathMatcher, Value, Visitor, Walker};
use firehose_sdk::pii::{self, Detectors, Found, Masker, Strategy};
use firehose_sdk::{Batch, ConfigError, Context, Edits, ModuleInfo, Output, Rule};

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
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    walker: Walker,
    found: Vec<Found>,
    matches: Vec<custom::Match>,
    hits: Vec<(Range<usize>, usize)>,
    text: String,
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
            rule.detectors.find_bytes(decoded.as_deref().map_or(body, str::as_bytes), found);
            if found.is_empty() && rule.custom.is_none() {
                return;
            }
        }
        let text: &str = match &decoded {
            Some(text) => text,
            // The host validated the event, so a string body without escapes is UTF-8.
            None => match std::str::from_utf8(body) {
                Ok(text) => text,
                Err(_) => return,
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

    fn scalar(&mut self, value: Value<'a>, matched: Option<usize>) {
        let Some(field) = matched.filter(|&f| f < self.rule.strategies.len()) else { return };
        if value.as_f64().is_none() {
            return; // true / false / null carry no personal data.
        }
        let text = String::from_utf8_lossy(value.raw());
        let out = &mut self.scratch.text;
        out.clear();
        self.rule.masker.mask(&self.rule.strategies[field], &text, out);
        self.edits.set_str(&value, out);
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
        for event in batch.iter() {
            self.mask_event(&event, out);
        }
    }
}

firehose_sdk::export_rule!(PiiMask);

#[cfg(test)]
mod tests;
