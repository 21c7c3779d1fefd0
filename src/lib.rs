//! Firehose rules: filter, enrich and mask streaming events with WebAssembly rule
//! modules, from the command line, as a Vector sidecar or inside Fluent Bit.
//!
//! The pieces, in the order an event meets them:
//! - [`config`]: the pipeline file, resolved (tables, secrets) by the host;
//! - [`engine`]: wasmtime, the sandbox and limits every module runs under;
//! - [`pipeline`]: an immutable version of stages and the runner that drives a batch;
//! - [`reload`]: hot swap of versions while events flow; [`signing`]: signed modules;
//! - [`pass`]: the one batch pass every front door calls, and the [`pass::Sink`]s it feeds;
//! - [`shadow`]: a candidate version run beside the live one and compared, never delivered;
//! - [`explain`] and [`diff`]: what the rules did to one event, by JSON path;
//! - [`intake`] and [`emit`]: the formats events arrive and leave in;
//! - the front doors: [`serve`] (Vector), [`fluent_bit`]; the CLI is the binary.
//!
//! Feature `tools` adds the benchmark, the event generator and the native baseline;
//! `serve` the HTTP sidecar; `fluent-bit` the plugin's C ABI.
#![deny(missing_docs)]

pub mod checks;
pub mod config;
pub mod diff;
pub mod emit;
pub mod engine;
pub mod error;
pub mod explain;
pub mod fluent_bit;
pub mod intake;
pub mod metrics;
pub mod panics;
pub mod pass;
pub mod pipeline;
pub mod reload;
#[cfg(feature = "serve")]
pub mod serve;
pub mod shadow;
pub mod signing;
#[cfg(feature = "tools")]
pub mod tools;

pub use error::Error;
pub use pipeline::{BatchOutcome, Counts, Events, Pipeline, Runner};
