//! What the rules did to one event, stage by stage: each stage's verdict, its edits as
//! path: old → new, the time it took, and the event as delivered. Behind `firehose
//! explain` and the sidecar's `POST /admin/explain`.
//!
//! Values may hold personal data: unless asked to show them, a value the rules
//! replaced or removed is shown only by its kind and size (`‹string, 11 chars›`); what
//! the rules wrote (the masked form) and the delivered event are shown as they are,
//! since that is what leaves the host anyway.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::Pipeline;
use crate::diff::differences;
use crate::intake::Intake;

/// The story of one event through a pipeline version.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The version that ran it.
    pub rules_version: String,
    /// Each stage it met, in order; stages after a drop or a rejection are absent.
    pub stages: Vec<Step>,
    /// Its fate.
    pub verdict: Fate,
    /// The event as delivered (stamp included), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Value>,
}

/// What one stage did to the event.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The stage's name.
    pub stage: String,
    /// `name (module@version)`.
    pub module: String,
    /// The top-level members the stage was sent (it names them in `reads`); absent when
    /// it was sent the whole event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<Vec<String>>,
    /// `kept`, `edited`, `dropped` or `rejected`.
    pub verdict: &'static str,
    /// Why it was rejected, for `rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Members it changed, added or removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Change>,
    /// How long the stage took on this event, in microseconds.
    pub micros: f64,
}

/// One member a stage changed.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Its JSON path.
    pub path: String,
    /// The value before (masked unless values are shown); absent when added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after; absent when removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// What became of the event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Fate {
    /// It came through every stage.
    Delivered,
    /// A stage's rules dropped it.
    Dropped {
        /// The stage.
        stage: String,
    },
    /// A stage refused it (or failed on it): it goes to the dead letters.
    DeadLettered {
        /// The stage.
        stage: String,
        /// Why.
        reason: String,
    },
    /// It is not a JSON object the pipeline can read: it goes to the dead letters.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// Runs `record` (one event as JSON text) through `pipeline` a stage at a time.
/// `show_values` shows the values the rules replaced or removed instead of masking them.
pub fn explain(pipeline: &Arc<Pipeline>, record: &[u8], show_values: bool) -> Explanation {
    let rules_version = pipeline.id.to_string();
    let mut intake = Intake::default();
    intake.add(1, record);
    if let Some(malformed) = intake.malformed.pop() {
        return Explanation {
            rules_version,
            stages: Vec::new(),
            verdict: Fate::Unreadable { reason: malformed.reason },
            delivered: None,
        };
    }
    let mut runner = pipeline.runner();
    let now_unix_ms = chrono::Utc::now().timestamp_millis();
    let batch_id = uuid::Uuid::new_v4().to_string();
    let mut events = intake.events;
    let mut stages = Vec::new();
    for (s, stage) in pipeline.stages().iter().enumerate() {
        let outcome = runner.run_stages_as(&events, s..s + 1, now_unix_ms, batch_id.clone());
        let mut step = Step {
            stage: stage.name.clone(),
            module: stage.label().to_string(),
            reads: stage.reads().map(<[String]>::to_vec),
            verdict: "kept",
            reason: None,
            edits: Vec::new(),
            micros: outcome.stage_seconds.first().copied().unwrap_or(0.0) * 1e6,
        };
        if let Some(letter) = outcome.dead_letters.first() {
            step.verdict = "rejected";
            step.reason = Some(letter.reason.clone());
            let verdict = Fate::DeadLettered { stage: stage.name.clone(), reason: letter.reason.clone() };
            stages.push(step);
            return Explanation { rules_version, stages, verdict, delivered: None };
        }
        if !outcome.dropped.is_empty() {
            step.verdict = "dropped";
            stages.push(step);
            return Explanation {
                rules_version,
                stages,
                verdict: Fate::Dropped { stage: stage.name.clone() },
                delivered: None,
            };
        }
        let after = outcome.delivered(&events).get(0);
        if after != events.get(0) {
            step.verdict = "edited";
            step.edits = changes(events.get(0), after, show_values);
        }
        stages.push(step);
        events = outcome.into_delivered(events);
    }
    let mut stamped = Vec::new();
    pipeline.stamp().apply(&events.event(0), &mut stamped);
    let delivered = serde_json::from_slice(&stamped).ok();
    Explanation { rules_version, stages, verdict: Fate::Delivered, delivered }
}

/// The members that differ between two valid events.
fn changes(before: &[u8], after: &[u8], show_values: bool) -> Vec<Change> {
    let (Ok(before), Ok(after)) = (serde_json::from_slice::<Value>(before), serde_json::from_slice::<Value>(after))
    else {
        return Vec::new();
    };
    let old = |v: &Value| if show_values { v.to_string() } else { masked(v) };
    differences(&before, &after, &|a, b| a == b)
        .into_iter()
        .map(|d| Change { path: d.path, old: d.before.map(old), new: d.after.map(Value::to_string) })
        .collect()
}

/// A value shown by its kind and size only.
fn masked(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "‹bool›".into(),
        Value::Number(_) => "‹number›".into(),
        Value::String(s) => format!("‹string, {} chars›", s.chars().count()),
        Value::Array(a) => format!("‹array, {} items›", a.len()),
        Value::Object(o) => format!("‹object, {} members›", o.len()),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rules version {}", self.rules_version)?;
        for step in &self.stages {
            writeln!(f, "{}: {} ({:.1} µs)", step.module, step.verdict, step.micros)?;
            if let Some(reads) = &step.reads {
                writeln!(f, "    sent only: {}", reads.join(", "))?;
            }
            if let Some(reason) = &step.reason {
                writeln!(f, "    reason: {reason}")?;
            }
            for change in &step.edits {
                match (&change.old, &change.new) {
                    (Some(old), Some(new)) => writeln!(f, "    {}: {old} → {new}", change.path)?,
                    (None, Some(new)) => writeln!(f, "    {}: added {new}", change.path)?,
                    (Some(old), None) => writeln!(f, "    {}: removed (was {old})", change.path)?,
                    (None, None) => {}
                }
            }
        }
        match &self.verdict {
            Fate::Delivered => writeln!(f, "verdict: delivered")?,
            Fate::Dropped { stage } => writeln!(f, "verdict: dropped by {stage}")?,
            Fate::DeadLettered { stage, reason } => writeln!(f, "verdict: dead-lettered by {stage}: {reason}")?,
            Fate::Unreadable { reason } => writeln!(f, "verdict: dead-lettered, unreadable: {reason}")?,
        }
        if let Some(event) = &self.delivered {
            writeln!(f, "delivered: {event}")?;
        }
        Ok(())
    }
}
