//! Errors that stop a pipeline from loading or a command from running. Each names
//! the file or stage at fault and, where possible, what to do about it.

use std::path::PathBuf;

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
        /// What is wrong.
        message: String,
    },
    /// A stage's module refused its configuration or failed while being set up.
    #[error("stage `{stage}` (module {module}): {message}")]
    Stage {
        /// The stage's name.
        stage: String,
        /// The module file.
        module: PathBuf,
        /// What is wrong, e.g. "config field `fields[2].strategy`: unknown variant …".
        message: String,
    },
    /// The WebAssembly engine could not be set up.
    #[error("WebAssembly engine: {0}")]
    Engine(String),
    /// Reading input or writing output failed.
    #[error("{context}: {source}")]
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
}
