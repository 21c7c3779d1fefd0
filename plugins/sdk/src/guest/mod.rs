//! The WebAssembly side: bindings to the `tape-rule-reads` world and the glue that turns a
//! [`Rule`] into the component's exports. Used through [`export_rule!`](crate::export_rule).

mod conversions;

use std::cell::RefCell;

use crate::{Batch, Context, Output, Rule};

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Bindings generated from `wit/rules.wit`.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "firehose:rules/tape-rule-reads",
        pub_export_macro: true,
        export_macro_name: "__export_tape_rule_reads",
        default_bindings_module: "firehose_sdk::guest::bindings",
        runtime_path: "firehose_sdk::guest::__wit_bindgen::rt",
    });
}

use bindings::firehose::rules::types as wit;

/// `describe` for rule `R`.
pub fn describe<R: Rule>() -> wit::ModuleInfo {
    R::describe().into()
}

/// `configure` for rule `R`: builds the rule and keeps it in `slot`.
pub fn configure<R: Rule>(slot: &RefCell<Option<R>>, config: String) -> Result<(), wit::ConfigError> {
    let rule = R::configure(&config).map_err(wit::ConfigError::from)?;
    *slot.borrow_mut() = Some(rule);
    Ok(())
}

/// `reads` for rule `R`: the top-level members the configured rule reads.
pub fn reads<R: Rule>(slot: &RefCell<Option<R>>) -> Option<Vec<String>> {
    slot.borrow().as_ref().and_then(Rule::reads)
}

/// `process-tape` for rule `R`: runs the configured rule over one batch and answers in
/// the words of `wit/tape.md` ("The answer").
pub fn process<R: Rule>(
    slot: &RefCell<Option<R>>,
    events: Vec<u8>,
    ends: Vec<u32>,
    tape: Vec<u32>,
    tape_ends: Vec<u32>,
    context: wit::BatchContext,
) -> wit::TapeAnswer {
    let mut output = Output::new();
    output.verdicts.reserve(ends.len());
    let mut rule = slot.borrow_mut();
    match rule.as_mut() {
        Some(rule) => {
            let ctx = Context::from(context);
            rule.process(&Batch::new(&events, &ends, &tape, &tape_ends), &ctx, &mut output);
        }
        None => ends.iter().for_each(|_| output.reject("module used before it was configured")),
    }
    if output.verdicts.len() != ends.len() {
        panic!("module returned {} verdicts for {} events", output.verdicts.len(), ends.len());
    }
    let words = output.into_words();
    wit::TapeAnswer { verdicts: words.verdicts, bytes: words.bytes, edits: words.edits }
}

/// Sends one log line to the host.
pub fn log(level: crate::log::Level, message: &str) {
    bindings::firehose::rules::host::log(level.into(), message);
}
