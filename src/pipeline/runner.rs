//! Running one batch through every stage of a pipeline version.
//!
//! Each stage gets the surviving events and their tapes in one call. Kept events pass
//! as they are; edited events are rebuilt natively by applying the module's edits,
//! which validates the new text and patches the tape; replaced events are validated
//! whole. Dropped and rejected events leave the batch with their stage recorded, and
//! so do events whose edits or replacement are invalid: modules are untrusted, and
//! every stage (and the output) only ever sees valid JSON.
//!
//! When a call fails (trap, memory cap), the instance is replaced and the batch is
//! split in halves to find the events that make it fail: only those are
//! dead-lettered, up to a budget of retries. A call that times out dead-letters its
//! whole batch at once, as retrying it would stall the stream for another deadline
//! per half.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use firehose_json::{self as json, Applier, Edit, Output, Verdict};

use super::backend::{Backend, Components};
use super::{BatchOutcome, DeadLetter, Dropped, Events, Pipeline, StageFailure};
use crate::engine::bindings::firehose::rules::types as wit;
use crate::engine::{Failure, FailureKind};

/// Most extra calls spent isolating failing events in one stage of one batch.
const ISOLATION_BUDGET: u32 = 64;

/// Runs batches through one pipeline version, with one configured instance per stage
/// (its [`Backend`]); a runner belongs to one thread at a time.
pub struct Runner {
    pipeline: Arc<Pipeline>,
    backend: Box<dyn Backend>,
    applier: Applier,
    tape: Vec<u32>,
    failed_calls: u32,
}

impl Runner {
    pub(super) fn new(pipeline: Arc<Pipeline>, components: Components) -> Runner {
        Runner::with_backend(pipeline, Box::new(components))
    }

    /// A runner executing the stages of `pipeline` with `backend` (the benchmark runs
    /// the same rules natively this way).
    pub fn with_backend(pipeline: Arc<Pipeline>, backend: Box<dyn Backend>) -> Runner {
        Runner { pipeline, backend, applier: Applier::new(), tape: Vec::new(), failed_calls: 0 }
    }

    /// The version this runner runs.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Runs `input` (validated events with their tapes) through every stage.
    pub fn run(&mut self, input: &Events) -> BatchOutcome {
        self.run_stages(input, 0..self.pipeline.stages.len())
    }

    /// Runs `input` through the stages in `stages` only (for testing one stage).
    pub fn run_stages(&mut self, input: &Events, stages: std::ops::Range<usize>) -> BatchOutcome {
        let now_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        self.run_stages_as(input, stages, now_unix_ms, uuid::Uuid::new_v4().to_string())
    }

    /// Runs `input` through every stage as if at `now_unix_ms` in batch `batch_id`: a
    /// shadow candidate sees the same batch as the live version it is compared with.
    pub fn run_as(&mut self, input: &Events, now_unix_ms: i64, batch_id: String) -> BatchOutcome {
        self.run_stages_as(input, 0..self.pipeline.stages.len(), now_unix_ms, batch_id)
    }

    /// Runs `input` through the stages in `stages` as if at `now_unix_ms` in batch
    /// `batch_id` (explaining one event a stage at a time keeps one batch context).
    pub fn run_stages_as(
        &mut self,
        input: &Events,
        stages: std::ops::Range<usize>,
        now_unix_ms: i64,
        batch_id: String,
    ) -> BatchOutcome {
        self.failed_calls = 0;
        let context = wit::BatchContext {
            now_unix_ms,
            batch_id,
            pipeline_version: self.pipeline.id.to_string(),
            stages: self.pipeline.context_stages.clone(),
        };
        let mut dropped = Vec::new();
        let mut dead_letters = Vec::new();
        let mut origin: Vec<u32> = (0..input.len() as u32).collect();
        let mut current: Option<Events> = None;
        let mut stage_seconds = Vec::with_capacity(stages.len());
        let mut failures = Vec::new();
        for s in stages {
            let events = current.as_ref().unwrap_or(input);
            if events.is_empty() {
                break;
            }
            let started = std::time::Instant::now();
            let (result, failure) = self.run_stage(s, events, &context);
            if let Some(kind) = failure {
                failures.push(StageFailure { stage: s as u16, kind });
            }
            if result.verdicts.iter().all(|v| *v == Verdict::Keep) {
                stage_seconds.push(started.elapsed().as_secs_f64());
                continue;
            }
            let stage = &self.pipeline.stages[s].name;
            let mut session = self.applier.session(&result.bytes);
            let mut next = Events::with_capacity(events.len(), output_bytes_bound(&result, events));
            let mut next_origin = Vec::with_capacity(events.len());
            for (i, verdict) in result.verdicts.into_iter().enumerate() {
                let applied = match verdict {
                    Verdict::Keep => {
                        next.push(events.get(i), events.tape_of(i));
                        Ok(())
                    }
                    Verdict::Edit { first, count } => {
                        let edits = &result.edits[first as usize..(first + count) as usize];
                        let (data_len, tape_len) = (next.data.len(), next.tape.len());
                        match session.apply(events.get(i), events.tape_of(i), edits, &mut next.data, &mut next.tape) {
                            Ok(()) => {
                                next.ends.push(next.data.len() as u32);
                                next.tape_ends.push(next.tape.len() as u32);
                                Ok(())
                            }
                            Err(e) => {
                                next.data.truncate(data_len);
                                next.tape.truncate(tape_len);
                                Err(format!("module returned invalid edits: {e}"))
                            }
                        }
                    }
                    Verdict::Replace { start, len } => {
                        let bytes = &result.bytes[start as usize..(start + len) as usize];
                        match json::validate_event(bytes, &mut self.tape) {
                            Ok(()) => {
                                next.push(bytes, &self.tape);
                                Ok(())
                            }
                            Err(e) => Err(format!("module returned an invalid event: {e}")),
                        }
                    }
                    Verdict::Drop => {
                        dropped.push(Dropped { index: origin[i], stage: s as u16 });
                        continue;
                    }
                    Verdict::Reject(reason) => Err(reason),
                };
                match applied {
                    Ok(()) => next_origin.push(origin[i]),
                    Err(reason) => dead_letters.push(DeadLetter { index: origin[i], stage: stage.clone(), reason }),
                }
            }
            current = Some(next);
            origin = next_origin;
            stage_seconds.push(started.elapsed().as_secs_f64());
        }
        BatchOutcome {
            version: self.pipeline.id.clone(),
            batch_id: context.batch_id,
            changed: current,
            origin,
            dropped,
            dead_letters,
            events_in: input.len(),
            stage_seconds,
            failures,
            now_unix_ms,
            failed_calls: self.failed_calls,
        }
    }

    /// Runs one stage; also says how its batch call failed, if it did.
    fn run_stage(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> (Output, Option<FailureKind>) {
        match self.call(s, events, context) {
            Ok(result) => (result, None),
            Err(failure) => {
                let kind = failure.kind;
                let mut result = Output::new();
                let mut budget = ISOLATION_BUDGET;
                self.isolate(s, events, 0..events.len(), failure, &mut budget, context, &mut result);
                (result, Some(kind))
            }
        }
    }

    /// Splits `range` in halves until the failing events are found, appending one
    /// verdict per event of `range` to `result`.
    #[allow(clippy::too_many_arguments)]
    fn isolate(
        &mut self,
        s: usize,
        events: &Events,
        range: std::ops::Range<usize>,
        failure: Failure,
        budget: &mut u32,
        context: &wit::BatchContext,
        result: &mut Output,
    ) {
        if range.len() == 1 || failure.kind == FailureKind::Timeout || *budget < 2 {
            let reason = format!("module {}", failure.message);
            result.verdicts.extend(range.map(|_| Verdict::Reject(reason.clone())));
            return;
        }
        let mid = range.start + range.len() / 2;
        for half in [range.start..mid, mid..range.end] {
            // The first half's search may have spent the rest of the budget.
            if *budget == 0 {
                let reason = format!("module {} (isolation budget spent)", failure.message);
                result.verdicts.extend(half.map(|_| Verdict::Reject(reason.clone())));
                continue;
            }
            *budget -= 1;
            let part = events.slice(half.clone());
            match self.call(s, &part, context) {
                Ok(part) => merge(result, part),
                Err(failure) => self.isolate(s, events, half, failure, budget, context, result),
            }
        }
    }

    /// One call into stage `s`; an answer that breaks the contract fails the call, and
    /// a failed call discards the stage's instance.
    fn call(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> Result<Output, Failure> {
        let outcome = self.backend.call(s, events, context).and_then(|out| checked(out, events.len()));
        if outcome.is_err() {
            self.failed_calls += 1;
            self.backend.discard(s);
        }
        outcome
    }
}

/// Appends a part's answer to `into`, moving its offsets past what `into` holds.
fn merge(into: &mut Output, part: Output) {
    let byte_base = into.bytes.len() as u32;
    let edit_base = into.edits.len() as u32;
    into.bytes.extend_from_slice(&part.bytes);
    into.edits.extend(part.edits.into_iter().map(|e| Edit { text_start: e.text_start + byte_base, ..e }));
    into.verdicts.extend(part.verdicts.into_iter().map(|v| match v {
        Verdict::Replace { start, len } => Verdict::Replace { start: start + byte_base, len },
        Verdict::Edit { first, count } => Verdict::Edit { first: first + edit_base, count },
        other => other,
    }));
}

fn broken(message: String) -> Failure {
    Failure { kind: FailureKind::Trap, message }
}

/// Checks that the answer is well formed for `expected` events ([`Output::check`]).
fn checked(out: Output, expected: usize) -> Result<Output, Failure> {
    out.check(expected).map(|()| out).map_err(broken)
}

/// At most how many bytes `result` makes of `events`: every kept event, every edited
/// one with its new texts (a comma each), every rewritten one. Sized once, the next
/// batch is never reallocated (and copied) while it is filled; a shared text that many
/// events use counts once per use.
fn output_bytes_bound(result: &Output, events: &Events) -> usize {
    let edited = |first: u32, count: u32| {
        let edits = result.edits.get(first as usize..(first as usize).saturating_add(count as usize));
        edits.unwrap_or_default().iter().map(|e| e.text_len as usize + 1).sum::<usize>()
    };
    let verdicts = result.verdicts.iter().enumerate();
    verdicts
        .map(|(i, verdict)| match *verdict {
            Verdict::Keep => events.get(i).len(),
            Verdict::Edit { first, count } => events.get(i).len() + edited(first, count),
            Verdict::Replace { len, .. } => len as usize,
            Verdict::Drop | Verdict::Reject(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use firehose_json::EditAction;

    #[test]
    fn the_output_bound_holds_what_every_verdict_makes() {
        let texts: [&[u8]; 4] = [br#"{"a":1}"#, br#"{"b":"x","c":[1,2]}"#, br#"{}"#, br#"{"d":null}"#];
        let mut events = Events::with_capacity(0, 0);
        for text in texts {
            events.push(text, &json::tape_of(text).unwrap());
        }
        // One shared text used by three edits, as enrich writes its tags.
        let mut result = Output::new();
        result.bytes.extend_from_slice(br#""masked""tag":{"env":"demo"}{"e":true}"#);
        let edit = |entry, action, text_start, text_len| Edit { entry, action, text_start, text_len };
        result.edits = vec![
            edit(2, EditAction::SetValue, 0, 8),
            edit(0, EditAction::AddMember, 8, 20),
            edit(0, EditAction::AddMember, 8, 20),
            edit(0, EditAction::AddMember, 8, 20),
        ];
        result.verdicts = vec![
            Verdict::Keep,
            Verdict::Edit { first: 0, count: 2 },
            Verdict::Edit { first: 2, count: 2 },
            Verdict::Replace { start: 28, len: 10 },
        ];
        let bound = output_bytes_bound(&result, &events);
        let mut applier = Applier::new();
        let mut session = applier.session(&result.bytes);
        let mut next = Events::with_capacity(0, 0);
        for (i, verdict) in result.verdicts.iter().enumerate() {
            match *verdict {
                Verdict::Keep => next.data.extend_from_slice(events.get(i)),
                Verdict::Edit { first, count } => {
                    let edits = &result.edits[first as usize..(first + count) as usize];
                    session.apply(events.get(i), events.tape_of(i), edits, &mut next.data, &mut next.tape).unwrap();
                }
                Verdict::Replace { start, len } => {
                    next.data.extend_from_slice(&result.bytes[start as usize..(start + len) as usize])
                }
                Verdict::Drop | Verdict::Reject(_) => {}
            }
        }
        let made = String::from_utf8(next.data).unwrap();
        assert_eq!(
            made,
            r#"{"a":1}{"b":"masked","c":[1,2],"tag":{"env":"demo"}}{"tag":{"env":"demo"},"tag":{"env":"demo"}}{"e":true}"#
        );
        assert!(made.len() <= bound, "{} bytes made, bound {bound}", made.len());
        // The bound counts a shared text once per use, not once per answer.
        assert!(bound > events.byte_len() + result.bytes.len());
    }
}
