//! The `firehose` binary, driven as a user would.

mod common;

use std::process::{Command, Output};

use common::{TestDir, module, root};
use serde_json::Value;

fn firehose(args: &[&str], stdin: Option<&[u8]>) -> Output {
    module("filter"); // make sure the modules are built
    let mut command = Command::new(env!("CARGO_BIN_EXE_firehose"));
    command.args(args).current_dir(root()).env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"));
    match stdin {
        None => command.output().expect("run firehose"),
        Some(input) => {
            use std::io::Write;
            let mut child = command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn firehose");
            // Feed stdin from a thread: the child's stdout must be drained meanwhile.
            let mut stdin = child.stdin.take().unwrap();
            let input = input.to_vec();
            let feeder = std::thread::spawn(move || stdin.write_all(&input));
            let output = child.wait_with_output().expect("wait for firehose");
            feeder.join().unwrap().expect("write stdin");
            output
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses the summary line: (in, out, dropped, dead-lettered).
fn summary(output: &Output) -> (u64, u64, u64, u64) {
    let text = stderr(output);
    let re = regex::Regex::new(r"firehose: (\d+) in, (\d+) out, (\d+) dropped by rules, (\d+) dead-lettered.* events/s, .* MB/s \| rules version [0-9a-f]{16}").unwrap();
    let caps = re.captures(&text).unwrap_or_else(|| panic!("no summary line in: {text}"));
    let n = |i: usize| caps[i].parse::<u64>().unwrap();
    (n(1), n(2), n(3), n(4))
}

const DEMO: &str = "examples/leadconduit/pipeline.yaml";

#[test]
fn generate_then_run_the_demo_pipeline() {
    let dir = TestDir::new();
    let events = dir.path("events.ndjson");
    let out = dir.path("out.ndjson");
    let generated =
        firehose(&["generate", "--events", "3000", "--seed", "9", "--output", events.to_str().unwrap()], None);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let run = firehose(
        &["run", "--pipeline", DEMO, "--input", events.to_str().unwrap(), "--output", out.to_str().unwrap()],
        None,
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let (events_in, delivered, dropped, dead) = summary(&run);
    assert_eq!(events_in, 3000);
    assert_eq!(events_in, delivered + dropped + dead);
    assert!(dropped > 0 && delivered > 0 && dead == 0, "{}", stderr(&run));
    let lines: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, delivered);
    for event in &lines {
        assert!(event["firehose_metadata"]["rules_version"].is_string());
        assert!(event["lead_data"]["ssn"].as_str().unwrap().starts_with("***-**-"));
    }
}

#[test]
fn malformed_lines_go_to_the_dead_letter_file_with_line_numbers() {
    let dir = TestDir::new();
    let dead = dir.path("dead.ndjson");
    let input = b"{\"event_type\": \"source.accepted\", \"n\": 1}\n{broken\n\n{\"event_type\": \"source.accepted\", \"n\": 2}\n[1, 2]\n{\"event_type\": \"source.rejected\"}\n";
    let run = firehose(&["run", "--pipeline", DEMO, "--dead-letter", dead.to_str().unwrap()], Some(input));
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(summary(&run), (5, 2, 1, 2));
    let stdout = String::from_utf8(run.stdout.clone()).unwrap();
    let ns: Vec<i64> =
        stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, vec![1, 2], "order is kept");
    let letters: Vec<Value> =
        std::fs::read_to_string(&dead).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0]["line"], 2);
    assert_eq!(letters[0]["raw"], "{broken");
    assert!(letters[0]["reason"].as_str().unwrap().contains("not a JSON object"));
    assert_eq!(letters[1]["line"], 5);
    assert!(stderr(&run).contains(dead.to_str().unwrap()), "the summary says where dead letters went");
}

#[test]
fn reads_a_json_array_too() {
    let input = br#"[{"event_type": "feedback.received", "n": 1}, {"event_type": "lead.duplicate"}, 7]"#;
    let dir = TestDir::new();
    let dead = dir.path("dead.ndjson");
    let run = firehose(&["run", "--pipeline", DEMO, "--dead-letter", dead.to_str().unwrap()], Some(input));
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(summary(&run), (3, 1, 1, 1));
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert!(letters.contains("\"line\":3") && letters.contains("\"raw\":\"7\""), "{letters}");
}

#[test]
fn many_workers_keep_input_order() {
    let mut input = String::new();
    for n in 0..5000 {
        input.push_str(&format!("{{\"event_type\": \"source.accepted\", \"n\": {n}}}\n"));
    }
    let run = firehose(&["run", "--pipeline", DEMO, "--workers", "4", "--batch-size", "37"], Some(input.as_bytes()));
    assert!(run.status.success(), "{}", stderr(&run));
    let ns: Vec<i64> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (0..5000).collect::<Vec<_>>());
}

#[test]
fn validate_reports_stages_or_the_problem() {
    let ok = firehose(&["validate", "--pipeline", DEMO], None);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let text = String::from_utf8(ok.stdout).unwrap();
    assert!(text.contains("is valid: 3 stages") && text.contains("pii-mask@0.1.0"), "{text}");

    let dir = TestDir::new();
    let bad = dir.pipeline(
        "stages:\n  - name: mask\n    module: '{pii-mask}'\n    config: {fields: [{path: $.ssn, strategy: lst4}]}\n",
    );
    let failed = firehose(&["validate", "--pipeline", bad.to_str().unwrap()], None);
    assert!(!failed.status.success());
    let text = stderr(&failed);
    assert!(
        text.contains("firehose: error: stage `mask`")
            && text.contains("`fields[0].strategy`")
            && text.contains("lst4"),
        "{text}"
    );
}

#[test]
fn generate_is_deterministic_per_seed() {
    let a = firehose(&["generate", "--events", "50", "--seed", "3"], None);
    let b = firehose(&["generate", "--events", "50", "--seed", "3"], None);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(String::from_utf8(a.stdout).unwrap().lines().count(), 50);
}
