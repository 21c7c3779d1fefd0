//! The shape of a rule module as seen by its author: configure once, then process
//! batches, deciding keep / drop / replace / reject for each event.

use crate::ConfigError;

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

/// Events of one batch, stored back to back.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    events: &'a [u8],
    ends: &'a [u32],
}

impl<'a> Batch<'a> {
    /// A batch over `events`, where event `i` ends at `ends[i]`.
    pub fn new(events: &'a [u8], ends: &'a [u32]) -> Self {
        Self { events, ends }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of event `i`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.events[start..self.ends[i] as usize]
    }

    /// The events in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let events = self.events;
        let ends = self.ends;
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &events[start..ends[i] as usize]
        })
    }
}

/// What a module decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the event on unchanged.
    Keep,
    /// Remove the event (filtered out by a rule).
    Drop,
    /// Pass on the rewritten event stored at `start..start + len` of [`Output::events`].
    Replace {
        /// Offset of the rewritten event.
        start: u32,
        /// Its length.
        len: u32,
    },
    /// The event cannot be processed; the host dead-letters it with this reason.
    Reject(String),
}

/// A module's answer for a batch: one verdict per event plus rewritten bytes.
#[derive(Debug, Default, Clone)]
pub struct Output {
    /// One verdict per input event, in order.
    pub verdicts: Vec<Verdict>,
    /// Bytes of rewritten events.
    pub events: Vec<u8>,
}

impl Output {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the output, keeping its allocations.
    pub fn clear(&mut self) {
        self.verdicts.clear();
        self.events.clear();
    }

    /// The next event passes unchanged.
    pub fn keep(&mut self) {
        self.verdicts.push(Verdict::Keep);
    }

    /// The next event is filtered out.
    pub fn drop_event(&mut self) {
        self.verdicts.push(Verdict::Drop);
    }

    /// The next event is refused with `reason` and will be dead-lettered.
    pub fn reject(&mut self, reason: impl Into<String>) {
        self.verdicts.push(Verdict::Reject(reason.into()));
    }

    /// The next event is replaced by the bytes `write` appends (one JSON object).
    pub fn replace(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.events.len();
        write(&mut self.events);
        let len = self.events.len() - start;
        self.verdicts.push(Verdict::Replace { start: start as u32, len: len as u32 });
    }

    /// The bytes the event at `index` ends up with, given its input bytes.
    /// `None` if it was dropped or rejected.
    pub fn event<'a>(&'a self, index: usize, input: &'a [u8]) -> Option<&'a [u8]> {
        match self.verdicts.get(index)? {
            Verdict::Keep => Some(input),
            Verdict::Replace { start, len } => Some(&self.events[*start as usize..(*start + *len) as usize]),
            Verdict::Drop | Verdict::Reject(_) => None,
        }
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
}
