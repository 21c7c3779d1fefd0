//! A Firehose rule module. This one scores leads: `score = price × weight of the
//! lead's state`, written to `$.lead_score`; leads without a price are dropped.
//! Replace `process` with your own rule; `cargo test` runs the tests below natively,
//! `firehose build .` builds the WebAssembly component.
//!
//! Configuration (the stage's `config` in the pipeline file):
//!
//! ```yaml
//! config:
//!   weights: {CA: 1.5, TX: 1.2}
//!   default_weight: 1.0
//! ```

use std::collections::HashMap;

use firehose_sdk::{Context, Decision, EventMut};

/// The module's configuration.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Weight by US state code.
    #[serde(default)]
    weights: HashMap<String, f64>,
    /// Weight of states not listed.
    #[serde(default = "one")]
    default_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// The rule, applied to each event.
pub fn process(event: &mut EventMut, _ctx: &Context, config: &Config) -> Decision {
    let Some(price) = event.get_f64("$.metadata.buyer_response.price") else {
        return Decision::Drop;
    };
    let state = event.get_str("$.lead_data.state").unwrap_or_default();
    let weight = config.weights.get(state.as_ref()).copied().unwrap_or(config.default_weight);
    let score = (price * weight * 100.0).round() / 100.0;
    match event.set("$.lead_score", score) {
        Ok(()) => Decision::Keep,
        Err(e) => Decision::Reject(e.to_string()),
    }
}

firehose_sdk::export_process!(LeadScore, process, Config);

#[cfg(test)]
mod tests {
    use super::*;
    use firehose_sdk::Rule;
    use firehose_sdk::testing::{Fate, TestBatch};
    use serde_json::json;

    #[test]
    fn scores_by_state_and_drops_leads_without_a_price() {
        let mut rule = LeadScore::configure(r#"{"weights": {"CA": 1.5}}"#).unwrap();
        let batch = TestBatch::new(&[
            r#"{"metadata": {"buyer_response": {"price": 20}}, "lead_data": {"state": "CA"}}"#,
            r#"{"metadata": {"buyer_response": {"price": 20}}, "lead_data": {"state": "NY"}}"#,
            r#"{"metadata": {}}"#,
        ])
        .unwrap();
        let fates = batch.run(&mut rule);
        assert_eq!(fates[0].json()["lead_score"], json!(30.0));
        assert_eq!(fates[1].json()["lead_score"], json!(20.0));
        assert_eq!(fates[2], Fate::Dropped);
    }

    #[test]
    fn refuses_unknown_configuration() {
        let err = LeadScore::configure(r#"{"weight": {}}"#).err().unwrap();
        assert!(err.message.contains("unknown field `weight`"), "{err}");
    }
}
