//! Running a pipeline's own test cases (`tests:` in the pipeline file): by
//! `firehose test`, and as the check every new version must pass before a hot swap.

use std::sync::Arc;

use serde_json::Value;

use crate::Pipeline;
use crate::config::{Expect, TestCase};
use crate::intake::Intake;

/// The result of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// `None` if it passed; otherwise why not.
    pub failure: Option<CaseFailure>,
}

/// Why a test case failed; displayed one line per difference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseFailure {
    /// The case's input is not a valid event.
    #[error("the input is not a valid event: {0}")]
    BadInput(String),
    /// The case names a stage the pipeline does not have.
    #[error("no stage `{0}`")]
    NoStage(String),
    /// The event met another fate than expected.
    #[error("expected {expected}, but {actual}")]
    Fate {
        /// What the case expects, in words.
        expected: String,
        /// What happened, in words.
        actual: String,
    },
    /// The event came out with other values than expected, one line per difference.
    #[error("{}", .0.join("\n"))]
    Differences(Vec<String>),
}

/// The failed cases of a version, refused before a hot swap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", failed_cases(.0))]
pub struct TestsFailed(pub Vec<(String, CaseFailure)>);

fn failed_cases(failures: &[(String, CaseFailure)]) -> String {
    let lines: Vec<String> = failures
        .iter()
        .map(|(name, failure)| format!("test `{name}` failed: {}", failure.to_string().replace('\n', "; ")))
        .collect();
    lines.join(" | ")
}

/// Runs every test case of `pipeline`.
pub fn run_tests(pipeline: &Arc<Pipeline>) -> Vec<CaseResult> {
    let mut runner = pipeline.runner();
    pipeline
        .config
        .tests
        .iter()
        .map(|case| CaseResult { name: case.name.clone(), failure: run_case(pipeline, &mut runner, case).err() })
        .collect()
}

/// Runs the cases: the number of cases if all pass, else the failed ones.
pub fn check(pipeline: &Arc<Pipeline>) -> Result<usize, TestsFailed> {
    let results = run_tests(pipeline);
    let count = results.len();
    let failed: Vec<(String, CaseFailure)> =
        results.into_iter().filter_map(|r| r.failure.map(|failure| (r.name, failure))).collect();
    if failed.is_empty() { Ok(count) } else { Err(TestsFailed(failed)) }
}

fn run_case(pipeline: &Arc<Pipeline>, runner: &mut crate::Runner, case: &TestCase) -> Result<(), CaseFailure> {
    let mut intake = Intake::default();
    intake.add(1, case.input.to_string().as_bytes());
    if let Some(bad) = intake.malformed.first() {
        return Err(CaseFailure::BadInput(bad.reason.clone()));
    }
    let stages = match &case.stage {
        Some(name) => {
            let s = pipeline
                .stages()
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| CaseFailure::NoStage(name.clone()))?;
            s..s + 1
        }
        None => 0..pipeline.stages().len(),
    };
    let outcome = runner.run_stages(&intake.events, stages);
    let delivered = outcome.delivered(&intake.events);
    let fate = if let Some(d) = outcome.dropped.first() {
        format!("dropped by stage `{}`", pipeline.stages()[d.stage as usize].name)
    } else if let Some(d) = outcome.dead_letters.first() {
        format!("rejected by stage `{}`: {}", d.stage, d.reason)
    } else {
        String::new()
    };
    let fate_error = |expected: &str, actual: String| CaseFailure::Fate { expected: expected.to_string(), actual };
    match &case.expect {
        Expect::Dropped(_) if !outcome.dropped.is_empty() => Ok(()),
        Expect::Dropped(_) if fate.is_empty() => {
            Err(fate_error("the event to be dropped", format!("it came out: {}", first_delivered(delivered))))
        }
        Expect::Dropped(_) => Err(fate_error("the event to be dropped", format!("it was {fate}"))),
        Expect::Rejected { rejected } => match outcome.dead_letters.first() {
            Some(d) if d.reason.contains(rejected.as_str()) => Ok(()),
            Some(d) => Err(fate_error(&format!("a rejection mentioning `{rejected}`"), format!("got: {}", d.reason))),
            None if fate.is_empty() => {
                Err(fate_error("a rejection", format!("the event came out: {}", first_delivered(delivered))))
            }
            None => Err(fate_error("a rejection", format!("the event was {fate}"))),
        },
        Expect::Output { output, exact } => {
            if !fate.is_empty() {
                return Err(fate_error("the event to come out", format!("it was {fate}")));
            }
            let actual: Value =
                serde_json::from_slice(delivered.get(0)).map_err(|e| CaseFailure::Differences(vec![e.to_string()]))?;
            let mut differences = Vec::new();
            compare("$", output, &actual, *exact, &mut differences);
            if differences.is_empty() { Ok(()) } else { Err(CaseFailure::Differences(differences)) }
        }
    }
}

/// The first delivered event as text (empty if none came out).
fn first_delivered(delivered: &crate::Events) -> String {
    delivered.iter().next().map(|e| String::from_utf8_lossy(e).into_owned()).unwrap_or_default()
}

/// Lists where `actual` differs from `expected`; with `exact` false, members of
/// `actual` that `expected` does not mention are ignored (at any depth).
pub fn compare(path: &str, expected: &Value, actual: &Value, exact: bool, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, want_value) in want {
                let child = format!("{path}.{key}");
                match have.get(key) {
                    Some(have_value) => compare(&child, want_value, have_value, exact, out),
                    None => out.push(format!("{child}: expected {want_value}, but it is missing")),
                }
            }
            if exact {
                for key in have.keys().filter(|k| !want.contains_key(*k)) {
                    out.push(format!("{path}.{key}: not expected, but present: {}", have[key]));
                }
            }
        }
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => {
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                compare(&format!("{path}[{i}]"), w, h, exact, out);
            }
        }
        (Value::Number(want), Value::Number(have)) if want.as_f64() == have.as_f64() => {}
        (want, have) if want == have => {}
        (want, have) => out.push(format!("{path}: expected {want}, got {have}")),
    }
}

#[cfg(test)]
mod tests {
    use super::compare;
    use serde_json::json;

    fn diff(expected: serde_json::Value, actual: serde_json::Value, exact: bool) -> Vec<String> {
        let mut out = Vec::new();
        compare("$", &expected, &actual, exact, &mut out);
        out
    }

    #[test]
    fn subset_comparison_names_each_difference() {
        let actual = json!({"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": true});
        assert!(diff(json!({"b": {"c": "x"}}), actual.clone(), false).is_empty());
        assert!(diff(json!({"a": 1.0}), actual.clone(), false).is_empty());
        assert_eq!(diff(json!({"b": {"c": "y"}}), actual.clone(), false), vec![r#"$.b.c: expected "y", got "x""#]);
        assert_eq!(diff(json!({"z": 1}), actual.clone(), false), vec!["$.z: expected 1, but it is missing"]);
        assert_eq!(diff(json!({"b": {"d": [1]}}), actual.clone(), false), vec!["$.b.d: expected [1], got [1,2]"]);
        assert_eq!(diff(json!({"a": 1}), json!({"a": 1, "x": 2}), true), vec!["$.x: not expected, but present: 2"]);
    }
}
