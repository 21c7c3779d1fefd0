//! Every conversion between the types `wit-bindgen` generates from `wit/rules.wit` and
//! the SDK's own, in one place (the host has its own in `src/engine/conversions.rs`).

use super::bindings::firehose::rules::types as wit;
use crate::log::Level;
use crate::{ConfigError, Context, ModuleInfo, StageInfo};

impl From<ModuleInfo> for wit::ModuleInfo {
    fn from(info: ModuleInfo) -> wit::ModuleInfo {
        wit::ModuleInfo { name: info.name, version: info.version, description: info.description }
    }
}

impl From<ConfigError> for wit::ConfigError {
    fn from(ConfigError { field, message }: ConfigError) -> wit::ConfigError {
        wit::ConfigError { field, message }
    }
}

impl From<wit::StageInfo> for StageInfo {
    fn from(stage: wit::StageInfo) -> StageInfo {
        StageInfo { stage: stage.stage, module: stage.module, version: stage.version }
    }
}

impl From<wit::BatchContext> for Context {
    fn from(context: wit::BatchContext) -> Context {
        Context {
            now_unix_ms: context.now_unix_ms,
            batch_id: context.batch_id,
            pipeline_version: context.pipeline_version,
            stages: context.stages.into_iter().map(StageInfo::from).collect(),
        }
    }
}

impl From<Level> for wit::LogLevel {
    fn from(level: Level) -> wit::LogLevel {
        match level {
            Level::Trace => wit::LogLevel::Trace,
            Level::Debug => wit::LogLevel::Debug,
            Level::Info => wit::LogLevel::Info,
            Level::Warn => wit::LogLevel::Warn,
            Level::Error => wit::LogLevel::Error,
        }
    }
}
