//! One batch pass, shared by every front door (the CLI, the Vector sidecar, the Fluent
//! Bit filter, the benchmark): take up the version in service between batches, run a
//! batch of records through it, count, and hand each record's fate to a [`Sink`], the
//! way ripgrep's searcher drives any `Sink`. A front door is then only its I/O and its
//! protocol; what it writes is a sink (NDJSON text, batches on disk, msgpack records).
//!
//! Every record that went in reaches the sink exactly once: as a [`Delivered`] event or
//! as a dead [`Letter`] (unreadable at intake, or refused by a stage); the rest were
//! dropped by a rule and are only counted. A sink may still refuse to place a
//! delivered event (a batch writer with no partition for it): it answers
//! [`Placed::DeadLettered`] and the counts follow.

use std::sync::Arc;

use firehose_json::Event;

use crate::emit::{Letter, batch_letters};
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::pipeline::{BatchOutcome, Counts, Events, Pipeline, Runner};
use crate::reload::Live;
use crate::shadow::Shadow;

/// Where the results of a batch pass go.
pub trait Sink {
    /// What can go wrong writing them.
    type Error;

    /// An event that came through the rules, in input order.
    fn deliver(&mut self, event: Delivered<'_>) -> Result<Placed, Self::Error>;

    /// A record that did not come through: unreadable, or refused by a stage. All of a
    /// batch's dead letters come after its delivered events: unreadable records first,
    /// then refused events, each in input order.
    fn dead_letter(&mut self, letter: Letter<'_>) -> Result<(), Self::Error>;
}

/// What a sink did with a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Written where delivered events go.
    Delivered,
    /// Written with the dead letters instead, with its reason (it counts as one).
    DeadLettered,
}

/// A delivered event as a sink sees it.
#[derive(Clone, Copy)]
pub struct Delivered<'a> {
    /// The event as the rules left it.
    pub event: Event<'a>,
    /// The same record as it arrived.
    pub input: Event<'a>,
    /// Its position in the input (line, array element or chunk record), from 1.
    pub line: u64,
    /// The version that processed it (its id, its stamp, its settings).
    pub version: &'a Pipeline,
}

impl Delivered<'_> {
    /// Whether no stage changed the event.
    pub fn untouched(&self) -> bool {
        // When no stage changed the batch, both are the input's bytes, at one address.
        let (event, input) = (self.event.bytes(), self.input.bytes());
        std::ptr::eq(event, input) || event == input
    }
}

/// A batch after its pass: the records as they came in and what the rules made of
/// them, ready to hand to a sink (on this thread or, in input order, on another).
pub struct Passed {
    // Shared, not copied, with a shadow candidate's comparison.
    intake: Arc<Intake>,
    outcome: Arc<BatchOutcome>,
    version: Arc<Pipeline>,
}

impl Passed {
    /// Runs `intake` through `runner`'s version.
    pub fn run(runner: &mut Runner, intake: Intake) -> Passed {
        let outcome = Arc::new(runner.run(&intake.events));
        Passed { intake: Arc::new(intake), outcome, version: runner.pipeline().clone() }
    }

    /// The version that processed the batch.
    pub fn version(&self) -> &Arc<Pipeline> {
        &self.version
    }

    /// The records as they came in.
    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// What the stages did.
    pub fn outcome(&self) -> &BatchOutcome {
        &self.outcome
    }

    /// The events that made it through, in input order.
    pub fn delivered(&self) -> &Events {
        self.outcome.delivered(&self.intake.events)
    }

    /// The records, shared (a shadow candidate runs them too).
    pub fn shared_intake(&self) -> Arc<Intake> {
        self.intake.clone()
    }

    /// What the stages did, shared (a shadow candidate's results are compared with it).
    pub fn shared_outcome(&self) -> Arc<BatchOutcome> {
        self.outcome.clone()
    }

    /// What became of the batch's records before any sink: unreadable records count as
    /// in and dead-lettered.
    pub fn counts(&self) -> Counts {
        let mut counts = self.outcome.counts();
        counts.add_unreadable(self.intake.malformed.len());
        counts
    }

    /// The batch's dead letters, as [`Sink::dead_letter`] receives them.
    pub fn letters(&self) -> impl Iterator<Item = Letter<'_>> {
        batch_letters(&self.intake, &self.outcome)
    }

    /// Hands every delivered event, then every dead letter, to `sink`; returns the
    /// batch's counts with the sink's refusals moved from delivered to dead-lettered.
    pub fn deliver<S: Sink>(&self, sink: &mut S) -> Result<Counts, S::Error> {
        let mut counts = self.counts();
        let delivered = self.delivered();
        for (k, &origin) in self.outcome.origin.iter().enumerate() {
            let origin = origin as usize;
            let event = Delivered {
                event: delivered.event(k),
                input: self.intake.events.event(origin),
                line: self.intake.lines[origin],
                version: &self.version,
            };
            if sink.deliver(event)? == Placed::DeadLettered {
                counts.delivered -= 1;
                counts.dead_lettered += 1;
            }
        }
        for letter in self.letters() {
            sink.dead_letter(letter)?;
        }
        Ok(counts)
    }
}

/// A front door worker's view of the live rules: the version in service and a runner
/// for it, taken up between batches (a batch always finishes on the version it
/// started with); each pass is recorded in the metrics, if any, and offered to the
/// shadow candidate, if any.
pub struct LivePass {
    live: Arc<Live>,
    runner: Runner,
    metrics: Option<Arc<Metrics>>,
    shadow: Option<Arc<Shadow>>,
}

impl LivePass {
    /// A pass over the version `live` serves now.
    pub fn new(live: &Arc<Live>) -> LivePass {
        LivePass { live: live.clone(), runner: live.current().runner(), metrics: None, shadow: None }
    }

    /// Records every batch's size and stage times in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> LivePass {
        self.metrics = Some(metrics);
        self
    }

    /// Offers every batch to `shadow`'s candidate (which runs it on its own thread).
    pub fn with_shadow(mut self, shadow: Option<Arc<Shadow>>) -> LivePass {
        self.shadow = shadow;
        self
    }

    /// The version the last batch ran on (or the next will, if none ran yet).
    pub fn version(&self) -> &Arc<Pipeline> {
        self.runner.pipeline()
    }

    /// Takes up the version in service if it changed; says whether it did.
    pub fn refresh(&mut self) -> bool {
        if self.live.is_current(self.runner.pipeline()) {
            return false;
        }
        self.runner = self.live.current().runner();
        true
    }

    /// Runs one batch of records on the version in service.
    pub fn run(&mut self, intake: Intake) -> Passed {
        self.refresh();
        let passed = Passed::run(&mut self.runner, intake);
        if let Some(metrics) = &self.metrics {
            metrics.batch(&passed);
        }
        if let Some(shadow) = &self.shadow {
            shadow.offer(&passed);
        }
        passed
    }
}
