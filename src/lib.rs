//! Firehose rules: filter, enrich and mask streaming events with WebAssembly rule
//! modules, from the command line, as a Vector sidecar or inside Fluent Bit.
//!
//! The pieces, in the order an event meets them:
//! - [`config`]: the pipeline file, resolved (tables, secrets) by the host;
//! - [`engine`]: wasmtime, the sandbox and limits every module runs under;
//! - [`pipeline`]: an immutable version of stages and the runner that drives a batch;
//! - [`reload`]: hot swap of versions while events flow;
//! - [`intake`] and [`emit`]: the formats events arrive and leave in.
#![deny(missing_docs)]

pub mod bench;
pub mod checks;
pub mod config;
pub mod emit;
pub mod engine;
mod error;
pub mod fluent_bit;
pub mod generate;
pub mod intake;
pub mod pipeline;
pub mod reload;
pub mod serve;

pub use error::Error;
pub use pipeline::{BatchOutcome, Counts, Events, Pipeline, Runner};
