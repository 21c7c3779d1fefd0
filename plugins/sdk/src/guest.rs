//! The WebAssembly side: bindings to the `rule-module` world and the glue that turns a
//! [`Rule`] into the component's exports. Used through [`export_rule!`](crate::export_rule).

use std::cell::RefCell;

use crate::json::EditAction;
use crate::{Batch, ConfigError, Context, Output, Rule, StageInfo, Verdict};

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Bindings generated from `wit/rules.wit`.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "firehose:rules/rule-module",
        pub_export_macro: true,
        export_macro_name: "__export_rule_module",
        default_bindings_module: "firehose_sdk::guest::bindings",
        runtime_path: "firehose_sdk::guest::__wit_bindgen::rt",
    });
}

use bindings::firehose::rules::types as wit;

/// `describe` for rule `R`.
pub fn describe<R: Rule>() -> wit::ModuleInfo {
    let info = R::describe();
    wit::ModuleInfo { name: info.name, version: info.version, description: info.description }
}

/// `configure` for rule `R`: builds the rule and keeps it in `slot`.
pub fn configure<R: Rule>(slot: &RefCell<Option<R>>, config: String) -> Result<(), wit::ConfigError> {
    let rule = R::configure(&config).map_err(|ConfigError { field, message }| wit::ConfigError { field, message })?;
    *slot.borrow_mut() = Some(rule);
    Ok(())
}

/// `process` for rule `R`: runs the configured rule over one batch.
pub fn process<R: Rule>(
    slot: &RefCell<Option<R>>,
    events: Vec<u8>,
    ends: Vec<u32>,
    tape: Vec<u32>,
    tape_ends: Vec<u32>,
    context: wit::BatchContext,
) -> wit::BatchResult {
    let mut output = Output::new();
    output.verdicts.reserve(ends.len());
    let mut rule = slot.borrow_mut();
    match rule.as_mut() {
        Some(rule) => {
            let ctx = Context {
                now_unix_ms: context.now_unix_ms,
                batch_id: context.batch_id,
                pipeline_version: context.pipeline_version,
                stages: context
                    .stages
                    .into_iter()
                    .map(|s| StageInfo { stage: s.stage, module: s.module, version: s.version })
                    .collect(),
            };
            rule.process(&Batch::new(&events, &ends, &tape, &tape_ends), &ctx, &mut output);
        }
        None => ends.iter().for_each(|_| output.reject("module used before it was configured")),
    }
    if output.verdicts.len() != ends.len() {
        panic!("module returned {} verdicts for {} events", output.verdicts.len(), ends.len());
    }
    let verdicts = output
        .verdicts
        .into_iter()
        .map(|v| match v {
            Verdict::Keep => wit::Verdict::Keep,
            Verdict::Drop => wit::Verdict::Drop,
            Verdict::Edit { first, count } => wit::Verdict::Edit(wit::Span { start: first, len: count }),
            Verdict::Replace { start, len } => wit::Verdict::Replace(wit::Span { start, len }),
            Verdict::Reject(reason) => wit::Verdict::Reject(reason),
        })
        .collect();
    let edits = output
        .edits
        .into_iter()
        .map(|e| wit::Edit {
            entry: e.entry,
            action: match e.action {
                EditAction::SetValue => wit::EditAction::SetValue,
                EditAction::AddMember => wit::EditAction::AddMember,
                EditAction::RemoveMember => wit::EditAction::RemoveMember,
            },
            text: wit::Span { start: e.text_start, len: e.text_len },
        })
        .collect();
    wit::BatchResult { verdicts, bytes: output.bytes, edits }
}

/// Sends one log line to the host.
pub fn log(level: crate::log::Level, message: &str) {
    use crate::log::Level;
    let level = match level {
        Level::Trace => wit::LogLevel::Trace,
        Level::Debug => wit::LogLevel::Debug,
        Level::Info => wit::LogLevel::Info,
        Level::Warn => wit::LogLevel::Warn,
        Level::Error => wit::LogLevel::Error,
    };
    bindings::firehose::rules::host::log(level, message);
}
