use super::*;
use firehose_sdk::StageInfo;
use serde_json::{Value, json};

fn config() -> Value {
    json!({
        "lookups": [
            {"key": "flow_id", "into": "flow", "table": [
                {"id": "f1", "name": "Solar leads", "version": "3"},
                {"id": "f2", "name": "Auto leads", "version": "7"}]},
            {"key": "$.account_id", "key_column": "account_id", "into": "account", "columns": ["name"], "table": [
                {"account_id": 42, "name": "Acme", "tier": "gold"}]}
        ],
        "tags": {"env": "prod", "team": "growth"},
    })
}

fn ctx() -> Context {
    Context {
        now_unix_ms: 1_705_329_045_123,
        batch_id: "b-1".into(),
        pipeline_version: "v-abc".into(),
        stages: vec![StageInfo { stage: "mask".into(), module: "pii-mask".into(), version: "0.1.0".into() }],
    }
}

fn run(config: Value, events: &[Value]) -> Vec<Result<Value, String>> {
    use firehose_sdk::testing::{Fate, TestBatch};
    let mut rule = Enrich::configure(&config.to_string()).unwrap();
    let texts: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    TestBatch::new(&texts)
        .unwrap()
        .run_with(&mut rule, &ctx())
        .into_iter()
        .map(|fate| match fate {
            Fate::Rejected(reason) => Err(reason),
            kept @ Fate::Kept(_) => Ok(kept.json()),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn adds_lookup_rows_tags_and_processing_facts() {
    let out = run(config(), &[json!({"event_id": "e1", "flow_id": "f1", "account_id": 42})]);
    assert_eq!(
        out[0].as_ref().unwrap(),
        &json!({
            "event_id": "e1", "flow_id": "f1", "account_id": 42,
            "flow": {"name": "Solar leads", "version": "3"},
            "account": {"name": "Acme"},
            "tags": {"env": "prod", "team": "growth"},
            "firehose_processing": {
                "processed_at": "2024-01-15T14:30:45.123Z",
                "batch_id": "b-1",
                "pipeline_version": "v-abc",
                "modules": {"mask": "pii-mask@0.1.0"}
            }
        })
    );
}

#[test]
fn replaces_existing_members_instead_of_duplicating_them() {
    let out = run(config(), &[json!({"flow": "old", "flow_id": "f2", "tags": ["x"]})]);
    let event = out[0].as_ref().unwrap();
    assert_eq!(event["flow"], json!({"name": "Auto leads", "version": "7"}));
    assert_eq!(event["tags"], json!({"env": "prod", "team": "growth"}));
    let text = serde_json::to_string(event).unwrap();
    assert_eq!(text.matches("\"flow\"").count(), 1);
}

#[test]
fn missing_keys_skip_null_or_reject_as_configured() {
    let mut c = config();
    let out = run(c.clone(), &[json!({"flow_id": "nope"})]);
    assert!(out[0].as_ref().unwrap().get("flow").is_none());
    c["lookups"][0]["on_missing"] = json!("null");
    assert_eq!(run(c.clone(), &[json!({"flow_id": "nope"})])[0].as_ref().unwrap()["flow"], Value::Null);
    c["lookups"][0]["on_missing"] = json!("reject");
    let out = run(c, &[json!({"flow_id": "nope"}), json!({"other": 1}), json!({"flow_id": "f1"})]);
    assert_eq!(out[0].as_ref().unwrap_err(), "no row for `nope` in the table for `flow`");
    assert_eq!(out[1].as_ref().unwrap_err(), "event has no lookup key for `flow`");
    assert!(out[2].is_ok());
}

#[test]
fn long_keys_that_differ_only_after_their_first_sixteen_bytes_find_their_own_rows() {
    // System ids share long prefixes; the table compares what follows eight bytes at a time.
    let ids = ["5f3c2a1b9d8e7f6a5b4c3d01", "5f3c2a1b9d8e7f6a5b4c3d02", "5f3c2a1b9d8e7f6a5b4c3d0", "5f3c2a1b9d8e7f6a"];
    let rows: Vec<Value> = ids.iter().enumerate().map(|(n, id)| json!({"id": id, "n": n})).collect();
    let c = json!({"lookups": [{"key": "flow_id", "into": "flow", "on_missing": "null", "table": rows}], "processing": false});
    let mut events: Vec<Value> = ids.iter().map(|id| json!({"flow_id": id})).collect();
    events.push(json!({"flow_id": "5f3c2a1b9d8e7f6a5b4c3d03"}));
    events.push(json!({"flow_id": "5f3c2a1b9d8e7f6a5b4c3d011"}));
    let out = run(c, &events);
    for (n, event) in out[..ids.len()].iter().enumerate() {
        assert_eq!(event.as_ref().unwrap()["flow"], json!({"n": n}));
    }
    assert_eq!(out[4].as_ref().unwrap()["flow"], Value::Null);
    assert_eq!(out[5].as_ref().unwrap()["flow"], Value::Null);
}

#[test]
fn enriches_empty_objects_and_unicode_values() {
    let c = json!({"tags": {"région": "Île-de-France"}, "processing": false});
    let out = run(c, &[json!({})]);
    assert_eq!(out[0].as_ref().unwrap(), &json!({"tags": {"région": "Île-de-France"}}));
}

#[test]
fn processing_can_be_renamed_or_disabled() {
    let out = run(json!({"processing": {"into": "meta"}}), &[json!({"a": 1})]);
    assert_eq!(out[0].as_ref().unwrap()["meta"]["batch_id"], "b-1");
    let out = run(json!({"processing": false}), &[json!({"a": 1})]);
    assert_eq!(out[0].as_ref().unwrap(), &json!({"a": 1}));
}

#[test]
fn bad_configs_name_the_field() {
    let err = |c: Value| Enrich::configure(&c.to_string()).unwrap_err();
    let e = err(json!({"lookups": [{"key": "flow_id", "into": "flow", "table": [{"name": "x"}]}]}));
    assert_eq!(e.field, "lookups[0].table[0]");
    assert!(e.message.contains("no `id`"), "{e}");
    let e = err(json!({"lookups": [{"key": "flow_id", "into": "flow", "table": [{"id": "a"}, {"id": "a"}]}]}));
    assert!(e.message.contains("duplicate key `a`"), "{e}");
    let e = err(
        json!({"lookups": [{"key": "flow_id", "into": "flow", "columns": ["nme"], "table": [{"id": "a", "name": "n"}]}]}),
    );
    assert_eq!(e.field, "lookups[0].columns");
    let e = err(json!({"lookups": [{"key": "$.a[?", "into": "x", "table": []}]}));
    assert_eq!(e.field, "lookups[0].key");
    let e = err(json!({"lookups": [{"key": "$.flows[?@.primary == true].id", "into": "x", "table": []}]}));
    assert_eq!(e.field, "lookups[0].key");
    assert!(e.message.contains("names one value"), "{e}");
    let table = json!([{"id": "a"}]);
    let e = err(json!({"lookups": [
        {"key": "flow_id", "into": "ctx", "table": table},
        {"key": "account_id", "into": "ctx", "table": table}
    ]}));
    assert_eq!(e.field, "lookups[1].into");
    assert!(e.message.contains("already written by `lookups[0].into`"), "{e}");
    let e = err(json!({"processing": "yes"}));
    assert_eq!(e.field, "processing");
    assert!(e.message.contains("true, false or {into: NAME}"), "{e}");
    let e = err(json!({"tags": {"a": 1}, "tags_into": "firehose_processing", "processing": true}));
    assert_eq!(e.field, "processing.into");
    let e = err(json!({"tags": ["x"]}));
    assert_eq!(e.field, "tags");
    let e = err(json!({"lookup": []}));
    assert!(e.message.contains("unknown field `lookup`"), "{e}");
}

#[test]
fn reads_its_lookup_keys_and_the_members_it_adds() {
    let reads = |config: Value| Enrich::configure(&config.to_string()).unwrap().reads();
    let names = reads(config()).unwrap();
    for name in ["flow_id", "flow", "account_id", "account", "tags", "firehose_processing"] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
    let lookup = |key: &str| json!({"lookups": [{"key": key, "into": "flow", "table": [{"id": "f1"}]}]});
    assert!(reads(lookup("$.lead.flow_id")).unwrap().iter().any(|n| n == "lead"));
    assert_eq!(reads(lookup("$..flow_id")), None, "a path that may reach any member needs whole events");
}
