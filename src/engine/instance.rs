//! One live instance of a module: its store, its bindings, and calls bounded by the
//! CPU deadline and the memory cap. A call that fails leaves the instance unusable;
//! the caller drops it and makes a new one.

use std::sync::Arc;

use wasmtime::Store;

use firehose_json::{NameSet, Output};

use super::bindings::RuleModule;
use super::bindings::firehose::rules::types as wit;
use super::bindings::json_rule::JsonRule;
use super::bindings::tape_rule::TapeRule;
use super::bindings::tape_rule_reads::TapeRuleReads;
use super::{CompiledModule, EPOCH_TICK, Engine, Limits, Pre, Sandbox, World};

/// Why a call into a module did not return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The call ran past its CPU deadline.
    Timeout,
    /// The instance tried to grow its memory past the cap.
    Memory,
    /// The module trapped (a panic, an invalid operation, a bad return value).
    Trap,
}

/// A failed call, with a reason fit for a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// Human-readable cause.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A live, sandboxed instance of a module.
pub struct Instance {
    store: Store<Sandbox>,
    bindings: Bindings,
    limits: Limits,
    engine: Arc<Engine>,
    /// The top-level members the module reads, as it said once configured; `None`:
    /// whole events.
    reads: Option<Arc<NameSet>>,
}

/// The exports of an instance, by world.
enum Bindings {
    TapeReads(TapeRuleReads),
    Tape(TapeRule),
    TapeRecords(RuleModule),
    Json(JsonRule),
}

impl Instance {
    /// Instantiates `module` in a fresh sandbox. `label` tags its log lines.
    pub fn new(
        engine: &Arc<Engine>,
        module: &CompiledModule,
        label: Arc<str>,
        limits: Limits,
    ) -> Result<Instance, Failure> {
        let mut store = Store::new(engine.wasmtime(), Sandbox::new(label, limits.memory_bytes));
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(deadline_ticks(limits));
        let _running = engine.running();
        let bindings = match &module.pre {
            Pre::TapeReads(pre) => pre.instantiate(&mut store).map(Bindings::TapeReads),
            Pre::Tape(pre) => pre.instantiate(&mut store).map(Bindings::Tape),
            Pre::TapeRecords(pre) => pre.instantiate(&mut store).map(Bindings::TapeRecords),
            Pre::Json(pre) => pre.instantiate(&mut store).map(Bindings::Json),
        };
        let bindings = bindings.map_err(|e| failure(&mut store, e, limits))?;
        Ok(Instance { store, bindings, limits, engine: engine.clone(), reads: None })
    }

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<wit::ModuleInfo, Failure> {
        let _running = self.arm(1);
        let result = match &self.bindings {
            Bindings::TapeReads(b) => b.call_describe(&mut self.store),
            Bindings::Tape(b) => b.call_describe(&mut self.store),
            Bindings::TapeRecords(b) => b.call_describe(&mut self.store),
            Bindings::Json(b) => b.call_describe(&mut self.store),
        };
        result.map_err(|e| failure(&mut self.store, e, self.limits))
    }

    /// Calls `configure`, then (`tape-rule-reads`) `reads`; the outer error is a failed
    /// call, the inner one a refusal. Configuration may take ten times the per-batch
    /// deadline (large lookup tables).
    pub fn configure(&mut self, config: &str) -> Result<Result<(), wit::ConfigError>, Failure> {
        let _running = self.arm(10);
        let result = match &self.bindings {
            Bindings::TapeReads(b) => b.call_configure(&mut self.store, config).and_then(|configured| {
                if configured.is_ok() {
                    self.reads = b.call_reads(&mut self.store)?.map(|names| Arc::new(NameSet::of(names)));
                }
                Ok(configured)
            }),
            Bindings::Tape(b) => b.call_configure(&mut self.store, config),
            Bindings::TapeRecords(b) => b.call_configure(&mut self.store, config),
            Bindings::Json(b) => b.call_configure(&mut self.store, config),
        };
        result.map_err(|e| failure(&mut self.store, e, self.limits))
    }

    /// Calls `process-tape` (or `process` before 0.1.2) for one batch: the tape world.
    /// An answer that does not follow the `tape-answer` layout is a failed call.
    pub fn process(
        &mut self,
        events: &[u8],
        ends: &[u32],
        tape: &[u32],
        tape_ends: &[u32],
        context: &wit::BatchContext,
    ) -> Result<Output, Failure> {
        let _running = self.arm(1);
        // Both tape worlds answer in words (`tape-answer`).
        let answer = match &self.bindings {
            Bindings::TapeReads(bindings) => {
                bindings.call_process_tape(&mut self.store, events, ends, tape, tape_ends, context)
            }
            Bindings::Tape(bindings) => {
                bindings.call_process_tape(&mut self.store, events, ends, tape, tape_ends, context)
            }
            Bindings::TapeRecords(bindings) => {
                let result = bindings.call_process(&mut self.store, events, ends, tape, tape_ends, context);
                return result.map(Output::from).map_err(|e| failure(&mut self.store, e, self.limits));
            }
            Bindings::Json(_) => return Err(wrong_world("process-tape")),
        };
        let answer = answer.map_err(|e| failure(&mut self.store, e, self.limits))?;
        Output::from_words(&answer.verdicts, answer.bytes, &answer.edits)
            .map_err(|e| Failure { kind: FailureKind::Trap, message: e.to_string() })
    }

    /// Calls `process-json` (JSON world) for one batch of events as JSON text.
    pub fn process_json(
        &mut self,
        events: &[String],
        context: &wit::BatchContext,
    ) -> Result<Vec<wit::JsonVerdict>, Failure> {
        let _running = self.arm(1);
        let Bindings::Json(bindings) = &self.bindings else {
            return Err(wrong_world("process-json"));
        };
        let result = bindings.call_process_json(&mut self.store, events, context);
        result.map_err(|e| failure(&mut self.store, e, self.limits))
    }

    /// The world the instance implements.
    pub fn world(&self) -> World {
        match self.bindings {
            Bindings::TapeReads(_) | Bindings::Tape(_) | Bindings::TapeRecords(_) => World::Tape,
            Bindings::Json(_) => World::Json,
        }
    }

    /// The top-level members the module reads under its configuration (`reads`), or
    /// `None` when it reads whole events.
    pub fn reads(&self) -> Option<&Arc<NameSet>> {
        self.reads.as_ref()
    }

    /// Changes how the instance's log lines are tagged.
    pub fn set_label(&mut self, label: Arc<str>) {
        self.store.data_mut().label = label;
    }

    /// Sets the deadline of the call about to start; the clock ticks while the returned
    /// guard lives.
    #[must_use]
    fn arm(&mut self, factor: u32) -> super::epoch::Running {
        self.store.set_epoch_deadline(deadline_ticks(self.limits) * factor as u64);
        self.engine.running()
    }
}

/// The panic message in what a Rust module wrote to stderr before trapping:
/// `thread '…' panicked at src/lib.rs:7:9:\nMESSAGE\nnote: run with …`.
/// Falls back to the last line that is not a `note:`.
fn panic_message(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if let Some(at) = lines.iter().rposition(|l| l.contains(" panicked at ")) {
        let location = lines[at].split(" panicked at ").nth(1).unwrap_or_default().trim_end_matches(':');
        let message: Vec<&str> = lines[at + 1..].iter().copied().take_while(|l| !l.starts_with("note:")).collect();
        return Some(format!("panicked at {location}: {}", message.join(" ")));
    }
    lines.iter().rev().find(|l| !l.starts_with("note:")).map(|l| l.to_string())
}

fn wrong_world(export: &str) -> Failure {
    Failure {
        kind: FailureKind::Trap,
        message: format!("does not export `{export}` (the host called the wrong world)"),
    }
}

fn deadline_ticks(limits: Limits) -> u64 {
    // +1: the current tick may be about to end.
    (limits.timeout.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
}

fn failure(store: &mut Store<Sandbox>, error: wasmtime::Error, limits: Limits) -> Failure {
    let stderr = store.data().stderr.take();
    let detail = |base: String| match panic_message(&stderr) {
        Some(message) => format!("{base}: {message}"),
        None => base,
    };
    if store.data().memory.hit {
        return Failure {
            kind: FailureKind::Memory,
            message: format!("exceeded its memory limit of {} MiB", limits.memory_bytes >> 20),
        };
    }
    if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        return Failure {
            kind: FailureKind::Timeout,
            message: format!("ran longer than its time limit of {} ms", limits.timeout.as_millis()),
        };
    }
    let trap = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    Failure { kind: FailureKind::Trap, message: detail(format!("trapped ({trap})")) }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn finds_the_panic_message_and_location() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:66:34:\nmisbehave was told to panic\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(panic_message(stderr).unwrap(), "panicked at src/lib.rs:66:34: misbehave was told to panic");
        assert_eq!(panic_message("some output\nlast words\n").unwrap(), "last words");
        assert_eq!(panic_message(""), None);
    }
}
