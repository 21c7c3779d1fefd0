//! What executes a stage's rules for a [`Runner`](super::Runner): the version's
//! component instances, or (the benchmark's floor, in `tools`) the same rules linked
//! natively. The runner checks every answer the same way whichever backend gave it.

use std::sync::Arc;

use firehose_json::Output;

use super::{Events, Pipeline};
use crate::engine::bindings::firehose::rules::types as wit;
use crate::engine::{Failure, FailureKind, Instance, World, json_output};

/// Executes one stage of a pipeline version on one batch.
pub trait Backend: Send {
    /// Runs `events` through stage `s` and returns its answer, unchecked.
    fn call(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> Result<Output, Failure>;

    /// Forgets stage `s`'s state after a failed call or a broken answer; the next call
    /// starts afresh.
    fn discard(&mut self, s: usize);
}

/// The version's stages as sandboxed component instances, one per stage, taken from
/// the version's pool and given back when the runner is dropped.
pub struct Components {
    pipeline: Arc<Pipeline>,
    instances: Vec<Option<Instance>>,
}

impl Components {
    pub(super) fn new(pipeline: Arc<Pipeline>, instances: Vec<Option<Instance>>) -> Components {
        Components { pipeline, instances }
    }
}

impl Backend for Components {
    fn call(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> Result<Output, Failure> {
        let instance = match &mut self.instances[s] {
            Some(instance) => instance,
            slot @ None => {
                let fresh = self
                    .pipeline
                    .instantiate(s)
                    .map_err(|e| Failure { kind: FailureKind::Trap, message: e.to_string() })?;
                slot.insert(fresh)
            }
        };
        match instance.world() {
            World::Tape => instance.process(&events.data, &events.ends, &events.tape, &events.tape_ends, context),
            World::Json => {
                let texts = json_texts(events)?;
                Ok(json_output(instance.process_json(&texts, context)?))
            }
        }
    }

    fn discard(&mut self, s: usize) {
        self.instances[s] = None;
    }
}

/// The events as the JSON world's strings (they are validated, so UTF-8).
fn json_texts(events: &Events) -> Result<Vec<String>, Failure> {
    (0..events.len())
        .map(|i| {
            String::from_utf8(events.get(i).to_vec())
                .map_err(|e| Failure { kind: FailureKind::Trap, message: format!("event {i} is not UTF-8: {e}") })
        })
        .collect()
}

impl Drop for Components {
    fn drop(&mut self) {
        self.pipeline.give_back(std::mem::take(&mut self.instances));
    }
}
