//! The `filter` module, compiled to a component, run through the host.

mod common;

use common::{Fate, load_error, run, single};
use serde_json::{Value, json};

fn events() -> Vec<Value> {
    vec![
        json!({"id": 0, "event_type": "source.accepted", "outcome": "success",
               "metadata": {"buyer_response": {"price": 25}}, "lead_data": {"state": "CA", "email": "a@b.co", "tags": ["hot"]}}),
        json!({"id": 1, "event_type": "recipient.delivered", "outcome": "success",
               "metadata": {"buyer_response": {"price": 12.5}}, "lead_data": {"state": "NY", "tags": ["cold", "web"]}}),
        json!({"id": 2, "event_type": "recipient.failed", "outcome": "failure",
               "metadata": {"buyer_response": {"price": 40}}, "lead_data": {"state": "TX"}}),
        json!({"id": 3, "event_type": "feedback.received", "outcome": "error", "metadata": {}, "lead_data": {"state": "CA"}}),
        json!({"id": 4, "outcome": "success", "lead_data": {}}),
    ]
}

/// Ids of the events the filter keeps; the rest must be dropped (not dead-lettered).
fn kept(config: Value) -> Vec<i64> {
    let fates = run(&single("filter", config), &events());
    fates
        .iter()
        .filter_map(|f| match f {
            Fate::Delivered(v) => Some(v["id"].as_i64().unwrap()),
            Fate::Dropped(stage) => {
                assert_eq!(stage, "only");
                None
            }
            other => panic!("filter must keep or drop, got {other:?}"),
        })
        .collect()
}

#[test]
fn event_type_exact_and_glob() {
    assert_eq!(kept(json!({"event_type": ["source.accepted"]})), vec![0]);
    assert_eq!(kept(json!({"event_type": ["recipient.*"]})), vec![1, 2]);
    assert_eq!(kept(json!({"event_type": ["source.accepted", "feedback.received", "recipient.*"]})), vec![0, 1, 2, 3]);
    assert_eq!(kept(json!({"exclude_event_type": ["recipient.f*"]})), vec![0, 1, 3, 4]);
}

#[test]
fn outcome_include_and_exclude() {
    assert_eq!(kept(json!({"outcome": ["success"]})), vec![0, 1, 4]);
    assert_eq!(kept(json!({"exclude_outcome": ["error", "failure"]})), vec![0, 1, 4]);
}

#[test]
fn comparison_predicates() {
    assert_eq!(kept(json!({"where": {"path": "$.metadata.buyer_response.price", "gt": 20}})), vec![0, 2]);
    assert_eq!(kept(json!({"where": {"path": "$.metadata.buyer_response.price", "gte": 25}})), vec![0, 2]);
    assert_eq!(kept(json!({"where": {"path": "$.metadata.buyer_response.price", "lt": 25}})), vec![1]);
    assert_eq!(kept(json!({"where": {"path": "$.metadata.buyer_response.price", "lte": 25}})), vec![0, 1]);
    assert_eq!(kept(json!({"where": {"path": "$.lead_data.state", "eq": "CA"}})), vec![0, 3]);
    assert_eq!(kept(json!({"where": {"path": "$.lead_data.state", "ne": "CA"}})), vec![1, 2, 4]);
}

#[test]
fn membership_existence_regex_glob() {
    assert_eq!(kept(json!({"where": {"path": "$.lead_data.state", "in": ["CA", "TX"]}})), vec![0, 2, 3]);
    assert_eq!(kept(json!({"where": {"path": "$.lead_data.state", "not_in": ["CA", "TX"]}})), vec![1, 4]);
    assert_eq!(kept(json!({"where": {"path": "$.lead_data.email", "exists": true}})), vec![0]);
    assert_eq!(kept(json!({"where": {"path": "$.event_type", "exists": false}})), vec![4]);
    assert_eq!(
        kept(json!({"where": {"path": "$.event_type", "matches": "^recipient\\.(delivered|failed)$"}})),
        vec![1, 2]
    );
    assert_eq!(kept(json!({"where": {"path": "$.event_type", "glob": "*.received"}})), vec![3]);
    assert_eq!(kept(json!({"where": {"path": "$.lead_data.tags[*]", "eq": "web"}})), vec![1]);
}

#[test]
fn combinations_and_shorthand() {
    let all = json!({"where": {"all": ["$.lead_data.state == 'CA'", {"path": "$.outcome", "eq": "success"}]}});
    assert_eq!(kept(all), vec![0]);
    let any = json!({"where": {"any": ["$.metadata.buyer_response.price > 30", "$.lead_data.state == \"NY\""]}});
    assert_eq!(kept(any), vec![1, 2]);
    assert_eq!(kept(json!({"where": {"not": "$.lead_data.state in [\"CA\", \"NY\"]"}})), vec![2, 4]);
    let nested =
        json!({"event_type": ["recipient.*"], "where": {"any": [{"not": {"all": ["$.outcome == 'success'"]}}]}});
    assert_eq!(kept(nested), vec![2]);
}

#[test]
fn full_jsonpath_filter_expressions() {
    let config = json!({"where": {"path": "$.metadata[?@.price > 20].price", "exists": true}});
    assert_eq!(kept(config), vec![0, 2]);
}

#[test]
fn bad_configs_are_refused_naming_stage_and_field() {
    let error = load_error(
        "stages:\n  - name: keep\n    module: '{filter}'\n    config: {where: {all: [{path: $.a, eq: 1}, {path: $.b, matches: '('}]}}\n",
    );
    assert!(error.contains("stage `keep`"), "{error}");
    assert!(error.contains("config field `where.all[1].matches`"), "{error}");
    assert!(error.contains("invalid regex"), "{error}");
    let error = load_error("stages:\n  - name: keep\n    module: '{filter}'\n    config: {event_typ: [x]}\n");
    assert!(error.contains("unknown field `event_typ`"), "{error}");
}
