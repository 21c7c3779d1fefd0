//! Running one batch through every stage of a pipeline version.
//!
//! Each stage gets the surviving events in one call. Kept events are passed on
//! as-is, rewritten ones from the module's output; dropped and rejected events leave
//! the batch with their stage recorded. When a call fails (trap, memory cap), the
//! instance is replaced and the batch is split in halves to find the events that
//! make it fail: only those are dead-lettered, up to a budget of retries. A call that
//! times out dead-letters its whole batch at once, as retrying it would stall the
//! stream for another deadline per half.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use firehose_sdk::Verdict;
use firehose_sdk::json;

use super::native::NativeRule;
use super::{BatchOutcome, DeadLetter, Dropped, Events, Pipeline};
use crate::engine::bindings::firehose::rules::types as wit;
use crate::engine::{Failure, FailureKind, Instance};

/// Most extra calls spent isolating failing events in one stage of one batch.
const ISOLATION_BUDGET: u32 = 64;

/// Runs batches through one pipeline version. Holds one configured instance per
/// stage; a runner belongs to one thread at a time.
pub struct Runner {
    pipeline: Arc<Pipeline>,
    instances: Vec<Option<Instance>>,
    /// Set for a runner that executes the rules natively instead of as components.
    native: Option<Native>,
}

struct Native {
    rules: Vec<Box<dyn NativeRule>>,
    output: firehose_sdk::Output,
}

/// A stage's decisions for the events it was given, with the bytes of rewrites.
#[derive(Default)]
struct StageResult {
    verdicts: Vec<Verdict>,
    rewrites: Vec<u8>,
}

impl Runner {
    pub(super) fn new(pipeline: Arc<Pipeline>, instances: Vec<Option<Instance>>) -> Runner {
        Runner { pipeline, instances, native: None }
    }

    pub(super) fn native(pipeline: Arc<Pipeline>, rules: Vec<Box<dyn NativeRule>>) -> Runner {
        Runner { pipeline, instances: Vec::new(), native: Some(Native { rules, output: firehose_sdk::Output::new() }) }
    }

    /// The version this runner runs.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Runs `input` (validated events) through every stage.
    pub fn run(&mut self, input: &Events) -> BatchOutcome {
        let now_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let context = wit::BatchContext {
            now_unix_ms,
            batch_id: uuid::Uuid::new_v4().to_string(),
            pipeline_version: self.pipeline.id.to_string(),
            stages: self.pipeline.context_stages.clone(),
        };
        let mut dropped = Vec::new();
        let mut dead_letters = Vec::new();
        let mut origin: Vec<u32> = (0..input.len() as u32).collect();
        let mut current: Option<Events> = None;
        for s in 0..self.pipeline.stages.len() {
            let events = current.as_ref().unwrap_or(input);
            if events.is_empty() {
                break;
            }
            let result = self.run_stage(s, events, &context);
            if result.verdicts.iter().all(|v| *v == Verdict::Keep) {
                continue;
            }
            // Modules are untrusted: a rewrite must be one valid JSON object, like every
            // event the host accepts, or the event is dead-lettered naming the stage.
            let mut result = result;
            for verdict in result.verdicts.iter_mut() {
                if let Verdict::Replace { start, len } = *verdict
                    && let Err(e) = json::validate(&result.rewrites[start as usize..(start + len) as usize])
                {
                    *verdict = Verdict::Reject(format!("module returned an invalid event: {e}"));
                }
            }
            if let Some(ends) = contiguous_rewrites(&result.verdicts) {
                // The module rewrote every event, in order, back to back: its output is
                // the next batch as it stands.
                current = Some(Events { data: result.rewrites, ends });
                continue;
            }
            let mut next = Events::with_capacity(events.len(), events.byte_len() + result.rewrites.len() / 2);
            let mut next_origin = Vec::with_capacity(events.len());
            for (i, verdict) in result.verdicts.into_iter().enumerate() {
                match verdict {
                    Verdict::Keep => next.push(events.get(i)),
                    Verdict::Replace { start, len } => {
                        next.push(&result.rewrites[start as usize..(start + len) as usize])
                    }
                    Verdict::Drop => {
                        dropped.push(Dropped { index: origin[i], stage: s as u16 });
                        continue;
                    }
                    Verdict::Reject(reason) => {
                        dead_letters.push(DeadLetter {
                            index: origin[i],
                            stage: self.pipeline.stages[s].name.clone(),
                            reason,
                        });
                        continue;
                    }
                }
                next_origin.push(origin[i]);
            }
            current = Some(next);
            origin = next_origin;
        }
        let delivered = current.unwrap_or_else(|| input.clone());
        BatchOutcome {
            version: self.pipeline.id.clone(),
            batch_id: context.batch_id,
            delivered,
            origin,
            dropped,
            dead_letters,
        }
    }

    fn run_stage(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> StageResult {
        match self.call(s, events, context) {
            Ok(result) => result,
            Err(failure) => {
                let mut result = StageResult::default();
                let mut budget = ISOLATION_BUDGET;
                self.isolate(s, events, 0..events.len(), failure, &mut budget, context, &mut result);
                result
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
        result: &mut StageResult,
    ) {
        if range.len() == 1 || failure.kind == FailureKind::Timeout || *budget < 2 {
            let reason = format!("module {}", failure.message);
            result.verdicts.extend(range.map(|_| Verdict::Reject(reason.clone())));
            return;
        }
        let mid = range.start + range.len() / 2;
        for half in [range.start..mid, mid..range.end] {
            *budget -= 1;
            let part = events.slice(half.clone());
            match self.call(s, &part, context) {
                Ok(part_result) => {
                    let base = result.rewrites.len() as u32;
                    result.rewrites.extend_from_slice(&part_result.rewrites);
                    result.verdicts.extend(part_result.verdicts.into_iter().map(|v| match v {
                        Verdict::Replace { start, len } => Verdict::Replace { start: start + base, len },
                        other => other,
                    }));
                }
                Err(failure) => self.isolate(s, events, half, failure, budget, context, result),
            }
        }
    }

    /// One call into stage `s`, creating its instance first if needed. A failed call
    /// discards the instance.
    fn call(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> Result<StageResult, Failure> {
        if let Some(native) = &mut self.native {
            let ctx = firehose_sdk::Context {
                now_unix_ms: context.now_unix_ms,
                batch_id: context.batch_id.clone(),
                pipeline_version: context.pipeline_version.clone(),
                stages: context
                    .stages
                    .iter()
                    .map(|s| firehose_sdk::StageInfo {
                        stage: s.stage.clone(),
                        module: s.module.clone(),
                        version: s.version.clone(),
                    })
                    .collect(),
            };
            let out = &mut native.output;
            out.clear();
            native.rules[s].process(&firehose_sdk::Batch::new(&events.data, &events.ends), &ctx, out);
            return Ok(StageResult {
                verdicts: std::mem::take(&mut out.verdicts),
                rewrites: std::mem::take(&mut out.events),
            });
        }
        let instance = match &mut self.instances[s] {
            Some(instance) => instance,
            slot @ None => {
                let fresh =
                    self.pipeline.instantiate(s).map_err(|message| Failure { kind: FailureKind::Trap, message })?;
                slot.insert(fresh)
            }
        };
        let outcome = instance.process(&events.data, &events.ends, context).and_then(|r| checked(r, events.len()));
        if outcome.is_err() {
            self.instances[s] = None;
        }
        outcome
    }
}

/// If every verdict replaces its event and the rewrites follow each other from offset
/// 0 without gaps, the end offsets of the rewrites.
fn contiguous_rewrites(verdicts: &[Verdict]) -> Option<Vec<u32>> {
    let mut ends = Vec::with_capacity(verdicts.len());
    let mut at = 0u32;
    for verdict in verdicts {
        match verdict {
            Verdict::Replace { start, len } if *start == at => {
                at += len;
                ends.push(at);
            }
            _ => return None,
        }
    }
    Some(ends)
}

/// Converts a module's answer, refusing answers that break the contract.
fn checked(result: wit::BatchResult, expected: usize) -> Result<StageResult, Failure> {
    let broken = |message: String| Failure { kind: FailureKind::Trap, message };
    if result.verdicts.len() != expected {
        return Err(broken(format!("returned {} verdicts for {} events", result.verdicts.len(), expected)));
    }
    let limit = result.events.len() as u64;
    let mut verdicts = Vec::with_capacity(expected);
    for verdict in result.verdicts {
        verdicts.push(match verdict {
            wit::Verdict::Keep => Verdict::Keep,
            wit::Verdict::Drop => Verdict::Drop,
            wit::Verdict::Reject(reason) => Verdict::Reject(reason),
            wit::Verdict::Replace(wit::Span { start, len }) => {
                if start as u64 + len as u64 > limit {
                    return Err(broken(format!(
                        "returned a rewrite at {start}+{len} outside its {limit} output bytes"
                    )));
                }
                Verdict::Replace { start, len }
            }
        });
    }
    Ok(StageResult { verdicts, rewrites: result.events })
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.native.is_none() {
            self.pipeline.give_back(std::mem::take(&mut self.instances));
        }
    }
}
