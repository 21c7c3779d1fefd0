//! What became of every event of a batch: delivered, dropped by a rule, or
//! dead-lettered with a reason. Nothing else is possible.

use std::sync::Arc;

use super::Events;

/// An event dropped by a stage's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Position of the event in the input batch.
    pub index: u32,
    /// Index of the stage that dropped it.
    pub stage: u16,
}

/// An event that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Position of the event in the input batch.
    pub index: u32,
    /// The stage that refused it or failed on it.
    pub stage: String,
    /// Why.
    pub reason: String,
}

/// The result of running one batch through a pipeline version.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    /// Id of the pipeline version that processed the batch.
    pub version: Arc<str>,
    /// Id of the batch, as the modules saw it.
    pub batch_id: String,
    /// The events as the stages left them, in input order; `None` when every stage
    /// kept every event as it was, so the delivered events are the input's, not a copy
    /// of them ([`BatchOutcome::delivered`] hands out either).
    pub(super) changed: Option<Events>,
    /// For each delivered event, its position in the input batch.
    pub origin: Vec<u32>,
    /// Events removed by rules.
    pub dropped: Vec<Dropped>,
    /// Events that could not be processed.
    pub dead_letters: Vec<DeadLetter>,
    /// How many events went in.
    pub events_in: usize,
    /// Wall-clock seconds each stage took (module call plus applying its answer);
    /// stages after the batch ran empty are absent.
    pub stage_seconds: Vec<f64>,
    /// Calls into a module that failed (CPU deadline, memory cap, trap), one per stage
    /// whose batch call failed, before its events were isolated.
    pub failures: Vec<StageFailure>,
    /// The batch's time as the modules saw it (milliseconds since the Unix epoch).
    pub now_unix_ms: i64,
    /// Module calls that failed (trap, deadline, memory cap, broken answer) while
    /// running the batch; their events were isolated or dead-lettered.
    pub failed_calls: u32,
}

/// A stage whose call into its module failed for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageFailure {
    /// Index of the stage.
    pub stage: u16,
    /// What went wrong.
    pub kind: crate::engine::FailureKind,
}

impl BatchOutcome {
    /// The events that made it through, in input order, given `input`, the batch this
    /// outcome is of: when no stage changed anything, they are `input` itself.
    pub fn delivered<'a>(&'a self, input: &'a Events) -> &'a Events {
        debug_assert!(self.changed.is_some() || input.len() == self.events_in, "an outcome read with another batch");
        self.changed.as_ref().unwrap_or(input)
    }

    /// Like [`BatchOutcome::delivered`], taking the events.
    pub fn into_delivered(self, input: Events) -> Events {
        debug_assert!(self.changed.is_some() || input.len() == self.events_in, "an outcome read with another batch");
        self.changed.unwrap_or(input)
    }

    /// Whether every stage kept every event as it came (the delivered events are the
    /// input, in its order).
    pub fn unchanged(&self) -> bool {
        self.changed.is_none()
    }

    /// Counts for this batch; [`Counts::balanced`] says whether each event that went in
    /// came out delivered, dropped or dead-lettered.
    pub fn counts(&self) -> Counts {
        Counts {
            events_in: self.events_in as u64,
            delivered: self.origin.len() as u64,
            dropped: self.dropped.len() as u64,
            dead_lettered: self.dead_letters.len() as u64,
        }
    }
}

/// Running totals of what happened to events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Events received.
    pub events_in: u64,
    /// Events delivered.
    pub delivered: u64,
    /// Events dropped by rules.
    pub dropped: u64,
    /// Events dead-lettered.
    pub dead_lettered: u64,
}

impl Counts {
    /// Counts `n` records that arrived but could not be read: in, and dead-lettered.
    pub fn add_unreadable(&mut self, n: usize) {
        self.events_in += n as u64;
        self.dead_lettered += n as u64;
    }

    /// Whether every event in is accounted for.
    pub fn balanced(&self) -> bool {
        self.events_in == self.delivered + self.dropped + self.dead_lettered
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.events_in += other.events_in;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.dead_lettered += other.dead_lettered;
    }
}
