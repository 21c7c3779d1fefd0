//! What executes a stage's rules for a [`Runner`](super::Runner): the version's
//! component instances, or (the benchmark's floor, in `tools`) the same rules linked
//! natively. The runner checks every answer the same way whichever backend gave it.

use std::sync::Arc;

use firehose_json::{NameSet, Output, Projection};

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
    /// What a stage that names the members it reads is sent, and how to map its answer
    /// back (reused across calls).
    projection: Projection,
    projected: Events,
    /// Whether stages that name their members are sent only those (else whole events).
    cut_down: bool,
}

impl Components {
    pub(super) fn new(pipeline: Arc<Pipeline>, instances: Vec<Option<Instance>>, cut_down: bool) -> Components {
        Components { pipeline, instances, projection: Projection::new(), projected: Events::new(), cut_down }
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
            World::Tape => match instance.reads().filter(|_| self.cut_down).cloned() {
                // Only the members the stage reads cross into the module: a few dozen
                // bytes an event instead of the whole event and its tape.
                Some(names) => {
                    project(events, &names, &mut self.projection, &mut self.projected);
                    let cut = &self.projected;
                    let mut out = instance.process(&cut.data, &cut.ends, &cut.tape, &cut.tape_ends, context)?;
                    self.projection.map_back(&mut out, &names);
                    Ok(out)
                }
                None => instance.process(&events.data, &events.ends, &events.tape, &events.tape_ends, context),
            },
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

/// Cuts every event of `events` down to its members named in `names`, into `into`.
fn project(events: &Events, names: &NameSet, projection: &mut Projection, into: &mut Events) {
    projection.clear();
    into.clear();
    for i in 0..events.len() {
        projection.push(events.get(i), events.tape_of(i), names, &mut into.data, &mut into.tape);
        into.ends.push(into.data.len() as u32);
        into.tape_ends.push(into.tape.len() as u32);
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
