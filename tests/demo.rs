//! The shipped demo pipeline on generated events: no raw personal data survives,
//! lookups resolve, and every event is accounted for.

mod common;

use common::{engine, root, run_events};
use firehose::Pipeline;
use firehose::intake::Intake;
use firehose::tools::generate::Generator;
use firehose_sdk::pii::{Detectors, PiiKind};
use serde_json::Value;

#[test]
fn no_personal_data_leaves_the_demo_pipeline() {
    common::module("filter");
    let pipeline = Pipeline::load(&engine(), &root().join("examples/leadconduit/pipeline.yaml")).unwrap();
    let mut generator = Generator::new(1234);
    let mut intake = Intake::default();
    // The personal data of each input event, which must not appear in its output.
    let mut secrets: Vec<Vec<String>> = Vec::new();
    for line in 1..=3000 {
        let event = generator.next_event();
        let value: Value = serde_json::from_str(&event).unwrap();
        let fields = ["ssn", "email", "phone_1", "phone_2", "dob", "address_1", "first_name", "last_name"];
        secrets.push(fields.iter().map(|f| value["lead_data"][*f].as_str().unwrap().to_string()).collect());
        intake.add(line, event.as_bytes());
    }
    let fates = run_events(&pipeline, &intake.events);
    // The kinds the demo masks (its events carry an IP address it keeps on purpose).
    let detectors = Detectors::of([PiiKind::Ssn, PiiKind::Email, PiiKind::Phone, PiiKind::Card]);
    let mut delivered = 0;
    for (fate, secrets) in fates.iter().zip(&secrets) {
        let common::Fate::Delivered(event) = fate else {
            continue;
        };
        delivered += 1;
        let text = event["lead_data"].to_string();
        for secret in secrets.iter().filter(|s| s.chars().count() > 1) {
            assert!(!text.contains(&format!("\"{secret}\"")), "`{secret}` leaked in {text}");
        }
        let mut strings = Vec::new();
        collect_strings(event, &mut strings);
        let mut found = Vec::new();
        for s in strings {
            detectors.find(&s, &mut found);
        }
        assert!(found.is_empty(), "detectors still find {found:?} in {text}");
        let event_type = event["event_type"].as_str().unwrap();
        assert!(
            event_type == "source.accepted"
                || event_type == "feedback.received"
                || event_type.starts_with("recipient.")
        );
        assert!(event["account"]["name"].is_string(), "account lookup resolved");
    }
    assert!(delivered > 1500, "{delivered}");
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => {
            for (key, v) in map {
                // Ids and timestamps are skipped by the pipeline on purpose.
                if !matches!(
                    key.as_str(),
                    "event_id" | "lead_id" | "entity_id" | "flow_id" | "account_id" | "timestamp" | "batch_id"
                ) {
                    collect_strings(v, out);
                }
            }
        }
        _ => {}
    }
}
