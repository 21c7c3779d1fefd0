//! The shape of a rule module as seen by its author: configure once, then process
//! batches, deciding keep / drop / replace / reject for each event.

use crate::ConfigError;
use crate::Output;
use crate::json::Event;

/// Name, version and purpose of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Short name, e.g. `pii-mask`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// One line saying what the module does.
    pub description: String,
}

/// One stage of the running pipeline, as the host describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageInfo {
    /// The stage's name in the pipeline file.
    pub stage: String,
    /// The module's name.
    pub module: String,
    /// The module's version.
    pub version: String,
}

/// Everything a module may know about the batch beyond its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// When the host started the batch, milliseconds since the Unix epoch (UTC).
    pub now_unix_ms: i64,
    /// Unique id of the batch.
    pub batch_id: String,
    /// Content hash of the pipeline version processing the batch.
    pub pipeline_version: String,
    /// The pipeline's stages in order.
    pub stages: Vec<StageInfo>,
}

/// Events of one batch, stored back to back, with their tapes.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    events: &'a [u8],
    ends: &'a [u32],
    tape: &'a [u32],
    tape_ends: &'a [u32],
}

impl<'a> Batch<'a> {
    /// A batch over `events`, where event `i` ends at `ends[i]` and its tape ends at
    /// word `tape_ends[i]` of `tape`.
    pub fn new(events: &'a [u8], ends: &'a [u32], tape: &'a [u32], tape_ends: &'a [u32]) -> Self {
        Self { events, ends, tape, tape_ends }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Event `i`.
    pub fn get(&self, i: usize) -> Event<'a> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let tape_start = if i == 0 { 0 } else { self.tape_ends[i - 1] as usize };
        Event::new(&self.events[start..self.ends[i] as usize], &self.tape[tape_start..self.tape_ends[i] as usize])
    }

    /// The events in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Event<'a>> + 'a {
        let batch = *self;
        (0..batch.len()).map(move |i| batch.get(i))
    }
}

/// A rule module: configured once, then called once per batch.
///
/// Implement this and call [`export_rule!`](crate::export_rule) to turn it into a
/// WebAssembly component; the same type also runs natively (tests, benchmarks).
pub trait Rule: Sized + 'static {
    /// Name, version and purpose of the module.
    fn describe() -> ModuleInfo;

    /// Builds the rule from its JSON configuration, or explains what is wrong with it.
    fn configure(config: &str) -> Result<Self, ConfigError>;

    /// Decides for every event of `batch`, pushing exactly one verdict per event to `out`.
    fn process(&mut self, batch: &Batch<'_>, ctx: &Context, out: &mut Output);

    /// The top-level members this rule, as configured, reads or edits; `None` (the
    /// default) when it needs whole events.
    ///
    /// Asked once, after [`configure`](Rule::configure). When it names members, the host
    /// sends [`process`](Rule::process) each event cut down to them (every member whose
    /// key has escapes too), which saves copying the rest into the module: name every
    /// member a path of the configuration starts with and every member the rule adds or
    /// replaces (the host dead-letters an event given a member the rule did not name).
    /// Such a rule must edit, never replace, an event (a replaced event, or a root
    /// object set whole, is dead-lettered: the rule never saw the rest).
    /// [`TestBatch`](crate::testing::TestBatch) cuts events down the same way, so a
    /// member the rule reads but does not name shows in its tests.
    fn reads(&self) -> Option<Vec<String>> {
        None
    }
}
