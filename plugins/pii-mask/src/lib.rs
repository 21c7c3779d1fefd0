//! The `pii-mask` rule module: hides personal data.
//!
//! - **By path**: each of `fields` names a JSONPath and a strategy (`last4`, `email`,
//!   `area_code`, `first_letter`, `redact`, `hash`). A path that selects an object or
//!   array masks every string and number inside it.
//! - **By detection**: every other string, at any depth, is scanned for the kinds
//!   listed in `detect` (SSN, e-mail, phone, Luhn-valid card), each masked with its
//!   own strategy. `skip` lists paths never scanned.
//!
//! Each event is walked once; only masked values are rewritten (byte splices), so an
//! event without PII passes unchanged at the cost of one scan.

mod config;

use std::ops::Range;

use firehose_sdk::json::{self, PathMatcher, Splices, State, Visitor};
use firehose_sdk::pii::{self, Detectors, Found, Masker, PiiKind, Strategy};
use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule};

/// The configured masking.
#[derive(Debug)]
pub struct PiiMask {
    /// Field paths first (their index is the strategy index), then skip paths.
    matcher: PathMatcher,
    strategies: Vec<Strategy>,
    detectors: Detectors,
    detect_strategy: [Strategy; 4],
    masker: Masker,
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    states: Vec<State>,
    splices: Splices,
    found: Vec<Found>,
    text: String,
}

fn kind_slot(kind: PiiKind) -> usize {
    match kind {
        PiiKind::Ssn => 0,
        PiiKind::Email => 1,
        PiiKind::Phone => 2,
        PiiKind::Card => 3,
    }
}

struct MaskVisitor<'a> {
    rule: &'a PiiMask,
    splices: &'a mut Splices,
    found: &'a mut Vec<Found>,
    text: &'a mut String,
}

impl MaskVisitor<'_> {
    fn replace_with_text(&mut self, range: Range<usize>) {
        let text = &*self.text;
        self.splices.replace(range, |out| json::write_string(out, text));
    }
}

impl Visitor for MaskVisitor<'_> {
    fn string(&mut self, event: &[u8], range: Range<usize>, escaped: bool, matched: Option<usize>) {
        let raw = &event[range.start + 1..range.end - 1];
        let rule = self.rule;
        let strategy = match matched {
            Some(field) if field < rule.strategies.len() => Some(rule.strategies[field]),
            Some(_skipped) => return,
            None if rule.detectors.is_empty() => return,
            None => None,
        };
        let decoded = if escaped {
            match json::unescape(raw) {
                Some(text) => Some(text),
                None => return,
            }
        } else {
            None
        };
        if strategy.is_none() {
            // Most strings hold no personal data: look at the bytes before anything else.
            self.found.clear();
            rule.detectors.find_bytes(decoded.as_deref().map_or(raw, str::as_bytes), self.found);
            if self.found.is_empty() {
                return;
            }
        }
        let value: &str = match &decoded {
            Some(text) => text,
            // The host validated the event, so a string body without escapes is UTF-8.
            None => match std::str::from_utf8(raw) {
                Ok(text) => text,
                Err(_) => return,
            },
        };
        self.text.clear();
        match strategy {
            Some(strategy) => rule.masker.mask(strategy, value, self.text),
            None => {
                let strategy_for = |kind| rule.detect_strategy[kind_slot(kind)];
                pii::mask_findings(value, self.found, &rule.masker, strategy_for, self.text);
            }
        }
        self.replace_with_text(range);
    }

    fn scalar(&mut self, event: &[u8], range: Range<usize>, matched: Option<usize>) {
        let Some(field) = matched.filter(|&f| f < self.rule.strategies.len()) else {
            return;
        };
        let raw = &event[range.clone()];
        if !raw.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-') {
            return; // true / false / null carry no personal data.
        }
        let value = std::str::from_utf8(raw).unwrap_or_default();
        self.text.clear();
        self.rule.masker.mask(self.rule.strategies[field], value, self.text);
        self.replace_with_text(range);
    }
}

impl PiiMask {
    /// Masks one event, pushing its verdict to `out`.
    fn mask_event(&mut self, event: &[u8], out: &mut Output) {
        // The visitor reads the configuration while writing to the scratch buffers.
        let mut scratch = std::mem::take(&mut self.scratch);
        let Scratch { states, splices, found, text } = &mut scratch;
        splices.clear();
        let mut visitor = MaskVisitor { rule: self, splices, found, text };
        let result = json::walk(event, &self.matcher, states, &mut visitor);
        if let Err(e) = result {
            out.reject(format!("cannot scan event for personal data: {e}"));
        } else if splices.is_empty() {
            out.keep();
        } else {
            out.replace(|buf| splices.apply(event, buf));
        }
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
            self.mask_event(event, out);
        }
    }
}

firehose_sdk::export_rule!(PiiMask);

#[cfg(test)]
mod tests;
