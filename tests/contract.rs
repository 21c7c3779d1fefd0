//! The tape world's contract across SDK versions: modules built before 0.1.2 answer with
//! `batch-result` records (world `rule-module`), today's SDK answers with words (world
//! `tape-rule`, `wit/tape.md` "The answer") and says which members it reads (world
//! `tape-rule-reads`, from 0.1.3). The host runs them all, side by side in one
//! pipeline, to the same effect.

mod common;

use common::{Fate, load, module, run, run_events, single};
use firehose::intake::Intake;
use serde_json::json;

/// The tape world a built module implements, told by its exports as the host tells it.
fn answers_with(name: &str) -> &'static str {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, module(name)).expect("a component");
    let exports = |export: &str| component.get_export_index(None, export).is_some();
    match (exports("process-tape"), exports("reads"), exports("process")) {
        (true, true, false) => "words, naming its members",
        (true, false, false) => "words",
        (false, false, true) => "records",
        other => panic!("{name} exports process-tape/reads/process: {other:?}"),
    }
}

#[test]
fn the_sdk_builds_modules_that_answer_with_words_and_name_their_members() {
    for name in ["filter", "enrich", "pii-mask", "misbehave"] {
        assert_eq!(answers_with(name), "words, naming its members", "{name}");
    }
    assert_eq!(answers_with("records-answer"), "records");
    assert_eq!(answers_with("words-answer"), "words");
}

#[test]
fn a_module_of_0_1_2_naming_no_members_runs_beside_one_that_does_and_gets_whole_events() {
    let pipeline = load(
        "metadata: {rules_version: false}\nstages:\n  - name: named\n    module: '{misbehave}'\n    config: {reads: [act]}\n  - name: words\n    module: '{words-answer}'\n",
    );
    assert_eq!(pipeline.stages()[0].reads(), Some(&["act".to_string()][..]));
    assert_eq!(pipeline.stages()[1].reads(), None, "a tape-rule module of 0.1.2 is sent whole events");
    let events = [json!({"a": 1, "act": "ok", "b": [2]}), json!({"reject": "not this one"}), json!({"act": "reject"})];
    let fates = run(&pipeline, &events);
    assert_eq!(fates[0], Fate::Delivered(json!({"a": 1, "act": "ok", "b": [2], "members": 3})));
    assert_eq!(fates[1], Fate::DeadLettered { stage: "words".into(), reason: "not this one".into() });
    assert_eq!(fates[2], Fate::DeadLettered { stage: "named".into(), reason: "rejected on request".into() });
}

/// Each event's fate through `misbehave` configured with `config`, events given as text
/// (kept byte for byte: escapes and spacing matter here).
fn through_misbehave(config: serde_json::Value, events: &[&str]) -> Vec<Fate> {
    let mut intake = Intake::default();
    for (i, event) in events.iter().enumerate() {
        intake.add(i as u64 + 1, event.as_bytes());
    }
    assert!(intake.malformed.is_empty());
    run_events(&single("misbehave", config), &intake.events)
}

#[test]
fn a_module_naming_its_members_is_sent_only_those() {
    let event = r#"{"a":1,"act":"show", "b" : {"c":[1,"x"]},"d\u0021":2,"z":"é","b":0}"#;
    let fates = through_misbehave(json!({"reads": ["act", "b"]}), &[event]);
    // The members named, every one whose key has escapes, in order, spacing inside a
    // member kept; nothing else.
    assert_eq!(fates[0].reason(), r#"{"act":"show","b" : {"c":[1,"x"]},"d\u0021":2,"b":0}"#);
    let fates = through_misbehave(json!({}), &[event]);
    assert_eq!(fates[0].reason(), event, "a module naming none is sent the whole event");
    let fates = through_misbehave(json!({"reads": []}), &[r#"{"act":"show"}"#, r#"{"x":1}"#]);
    assert_eq!(fates[1], Fate::Delivered(json!({"x": 1})), "an empty list: every event as `{{}}`, kept");
}

#[test]
fn edits_on_the_members_sent_land_on_the_whole_event() {
    let event = r#"{"a":[1,{"b":2}],"act":"tag-last","b":"x","c":{"d":3}}"#;
    let fates = through_misbehave(json!({"reads": ["act", "b", "seen"]}), &[event]);
    let expected = json!({"a": [1, {"b": 2}], "act": "tag-last", "b": "tagged", "c": {"d": 3}, "seen": 2});
    assert_eq!(fates[0], Fate::Delivered(expected));
    // A member added without being named could duplicate one the module was not sent.
    let fates = through_misbehave(json!({"reads": ["act", "b"]}), &[event]);
    assert!(fates[0].reason().contains("added the member `seen` to the event without naming it"), "{fates:?}");
    let fates = through_misbehave(json!({}), &[event]);
    let expected = json!({"a": [1, {"b": 2}], "act": "tag-last", "b": "x", "c": "tagged", "seen": 4});
    assert_eq!(fates[0], Fate::Delivered(expected), "whole events: the last member is another");
}

#[test]
fn a_module_naming_its_members_cannot_replace_the_event() {
    let events = [r#"{"act":"probe","keep":1}"#, r#"{"act":"set-root","keep":2}"#, r#"{"act":"ok","keep":3}"#];
    let fates = through_misbehave(json!({"reads": ["act"]}), &events);
    assert!(fates[0].reason().contains("replaced the whole event"), "{}", fates[0].reason());
    assert!(fates[1].reason().contains("set the whole event's value"), "{}", fates[1].reason());
    assert!(fates[0].reason().contains("it must edit the members it reads instead"));
    assert_eq!(fates[2], Fate::Delivered(json!({"act": "ok", "keep": 3})));
}

#[test]
fn a_module_answering_with_records_runs_beside_one_answering_with_words() {
    let pipeline = load(
        "metadata: {rules_version: false}\nstages:\n  - name: old\n    module: '{records-answer}'\n  - name: new\n    module: '{misbehave}'\n",
    );
    let events = [
        json!({"n": 0, "email": "ann@example.com", "act": "ok"}),
        json!({"n": 1, "drop": true}),
        json!({"n": 2, "reject": "no buyer — closed"}),
        json!({"n": 3, "email": "bob@example.com", "act": "reject"}),
        json!({"n": 4, "email": 7}),
    ];
    let fates = run(&pipeline, &events);
    assert_eq!(fates[0], Fate::Delivered(json!({"n": 0, "email": "***", "act": "ok", "checked": true})));
    assert_eq!(fates[1], Fate::Dropped("old".into()));
    assert_eq!(fates[2], Fate::DeadLettered { stage: "old".into(), reason: "no buyer — closed".into() });
    let rejected_by_the_new = Fate::DeadLettered { stage: "new".into(), reason: "rejected on request".into() };
    assert_eq!(fates[3], rejected_by_the_new, "edited by the old module, then rejected by the new one");
    assert_eq!(fates[4], Fate::Delivered(json!({"n": 4, "email": 7})));
}
