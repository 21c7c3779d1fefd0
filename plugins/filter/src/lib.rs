//! The `filter` rule module: decides which events to stream.
//!
//! An event is kept when its `event_type` matches an `event_type` pattern (if any are
//! given) and none of `exclude_event_type`, its `outcome` is in `outcome` (if given)
//! and not in `exclude_outcome`, and the `where` condition (JSONPath predicates
//! combined with `all` / `any` / `not`) holds. Everything else is dropped.

mod condition;
mod config;

use std::borrow::Cow;

use firehose_sdk::json::Event;
use firehose_sdk::matching::Glob;
use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule};

pub use condition::Condition;

/// The configured filter.
#[derive(Debug)]
pub struct Filter {
    event_type: Vec<Glob>,
    exclude_event_type: Vec<Glob>,
    outcome: Vec<String>,
    exclude_outcome: Vec<String>,
    condition: Option<Condition>,
}

impl Filter {
    fn needs_top_level(&self) -> (bool, bool) {
        let types = !self.event_type.is_empty() || !self.exclude_event_type.is_empty();
        let outcomes = !self.outcome.is_empty() || !self.exclude_outcome.is_empty();
        (types, outcomes)
    }

    /// Whether `event` passes the filter.
    pub fn keeps(&self, event: &Event<'_>) -> bool {
        let (want_type, want_outcome) = self.needs_top_level();
        if want_type || want_outcome {
            let (event_type, outcome) = top_level_pair(event, want_type, want_outcome);
            if want_type {
                let event_type = event_type.as_deref().unwrap_or("");
                let included = self.event_type.is_empty() || self.event_type.iter().any(|g| g.matches(event_type));
                if !included || self.exclude_event_type.iter().any(|g| g.matches(event_type)) {
                    return false;
                }
            }
            if want_outcome {
                let outcome = outcome.as_deref().unwrap_or("");
                let included = self.outcome.is_empty() || self.outcome.iter().any(|o| same(o, outcome));
                if !included || self.exclude_outcome.iter().any(|o| same(o, outcome)) {
                    return false;
                }
            }
        }
        self.condition.as_ref().is_none_or(|c| c.holds(event))
    }
}

/// Whether two texts are equal, without `memcmp` (a byte loop in a module).
fn same(a: &str, b: &str) -> bool {
    firehose_sdk::json::bytes_equal(a.as_bytes(), b.as_bytes())
}

/// Reads the top-level `event_type` and `outcome` strings in one pass over the root's
/// members, stopping as soon as both wanted fields are found.
fn top_level_pair<'a>(
    event: &Event<'a>,
    want_type: bool,
    want_outcome: bool,
) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
    let (mut event_type, mut outcome) = (None, None);
    for (key, value) in event.root().members() {
        if want_type && event_type.is_none() && key.is("event_type") {
            event_type = value.as_str();
        } else if want_outcome && outcome.is_none() && key.is("outcome") {
            outcome = value.as_str();
        }
        if (event_type.is_some() || !want_type) && (outcome.is_some() || !want_outcome) {
            break;
        }
    }
    (event_type, outcome)
}

impl Rule for Filter {
    fn describe() -> ModuleInfo {
        firehose_sdk::module_info!("filter")
    }

    fn configure(text: &str) -> Result<Self, ConfigError> {
        let config: config::FilterConfig = firehose_sdk::config::parse(text)?;
        let condition = match &config.r#where {
            Some(c) => Some(Condition::compile(c).map_err(|e| e.within("where"))?),
            None => None,
        };
        Ok(Filter {
            event_type: config.event_type.iter().map(|p| Glob::new(p)).collect(),
            exclude_event_type: config.exclude_event_type.iter().map(|p| Glob::new(p)).collect(),
            outcome: config.outcome,
            exclude_outcome: config.exclude_outcome,
            condition,
        })
    }

    fn process(&mut self, batch: &Batch<'_>, _ctx: &Context, out: &mut Output) {
        for event in batch.iter() {
            if self.keeps(&event) { out.keep() } else { out.drop_event() }
        }
    }

    /// `event_type` and `outcome` when filtered on, and the member each `where` path
    /// starts in; whole events when a path may reach any member.
    fn reads(&self) -> Option<Vec<String>> {
        let (types, outcomes) = self.needs_top_level();
        let mut names = Vec::new();
        if types {
            names.push("event_type".to_string());
        }
        if outcomes {
            names.push("outcome".to_string());
        }
        match &self.condition {
            Some(condition) => condition.top_level_members(&mut names).then_some(names),
            None => Some(names),
        }
    }
}

firehose_sdk::export_rule!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(config: serde_json::Value) -> Filter {
        Filter::configure(&config.to_string()).unwrap()
    }

    fn keeps(f: &Filter, event: &[u8]) -> bool {
        let tape = firehose_sdk::json::tape_of(event).unwrap();
        f.keeps(&Event::new(event, &tape))
    }

    fn event(event_type: &str, outcome: &str) -> Vec<u8> {
        json!({"event_id": "e1", "event_type": event_type, "outcome": outcome, "metadata": {"buyer_response": {"price": 25}},
               "lead_data": {"state": "CA"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn includes_by_exact_and_glob_event_type() {
        let f = filter(json!({"event_type": ["source.accepted", "recipient.*"]}));
        assert!(keeps(&f, &event("source.accepted", "success")));
        assert!(keeps(&f, &event("recipient.delivered", "success")));
        assert!(!keeps(&f, &event("source.rejected", "success")));
        assert!(!keeps(&f, br#"{"no_type": 1}"#));
    }

    #[test]
    fn excludes_win_over_includes() {
        let f = filter(json!({"event_type": ["recipient.*"], "exclude_event_type": ["recipient.failed"]}));
        assert!(keeps(&f, &event("recipient.delivered", "success")));
        assert!(!keeps(&f, &event("recipient.failed", "failure")));
    }

    #[test]
    fn filters_by_outcome() {
        let f = filter(json!({"outcome": ["success"], "exclude_outcome": ["error"]}));
        assert!(keeps(&f, &event("x", "success")));
        assert!(!keeps(&f, &event("x", "failure")));
        let f = filter(json!({"exclude_outcome": ["error"]}));
        assert!(keeps(&f, &event("x", "failure")));
        assert!(!keeps(&f, &event("x", "error")));
    }

    #[test]
    fn combines_type_outcome_and_where() {
        let f = filter(
            json!({"event_type": ["recipient.*"], "outcome": ["success"], "where": "$.metadata.buyer_response.price > 20"}),
        );
        assert!(keeps(&f, &event("recipient.delivered", "success")));
        assert!(!keeps(&f, &event("recipient.delivered", "failure")));
        let f = filter(json!({"where": "$.metadata.buyer_response.price > 30"}));
        assert!(!keeps(&f, &event("recipient.delivered", "success")));
    }

    #[test]
    fn refuses_bad_config_naming_the_field() {
        let err = Filter::configure(r#"{"event_typ": ["x"]}"#).unwrap_err();
        assert!(err.message.contains("unknown field `event_typ`"), "{err}");
        let err =
            Filter::configure(r#"{"where": {"all": [{"path": "$.a", "eq": 1}, {"path": "$.b", "matches": "("}]}}"#)
                .unwrap_err();
        assert_eq!(err.field, "where.all[1].matches");
        assert!(err.message.contains("regex"), "{err}");
    }

    #[test]
    fn reads_the_members_its_configuration_names() {
        let reads = |config| filter(config).reads();
        let names = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(reads(json!({})), names(&[]));
        assert_eq!(reads(json!({"exclude_outcome": ["error"]})), names(&["outcome"]));
        assert_eq!(
            reads(json!({"event_type": ["a"], "where": {"any": [
                {"path": "$.metadata.price", "gt": 1}, {"not": "$.lead_data.state == \"CA\""}]}})),
            names(&["event_type", "metadata", "lead_data"])
        );
        assert_eq!(reads(json!({"event_type": ["a"], "where": {"all": ["$.a exists", "$..email exists"]}})), None);
    }

    #[test]
    fn processes_a_batch_with_one_verdict_per_event() {
        use firehose_sdk::testing::{Fate, TestBatch};
        let mut f = filter(json!({"event_type": ["keep"]}));
        let batch = TestBatch::new(&[event("keep", "s"), event("drop", "s"), event("keep", "s")]).unwrap();
        let fates = batch.run(&mut f);
        assert!(matches!(fates[0], Fate::Kept(_)));
        assert_eq!(fates[1], Fate::Dropped);
        assert!(matches!(fates[2], Fate::Kept(_)));
    }
}
