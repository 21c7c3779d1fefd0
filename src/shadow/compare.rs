//! Comparing the live version's and a candidate's results for one batch, event by
//! event: the same verdict or not, and for events both kept, the JSON paths whose
//! values differ. Paths only: values may hold personal data and are never kept.

use std::collections::HashMap;

use serde_json::Value;

use crate::diff::{differences, generalize};
use crate::{BatchOutcome, Events};

/// What became of one input event in one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Delivered, as that version's delivered event `k`.
    Kept(usize),
    Dropped,
    DeadLettered,
}

impl Fate {
    fn name(self) -> &'static str {
        match self {
            Fate::Kept(_) => "kept",
            Fate::Dropped => "dropped",
            Fate::DeadLettered => "dead_lettered",
        }
    }
}

/// A change of verdict from the live version to the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VerdictChange {
    /// The live version's verdict: `kept`, `dropped` or `dead_lettered`.
    pub live: &'static str,
    /// The candidate's.
    pub candidate: &'static str,
}

impl VerdictChange {
    /// `kept→dropped`, as logs show it.
    pub fn arrow(&self) -> String {
        format!("{}→{}", self.live, self.candidate)
    }

    /// `kept_to_dropped`, as a metric label.
    pub fn label(&self) -> String {
        format!("{}_to_{}", self.live, self.candidate)
    }
}

/// How one batch's results differ between the live version and the candidate.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchComparison {
    /// Events compared.
    pub events: u64,
    /// Events whose verdict changed, by change.
    pub verdict_changes: HashMap<VerdictChange, u64>,
    /// Events both kept whose output differs.
    pub events_differing: u64,
    /// For each path (array indexes generalized to `[*]`), how many events differ there.
    pub paths: HashMap<String, u64>,
}

/// Compares the outcomes of the same batch `input`; `live_id` and `candidate_id` are the
/// two versions' ids, which may appear in the events (processing facts) and count as
/// equal.
pub fn compare(
    input: &Events,
    live: &BatchOutcome,
    candidate: &BatchOutcome,
    live_id: &str,
    candidate_id: &str,
) -> BatchComparison {
    let mut comparison = BatchComparison { events: live.events_in as u64, ..BatchComparison::default() };
    let (live_delivered, candidate_delivered) = (live.delivered(input), candidate.delivered(input));
    let (a, b) = (fates(live), fates(candidate));
    let same = |x: &Value, y: &Value| x == y || (x.as_str() == Some(live_id) && y.as_str() == Some(candidate_id));
    for (&x, &y) in a.iter().zip(&b) {
        match (x, y) {
            (Fate::Kept(i), Fate::Kept(j)) => {
                let (left, right) = (live_delivered.get(i), candidate_delivered.get(j));
                if left == right {
                    continue;
                }
                let (Ok(left), Ok(right)) =
                    (serde_json::from_slice::<Value>(left), serde_json::from_slice::<Value>(right))
                else {
                    continue;
                };
                let found = differences(&left, &right, &same);
                if found.is_empty() {
                    continue;
                }
                comparison.events_differing += 1;
                let mut paths: Vec<String> = found.iter().map(|d| generalize(&d.path)).collect();
                paths.sort_unstable();
                paths.dedup();
                for path in paths {
                    *comparison.paths.entry(path).or_default() += 1;
                }
            }
            (x, y) if x.name() != y.name() => {
                let change = VerdictChange { live: x.name(), candidate: y.name() };
                *comparison.verdict_changes.entry(change).or_default() += 1;
            }
            _ => {}
        }
    }
    comparison
}

/// Each input event's fate in `outcome`.
fn fates(outcome: &BatchOutcome) -> Vec<Fate> {
    let mut fates = vec![Fate::DeadLettered; outcome.events_in];
    for (k, &origin) in outcome.origin.iter().enumerate() {
        fates[origin as usize] = Fate::Kept(k);
    }
    for dropped in &outcome.dropped {
        fates[dropped.index as usize] = Fate::Dropped;
    }
    fates
}
