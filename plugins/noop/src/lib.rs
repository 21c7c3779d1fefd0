//! The `noop` rule module: keeps every event unchanged. It measures what one more
//! stage costs by itself (the batch crossing into WebAssembly and back), and is the
//! smallest complete module.

use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule};

/// Keeps everything.
#[derive(Debug, Default)]
pub struct Noop;

impl Rule for Noop {
    fn describe() -> ModuleInfo {
        firehose_sdk::module_info!("noop")
    }

    fn configure(config: &str) -> Result<Self, ConfigError> {
        match config.trim() {
            "" | "{}" | "null" => Ok(Noop),
            _ => Err(ConfigError::new("", "noop takes no configuration")),
        }
    }

    fn process(&mut self, batch: &Batch<'_>, _ctx: &Context, out: &mut Output) {
        out.verdicts.resize(out.verdicts.len() + batch.len(), firehose_sdk::Verdict::Keep);
    }
}

firehose_sdk::export_rule!(Noop);
