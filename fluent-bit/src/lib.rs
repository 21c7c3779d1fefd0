//! `flb-filter_firehose.so`: Fluent Bit loads this library (`fluent-bit -e …` or
//! `plugins_file`), looks up `filter_firehose_plugin` and copies it. Everything else
//! is in the host crate's `fluent_bit` module.

/// The plugin description Fluent Bit's loader copies (`struct flb_filter_plugin`).
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static filter_firehose_plugin: firehose::fluent_bit::FilterPlugin = firehose::fluent_bit::PLUGIN;
