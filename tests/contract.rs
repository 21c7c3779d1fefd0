//! The tape world's contract across SDK versions: modules built before 0.1.2 answer with
//! `batch-result` records (world `rule-module`), today's SDK answers with words (world
//! `tape-rule`, `wit/tape.md` "The answer"). The host runs both, side by side in one
//! pipeline, to the same effect.

mod common;

use common::{Fate, load, module, run};
use serde_json::json;

/// The tape world a built module implements, told by its export as the host tells it.
fn answers_with(name: &str) -> &'static str {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, module(name)).expect("a component");
    let exports = |export: &str| component.get_export_index(None, export).is_some();
    match (exports("process-tape"), exports("process")) {
        (true, false) => "words",
        (false, true) => "records",
        other => panic!("{name} exports process-tape/process: {other:?}"),
    }
}

#[test]
fn the_sdk_builds_modules_that_answer_with_words() {
    for name in ["filter", "enrich", "pii-mask", "misbehave"] {
        assert_eq!(answers_with(name), "words", "{name}");
    }
    assert_eq!(answers_with("records-answer"), "records");
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
