//! Tooling that ships with the `firehose` command but not inside the Fluent Bit plugin
//! (feature `tools`): the benchmark, the event generator, and the native baseline the
//! benchmark compares the components against.

pub mod bench;
pub mod generate;
pub mod native;
