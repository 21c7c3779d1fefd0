//! Running a rule natively in tests, the way the host runs it: events are validated
//! and indexed, cut down to the members the rule reads when it names them
//! ([`Rule::reads`]), and the rule's verdicts and edits are applied and checked.
//!
//! ```
//! use firehose_sdk::testing::{Fate, TestBatch};
//! # use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule};
//! # struct Upper;
//! # impl Rule for Upper {
//! #     fn describe() -> ModuleInfo { firehose_sdk::module_info!("upper") }
//! #     fn configure(_: &str) -> Result<Self, ConfigError> { Ok(Upper) }
//! #     fn process(&mut self, batch: &Batch<'_>, _: &Context, out: &mut Output) {
//! #         for event in batch.iter() {
//! #             out.edit(|edits| if let Some(name) = event.member("name") {
//! #                 edits.set_str(&name, &name.as_str().unwrap().to_uppercase())
//! #             })
//! #         }
//! #     }
//! # }
//! let batch = TestBatch::new(&[r#"{"name": "zoë"}"#]).unwrap();
//! let fates = batch.run(&mut Upper::configure("{}").unwrap());
//! assert_eq!(fates[0], Fate::Kept(r#"{"name": "ZOË"}"#.into()));
//! ```

use crate::json::{self, Applier, NameSet, Projection};
use crate::{Batch, Context, Output, Rule, Verdict};

/// Events ready to be given to a rule.
#[derive(Debug, Clone, Default)]
pub struct TestBatch {
    events: Vec<u8>,
    ends: Vec<u32>,
    tape: Vec<u32>,
    tape_ends: Vec<u32>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Passed on, with the text it ended up with.
    Kept(String),
    /// Dropped by a rule.
    Dropped,
    /// Rejected by the rule, with its reason.
    Rejected(String),
    /// The rule's answer for it was invalid (what the host would dead-letter).
    Invalid(String),
}

impl TestBatch {
    /// Validates and indexes `events` (JSON objects).
    pub fn new<T: AsRef<[u8]>>(events: &[T]) -> Result<TestBatch, json::Error> {
        let mut batch = TestBatch::default();
        let mut tape = Vec::new();
        for event in events {
            json::validate_event(event.as_ref(), &mut tape)?;
            batch.events.extend_from_slice(event.as_ref());
            batch.ends.push(batch.events.len() as u32);
            batch.tape.extend_from_slice(&tape);
            batch.tape_ends.push(batch.tape.len() as u32);
        }
        Ok(batch)
    }

    /// The batch as a rule sees it.
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(&self.events, &self.ends, &self.tape, &self.tape_ends)
    }

    /// Runs `rule` with a default context and returns each event's fate.
    pub fn run<R: Rule>(&self, rule: &mut R) -> Vec<Fate> {
        self.run_with(rule, &Context::default())
    }

    /// Runs `rule` with `ctx` and returns each event's fate. A rule that names the
    /// members it reads is given each event cut down to them, as the host gives it, so
    /// a member missing from [`Rule::reads`] shows in the test.
    pub fn run_with<R: Rule>(&self, rule: &mut R, ctx: &Context) -> Vec<Fate> {
        let mut out = Output::new();
        match rule.reads() {
            Some(names) => {
                let names = NameSet::of(names);
                let (cut, mut projection) = self.cut_down(&names);
                rule.process(&cut.batch(), ctx, &mut out);
                well_formed(&out, self.ends.len());
                projection.map_back(&mut out, &names);
            }
            None => {
                rule.process(&self.batch(), ctx, &mut out);
                well_formed(&out, self.ends.len());
            }
        }
        self.fates(&out)
    }

    /// The events cut down to the members `names`, and the map back.
    fn cut_down(&self, names: &NameSet) -> (TestBatch, Projection) {
        let (mut cut, mut projection) = (TestBatch::default(), Projection::new());
        for event in self.batch().iter() {
            projection.push(event.bytes(), event.tape(), names, &mut cut.events, &mut cut.tape);
            cut.ends.push(cut.events.len() as u32);
            cut.tape_ends.push(cut.tape.len() as u32);
        }
        (cut, projection)
    }

    /// Applies `out` to the batch as the host would.
    pub fn fates(&self, out: &Output) -> Vec<Fate> {
        let batch = self.batch();
        let mut applier = Applier::new();
        let mut session = applier.session(&out.bytes);
        out.verdicts
            .iter()
            .enumerate()
            .map(|(i, verdict)| {
                let event = batch.get(i);
                let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("valid events are UTF-8");
                match verdict {
                    Verdict::Keep => Fate::Kept(text(event.bytes())),
                    Verdict::Drop => Fate::Dropped,
                    Verdict::Reject(reason) => Fate::Rejected(reason.clone()),
                    Verdict::Replace { start, len } => {
                        let bytes = &out.bytes[*start as usize..(*start + *len) as usize];
                        match json::validate(bytes) {
                            Ok(()) => Fate::Kept(text(bytes)),
                            Err(e) => Fate::Invalid(e.to_string()),
                        }
                    }
                    Verdict::Edit { first, count } => {
                        let edits = &out.edits[*first as usize..(*first + *count) as usize];
                        let (mut bytes, mut tape) = (Vec::new(), Vec::new());
                        match session.apply(event.bytes(), event.tape(), edits, &mut bytes, &mut tape) {
                            Ok(()) => Fate::Kept(text(&bytes)),
                            Err(e) => Fate::Invalid(e.to_string()),
                        }
                    }
                }
            })
            .collect()
    }
}

/// Fails the test, as the host would fail the call, when `out` is not a well-formed
/// answer for `events` events (verdict count, spans, edits shared between events).
fn well_formed(out: &Output, events: usize) {
    if let Err(e) = out.check(events) {
        panic!("the rule's answer is broken (the host would dead-letter the whole batch): it {e}");
    }
}

impl Fate {
    /// The kept event as JSON, panicking otherwise (for tests).
    pub fn json(&self) -> serde_json::Value {
        match self {
            Fate::Kept(text) => serde_json::from_str(text).expect("kept events are valid JSON"),
            other => panic!("expected a kept event, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConfigError, ModuleInfo};

    /// Adds how many members it saw to each event; replaces events with `"replace"`.
    struct Counting(Option<Vec<String>>);

    impl Rule for Counting {
        fn describe() -> ModuleInfo {
            crate::module_info!("counting")
        }
        fn configure(_: &str) -> Result<Self, ConfigError> {
            Ok(Counting(None))
        }
        fn process(&mut self, batch: &Batch<'_>, _: &Context, out: &mut Output) {
            for event in batch.iter() {
                if event.member("replace").is_some() {
                    out.replace(|buf| buf.extend_from_slice(b"{}"));
                    continue;
                }
                let seen = event.root().members().count();
                out.edit(|edits| {
                    edits.add_with(&event.root(), "seen", |buf| buf.extend_from_slice(seen.to_string().as_bytes()))
                });
            }
        }
        fn reads(&self) -> Option<Vec<String>> {
            self.0.clone()
        }
    }

    #[test]
    fn a_rule_naming_its_members_is_given_only_those_as_by_the_host() {
        let batch = TestBatch::new(&[r#"{"a":1,"b":[2],"c":3}"#, r#"{"replace":true,"a":0}"#]).unwrap();
        let fates = batch.run(&mut Counting(Some(vec!["a".into(), "replace".into(), "seen".into()])));
        assert_eq!(fates[0], Fate::Kept(r#"{"a":1,"b":[2],"c":3,"seen":1}"#.into()));
        assert!(
            matches!(&fates[1], Fate::Rejected(reason) if reason.contains("replaced the whole event")),
            "{fates:?}"
        );
        let fates = batch.run(&mut Counting(Some(vec!["a".into()])));
        assert!(
            matches!(&fates[0], Fate::Rejected(reason) if reason.contains("`seen`")),
            "adds a member it did not name"
        );
        let fates = batch.run(&mut Counting(None));
        assert_eq!(fates[0], Fate::Kept(r#"{"a":1,"b":[2],"c":3,"seen":3}"#.into()));
        assert_eq!(fates[1], Fate::Kept("{}".into()), "whole events may be replaced");
    }
}
