//! Modules that loop, allocate without bound, trap or break the contract are stopped;
//! only the events they fail on are dead-lettered and the host goes on. Modules see
//! no files, no environment and no clock.

mod common;

use std::time::Instant;

use common::{Fate, load, load_error, run};
use serde_json::{Value, json};

fn misbehave_pipeline() -> std::sync::Arc<firehose::Pipeline> {
    load(
        "metadata: {rules_version: false}\nlimits: {timeout_ms: 200, memory_mib: 32}\nstages:\n  - name: risky\n    module: '{misbehave}'\n",
    )
}

fn batch(acts: &[&str]) -> Vec<Value> {
    acts.iter().enumerate().map(|(i, act)| json!({"n": i, "act": act})).collect()
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline_and_the_host_goes_on() {
    let pipeline = misbehave_pipeline();
    let started = Instant::now();
    let fates = run(&pipeline, &batch(&["ok", "loop", "ok"]));
    assert!(started.elapsed().as_secs() < 10, "the deadline must stop the loop");
    // A timed-out call dead-letters its whole batch: bisecting would cost a deadline per half.
    for fate in &fates {
        assert!(fate.reason().contains("ran longer than its time limit of 200 ms"), "{fate:?}");
    }
    let fates = run(&pipeline, &batch(&["ok", "ok"]));
    assert!(fates.iter().all(|f| matches!(f, Fate::Delivered(_))), "a fresh instance serves the next batch");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap_and_only_that_event_is_lost() {
    let pipeline = misbehave_pipeline();
    let fates = run(&pipeline, &batch(&["ok", "ok", "alloc", "ok", "ok", "ok", "ok"]));
    for (i, fate) in fates.iter().enumerate() {
        if i == 2 {
            assert_eq!(
                fate,
                &Fate::DeadLettered {
                    stage: "risky".into(),
                    reason: "module exceeded its memory limit of 32 MiB".into()
                }
            );
        } else {
            assert_eq!(fate.delivered()["n"], i, "event {i} must survive");
        }
    }
}

#[test]
fn a_panic_is_a_trap_with_its_message_and_other_events_survive() {
    let pipeline = misbehave_pipeline();
    let fates = run(&pipeline, &batch(&["panic", "ok", "ok", "ok", "panic", "ok"]));
    for (i, fate) in fates.iter().enumerate() {
        if i == 0 || i == 4 {
            let reason = fate.reason();
            assert!(reason.contains("trapped") && reason.contains("misbehave was told to panic"), "{reason}");
        } else {
            assert_eq!(fate.delivered()["n"], i);
        }
    }
}

#[test]
fn a_module_that_fails_on_every_event_costs_a_bounded_search_and_loses_nothing() {
    let pipeline = misbehave_pipeline();
    let acts: Vec<&str> = (0..1000).map(|i| if i == 999 { "ok" } else { "panic" }).collect();
    let fates = run(&pipeline, &batch(&acts));
    assert_eq!(fates.len(), 1000);
    for (i, fate) in fates.iter().enumerate() {
        match fate {
            Fate::DeadLettered { reason, .. } => assert!(reason.contains("trapped"), "{i}: {reason}"),
            other => assert_eq!(i, 999, "only the last event can survive, got {other:?} for {i}"),
        }
    }
    assert!(fates[0].reason().contains("isolation budget spent") || fates[998].reason().contains("budget spent"));
}

#[test]
fn answers_that_break_the_contract_are_contained() {
    let pipeline = misbehave_pipeline();
    let fates = run(&pipeline, &batch(&["ok", "bad-verdicts", "ok"]));
    assert!(fates[1].reason().contains("verdicts for"), "{:?}", fates[1]);
    assert_eq!(fates[0].delivered()["n"], 0);
    assert_eq!(fates[2].delivered()["n"], 2);
    let fates = run(&pipeline, &batch(&["bad-span", "ok"]));
    assert!(fates[0].reason().contains("outside its"), "{:?}", fates[0]);
    assert_eq!(fates[1].delivered()["n"], 1);
    let fates = run(&pipeline, &batch(&["ok", "bad-json", "ok"]));
    let reason = "module returned an invalid event: unexpected end of input at byte 17";
    assert_eq!(fates[1], Fate::DeadLettered { stage: "risky".into(), reason: reason.into() });
    assert_eq!(fates[2].delivered()["n"], 2);
    let fates = run(&pipeline, &batch(&["bad-edit", "ok"]));
    let reason = fates[0].reason();
    assert!(reason.starts_with("module returned invalid edits: edit 0: the new value is not valid JSON"), "{reason}");
    assert_eq!(fates[1].delivered()["n"], 1);
}

#[test]
fn rejections_are_dead_lettered_with_the_module_reason() {
    let fates = run(&misbehave_pipeline(), &batch(&["ok", "reject"]));
    assert_eq!(fates[1], Fate::DeadLettered { stage: "risky".into(), reason: "rejected on request".into() });
}

#[test]
fn modules_see_no_files_no_environment_and_no_clock() {
    let fates = run(&misbehave_pipeline(), &batch(&["probe"]));
    assert_eq!(fates[0].delivered(), &json!({"files": -1, "env": 0, "clock_secs": 0}));
}

#[test]
fn module_log_lines_reach_the_host_tagged_with_stage_and_module() {
    let logs = common::captured_logs();
    run(&misbehave_pipeline(), &batch(&["log"]));
    let lines = logs.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("firehose::module") && l.contains("[risky (misbehave@0.1.0)] hello from misbehave")),
        "{lines:?}"
    );
}

#[test]
fn a_refused_configuration_stops_the_pipeline_from_loading() {
    let error = load_error("stages:\n  - name: picky\n    module: '{misbehave}'\n    config: {refuse: not today}\n");
    assert_eq!(error.split(": config field").nth(1).map(str::trim), Some("`refuse`: not today"), "{error}");
    assert!(error.starts_with("stage `picky` (module "), "{error}");
}

#[test]
fn files_that_are_not_rule_components_are_refused() {
    let dir = common::TestDir::new();
    dir.write("junk.wasm", "not wasm at all");
    let path = dir.pipeline("stages:\n  - name: j\n    module: junk.wasm\n");
    let error = firehose::error::report(&firehose::Pipeline::load(&common::engine(), &path).err().unwrap());
    assert!(error.contains("junk.wasm") && error.contains("not a valid rule component"), "{error}");
    let path = dir.pipeline("stages:\n  - name: j\n    module: missing.wasm\n");
    let error = firehose::error::report(&firehose::Pipeline::load(&common::engine(), &path).err().unwrap());
    assert!(error.contains("missing.wasm") && error.contains("cannot read the module file"), "{error}");
}
