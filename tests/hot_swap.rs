//! Hot swap under load: 200,000 events stream through `firehose run --watch` while
//! the test swaps modules and configuration twenty times, including a broken module,
//! a configuration that fails validation and a half-written module file. Every event
//! must come out exactly once (or be dead-lettered), tagged with a version that was
//! live when it was read; refused versions must never process anything.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDir, module, root};
use serde_json::Value;

const PHASES: usize = 20;
const EVENTS_PER_PHASE: usize = 10_000;

fn pipeline(marker: &str, strategy: &str, enrich: &str) -> String {
    format!(
        r#"
batch: {{max_events: 500}}
stages:
  - name: keep
    module: filter.wasm
    config: {{exclude_event_type: [never]}}
  - name: tag
    module: {enrich}
    config: {{tags: {{v: "{marker}"}}, processing: false}}
  - name: mask
    module: mask.wasm
    config: {{fields: [{{path: $.ssn, strategy: {strategy}}}]}}
tests:
  - name: masks the ssn
    input: {{ssn: "123-45-6789"}}
    expect: {{output: {{ssn: "***-**-6789", tags: {{v: "{marker}"}}}}}}
"#
    )
}

/// Waits until the log has `count` outcome lines (live or refused); returns them.
fn wait_for_outcomes(log: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let outcomes: Vec<String> = text
            .lines()
            .filter(|l| l.contains(" is live (") || l.contains("refused new rules"))
            .map(String::from)
            .collect();
        if outcomes.len() >= count {
            return outcomes;
        }
        assert!(Instant::now() < deadline, "no reload outcome #{count} after 30 s; log:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the child process if the test fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn version_of(line: &str) -> &str {
    line.split("rules version ").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("version in log line")
}

#[test]
fn two_hundred_thousand_events_through_twenty_swaps() {
    let dir = TestDir::new();
    let filter = std::fs::read(module("filter")).unwrap();
    let enrich = std::fs::read(module("enrich")).unwrap();
    let mask = std::fs::read(module("pii-mask")).unwrap();
    std::fs::write(dir.path("filter.wasm"), &filter).unwrap();
    std::fs::write(dir.path("enrich.wasm"), &enrich).unwrap();
    std::fs::write(dir.path("mask.wasm"), &mask).unwrap();
    let pipeline_path = dir.write("pipeline.yaml", &pipeline("v0", "last4", "enrich.wasm"));
    let input_path = dir.write("input.ndjson", "");
    let log_path = dir.path("stderr.log");

    let child = Command::new(env!("CARGO_BIN_EXE_firehose"))
        .current_dir(dir.dir.path())
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .env("RUST_LOG", "info")
        .args(["run", "--watch", "--workers", "2", "--pipeline", "pipeline.yaml", "--input", "input.ndjson"])
        .args(["--output", "out.ndjson", "--dead-letter", "dead.ndjson"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start firehose");
    let mut child = KillOnDrop(child);

    // The marker each published version tags events with.
    let mut marker_of: HashMap<String, String> = HashMap::new();
    let first = wait_for_outcomes(&log_path, 1);
    marker_of.insert(version_of(&first[0]).to_string(), "v0".into());
    let mut outcomes = 1;
    // For each phase: the index (in publication order) of the version live when its events were written.
    let mut published: Vec<String> = vec![version_of(&first[0]).to_string()];
    let mut phase_floor = Vec::new();
    let mut refused = 0;
    let mut input = std::fs::OpenOptions::new().append(true).open(&input_path).unwrap();
    let mut n = 0u64;
    for phase in 0..PHASES {
        let marker = format!("v{}", phase + 1);
        // Every fifth phase tries something that must be refused first.
        let bad = match phase % 5 {
            1 => Some(("broken module", "enrich-broken.wasm")),
            2 => Some(("config failing validation", "")),
            3 => Some(("half-written module", "enrich-half.wasm")),
            _ => None,
        };
        if let Some((kind, file)) = bad {
            match kind {
                "broken module" => {
                    std::fs::write(dir.path(file), b"\0asm\x0d\0\x01\0 definitely not a component").unwrap();
                    std::fs::write(&pipeline_path, pipeline(&marker, "last4", file)).unwrap();
                }
                "config failing validation" => {
                    std::fs::write(&pipeline_path, pipeline(&marker, "lst4", "enrich.wasm")).unwrap()
                }
                _ => {
                    // Point at a module file that is being written; its first half lands first.
                    std::fs::write(dir.path(file), &enrich[..enrich.len() / 2]).unwrap();
                    std::fs::write(&pipeline_path, pipeline(&marker, "last4", file)).unwrap();
                }
            }
            outcomes += 1;
            let lines = wait_for_outcomes(&log_path, outcomes);
            assert!(
                lines[outcomes - 1].contains("refused new rules"),
                "{kind} must be refused: {}",
                lines[outcomes - 1]
            );
            refused += 1;
            if kind == "half-written module" {
                // The rest of the file arrives: the same version now loads.
                std::fs::write(dir.path(file), &enrich).unwrap();
                outcomes += 1;
                let lines = wait_for_outcomes(&log_path, outcomes);
                let line = &lines[outcomes - 1];
                assert!(line.contains(" is live ("), "the completed module must load: {line}");
                marker_of.insert(version_of(line).to_string(), marker.clone());
                published.push(version_of(line).to_string());
            }
        }
        if !marker_of.values().any(|m| *m == marker) {
            // A good change: new tags, same module bytes (compiled once, then cached).
            std::fs::write(&pipeline_path, pipeline(&marker, "last4", "enrich.wasm")).unwrap();
            outcomes += 1;
            let lines = wait_for_outcomes(&log_path, outcomes);
            let line = &lines[outcomes - 1];
            assert!(line.contains(" is live ("), "a good change must be published: {line}");
            marker_of.insert(version_of(line).to_string(), marker.clone());
            published.push(version_of(line).to_string());
        }
        phase_floor.push(published.len() - 1);
        let mut text = String::with_capacity(EVENTS_PER_PHASE * 80);
        for _ in 0..EVENTS_PER_PHASE {
            text.push_str(&format!(
                "{{\"n\": {n}, \"phase\": {phase}, \"event_type\": \"x\", \"ssn\": \"123-45-6789\"}}\n"
            ));
            n += 1;
        }
        input.write_all(text.as_bytes()).unwrap();
    }
    let total = n as usize;

    // Wait until everything is out, then stop gracefully.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = std::fs::read_to_string(dir.path("out.ndjson")).unwrap_or_default().lines().count();
        let dead = std::fs::read_to_string(dir.path("dead.ndjson")).unwrap_or_default().lines().count();
        if out + dead >= total {
            break;
        }
        assert!(Instant::now() < deadline, "only {out} + {dead} of {total} events came out");
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().unwrap();
    let status = child.0.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "firehose failed: {log}");

    let version_index: HashMap<&str, usize> = published.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
    let mut seen = vec![false; total];
    for line in std::fs::read_to_string(dir.path("out.ndjson")).unwrap().lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let n = event["n"].as_u64().unwrap() as usize;
        assert!(!std::mem::replace(&mut seen[n], true), "event {n} came out twice");
        let version = event["firehose_metadata"]["rules_version"].as_str().unwrap();
        let index =
            *version_index.get(version).unwrap_or_else(|| panic!("event {n} has version {version}, never published"));
        let phase = event["phase"].as_u64().unwrap() as usize;
        assert!(
            index >= phase_floor[phase],
            "event {n} of phase {phase} ran on version #{index}, older than the one live when it was written"
        );
        assert_eq!(
            event["tags"]["v"],
            marker_of[version].as_str(),
            "event {n}: its version tag must match the rules that processed it"
        );
        assert_eq!(event["ssn"], "***-**-6789");
    }
    let dead = std::fs::read_to_string(dir.path("dead.ndjson")).unwrap_or_default();
    assert!(dead.is_empty(), "no event should be dead-lettered: {dead}");
    assert!(seen.iter().all(|s| *s), "every event must come out");
    assert_eq!(refused, 12);
    assert!(log.contains(&format!("swaps: {} done, {} refused", published.len() - 1, refused)), "{log}");
    assert!(log.contains(&format!("{total} in, {total} out")), "{log}");
}

/// A replaced version stays alive while a batch still runs on it, and is dropped by the
/// reloader (off the hot path) once none does: the worker that finishes last on it
/// only hands its instances back, it never tears a version down.
#[test]
fn replaced_versions_are_released_by_the_reloader_once_unused() {
    use firehose::reload::{Live, ReloadOutcome, Reloader};
    let dir = TestDir::new();
    std::fs::copy(module("filter"), dir.path("filter.wasm")).unwrap();
    std::fs::copy(module("enrich"), dir.path("enrich.wasm")).unwrap();
    std::fs::copy(module("pii-mask"), dir.path("mask.wasm")).unwrap();
    let path = dir.write("pipeline.yaml", &pipeline("v0", "last4", "enrich.wasm"));
    let live = Live::new(firehose::Pipeline::load(&common::engine(), &path).unwrap());
    let reloader = Reloader::new(common::engine(), path.clone(), live.clone(), 1);

    let first = std::sync::Arc::downgrade(&live.current());
    let in_flight = live.current().runner();
    dir.write("pipeline.yaml", &pipeline("v1", "last4", "enrich.wasm"));
    assert!(matches!(reloader.reload(), ReloadOutcome::Published { .. }));
    live.release_retired();
    assert!(first.upgrade().is_some(), "a version with a batch in flight must stay alive");

    drop(in_flight);
    assert!(first.upgrade().is_some(), "the worker's last batch must not drop the version");
    dir.write("pipeline.yaml", &pipeline("v2", "last4", "enrich.wasm"));
    assert!(matches!(reloader.reload(), ReloadOutcome::Published { .. }));
    assert!(first.upgrade().is_none(), "the next reload releases the unused version");
    assert_eq!(live.counts().done, 2, "two swaps counted");
}
