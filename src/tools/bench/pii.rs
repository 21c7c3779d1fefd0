//! What the PII kinds cost: the demo pipeline as shipped against the same pipeline
//! whose `pii-mask` stage detects every built-in kind (context words on where a kind
//! takes them) plus custom patterns. Both run in alternation, so the ratio compares
//! the two at one moment of a noisy machine.

use std::path::Path;
use std::sync::Arc;

use super::{Options, Row, Workload, measure};
use crate::config::PipelineConfig;
use crate::engine::Engine;
use crate::{Error, Pipeline};

/// The demo pipeline with and without every PII kind.
#[derive(Debug, Clone)]
pub struct PiiReport {
    /// The pipeline as configured.
    pub demo: Row,
    /// The pipeline with every kind and the custom patterns on.
    pub all_kinds: Row,
    /// How many custom patterns the second case adds.
    pub custom_patterns: usize,
}

impl PiiReport {
    /// Time with every kind over time of the demo.
    pub fn all_kinds_vs_demo(&self) -> f64 {
        self.all_kinds.time.cpu / self.demo.time.cpu
    }
}

/// The `detect` section of the all-kinds case.
fn detect_everything() -> serde_json::Value {
    serde_json::json!({
        "ssn": {"strategy": "last4", "context": "default"},
        "email": "email",
        "phone": {"strategy": "area_code", "context": "default"},
        "card": {"strategy": "last4", "context": "default"},
        "ipv4": "network",
        "ipv6": "network",
        "iban": {"strategy": "last4", "context": "default"},
        "dob": "redact",
        "custom": [
            {"name": "member id", "pattern": r"\bMBR-\d{6}\b", "strategy": "redact"},
            {"name": "policy number", "pattern": r"(?i)\bpolicy[ #:]*[A-Z0-9]{8,12}\b", "strategy": {"replace": "[POLICY]"}},
            {"name": "passport", "pattern": r"\b[0-9]{9}\b", "strategy": "redact", "context": ["passport"]}
        ]
    })
}

/// Measures the pipeline at `pipeline_path` as is and with its `pii-mask` stage (the
/// first stage whose module is `firehose_pii_mask`) detecting every kind.
pub fn measure_pii(engine: &Arc<Engine>, pipeline_path: &Path, options: &Options) -> Result<PiiReport, Error> {
    let config = PipelineConfig::load(pipeline_path)?;
    let mut stages = config.stages.clone();
    let stage = stages
        .iter_mut()
        .find(|s| s.module.file_stem().is_some_and(|n| n.to_string_lossy().contains("pii_mask")))
        .ok_or_else(|| Error::Pipeline {
            path: pipeline_path.to_path_buf(),
            message: "the PII bench case needs a stage running firehose_pii_mask.wasm".into(),
        })?;
    let mut mask: serde_json::Value = serde_json::from_str(&stage.config).unwrap_or_default();
    let detect = detect_everything();
    let custom_patterns = detect["custom"].as_array().map_or(0, Vec::len);
    mask["detect"] = detect;
    stage.config = mask.to_string();
    let demo = Pipeline::build(engine, config.clone())?;
    let everything = Pipeline::build(engine, config.with_stages(stages))?;
    let workload = Workload::generate(options.events, options.seed, options.batch_size);
    let mut best: [Option<Row>; 2] = [None, None];
    for _ in 0..options.repeats.max(1) {
        for (slot, (name, pipeline)) in
            [("demo pipeline", &demo), ("demo pipeline, every PII kind + custom patterns", &everything)]
                .into_iter()
                .enumerate()
        {
            let row = measure(name, &workload, pipeline, 1, || Ok(pipeline.runner()))?;
            if best[slot].as_ref().is_none_or(|b| row.time.cpu < b.time.cpu) {
                best[slot] = Some(row);
            }
        }
    }
    let [Some(demo), Some(all_kinds)] = best else { unreachable!("at least one repeat ran") };
    Ok(PiiReport { demo, all_kinds, custom_patterns })
}
