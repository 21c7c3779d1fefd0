//! `firehose explain` on the demo pipeline: for events that a stage changes, drops or
//! rejects, what each stage did (edits by path, old values masked), and the result.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{TestDir, engine, module, root};
use firehose::Pipeline;
use firehose::explain::{Fate, explain};
use serde_json::{Value, json};

/// The demo pipeline, its lookups set to reject events with an unknown flow.
fn demo_rejecting_unknown_flows(dir: &TestDir) -> PathBuf {
    module("filter");
    let demo = root().join("examples/leadconduit");
    for table in ["flows.csv", "accounts.json"] {
        std::fs::copy(demo.join(table), dir.path(table)).unwrap();
    }
    let text = std::fs::read_to_string(demo.join("pipeline.yaml")).unwrap();
    let modules = module("filter").parent().unwrap().display().to_string();
    let text = text.replace("../../target/wasm32-wasip2/module", &modules);
    let text = text.replace("into: flow\n", "into: flow\n          on_missing: reject\n");
    assert!(text.contains("on_missing: reject"));
    dir.write("pipeline.yaml", &text)
}

fn demo() -> Arc<Pipeline> {
    module("filter");
    Pipeline::load(&engine(), &root().join("examples/leadconduit/pipeline.yaml")).unwrap()
}

fn lead() -> Value {
    json!({
        "event_type": "recipient.delivered",
        "flow_id": "5f3c2a1b9d8e7f6a5b4c3d01",
        "account_id": "acct_7H2K9QX",
        "lead_data": {"first_name": "Zoë", "email": "zoe.k@example.com", "ssn": "123-45-6789"}
    })
}

#[test]
fn an_event_each_stage_changes_shows_edits_by_path_with_old_values_masked() {
    let explained = explain(&demo(), lead().to_string().as_bytes(), false);
    let stages: Vec<(&str, &str)> = explained.stages.iter().map(|s| (s.stage.as_str(), s.verdict)).collect();
    assert_eq!(stages, [("keep_lead_events", "kept"), ("add_context", "edited"), ("mask_pii", "edited")]);
    let context: Vec<&str> = explained.stages[1].edits.iter().map(|c| c.path.as_str()).collect();
    for path in ["$.account", "$.flow", "$.tags", "$.firehose_processing"] {
        assert!(context.contains(&path), "{context:?}");
    }
    let flow = explained.stages[1].edits.iter().find(|c| c.path == "$.flow").unwrap();
    assert_eq!(
        (flow.old.as_deref(), flow.new.as_deref()),
        (None, Some(r#"{"name":"Solar Residential","version":"12"}"#))
    );
    let ssn = explained.stages[2].edits.iter().find(|c| c.path == "$.lead_data.ssn").unwrap();
    assert_eq!((ssn.old.as_deref(), ssn.new.as_deref()), (Some("‹string, 11 chars›"), Some("\"***-**-6789\"")));
    assert!(matches!(explained.verdict, Fate::Delivered));
    let delivered = explained.delivered.as_ref().unwrap();
    assert_eq!(delivered["lead_data"]["email"], "z***@example.com");
    assert_eq!(delivered["firehose_metadata"]["rules_version"], explained.rules_version.as_str());
    let text = explained.to_string();
    assert!(text.contains("$.lead_data.ssn: ‹string, 11 chars› → \"***-**-6789\""), "{text}");
    assert!(text.contains("mask_pii (pii-mask@") && text.contains(" µs)"), "{text}");
    // What each stage was sent: the filter one member, the PII stage the whole event.
    assert_eq!(explained.stages[0].reads.as_deref(), Some(&["event_type".to_string()][..]));
    assert_eq!(explained.stages[2].reads, None);
    assert!(text.contains("    sent only: event_type\n"), "{text}");
    assert!(text.contains("verdict: delivered"), "{text}");
    for secret in ["123-45-6789", "zoe.k@example.com", "Zoë"] {
        assert!(!text.contains(secret), "`{secret}` shown without --show-values:\n{text}");
    }
    let shown = explain(&demo(), lead().to_string().as_bytes(), true).to_string();
    assert!(shown.contains("$.lead_data.ssn: \"123-45-6789\" → \"***-**-6789\""), "{shown}");
}

#[test]
fn an_event_the_filter_drops_stops_at_the_filter() {
    let explained = explain(&demo(), br#"{"event_type": "source.rejected", "outcome": "failure"}"#, false);
    assert_eq!(explained.stages.len(), 1);
    assert_eq!(explained.stages[0].verdict, "dropped");
    assert!(matches!(&explained.verdict, Fate::Dropped { stage } if stage == "keep_lead_events"));
    assert!(explained.delivered.is_none());
    assert!(explained.to_string().contains("verdict: dropped by keep_lead_events"));
}

#[test]
fn an_event_a_stage_rejects_is_dead_lettered_with_the_reason() {
    let dir = TestDir::new();
    let pipeline = Pipeline::load(&engine(), &demo_rejecting_unknown_flows(&dir)).unwrap();
    let mut event = lead();
    event["flow_id"] = json!("no-such-flow");
    let explained = explain(&pipeline, event.to_string().as_bytes(), false);
    assert_eq!(explained.stages.len(), 2);
    assert_eq!(explained.stages[1].verdict, "rejected");
    let Fate::DeadLettered { stage, reason } = &explained.verdict else { panic!("{explained:?}") };
    assert_eq!(stage, "add_context");
    assert!(reason.contains("no row for `no-such-flow`"), "{reason}");
    let json = serde_json::to_value(&explained).unwrap();
    assert_eq!(json["verdict"]["outcome"], "dead_lettered");
}

#[test]
fn an_unreadable_event_says_why() {
    let explained = explain(&demo(), b"{not json", false);
    assert!(matches!(explained.verdict, Fate::Unreadable { .. }), "{explained:?}");
}

#[test]
fn the_command_takes_an_event_from_a_file_by_line() {
    let dir = TestDir::new();
    let lines = [json!({"event_type": "source.rejected"}), lead()];
    dir.write("events.ndjson", &lines.iter().map(|e| format!("{e}\n")).collect::<String>());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_firehose"))
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .args(["explain", "--pipeline"])
        .arg(root().join("examples/leadconduit/pipeline.yaml"))
        .arg("--input")
        .arg(dir.path("events.ndjson"))
        .args(["--line", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("verdict: delivered") && stdout.contains("$.lead_data.ssn"), "{stdout}");
    assert!(!stdout.contains("123-45-6789"), "{stdout}");
}
