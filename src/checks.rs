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
    /// `None` if it passed; otherwise what differed, one line per difference.
    pub failure: Option<String>,
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

/// Runs the cases and describes the first failures, or `Ok` if all pass.
pub fn check(pipeline: &Arc<Pipeline>) -> Result<usize, String> {
    let results = run_tests(pipeline);
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("test `{}` failed: {}", r.name, f.replace('\n', "; "))))
        .collect();
    if failed.is_empty() { Ok(results.len()) } else { Err(failed.join(" | ")) }
}

fn run_case(pipeline: &Arc<Pipeline>, runner: &mut crate::Runner, case: &TestCase) -> Result<(), String> {
    let mut intake = Intake::default();
    intake.add(1, case.input.to_string().as_bytes());
    if let Some(bad) = intake.malformed.first() {
        return Err(format!("the input is not a valid event: {}", bad.reason));
    }
    let stages = match &case.stage {
        Some(name) => {
            let s =
                pipeline.stages().iter().position(|s| &s.name == name).ok_or_else(|| format!("no stage `{name}`"))?;
            s..s + 1
        }
        None => 0..pipeline.stages().len(),
    };
    let outcome = runner.run_stages(&intake.events, stages);
    let fate = if let Some(d) = outcome.dropped.first() {
        format!("dropped by stage `{}`", pipeline.stages()[d.stage as usize].name)
    } else if let Some(d) = outcome.dead_letters.first() {
        format!("rejected by stage `{}`: {}", d.stage, d.reason)
    } else {
        String::new()
    };
    match &case.expect {
        Expect::Dropped(_) if !outcome.dropped.is_empty() => Ok(()),
        Expect::Dropped(_) if fate.is_empty() => {
            Err(format!("expected the event to be dropped, but it came out: {}", delivered(&outcome)))
        }
        Expect::Dropped(_) => Err(format!("expected the event to be dropped, but it was {fate}")),
        Expect::Rejected { rejected } => match outcome.dead_letters.first() {
            Some(d) if d.reason.contains(rejected.as_str()) => Ok(()),
            Some(d) => Err(format!("expected a rejection mentioning `{rejected}`, got: {}", d.reason)),
            None if fate.is_empty() => {
                Err(format!("expected a rejection, but the event came out: {}", delivered(&outcome)))
            }
            None => Err(format!("expected a rejection, but the event was {fate}")),
        },
        Expect::Output { output, exact } => {
            if !fate.is_empty() {
                return Err(format!("expected the event to come out, but it was {fate}"));
            }
            let actual: Value = serde_json::from_slice(outcome.delivered.get(0)).map_err(|e| e.to_string())?;
            let mut differences = Vec::new();
            compare("$", output, &actual, *exact, &mut differences);
            if differences.is_empty() { Ok(()) } else { Err(differences.join("\n")) }
        }
    }
}

fn delivered(outcome: &crate::BatchOutcome) -> String {
    outcome.delivered.iter().next().map(|e| String::from_utf8_lossy(e).into_owned()).unwrap_or_default()
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
