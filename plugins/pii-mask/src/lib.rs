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

use firehose_sdk::json::{self, Event, PathMatcher, Value, Visitor, Walker};
use firehose_sdk::pii::{self, Detectors, Found, Masker, PiiKind, Strategy};
use firehose_sdk::{Batch, ConfigError, Context, Edits, ModuleInfo, Output, Rule};

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
    walker: Walker,
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

struct MaskVisitor<'r, 'e, 'o> {
    rule: &'r PiiMask,
    edits: &'e mut Edits<'o>,
    found: &'r mut Vec<Found>,
    text: &'r mut String,
}

impl<'a> Visitor<'a> for MaskVisitor<'_, '_, '_> {
    fn string(&mut self, value: Value<'a>, matched: Option<usize>) {
        let rule = self.rule;
        let strategy = match matched {
            Some(field) if field < rule.strategies.len() => Some(rule.strategies[field]),
            Some(_skipped) => return,
            None if rule.detectors.is_empty() => return,
            None => None,
        };
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
            self.found.clear();
            rule.detectors.find_bytes(decoded.as_deref().map_or(body, str::as_bytes), self.found);
            if self.found.is_empty() {
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
        self.text.clear();
        match strategy {
            Some(strategy) => rule.masker.mask(strategy, text, self.text),
            None => {
                let strategy_for = |kind| rule.detect_strategy[kind_slot(kind)];
                pii::mask_findings(text, self.found, &rule.masker, strategy_for, self.text);
            }
        }
        self.edits.set_str(&value, self.text);
    }

    fn scalar(&mut self, value: Value<'a>, matched: Option<usize>) {
        let Some(field) = matched.filter(|&f| f < self.rule.strategies.len()) else { return };
        if value.as_f64().is_none() {
            return; // true / false / null carry no personal data.
        }
        let text = String::from_utf8_lossy(value.raw());
        self.text.clear();
        self.rule.masker.mask(self.rule.strategies[field], &text, self.text);
        self.edits.set_str(&value, self.text);
    }
}

impl PiiMask {
    /// Masks one event, pushing its verdict to `out`.
    fn mask_event(&mut self, event: &Event<'_>, out: &mut Output) {
        // The visitor reads the configuration while writing to the scratch buffers.
        let mut scratch = std::mem::take(&mut self.scratch);
        let Scratch { walker, found, text } = &mut scratch;
        out.edit(|edits| {
            let mut visitor = MaskVisitor { rule: self, edits, found, text };
            walker.walk(event, &self.matcher, &mut visitor);
        });
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
