//! The `enrich` module, compiled to a component, with tables the host loads.

mod common;

use common::{Fate, TestDir, engine, run};
use firehose::Pipeline;
use serde_json::json;

fn pipeline_with_tables() -> (TestDir, std::sync::Arc<Pipeline>) {
    let dir = TestDir::new();
    dir.write("flows.csv", "id,name,version\nf1,Solar Residential,12\nf2,\"Auto, Insurance\",7\n");
    dir.write("accounts.json", r#"[{"account_id": "a1", "name": "Brightside", "plan": "enterprise", "seats": 40}]"#);
    dir.write("regions.ndjson", "{\"code\": \"CA\", \"region\": \"West\"}\n{\"code\": \"NY\", \"region\": \"East\"}\n");
    let path = dir.pipeline(
        r#"
metadata: {rules_version: false}
stages:
  - name: context
    module: '{enrich}'
    config:
      lookups:
        - {key: flow_id, table: {$table: flows.csv}, into: flow}
        - {key: account_id, key_column: account_id, table: {$table: accounts.json}, into: account, columns: [name, seats]}
        - {key: $.lead_data.state, key_column: code, table: {$table: regions.ndjson}, into: region, on_missing: "null"}
      tags: {pipeline: demo, owner: growth-team}
      processing: true
"#,
    );
    let pipeline = Pipeline::load(&engine(), &path).expect("pipeline loads");
    (dir, pipeline)
}

#[test]
fn adds_rows_from_csv_json_and_ndjson_tables() {
    let (_dir, pipeline) = pipeline_with_tables();
    let fates = run(&pipeline, &[json!({"flow_id": "f2", "account_id": "a1", "lead_data": {"state": "CA"}})]);
    let event = fates[0].delivered();
    assert_eq!(event["flow"], json!({"name": "Auto, Insurance", "version": "7"}));
    assert_eq!(event["account"], json!({"name": "Brightside", "seats": 40}));
    assert_eq!(event["region"], json!({"region": "West"}));
    assert_eq!(event["tags"], json!({"pipeline": "demo", "owner": "growth-team"}));
}

#[test]
fn adds_processing_facts_from_the_host() {
    let (_dir, pipeline) = pipeline_with_tables();
    let before = chrono::Utc::now();
    let fates = run(&pipeline, &[json!({"flow_id": "f1"}), json!({"flow_id": "f1"})]);
    let facts = &fates[0].delivered()["firehose_processing"];
    let processed_at = chrono::DateTime::parse_from_rfc3339(facts["processed_at"].as_str().unwrap()).unwrap();
    assert!((processed_at.with_timezone(&chrono::Utc) - before).num_seconds().abs() < 5, "{processed_at} vs {before}");
    assert_eq!(facts["pipeline_version"], pipeline.id.as_ref());
    assert_eq!(facts["modules"], json!({"context": "enrich@0.1.0"}));
    assert_eq!(facts["batch_id"], fates[1].delivered()["firehose_processing"]["batch_id"], "one batch, one id");
}

#[test]
fn missing_keys_follow_on_missing() {
    let (_dir, pipeline) = pipeline_with_tables();
    let fates = run(&pipeline, &[json!({"flow_id": "unknown", "lead_data": {"state": "ZZ"}})]);
    let event = fates[0].delivered();
    assert!(event.get("flow").is_none(), "skip adds nothing");
    assert_eq!(event["region"], json!(null), "null adds null");

    let dir = TestDir::new();
    dir.write("flows.csv", "id,name\nf1,Solar\n");
    let path = dir.pipeline(
        "stages:\n  - name: strict\n    module: '{enrich}'\n    config: {lookups: [{key: flow_id, table: {$table: flows.csv}, into: flow, on_missing: reject}]}\n",
    );
    let strict = Pipeline::load(&engine(), &path).unwrap();
    let fates = run(&strict, &[json!({"flow_id": "f1"}), json!({"flow_id": "nope"})]);
    assert!(matches!(fates[0], Fate::Delivered(_)));
    assert_eq!(
        fates[1],
        Fate::DeadLettered { stage: "strict".into(), reason: "no row for `nope` in the table for `flow`".into() }
    );
}

#[test]
fn table_problems_are_reported_with_the_file() {
    let dir = TestDir::new();
    dir.write("flows.csv", "id,name\nf1,Solar\nf1,Again\n");
    let path = dir.pipeline("stages:\n  - name: e\n    module: '{enrich}'\n    config: {lookups: [{key: flow_id, table: {$table: flows.csv}, into: flow}]}\n");
    let error = firehose::error::report(&Pipeline::load(&engine(), &path).err().expect("duplicate keys are refused"));
    assert!(error.contains("stage `e`") && error.contains("duplicate key `f1`"), "{error}");

    let path = dir.pipeline("stages:\n  - name: e\n    module: '{enrich}'\n    config: {lookups: [{key: flow_id, table: {$table: nope.csv}, into: flow}]}\n");
    let error = firehose::error::report(&Pipeline::load(&engine(), &path).err().expect("missing table"));
    assert!(error.contains("nope.csv") && error.contains("cannot read the file"), "{error}");
}
