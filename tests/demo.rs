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

/// The demo's filter and enrichment name the members they read, so the host sends them
/// each event cut down to those members and maps their edits back. The same modules
/// sent whole events, and the same rules run natively, must make the same bytes, on
/// generated events and on events built to trip the cutting and the mapping.
#[test]
fn stages_sent_only_their_members_make_the_same_bytes_as_on_whole_events() {
    common::module("filter");
    let pipeline = Pipeline::load(&engine(), &root().join("examples/leadconduit/pipeline.yaml")).unwrap();
    let mut intake = Intake::default();
    let mut generator = Generator::new(77);
    for line in 1..=2000 {
        intake.add(line, generator.next_event().as_bytes());
    }
    let tricky = [
        // Whitespace everywhere, the enrichment's members already there (set in place).
        r#"{ "event_type" : "source.accepted" , "flow_id" : "5f3c2a1b9d8e7f6a5b4c3d01" , "flow" : [1, {"old": true}] , "tags": "old", "x": null }"#,
        // A key with escapes (sent whatever it says), duplicates, non-ASCII, huge numbers.
        r#"{"event\u005ftype":"recipient.delivered","event_type":"recipient.delivered","account_id":"acc-1","account_id":"acc-2","name":"Zoë 😀 \"q\"","n":123456789012345678901234567890,"f":1.5e-7}"#,
        // Nested arrays and objects before and after the members read; no flow_id.
        r#"{"a":[[1,[2,[3]]],{"b":[{}]}],"event_type":"feedback.received","z":{"event_type":"nested, not read"},"lead_data":{"email":"ann@example.com"}}"#,
        // Filtered out; a member the filter reads is an object.
        r#"{"event_type":{"not":"a string"},"flow_id":1}"#,
        // No member read at all, and the smallest event.
        r#"{"q":1}"#,
        r#"{}"#,
    ];
    for (i, event) in tricky.iter().enumerate() {
        intake.add(3000 + i as u64, event.as_bytes());
    }
    assert!(intake.malformed.is_empty(), "{:?}", intake.malformed.first().map(|m| &m.reason));
    let events = &intake.events;
    let at = |runner: &mut firehose::Runner| runner.run_as(events, 1_705_329_045_123, "batch-1".into());
    let cut = at(&mut pipeline.runner());
    assert!(cut.dead_letters.is_empty(), "{:?}", cut.dead_letters.first());
    let delivered = cut.delivered(events).len();
    assert!(delivered > 1000 && cut.origin.contains(&2000) && cut.origin.contains(&2001), "{delivered}");
    let whole = at(&mut pipeline.runner_sending_whole_events());
    let native = at(&mut firehose::tools::native::runner(&pipeline).unwrap());
    for (name, other) in [("whole events", &whole), ("native", &native)] {
        assert_eq!(cut.origin, other.origin, "{name}: the same events delivered");
        assert_eq!(cut.dropped.len(), other.dropped.len(), "{name}");
        let (cut_delivered, other_delivered) = (cut.delivered(events), other.delivered(events));
        for (i, (ours, theirs)) in cut_delivered.iter().zip(other_delivered.iter()).enumerate() {
            let (ours, theirs) = (String::from_utf8_lossy(ours), String::from_utf8_lossy(theirs));
            assert_eq!(ours, theirs, "{name}: event {} differs", cut.origin[i]);
        }
        assert_eq!(cut_delivered.tape, other_delivered.tape, "{name}: the tapes handed on agree too");
    }
}
