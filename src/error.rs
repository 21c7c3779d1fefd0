//! Errors that stop a pipeline from loading or a command from running. Each names
//! the file or stage at fault and, where possible, what to do about it. Causes are
//! kept as sources, not flattened into text: print an error with [`report`] (or
//! anyhow's `{:#}`) to see the whole chain.

use std::path::PathBuf;

use crate::engine::Failure;

/// A cause from a library whose error type is not ours (wasmtime's among them).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong before events flow.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file cannot be read or is not a valid pipeline.
    #[error("pipeline {path}: {message}")]
    Pipeline {
        /// The pipeline file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A module file cannot be read, compiled or linked.
    #[error("module {path}: {message}")]
    Module {
        /// The module file.
        path: PathBuf,
        /// What is wrong, and what to do about it.
        message: String,
        /// What the engine said, if it said anything.
        #[source]
        source: Option<BoxError>,
    },
    /// A stage's module refused its configuration or failed while being set up.
    #[error("stage `{stage}` (module {module})")]
    Stage {
        /// The stage's name.
        stage: String,
        /// The module file.
        module: PathBuf,
        /// What went wrong.
        #[source]
        source: StageError,
    },
    /// The WebAssembly engine could not be set up.
    #[error("WebAssembly engine")]
    Engine(#[source] BoxError),
    /// Reading input or writing output failed.
    #[error("{context}")]
    Io {
        /// What was being done, e.g. "reading events.ndjson".
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// A module error caused by what wasmtime said.
    pub(crate) fn module(path: &std::path::Path, message: impl Into<String>, source: wasmtime::Error) -> Error {
        Error::Module { path: path.to_path_buf(), message: message.into(), source: Some(source.into()) }
    }
}

/// Why one stage's instance could not be made ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// Instantiating the module failed.
    #[error("cannot start the module: {0}")]
    Start(Failure),
    /// The module's `describe` failed.
    #[error("`describe` failed: {0}")]
    Describe(Failure),
    /// The module refused its configuration, naming the field at fault (empty: the
    /// whole configuration).
    #[error("{}", refusal(field, message))]
    Refused {
        /// Where in the configuration, e.g. `fields[2].strategy`.
        field: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// The module's `configure` failed (trapped, ran out of time or memory).
    #[error("`configure` failed: {0}")]
    Configure(Failure),
    /// The benchmark's native baseline has no build of this module.
    #[error("module `{0}` has no native build in this host")]
    NoNativeBuild(String),
}

fn refusal(field: &str, message: &str) -> String {
    if field.is_empty() { format!("config: {message}") } else { format!("config field `{field}`: {message}") }
}

/// An error and all its causes on one line, `outer: cause: root cause` (multi-line
/// causes, as wasmtime's can be, folded into one line): for logs and messages.
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let part = next.to_string();
        // Some errors repeat their cause in their own text; say each thing once.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_puts_the_whole_chain_on_one_line() {
        let error = Error::Stage {
            stage: "mask".into(),
            module: "m.wasm".into(),
            source: StageError::Refused { field: "fields[2].strategy".into(), message: "unknown\nstrategy".into() },
        };
        assert_eq!(report(&error), "stage `mask` (module m.wasm): config field `fields[2].strategy`: unknown strategy");
        let io = Error::io("reading x", std::io::Error::other("gone"));
        assert_eq!(report(&io), "reading x: gone");
        assert!(std::error::Error::source(&io).is_some());
    }
}
