//! A mounted Kubernetes ConfigMap, updated the way the kubelet updates it, while events
//! flow through the real watcher and a live pass: the pipeline and its modules live in
//! a timestamped directory, `..data` points at it, and every key is a symlink through
//! `..data`. An update writes a new timestamped directory, points a new `..data_tmp`
//! symlink at it, renames that over `..data` and deletes the old directory; the
//! pipeline file's own symlink never changes. Nothing may be lost, and the versions
//! must follow the updates in order.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestDir, module};
use firehose::emit::NdjsonSink;
use firehose::intake::Intake;
use firehose::pass::LivePass;
use firehose::reload::{Live, Reloader, WatchOptions, Watcher};
use serde_json::Value;

const KEYS: [&str; 3] = ["pipeline.yaml", "filter.wasm", "enrich.wasm"];

fn pipeline(marker: &str) -> String {
    format!(
        r#"
metadata: {{rules_version: false}}
stages:
  - name: keep
    module: filter.wasm
    config: {{exclude_event_type: [never]}}
  - name: tag
    module: enrich.wasm
    config: {{tags: {{v: "{marker}"}}, processing: false}}
"#
    )
}

/// Writes the ConfigMap's files for `marker` into a new timestamped directory, as the
/// kubelet's atomic writer does; returns its name.
fn write_version(mount: &Path, stamp: &str, marker: &str) -> String {
    let name = format!("..2026_12_02_03_55_{stamp}");
    let dir = mount.join(&name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("pipeline.yaml"), pipeline(marker)).unwrap();
    std::fs::copy(module("filter"), dir.join("filter.wasm")).unwrap();
    std::fs::copy(module("enrich"), dir.join("enrich.wasm")).unwrap();
    name
}

/// The first projection: timestamped directory, `..data`, one symlink per key.
fn mount_first(mount: &Path, marker: &str) -> String {
    let first = write_version(mount, "00.123", marker);
    symlink(&first, mount.join("..data")).unwrap();
    for key in KEYS {
        symlink(Path::new("..data").join(key), mount.join(key)).unwrap();
    }
    first
}

/// The kubelet's update: new directory, `..data_tmp`, rename over `..data`, old
/// directory removed.
fn update(mount: &Path, old: &str, stamp: &str, marker: &str) -> String {
    let new = write_version(mount, stamp, marker);
    symlink(&new, mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join(old)).unwrap();
    new
}

fn wait_for_version_change(live: &Live, from: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let id = live.current().id.to_string();
        if id != from {
            return id;
        }
        assert!(Instant::now() < deadline, "the ConfigMap update was not picked up within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_configmap_update_swaps_the_rules_under_load_without_losing_an_event() {
    let dir = TestDir::new();
    let mount: PathBuf = dir.path("config");
    std::fs::create_dir(&mount).unwrap();
    let first = mount_first(&mount, "v1");
    let path = mount.join("pipeline.yaml");
    let engine = common::engine();
    let live = Live::new(firehose::Pipeline::load(&engine, &path).unwrap());
    let watcher =
        Watcher::start(Reloader::new(engine, path, live.clone(), 1), WatchOptions::default()).expect("watching");

    let stop = Arc::new(AtomicBool::new(false));
    let worker = std::thread::spawn({
        let (live, stop) = (live.clone(), stop.clone());
        move || {
            // Batches of 100 events numbered from 0 until told to stop; returns every
            // delivered event's number and tag, and the counts.
            let mut pass = LivePass::new(&live);
            let (mut next, mut seen, mut sent) = (0u64, Vec::new(), 0u64);
            while !stop.load(Ordering::SeqCst) {
                let mut intake = Intake::default();
                for line in 1..=100 {
                    intake.add(line, format!(r#"{{"n":{next},"event_type":"click"}}"#).as_bytes());
                    next += 1;
                }
                sent += 100;
                let passed = pass.run(intake);
                let mut sink = NdjsonSink::default();
                let Ok(counts) = passed.deliver(&mut sink);
                assert!(counts.balanced() && counts.delivered == 100, "{counts:?}");
                for line in sink.events.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let event: Value = serde_json::from_slice(line).unwrap();
                    seen.push((event["n"].as_u64().unwrap(), event["tags"]["v"].as_str().unwrap().to_string()));
                }
            }
            (sent, seen)
        }
    });

    std::thread::sleep(Duration::from_millis(200));
    let v1 = live.current().id.to_string();
    let second = update(&mount, &first, "30.456", "v2");
    let v2 = wait_for_version_change(&live, &v1);
    std::thread::sleep(Duration::from_millis(200));
    // The watcher must follow the new `..data` too: a second update is seen as well.
    update(&mount, &second, "59.789", "v3");
    let v3 = wait_for_version_change(&live, &v2);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let (sent, seen) = worker.join().unwrap();
    drop(watcher);

    assert_eq!(seen.len() as u64, sent, "every event sent comes out");
    assert!(seen.iter().enumerate().all(|(i, (n, _))| *n == i as u64), "each exactly once, in order");
    let mut order: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
    order.dedup();
    assert_eq!(order, ["v1", "v2", "v3"], "versions follow the updates, never back");
    assert_ne!(v2, v3);
    let swaps = live.counts();
    assert_eq!((swaps.done, swaps.refused), (2, 0), "two swaps, none refused");
}
