//! The `--shadow` options `run` and `serve` share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use firehose::engine::Engine;
use firehose::shadow::{Shadow, ShadowMetrics, ShadowOptions};

/// Running a candidate pipeline beside the live one, never delivering its output.
#[derive(Debug, Clone, clap::Args)]
pub struct ShadowArgs {
    /// A candidate pipeline file to run beside the live one on live batches; its output
    /// is compared with the live output (verdicts, differing paths, cost), never delivered.
    #[arg(long, value_name = "FILE")]
    pub shadow: Option<PathBuf>,
    /// With --shadow: share of live batches the candidate also runs, from 0 to 1.
    #[arg(long, value_name = "FRACTION", default_value_t = 1.0, requires = "shadow")]
    pub shadow_share: f64,
    /// With --shadow: seconds between log lines of the comparison.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "shadow")]
    pub shadow_report_secs: u64,
}

impl ShadowArgs {
    /// Loads the candidate and starts shadowing, if asked to.
    pub fn start(&self, engine: &Arc<Engine>, metrics: Option<ShadowMetrics>) -> anyhow::Result<Option<Arc<Shadow>>> {
        let Some(path) = &self.shadow else { return Ok(None) };
        if !(0.0..=1.0).contains(&self.shadow_share) {
            anyhow::bail!("--shadow-share {} is not a fraction between 0 and 1", self.shadow_share);
        }
        let options = ShadowOptions {
            share: self.shadow_share,
            report_every: Duration::from_secs(self.shadow_report_secs.max(1)),
            ..ShadowOptions::default()
        };
        let shadow = Shadow::load(engine, path, options, metrics)
            .map_err(|e| anyhow::anyhow!("--shadow {}: {}", path.display(), firehose::error::report(&e)))?;
        Ok(Some(shadow))
    }
}
