//! `firehose run --output-dir`: Firehose-style batches on disk, read back with
//! independent decoders (the system's gzip; Python's gzip, python-snappy and lz4 where
//! installed — `cargo xtask test` installs them — else the Rust crates), in every
//! framing and compression; tricky partition values; size, count and time cut-offs;
//! sequence numbers; crashes leaving only whole objects; and a warehouse-style query.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestDir, module, root};
use firehose::config::{Compression, OutputConfig};
use firehose::emit::batches::BatchWriter;
use firehose::intake::Intake;
use firehose::metrics::Metrics;
use firehose::pass::Placed;
use serde_json::Value;

fn firehose(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firehose"))
        .args(args)
        .current_dir(dir)
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .output()
        .expect("run firehose")
}

fn pipeline(dir: &TestDir, output: &str) -> PathBuf {
    dir.pipeline(&format!(
        "stages:\n  - name: mask\n    module: '{{pii-mask}}'\n    config: {{fields: [{{path: $.ssn, strategy: last4}}]}}\noutput:\n{output}\n"
    ))
}

fn events(n: usize, extra: impl Fn(usize) -> String) -> String {
    (0..n)
        .map(|i| format!("{{\"n\": {i}, \"timestamp\": \"2024-01-15T14:30:45Z\", \"ssn\": \"123-45-6789\", \"pad\": \"{}\"{}}}\n", "x".repeat(200), extra(i)))
        .collect()
}

/// Every object (not hidden) under `dir`, recursively.
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn python_has(modules: &str) -> bool {
    Command::new("python3").args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success())
}

/// Decompresses an object with a tool or library other than the one that wrote it.
fn decode(path: &Path) -> String {
    let name = path.to_string_lossy().to_string();
    let read_all = |mut reader: Box<dyn std::io::Read>| {
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        out
    };
    let python = |code: &str| {
        let out = Command::new("python3").args(["-c", code, &name]).output().expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    if name.ends_with(".gz") {
        let out = Command::new("gzip").args(["-dc", &name]).output().expect("gzip");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    } else if name.ends_with(".snappy") {
        if python_has("snappy") {
            python(
                "import sys, snappy; sys.stdout.write(snappy.StreamDecompressor().decompress(open(sys.argv[1], 'rb').read()).decode())",
            )
        } else {
            read_all(Box::new(snap::read::FrameDecoder::new(std::fs::File::open(path).unwrap())))
        }
    } else if name.ends_with(".lz4") {
        if python_has("lz4.frame") {
            python(
                "import sys, lz4.frame; sys.stdout.write(lz4.frame.decompress(open(sys.argv[1], 'rb').read()).decode())",
            )
        } else {
            read_all(Box::new(lz4_flex::frame::FrameDecoder::new(std::fs::File::open(path).unwrap())))
        }
    } else {
        std::fs::read_to_string(path).unwrap()
    }
}

/// The events of one object, whatever its framing.
fn read(path: &Path) -> Vec<Value> {
    let text = decode(path);
    if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<Value>>(&text).expect("a JSON array")
    } else {
        text.lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect()
    }
}

#[test]
fn every_framing_and_compression_reads_back_with_independent_decoders() {
    module("filter");
    for framing in ["ndjson", "json_array"] {
        for compression in ["gzip", "snappy", "lz4", "none"] {
            let dir = TestDir::new();
            pipeline(&dir, "  dir: lake\n  max_events: 40");
            dir.write("in.ndjson", &events(100, |_| String::new()));
            let out = firehose(
                &["run", "-p", "pipeline.yaml", "-i", "in.ndjson", "--framing", framing, "--compression", compression],
                dir.dir.path(),
            );
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let files = objects(&dir.path("lake"));
            assert_eq!(files.len(), 3, "{framing}/{compression}: 100 events in batches of 40: {files:?}");
            let extension = match compression {
                "gzip" => ".json.gz",
                "snappy" => ".json.snappy",
                "lz4" => ".json.lz4",
                _ => ".json",
            };
            let mut seen = Vec::new();
            for file in &files {
                let name = file.file_name().unwrap().to_string_lossy();
                assert!(name.starts_with("events-2") && name.ends_with(extension), "{name}");
                assert!(
                    file.starts_with(dir.path("lake/events/year=2024/month=01/day=15/hour=14")),
                    "{}",
                    file.display()
                );
                for event in read(file) {
                    assert_eq!(event["ssn"], "***-**-6789");
                    seen.push(event["n"].as_u64().unwrap());
                }
            }
            seen.sort();
            assert_eq!(seen, (0..100).collect::<Vec<_>>(), "{framing}/{compression}");
        }
    }
}

/// gzip's level reaches the encoder (its header's XFL byte says fastest / best) and both
/// read back as the same events; a level beside another compression is refused.
#[test]
fn the_gzip_level_is_applied_and_a_level_without_gzip_is_refused() {
    module("filter");
    let mut lines = Vec::new();
    for (source, expected_xfl) in [("--compression-level=1", 4u8), ("--compression-level=9", 2), ("pipeline:1", 4)] {
        let dir = TestDir::new();
        let level_in_pipeline = if source == "pipeline:1" { "\n  compression_level: 1" } else { "" };
        pipeline(&dir, &format!("  dir: lake\n  max_events: 400{level_in_pipeline}"));
        dir.write("in.ndjson", &events(400, |_| String::new()));
        let mut args = vec!["run", "-p", "pipeline.yaml", "-i", "in.ndjson"];
        if source.starts_with("--") {
            args.push(source);
        }
        let out = firehose(&args, dir.dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let files = objects(&dir.path("lake"));
        assert_eq!(files.len(), 1, "{files:?}");
        let bytes = std::fs::read(&files[0]).unwrap();
        assert_eq!(bytes[8], expected_xfl, "{source}: gzip header XFL");
        lines.push(read(&files[0]).iter().map(|e| (e["n"].clone(), e["ssn"].clone())).collect::<Vec<_>>());
    }
    assert_eq!(lines[0], lines[1], "the same events at either level");
    assert_eq!(lines[0].len(), 400);

    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake");
    dir.write("in.ndjson", &events(3, |_| String::new()));
    let out = firehose(
        &["run", "-p", "pipeline.yaml", "-i", "in.ndjson", "--compression", "snappy", "--compression-level", "1"],
        dir.dir.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("applies to gzip only"), "{stderr}");
    let out = firehose(&["run", "-p", "pipeline.yaml", "-i", "in.ndjson", "--compression-level", "0"], dir.dir.path());
    assert!(!out.status.success(), "level 0 is refused by the command line");
}

#[test]
fn partitions_from_tricky_values_stay_inside_the_directory() {
    module("filter");
    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake\n  prefix: \"flow={{flow_id}}/state={{$.lead.state}}/\"\n  interval_secs: 0");
    let input = [
        r#"{"flow_id": "../../escape", "lead": {"state": "CA"}}"#,
        r#"{"flow_id": "a/b\\c", "lead": {"state": ".."}}"#,
        r#"{"flow_id": "Zoë-北京", "lead": {"state": "NY"}}"#,
        r#"{"flow_id": "f1", "lead": {}}"#,
        r#"{"lead": {"state": "TX"}}"#,
    ]
    .join("\n");
    dir.write("in.ndjson", &input);
    let out = firehose(&["run", "-p", "pipeline.yaml", "-i", "in.ndjson"], dir.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lake = dir.path("lake");
    let relative: Vec<String> =
        objects(&lake).iter().map(|f| f.parent().unwrap().strip_prefix(&lake).unwrap().display().to_string()).collect();
    assert!(relative.contains(&"flow=.._.._escape/state=CA".to_string()), "{relative:?}");
    assert!(relative.contains(&"flow=a_b_c/state=__".to_string()), "{relative:?}");
    assert!(relative.contains(&"flow=Zoë-北京/state=NY".to_string()), "{relative:?}");
    let missing: Vec<&String> = relative.iter().filter(|r| r.starts_with("errors/partition-key-missing/")).collect();
    assert_eq!(missing.len(), 2, "events without a partition key go to the error prefix: {relative:?}");
    for file in objects(&lake.join("errors")) {
        for record in read(&file) {
            assert!(record["reason"].as_str().unwrap().contains("is missing or empty"), "{record}");
            assert!(record["raw"].as_str().unwrap().contains("lead"));
        }
    }
    assert!(!dir.dir.path().join("escape").exists());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("5 in, 3 out, 0 dropped by rules, 2 dead-lettered"), "{summary}");
}

#[test]
fn events_without_a_partition_are_counted_as_dead_letters_and_output_choices_are_honoured() {
    module("filter");
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path("conf")).unwrap();
    let yaml = format!(
        "stages:\n  - name: mask\n    module: '{}'\n    config: {{fields: [{{path: $.ssn, strategy: last4}}]}}\n\
         metadata: {{rules_version: false}}\n\
         output:\n  dir: lake\n  prefix: \"flow={{{{flow_id}}}}/\"\n  max_open_partitions: 1\n  compression: none\n",
        module("pii-mask").display()
    );
    dir.write("conf/pipeline.yaml", &yaml);
    // The error partition opened first does not count against the one open partition;
    // `b` closes `a`'s batch early instead of going to the error prefix.
    dir.write("in.ndjson", "{\"n\": 1}\n{\"n\": 2, \"flow_id\": \"a\"}\n{\"n\": 3, \"flow_id\": \"b\"}\n");
    let out = firehose(&["run", "-p", "conf/pipeline.yaml", "-i", "in.ndjson"], dir.dir.path());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("3 in, 2 out, 0 dropped by rules, 1 dead-lettered"), "{summary}");
    assert!(summary.contains("| 1 batch closed early at output.max_open_partitions (1)"), "{summary}");
    // output.dir is relative to the pipeline file, not to where firehose runs.
    let lake = dir.path("conf/lake");
    assert!(!dir.path("lake").exists());
    let partition: Vec<PathBuf> = objects(&lake.join("flow=a"));
    assert_eq!(partition.len(), 1);
    let events = read(&partition[0]);
    assert_eq!(events.len(), 1);
    assert!(events[0]["firehose_metadata"].get("rules_version").is_none(), "turned off: {}", events[0]);
    assert!(events[0]["firehose_metadata"]["sequence"].is_u64());
    assert_eq!(read(&objects(&lake.join("flow=b"))[0]).len(), 1);
    assert!(!lake.join("errors/partition-limit").exists(), "{:?}", objects(&lake));
    assert_eq!(objects(&lake.join("errors/partition-key-missing")).len(), 1);

    // An explicit --output wins over the pipeline's output.dir.
    let before = objects(&lake).len();
    let out = firehose(&["run", "-p", "conf/pipeline.yaml", "-i", "in.ndjson", "-o", "out.ndjson"], dir.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path("out.ndjson")).unwrap().lines().count(), 3);
    assert_eq!(objects(&lake).len(), before, "nothing written under output.dir");
    // Both at once is a mistake, said before anything is touched.
    let out = firehose(
        &["run", "-p", "conf/pipeline.yaml", "-i", "in.ndjson", "-o", "other.ndjson", "--output-dir", "x"],
        dir.dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path("other.ndjson").exists() && !dir.path("x").exists());
}

#[test]
fn batches_are_cut_by_size_and_sequences_increase_across_batches() {
    module("filter");
    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake\n  size_mib: 1\n  compression: none");
    // ~3.3 MB of events: at least four objects of at most 1 MiB plus one event.
    dir.write("in.ndjson", &events(12_000, |_| String::new()));
    let out = firehose(&["run", "-p", "pipeline.yaml", "-i", "in.ndjson"], dir.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ranges = Vec::new();
    for file in objects(&dir.path("lake")) {
        let size = std::fs::metadata(&file).unwrap().len();
        let events = read(&file);
        assert!(size <= (1 << 20) + 2_000 * 2 + 400, "object of {size} bytes");
        let sequences: Vec<u64> = events.iter().map(|e| e["firehose_metadata"]["sequence"].as_u64().unwrap()).collect();
        assert!(sequences.windows(2).all(|w| w[0] < w[1]), "strictly increasing within a batch");
        let batch_ids: std::collections::HashSet<&str> =
            events.iter().map(|e| e["firehose_metadata"]["batch_id"].as_str().unwrap()).collect();
        assert_eq!(batch_ids.len(), 1, "one batch id per object");
        assert!(events.iter().all(|e| e["firehose_metadata"]["delivered_at"].is_string()
            && e["firehose_metadata"]["rules_version"].is_string()));
        ranges.push((sequences[0], *sequences.last().unwrap()));
    }
    assert!(ranges.len() >= 4, "{ranges:?}");
    ranges.sort();
    assert_eq!(ranges[0].0, 1);
    for pair in ranges.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "batches continue the run's sequence: {ranges:?}");
    }
    assert_eq!(ranges.last().unwrap().1, 12_000);
}

#[test]
fn time_cut_off_and_ctrl_c_flush_open_batches() {
    module("filter");
    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake\n  interval_secs: 1");
    dir.write("in.ndjson", &events(10, |_| String::new()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_firehose"))
        .args(["run", "--watch", "-p", "pipeline.yaml", "-i", "in.ndjson"])
        .current_dir(dir.dir.path())
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The batch is written about a second after its first event, while the run goes on.
    let deadline = Instant::now() + Duration::from_secs(20);
    while objects(&dir.path("lake")).is_empty() {
        assert!(Instant::now() < deadline, "no batch after its interval");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read(&objects(&dir.path("lake"))[0]).len(), 10);
    // More events, then Ctrl-C before their interval: they are written on the way out.
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path("in.ndjson"))
        .unwrap()
        .write_all(events(5, |_| String::new()).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
    let total: usize = objects(&dir.path("lake")).iter().map(|f| read(f).len()).sum();
    assert_eq!(total, 15);
}

use std::io::Write as _;

#[test]
fn a_killed_process_leaves_only_complete_objects() {
    module("filter");
    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake\n  max_events: 20");
    dir.write("in.ndjson", &events(300_000, |_| String::new()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_firehose"))
        .args(["run", "-p", "pipeline.yaml", "-i", "in.ndjson", "--workers", "2"])
        .current_dir(dir.dir.path())
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while objects(&dir.path("lake")).len() < 20 {
        assert!(Instant::now() < deadline, "no output");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let files = objects(&dir.path("lake"));
    assert!(!files.is_empty());
    let mut sequences = Vec::new();
    for file in &files {
        let status = Command::new("gzip").args(["-t"]).arg(file).status().unwrap();
        assert!(status.success(), "{} is not a whole gzip file", file.display());
        let events = read(file);
        assert_eq!(events.len(), 20, "{}", file.display());
        sequences.extend(events.iter().map(|e| e["firehose_metadata"]["sequence"].as_u64().unwrap()));
    }
    // Two threads write batches, yet objects appear in the order batches were closed:
    // what is on disk holds the run's sequence from 1 without a gap.
    sequences.sort();
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());
}

#[test]
fn the_lake_answers_a_warehouse_style_query() {
    module("filter");
    if !python_has("duckdb") {
        eprintln!("duckdb (Python) is not installed: `cargo xtask test` installs it; checking the layout only");
    }
    let dir = TestDir::new();
    dir.write("in.ndjson", &events(500, |i| format!(", \"flow_id\": \"f{}\"", i % 3)));
    pipeline(
        &dir,
        "  dir: lake\n  prefix: \"events/flow={{flow_id}}/year={{year}}/month={{month}}/day={{day}}/hour={{hour}}/\"\n  max_events: 60",
    );
    let out = firehose(&["run", "-p", "pipeline.yaml", "-i", "in.ndjson"], dir.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(objects(&dir.path("lake/events/flow=f0/year=2024/month=01/day=15/hour=14")).len() >= 2);
    if python_has("duckdb") {
        let query = "import duckdb, sys; print(duckdb.sql(\"SELECT flow, count(*), min(firehose_metadata.sequence) > 0 FROM read_json_auto('lake/events/*/*/*/*/*/*.json.gz', hive_partitioning = true) GROUP BY flow ORDER BY flow\").fetchall())";
        let out = Command::new("python3").args(["-c", query]).current_dir(dir.dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "[('f0', 167, True), ('f1', 167, True), ('f2', 166, True)]"
        );
    }
}

/// Every event of every object under `lake` (recursively), with the object it is in.
fn all_events(lake: &Path) -> Vec<(PathBuf, Value)> {
    objects(lake).into_iter().flat_map(|file| read(&file).into_iter().map(move |event| (file.clone(), event))).collect()
}

/// Sequences of the events run from 1 without a gap or a repeat, and each object is
/// one batch with an id of its own.
fn assert_sequences_gap_free_and_batch_ids_unique(events: &[(PathBuf, Value)]) {
    let mut sequences: Vec<u64> =
        events.iter().map(|(_, e)| e["firehose_metadata"]["sequence"].as_u64().unwrap()).collect();
    sequences.sort();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>(), "gap-free, each once");
    let mut ids = std::collections::HashMap::new();
    for (file, event) in events {
        let id = event["firehose_metadata"]["batch_id"].as_str().unwrap();
        assert_eq!(*ids.entry(id.to_string()).or_insert(file), file, "batch {id} in two objects");
    }
    let objects: std::collections::HashSet<&PathBuf> = events.iter().map(|(file, _)| file).collect();
    assert_eq!(ids.len(), objects.len(), "one batch id per object");
}

#[test]
fn a_backfill_over_more_partitions_than_the_limit_puts_every_event_in_a_batch() {
    module("filter");
    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake\n  prefix: \"flow={{flow_id}}/\"\n  max_open_partitions: 20\n  interval_secs: 900");
    // 200 partitions, three events each in turn, twice round: 400 runs of three events.
    // With 20 open at most, each run after the first 20 closes the least recently
    // written batch (the one 20 runs back): 380 early closes, 400 objects.
    dir.write("in.ndjson", &events(1200, |i| format!(", \"flow_id\": \"f{}\"", (i / 3) % 200)));
    let out =
        firehose(&["run", "-p", "pipeline.yaml", "-i", "in.ndjson", "--metrics-file", "firehose.prom"], dir.dir.path());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("1200 in, 1200 out, 0 dropped by rules, 0 dead-lettered"), "{summary}");
    assert!(summary.contains("| 400 objects"), "{summary}");
    assert!(summary.contains("| 380 batches closed early at output.max_open_partitions (20)"), "{summary}");
    // The metrics say the same, each event counted once.
    let metrics = std::fs::read_to_string(dir.path("firehose.prom")).expect("the metrics file");
    for needle in ["firehose_batches_closed_early_total 380\n", "firehose_events_total{outcome=\"in\"} 1200\n"] {
        assert!(metrics.contains(needle), "missing `{needle}` in:\n{metrics}");
    }
    let lake = dir.path("lake");
    assert!(!lake.join("errors").exists(), "nothing under the error prefix: {:?}", objects(&lake.join("errors")));
    let events = all_events(&lake);
    let mut seen: Vec<u64> = events.iter().map(|(_, e)| e["n"].as_u64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (0..1200).collect::<Vec<_>>(), "every event in a batch");
    for (file, event) in &events {
        let n = event["n"].as_u64().unwrap();
        assert!(file.starts_with(lake.join(format!("flow=f{}", (n / 3) % 200))), "{n} in {}", file.display());
        assert_eq!(event["ssn"], "***-**-6789", "through the rules");
    }
    assert_eq!(objects(&lake).len(), 400);
    assert_sequences_gap_free_and_batch_ids_unique(&events);
}

#[test]
fn a_month_replayed_in_time_order_writes_one_object_per_partition() {
    module("filter");
    let dir = TestDir::new();
    // The demo pipeline, partitioned by flow and hour, 500 partitions open at most;
    // 3,000 events a month long: ~1,900 partitions, far more than may be open.
    let generated = firehose(
        &["generate", "--events", "3000", "--spread-days", "30", "--seed", "7", "--output", "month.ndjson"],
        dir.dir.path(),
    );
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    // Nearly in time order, as replays are: every four events reversed.
    let text = std::fs::read_to_string(dir.path("month.ndjson")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let shuffled: Vec<&str> = lines.chunks(4).flat_map(|c| c.iter().rev().copied()).collect();
    dir.write("month.ndjson", &(shuffled.join("\n") + "\n"));
    let demo = root().join("examples/leadconduit/pipeline.yaml");
    let out =
        firehose(&["run", "-p", demo.to_str().unwrap(), "-i", "month.ndjson", "--output-dir", "lake"], dir.dir.path());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    let lake = dir.path("lake");
    assert!(!lake.join("errors").exists(), "nothing under the error prefix: {summary}");
    let files = objects(&lake);
    let partitions: std::collections::HashSet<&Path> = files.iter().map(|f| f.parent().unwrap()).collect();
    assert!(partitions.len() > 1500, "{} partitions", partitions.len());
    // A partition, once left behind by time, is not written to again: closing it early
    // costs nothing, each partition is one object.
    assert_eq!(files.len(), partitions.len(), "objects vs partitions");
    // The last 500 partitions stay open to the end; every other one was closed early.
    assert!(summary.contains(&format!("| {} objects, ", files.len())), "{summary}");
    let closed = format!("| {} batches closed early at output.max_open_partitions (500)", partitions.len() - 500);
    assert!(summary.contains(&closed), "{summary}");
    let events = all_events(&lake);
    let delivered = summary.split(" in, ").nth(1).and_then(|s| s.split(' ').next()).unwrap();
    assert!(summary.contains(&format!("3000 in, {delivered} out, ")), "{summary}");
    assert!(summary.contains(" dropped by rules, 0 dead-lettered"), "{summary}");
    assert_eq!(events.len().to_string(), delivered, "every delivered event in a batch");
    assert_sequences_gap_free_and_batch_ids_unique(&events);
}

#[test]
fn open_batches_never_exceed_the_limit_and_early_closes_are_counted() {
    let dir = TestDir::new();
    let config = OutputConfig {
        prefix: "p={{p}}/".into(),
        compression: Compression::None,
        max_open_partitions: 20,
        ..OutputConfig::default()
    };
    let metrics = std::sync::Arc::new(Metrics::new());
    let mut writer = BatchWriter::new(&dir.path("lake"), config).unwrap().with_threads(3).with_metrics(metrics.clone());
    // 2,000 events over 200 partitions in a scrambled order (a fixed LCG).
    let mut state: u64 = 7;
    let mut partitions_seen = std::collections::HashSet::new();
    for n in 0..2000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let p = (state >> 33) % 200;
        partitions_seen.insert(p);
        let mut intake = Intake::default();
        intake.add(n + 1, format!("{{\"n\": {n}, \"p\": \"{p}\"}}").as_bytes());
        assert_eq!(writer.add(&intake.events.event(0), None).unwrap(), Placed::Delivered);
        let stats = writer.stats();
        assert!(stats.open_partitions <= 20, "{stats:?}");
    }
    assert_eq!(partitions_seen.len(), 200);
    let stats = writer.finish().unwrap();
    assert_eq!(stats.open_partitions_max, 20, "{stats:?}");
    assert_eq!(stats.events, 2000);
    // Every object but the 20 still open at the end was closed early.
    assert!(stats.closed_early > 1000, "{stats:?}");
    assert_eq!(stats.batches, stats.closed_early + 20, "{stats:?}");
    let text = metrics.render(Default::default());
    assert!(text.contains(&format!("firehose_batches_closed_early_total {}", stats.closed_early)), "{text}");
    let events = all_events(&dir.path("lake"));
    assert_eq!(events.len(), 2000);
    assert_eq!(objects(&dir.path("lake")).len() as u64, stats.batches);
    assert_sequences_gap_free_and_batch_ids_unique(&events);
    // In each object, events keep the order they were added in.
    for file in objects(&dir.path("lake")) {
        let ns: Vec<u64> = read(&file).iter().map(|e| e["n"].as_u64().unwrap()).collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{ns:?}");
    }
}

#[test]
fn a_batch_that_cannot_be_written_fails_the_run_and_says_which() {
    module("filter");
    let dir = TestDir::new();
    pipeline(&dir, "  dir: lake\n  prefix: \"flow={{flow_id}}/\"\n  max_events: 10");
    dir.write("in.ndjson", &events(100, |i| format!(", \"flow_id\": \"{}\"", if i < 50 { "a" } else { "b" })));
    // Where partition `b` goes is a file: its batches cannot be written.
    std::fs::create_dir_all(dir.path("lake")).unwrap();
    dir.write("lake/flow=b", "in the way");
    let out = firehose(&["run", "-p", "pipeline.yaml", "-i", "in.ndjson"], dir.dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("writing batches: batch ") && stderr.contains("flow=b/events-"), "{stderr}");
    assert!(stderr.contains("(10 events from sequence 51) could not be written"), "{stderr}");
    assert!(!stderr.contains("firehose: 100 in"), "no summary of a failed run: {stderr}");
    // What was written before is whole and in order; nothing after the failure.
    // (`lake/flow=b` is the file in the way, not an object.)
    let written: Vec<PathBuf> = objects(&dir.path("lake")).into_iter().filter(|f| !f.ends_with("flow=b")).collect();
    assert!(written.iter().all(|f| f.starts_with(dir.path("lake/flow=a"))), "{written:?}");
    let events = all_events(&dir.path("lake/flow=a"));
    assert_eq!(events.len(), 50, "{written:?}");
    assert_sequences_gap_free_and_batch_ids_unique(&events);
}
