//! The filter's configuration as users write it.

use serde::Deserialize;

/// Top-level configuration of the `filter` module.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Keep only events whose `event_type` matches one of these (exact or glob).
    #[serde(default)]
    pub event_type: Vec<String>,
    /// Drop events whose `event_type` matches one of these.
    #[serde(default)]
    pub exclude_event_type: Vec<String>,
    /// Keep only events whose `outcome` is one of these.
    #[serde(default)]
    pub outcome: Vec<String>,
    /// Drop events whose `outcome` is one of these.
    #[serde(default)]
    pub exclude_outcome: Vec<String>,
    /// A further condition every kept event must satisfy: a predicate on one JSONPath
    /// (`{path: $.lead_data.state, eq: CA}`), a shorthand string
    /// (`"$.metadata.price > 20"`), or `all` / `any` / `not` of conditions.
    /// Compiled by [`Condition::compile`](crate::Condition::compile).
    #[serde(default)]
    pub r#where: Option<serde_json::Value>,
}
