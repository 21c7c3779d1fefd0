//! Every conversion between the types `bindgen!` generates from `wit/rules.wit` and the
//! host's own, in one place (the module side has its own in the SDK's `guest`).

use firehose_json::{Edit, EditAction, Output, Verdict};

use super::bindings::firehose::rules::types as wit;

impl From<wit::Verdict> for Verdict {
    fn from(verdict: wit::Verdict) -> Verdict {
        match verdict {
            wit::Verdict::Keep => Verdict::Keep,
            wit::Verdict::Drop => Verdict::Drop,
            wit::Verdict::Reject(reason) => Verdict::Reject(reason),
            wit::Verdict::Replace(wit::Span { start, len }) => Verdict::Replace { start, len },
            wit::Verdict::Edit(wit::Span { start, len }) => Verdict::Edit { first: start, count: len },
        }
    }
}

/// The answer of a JSON-world module as the host's [`Output`]: each replacement's
/// text goes into the output bytes, where the runner validates and indexes it exactly
/// as a tape module's `replace`.
pub(crate) fn json_output(verdicts: Vec<wit::JsonVerdict>) -> Output {
    let mut out = Output::new();
    out.verdicts.reserve(verdicts.len());
    for verdict in verdicts {
        out.verdicts.push(match verdict {
            wit::JsonVerdict::Keep => Verdict::Keep,
            wit::JsonVerdict::Drop => Verdict::Drop,
            wit::JsonVerdict::Reject(reason) => Verdict::Reject(reason),
            wit::JsonVerdict::Replace(text) => {
                let start = out.bytes.len() as u32;
                out.bytes.extend_from_slice(text.as_bytes());
                Verdict::Replace { start, len: text.len() as u32 }
            }
        });
    }
    out
}

impl From<wit::EditAction> for EditAction {
    fn from(action: wit::EditAction) -> EditAction {
        match action {
            wit::EditAction::SetValue => EditAction::SetValue,
            wit::EditAction::AddMember => EditAction::AddMember,
            wit::EditAction::RemoveMember => EditAction::RemoveMember,
        }
    }
}

impl From<wit::Edit> for Edit {
    fn from(edit: wit::Edit) -> Edit {
        Edit { entry: edit.entry, action: edit.action.into(), text_start: edit.text.start, text_len: edit.text.len }
    }
}

/// The answer of a `rule-module` module (the SDK's before 0.1.2), lifted as records;
/// `tape-rule` modules answer in words, read by [`Output::from_words`].
impl From<wit::BatchResult> for Output {
    fn from(result: wit::BatchResult) -> Output {
        Output {
            verdicts: result.verdicts.into_iter().map(Verdict::from).collect(),
            bytes: result.bytes,
            edits: result.edits.into_iter().map(Edit::from).collect(),
        }
    }
}

impl From<&crate::pipeline::Stage> for wit::StageInfo {
    fn from(stage: &crate::pipeline::Stage) -> wit::StageInfo {
        wit::StageInfo {
            stage: stage.name.clone(),
            module: stage.module_name.clone(),
            version: stage.module_version.clone(),
        }
    }
}

#[cfg(feature = "tools")]
impl From<&wit::StageInfo> for firehose_sdk::StageInfo {
    fn from(stage: &wit::StageInfo) -> firehose_sdk::StageInfo {
        firehose_sdk::StageInfo {
            stage: stage.stage.clone(),
            module: stage.module.clone(),
            version: stage.version.clone(),
        }
    }
}

#[cfg(feature = "tools")]
impl From<&wit::BatchContext> for firehose_sdk::Context {
    fn from(context: &wit::BatchContext) -> firehose_sdk::Context {
        firehose_sdk::Context {
            now_unix_ms: context.now_unix_ms,
            batch_id: context.batch_id.clone(),
            pipeline_version: context.pipeline_version.clone(),
            stages: context.stages.iter().map(firehose_sdk::StageInfo::from).collect(),
        }
    }
}

impl From<wit::ConfigError> for crate::error::StageError {
    fn from(refusal: wit::ConfigError) -> crate::error::StageError {
        crate::error::StageError::Refused { field: refusal.field, message: refusal.message }
    }
}
