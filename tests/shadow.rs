//! Shadow versions: a candidate runs beside the live version on live batches, its
//! results are compared event by event (verdicts, differing paths, cost) and never
//! delivered; a candidate that fails or loops is dropped while the live version serves.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestDir, module, root};
use firehose::Pipeline;
use firehose::emit::NdjsonSink;
use firehose::intake::Intake;
use firehose::pass::LivePass;
use firehose::reload::Live;
use firehose::shadow::{Shadow, ShadowOptions, ShadowReport};
use serde_json::{Value, json};

/// Loads a pipeline from YAML with `{filter}`-style module names replaced.
fn pipeline(dir: &TestDir, name: &str, yaml: &str) -> Arc<Pipeline> {
    let mut text = yaml.to_string();
    for m in ["filter", "enrich", "pii-mask", "misbehave"] {
        text = text.replace(&format!("{{{m}}}"), &module(m).display().to_string());
    }
    let path = dir.write(name, &text);
    Pipeline::load(&common::engine(), &path).unwrap_or_else(|e| panic!("{name} should load: {e}"))
}

const LIVE: &str = r#"
stages:
  - name: keep
    module: '{filter}'
    config: {event_type: [source.accepted, "recipient.*"]}
  - name: context
    module: '{enrich}'
    config: {tags: {env: test}, processing: true}
  - name: mask
    module: '{pii-mask}'
    config: {fields: [{path: $.lead_data.ssn, strategy: last4}, {path: $.lead_data.email, strategy: email}]}
"#;

fn events() -> Vec<Value> {
    let types = ["source.accepted", "recipient.delivered", "source.accepted", "recipient.failed", "source.rejected"];
    types
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"n": i, "event_type": t, "lead_data": {"ssn": "123-45-6789", "email": "zoe.k@example.com"}}))
        .collect()
}

fn intake(events: &[Value]) -> Intake {
    let mut intake = Intake::default();
    for (i, e) in events.iter().enumerate() {
        intake.add(i as u64 + 1, e.to_string().as_bytes());
    }
    intake
}

/// Runs `batches` batches of [`events`] through `live` with `candidate` shadowing;
/// returns what was delivered (NDJSON) and the shadow's report.
fn shadowed(live: Arc<Pipeline>, candidate: Arc<Pipeline>, batches: usize) -> (Vec<Value>, ShadowReport, Arc<Shadow>) {
    let shadow =
        Shadow::start(candidate, "candidate.yaml".into(), ShadowOptions { queue: 64, ..Default::default() }, None);
    let live = Live::new(live);
    let mut pass = LivePass::new(&live).with_shadow(Some(shadow.clone()));
    let mut delivered = Vec::new();
    for _ in 0..batches {
        let passed = pass.run(intake(&events()));
        let mut sink = NdjsonSink::default();
        let Ok(counts) = passed.deliver(&mut sink);
        assert!(counts.balanced());
        delivered.extend(
            sink.events
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice::<Value>(l).unwrap()),
        );
    }
    assert!(shadow.wait_idle(Duration::from_secs(60)), "the candidate should catch up");
    (delivered, shadow.report(), shadow)
}

#[test]
fn an_identical_candidate_differs_nowhere_even_in_its_processing_facts() {
    let dir = TestDir::new();
    let live = pipeline(&dir, "live.yaml", LIVE);
    // Same rules, another version id (which the processing facts carry).
    let candidate = pipeline(&dir, "candidate.yaml", &format!("name: candidate\n{LIVE}"));
    assert_ne!(live.id, candidate.id);
    let (delivered, report, _) = shadowed(live, candidate, 3);
    assert_eq!(delivered.len(), 12);
    assert_eq!((report.batches, report.events, report.batches_skipped), (3, 15, 0), "{report:?}");
    assert!(report.verdict_changes.is_empty(), "{report:?}");
    assert_eq!(report.events_differing, 0, "{report:?}");
    assert!(report.top_paths.is_empty(), "{report:?}");
    assert!(report.cost_ratio > 0.0 && report.active, "{report:?}");
}

#[test]
fn a_candidate_that_drops_one_event_type_more_is_reported_as_kept_to_dropped() {
    let dir = TestDir::new();
    let live = pipeline(&dir, "live.yaml", LIVE);
    let candidate =
        pipeline(&dir, "candidate.yaml", &LIVE.replace(r#"[source.accepted, "recipient.*"]"#, "[source.accepted]"));
    let (delivered, report, _) = shadowed(live, candidate, 2);
    // The live version's output only: recipient events are delivered.
    assert_eq!(delivered.iter().filter(|e| e["event_type"] == "recipient.delivered").count(), 2);
    assert_eq!(report.events, 10);
    assert_eq!(report.verdict_changes, [("kept→dropped".to_string(), 4)].into_iter().collect(), "{report:?}");
    assert_eq!(report.events_differing, 0, "{report:?}");
}

#[test]
fn a_candidate_that_leaves_a_field_unmasked_names_the_path_never_the_value() {
    let dir = TestDir::new();
    let live = pipeline(&dir, "live.yaml", LIVE);
    let candidate = pipeline(&dir, "candidate.yaml", &LIVE.replace(", {path: $.lead_data.email, strategy: email}", ""));
    let (delivered, report, shadow) = shadowed(live.clone(), candidate, 2);
    // Nothing the candidate made was delivered: every e-mail is masked.
    assert_eq!(delivered.len(), 8);
    assert!(delivered.iter().all(|e| e["lead_data"]["email"] == "z***@example.com"), "{delivered:?}");
    assert!(report.verdict_changes.is_empty(), "{report:?}");
    assert_eq!(report.events_differing, 8, "{report:?}");
    assert_eq!(report.top_paths, vec![("$.lead_data.email".to_string(), 8)]);
    let line = shadow.summary(&live.id);
    assert!(line.contains("8 events differ") && line.contains("$.lead_data.email (8)"), "{line}");
    assert!(!line.contains("zoe.k") && !format!("{report:?}").contains("zoe.k"), "values never leave: {line}");
}

#[test]
fn a_looping_candidate_is_dropped_while_the_live_version_serves() {
    let dir = TestDir::new();
    let live = pipeline(&dir, "live.yaml", LIVE);
    let candidate = pipeline(
        &dir,
        "candidate.yaml",
        "limits: {timeout_ms: 100}\nstages:\n  - name: risky\n    module: '{misbehave}'\n",
    );
    let shadow = Shadow::start(candidate, "candidate.yaml".into(), ShadowOptions::default(), None);
    let live = Live::new(live);
    let mut pass = LivePass::new(&live).with_shadow(Some(shadow.clone()));
    let mut looping = events();
    looping[0]["act"] = json!("loop");
    for _ in 0..3 {
        let passed = pass.run(intake(&looping));
        assert_eq!(passed.counts().delivered, 4, "the live version serves every batch");
        assert!(shadow.wait_idle(Duration::from_secs(30)));
    }
    let report = shadow.report();
    assert!(!report.active, "{report:?}");
    let stopped = report.stopped.unwrap();
    assert!(stopped.contains("failed") && stopped.contains("time limit of 100 ms"), "{stopped}");
    assert_eq!(report.batches, 0, "a failing candidate's results are not compared");
    assert!(shadow.candidate().is_none());
}

#[test]
fn a_panicking_candidate_is_dropped_too() {
    let dir = TestDir::new();
    let live = pipeline(&dir, "live.yaml", LIVE);
    let candidate = pipeline(&dir, "candidate.yaml", "stages:\n  - name: risky\n    module: '{misbehave}'\n");
    let shadow = Shadow::start(candidate, "candidate.yaml".into(), ShadowOptions::default(), None);
    let live = Live::new(live);
    let mut pass = LivePass::new(&live).with_shadow(Some(shadow.clone()));
    let mut panicking = events();
    panicking[1]["act"] = json!("panic");
    assert_eq!(pass.run(intake(&panicking)).counts().delivered, 4);
    assert!(shadow.wait_idle(Duration::from_secs(30)));
    let report = shadow.report();
    assert!(!report.active && report.stopped.as_deref().unwrap_or("").contains("panicked"), "{report:?}");
}

#[test]
fn a_share_of_batches_is_shadowed() {
    let dir = TestDir::new();
    let live = pipeline(&dir, "live.yaml", LIVE);
    let candidate = pipeline(&dir, "candidate.yaml", &format!("name: candidate\n{LIVE}"));
    let options = ShadowOptions { share: 0.25, queue: 64, ..Default::default() };
    let shadow = Shadow::start(candidate, "candidate.yaml".into(), options, None);
    let live = Live::new(live);
    let mut pass = LivePass::new(&live).with_shadow(Some(shadow.clone()));
    for _ in 0..8 {
        pass.run(intake(&events()));
    }
    assert!(shadow.wait_idle(Duration::from_secs(60)));
    assert_eq!(shadow.report().batches, 2);
}

#[test]
fn run_with_shadow_delivers_only_the_live_output_and_prints_the_comparison() {
    let dir = TestDir::new();
    let live_text = LIVE.replace("{filter}", &module("filter").display().to_string());
    let live_text = live_text.replace("{enrich}", &module("enrich").display().to_string());
    let live_text = live_text.replace("{pii-mask}", &module("pii-mask").display().to_string());
    dir.write("pipeline.yaml", &live_text);
    dir.write("candidate.yaml", &live_text.replace(r#"[source.accepted, "recipient.*"]"#, "[recipient.failed]"));
    let input: String = events().iter().map(|e| format!("{e}\n")).collect();
    dir.write("events.ndjson", &input);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_firehose"))
        .current_dir(dir.dir.path())
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .args(["run", "--pipeline", "pipeline.yaml", "--input", "events.ndjson", "--output", "out.ndjson"])
        .args(["--shadow", "candidate.yaml"])
        .output()
        .expect("run firehose");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let out = std::fs::read_to_string(dir.path("out.ndjson")).unwrap();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(stderr.contains("5 events compared"), "{stderr}");
    assert!(stderr.contains("kept→dropped 3"), "{stderr}");
}

#[test]
fn the_fluent_bit_filter_shadows_a_candidate_given_by_its_shadow_property() {
    use firehose::fluent_bit::filter::{Filter, StartError};
    use rmpv::Value as Mp;
    let logs = common::captured_logs();
    let dir = TestDir::new();
    let live = LIVE.replace("{filter}", &module("filter").display().to_string());
    let live = live.replace("{enrich}", &module("enrich").display().to_string());
    let live = live.replace("{pii-mask}", &module("pii-mask").display().to_string());
    let live_path = dir.write("pipeline.yaml", &live).display().to_string();
    let candidate = format!("stages:\n  - name: risky\n    module: '{}'\n", module("misbehave").display());
    let candidate_path = dir.write("fluent-bit-candidate.yaml", &candidate).display().to_string();
    let dead = dir.path("dead.ndjson").display().to_string();
    let properties = |share: &'static str| {
        let (live_path, candidate_path, dead) = (live_path.clone(), candidate_path.clone(), dead.clone());
        move |name: &str| match name {
            "pipeline" => Some(live_path.clone()),
            "shadow" => Some(candidate_path.clone()),
            "shadow_share" => Some(share.to_string()),
            "dead_letter" => Some(dead.clone()),
            "watch" => Some("off".to_string()),
            _ => None,
        }
    };
    let refused = Filter::start(properties("most")).err().expect("a bad share is refused");
    assert!(matches!(refused, StartError::Shadow { name: "Shadow_Share", .. }), "{refused}");

    let mut filter = Filter::start(properties("1")).expect("starts with a shadow");
    let body = |act: &str| {
        Mp::Map(vec![
            (Mp::from("event_type"), Mp::from("source.accepted")),
            (Mp::from("act"), Mp::from(act)),
            (Mp::from("lead_data"), Mp::Map(vec![(Mp::from("ssn"), Mp::from("123-45-6789"))])),
        ])
    };
    let mut chunk = Vec::new();
    for act in ["panic", "ok"] {
        rmpv::encode::write_value(&mut chunk, &Mp::Array(vec![Mp::from(1_700_000_000u64), body(act)])).unwrap();
    }
    let output = filter.process("leads", &chunk).unwrap().expect("masked by the live rules");
    let records: Vec<Mp> = {
        let mut read = &output[..];
        std::iter::from_fn(|| (!read.is_empty()).then(|| rmpv::decode::read_value(&mut read).unwrap())).collect()
    };
    assert_eq!(records.len(), 2, "the live version serves every record: {records:?}");
    assert!(!format!("{records:?}").contains("123-45-6789"), "{records:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let dropped = loop {
        // The log is the process's: other tests' candidates are dropped in it too.
        let found = logs.lock().unwrap().iter().find(|l| l.contains("fluent-bit-candidate.yaml) dropped")).cloned();
        if found.is_some() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dropped = dropped
        .unwrap_or_else(|| panic!("the panicking candidate is dropped with a log line: {:?}", logs.lock().unwrap()));
    assert!(dropped.contains("panicked"), "{dropped}");
}
