//! The `filter` rule module: decides which events to stream.
//!
//! An event is kept when its `event_type` matches an `event_type` pattern (if any are
//! given) and none of `exclude_event_type`, its `outcome` is in `outcome` (if given)
//! and not in `exclude_outcome`, and the `where` condition (JSONPath predicates
//! combined with `all` / `any` / `not`) holds. Everything else is dropped.

mod condition;
mod config;

use firehose_sdk::json::{self, Fields};
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
    pub fn keeps(&self, event: &[u8]) -> bool {
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
                let included = self.outcome.is_empty() || self.outcome.iter().any(|o| o == outcome);
                if !included || self.exclude_outcome.iter().any(|o| o == outcome) {
                    return false;
                }
            }
        }
        self.condition.as_ref().is_none_or(|c| c.holds(event))
    }
}

/// Reads the top-level `event_type` and `outcome` strings in one scan, stopping as
/// soon as both wanted fields are found.
fn top_level_pair(event: &[u8], want_type: bool, want_outcome: bool) -> (Option<String>, Option<String>) {
    let (mut event_type, mut outcome) = (None, None);
    let start = json::skip_ws(event, 0);
    let Ok(fields) = Fields::new(event, start) else {
        return (None, None);
    };
    for field in fields.map_while(Result::ok) {
        if want_type && event_type.is_none() && field.key_is(event, "event_type") {
            event_type = json::RawValue::new(&event[field.value]).as_str().map(Into::into);
        } else if want_outcome && outcome.is_none() && field.key_is(event, "outcome") {
            outcome = json::RawValue::new(&event[field.value]).as_str().map(Into::into);
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
            if self.keeps(event) { out.keep() } else { out.drop_event() }
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

    fn event(event_type: &str, outcome: &str) -> Vec<u8> {
        json!({"event_id": "e1", "event_type": event_type, "outcome": outcome, "metadata": {"buyer_response": {"price": 25}},
               "lead_data": {"state": "CA"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn includes_by_exact_and_glob_event_type() {
        let f = filter(json!({"event_type": ["source.accepted", "recipient.*"]}));
        assert!(f.keeps(&event("source.accepted", "success")));
        assert!(f.keeps(&event("recipient.delivered", "success")));
        assert!(!f.keeps(&event("source.rejected", "success")));
        assert!(!f.keeps(br#"{"no_type": 1}"#));
    }

    #[test]
    fn excludes_win_over_includes() {
        let f = filter(json!({"event_type": ["recipient.*"], "exclude_event_type": ["recipient.failed"]}));
        assert!(f.keeps(&event("recipient.delivered", "success")));
        assert!(!f.keeps(&event("recipient.failed", "failure")));
    }

    #[test]
    fn filters_by_outcome() {
        let f = filter(json!({"outcome": ["success"], "exclude_outcome": ["error"]}));
        assert!(f.keeps(&event("x", "success")));
        assert!(!f.keeps(&event("x", "failure")));
        let f = filter(json!({"exclude_outcome": ["error"]}));
        assert!(f.keeps(&event("x", "failure")));
        assert!(!f.keeps(&event("x", "error")));
    }

    #[test]
    fn combines_type_outcome_and_where() {
        let f = filter(
            json!({"event_type": ["recipient.*"], "outcome": ["success"], "where": "$.metadata.buyer_response.price > 20"}),
        );
        assert!(f.keeps(&event("recipient.delivered", "success")));
        assert!(!f.keeps(&event("recipient.delivered", "failure")));
        let f = filter(json!({"where": "$.metadata.buyer_response.price > 30"}));
        assert!(!f.keeps(&event("recipient.delivered", "success")));
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
    fn processes_a_batch_with_one_verdict_per_event() {
        let mut f = filter(json!({"event_type": ["keep"]}));
        let events = [event("keep", "s"), event("drop", "s"), event("keep", "s")];
        let data: Vec<u8> = events.concat();
        let mut ends = Vec::new();
        let mut end = 0;
        for e in &events {
            end += e.len() as u32;
            ends.push(end);
        }
        let mut out = Output::new();
        f.process(&Batch::new(&data, &ends), &Context::default(), &mut out);
        use firehose_sdk::Verdict::*;
        assert_eq!(out.verdicts, vec![Keep, Drop, Keep]);
    }
}
