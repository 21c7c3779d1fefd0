//! The masking configuration as users write it.

use std::collections::BTreeMap;

use firehose_sdk::ConfigError;
use firehose_sdk::json::{Path, PathMatcher};
use firehose_sdk::pii::{Detectors, Masker, PiiKind, Strategy};
use serde::Deserialize;

use crate::{PiiMask, Scratch, kind_slot};

/// Top-level configuration of the `pii-mask` module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaskConfig {
    /// Fields masked by path, whatever they contain.
    #[serde(default)]
    fields: Vec<FieldConfig>,
    /// Kinds detected inside all other strings, each with its strategy.
    #[serde(default)]
    detect: BTreeMap<PiiKind, Strategy>,
    /// Paths never scanned by the detectors (ids, timestamps…).
    #[serde(default)]
    skip: Vec<String>,
    /// Key for the `hash` strategy (the host fills this from `{$env: NAME}`).
    #[serde(default)]
    hash_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldConfig {
    path: String,
    strategy: Strategy,
}

const HASH_KEY_HINT: &str = "set `hash_key` (for example `hash_key: {$env: PII_HASH_KEY}` in the pipeline file)";

/// Parses and checks the configuration text.
pub(crate) fn build(text: &str) -> Result<PiiMask, ConfigError> {
    let config: MaskConfig = firehose_sdk::config::parse(text)?;
    let mut paths = Vec::new();
    let mut strategies = Vec::new();
    for (i, field) in config.fields.iter().enumerate() {
        let at = format!("fields[{i}]");
        paths.push(Path::parse(&field.path).map_err(|e| ConfigError::new(format!("{at}.path"), e.to_string()))?);
        if field.strategy.needs_key() && config.hash_key.is_none() {
            return Err(ConfigError::new(
                format!("{at}.strategy"),
                format!("strategy `hash` needs a key: {HASH_KEY_HINT}"),
            ));
        }
        strategies.push(field.strategy);
    }
    for (i, skip) in config.skip.iter().enumerate() {
        paths.push(Path::parse(skip).map_err(|e| ConfigError::new(format!("skip[{i}]"), e.to_string()))?);
    }
    let matcher = PathMatcher::new(&paths).map_err(|i| {
        let field =
            if i < strategies.len() { format!("fields[{i}].path") } else { format!("skip[{}]", i - strategies.len()) };
        ConfigError::new(
            field,
            "masking paths use names, indexes from 0, `*` and `..` only (no filters, slices or negative indexes)",
        )
    })?;
    let mut detect_strategy = [Strategy::Redact; 4];
    for (&kind, &strategy) in &config.detect {
        if strategy.needs_key() && config.hash_key.is_none() {
            return Err(ConfigError::new(
                format!("detect.{}", kind.name()),
                format!("strategy `hash` needs a key: {HASH_KEY_HINT}"),
            ));
        }
        detect_strategy[kind_slot(kind)] = strategy;
    }
    if config.hash_key.as_deref() == Some("") {
        return Err(ConfigError::new("hash_key", "the hashing key is empty; use a long random secret"));
    }
    let masker = match &config.hash_key {
        Some(key) => Masker::with_key(key.as_bytes()),
        None => Masker::new(),
    };
    Ok(PiiMask {
        matcher,
        strategies,
        detectors: Detectors::of(config.detect.keys().copied()),
        detect_strategy,
        masker,
        scratch: Scratch::default(),
    })
}
