//! The `firehose` binary, driven as a user would.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{TestDir, module, root};
use serde_json::Value;

fn firehose(args: &[&str], stdin: Option<&[u8]>) -> Output {
    module("filter"); // make sure the modules are built
    let mut command = Command::new(env!("CARGO_BIN_EXE_firehose"));
    command.args(args).current_dir(root()).env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"));
    match stdin {
        // An empty stdin, not /dev/null: on some machines that is a plain file others write to.
        None => command.stdin(std::process::Stdio::piped()).output().expect("run firehose"),
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
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0]["line"], 2);
    assert_eq!(letters[0]["raw"], "{broken");
    assert!(letters[0]["reason"].as_str().unwrap().contains("not a JSON object"));
    assert_eq!(letters[1]["line"], 5);
    assert!(stderr(&run).contains(dead.to_str().unwrap()), "the summary says where dead letters went");
    assert_eq!(common::mode(&dead), 0o600, "dead letters hold records as they came: owner only");

    // Bytes that are not UTF-8 are kept exactly, beside the readable text.
    let run = firehose(
        &["run", "--pipeline", DEMO, "--dead-letter", dead.to_str().unwrap()],
        Some(b"{\"n\": \"\xff\xfe\"}\n"),
    );
    assert_eq!(summary(&run), (1, 0, 0, 1));
    let letter = only_dead_letter(&dead);
    assert_eq!(letter["raw_base64"], "eyJuIjogIv/+In0=", "{letter}");

    // A clean run leaves no dead-letter file from an earlier one behind.
    let run = firehose(
        &["run", "--pipeline", DEMO, "--dead-letter", dead.to_str().unwrap()],
        Some(b"{\"event_type\": \"source.accepted\"}\n"),
    );
    assert_eq!(summary(&run), (1, 1, 0, 0));
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "", "the dead letters of the previous run are gone");
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
        input.push_str(&accepted(n));
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
    // What each stage is sent: the filter its one member, the PII stage everything.
    assert!(text.contains("sent only the members it reads: event_type\n"), "{text}");
    assert!(
        text.contains("members it reads: flow_id, flow, account_id, account, tags, firehose_processing\n"),
        "{text}"
    );
    assert_eq!(text.matches("sent whole events").count(), 1, "{text}");

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
fn the_pipelines_measured_inside_fluent_bit_are_valid() {
    // bench/shippers/measure.sh runs these; a broken one would fail only there.
    for (name, stages) in [("noop", 1), ("nostamp", 1), ("filter-mask", 2)] {
        let path = format!("bench/shippers/pipeline-{name}.yaml");
        let ok = firehose(&["validate", "--pipeline", &path], None);
        assert!(ok.status.success(), "{path}: {}", stderr(&ok));
        let text = String::from_utf8(ok.stdout).unwrap();
        assert!(text.contains(&format!("is valid: {stages} stages")), "{path}: {text}");
    }
}

#[test]
fn generate_is_deterministic_per_seed() {
    let a = firehose(&["generate", "--events", "50", "--seed", "3"], None);
    let b = firehose(&["generate", "--events", "50", "--seed", "3"], None);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(String::from_utf8(a.stdout).unwrap().lines().count(), 50);
}

/// A `firehose run` with piped stdin, stdout and stderr, its stdout lines on a channel.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        use std::io::BufRead;
        module("filter");
        let mut child = Command::new(env!("CARGO_BIN_EXE_firehose"))
            .args(args)
            .current_dir(root())
            .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn firehose");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Stops reading (closing the pipe) once nobody takes the lines.
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn next_line(&self) -> String {
        self.lines.recv_timeout(std::time::Duration::from_secs(60)).expect("an output line within 60 s")
    }

    fn signal(&self, name: &str) {
        Command::new("kill").args([name, &self.child.id().to_string()]).status().unwrap();
    }

    /// Waits for the exit (60 s at most); returns it with the output lines not yet taken.
    fn finish(mut self) -> (Output, Vec<String>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "firehose did not exit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = self.child.wait_with_output().unwrap();
        (output, self.lines.iter().collect())
    }
}

/// `firehose run` of the demo pipeline on a live stdin (returned, still open), with
/// dead letters to `dead`.
fn demo_on_stdin(dead: &Path) -> (Running, std::process::ChildStdin) {
    let mut run = Running::start(&["run", "--pipeline", DEMO, "--dead-letter", dead.to_str().unwrap()]);
    let stdin = run.child.stdin.take().unwrap();
    (run, stdin)
}

/// Writes `text` to a live stdin at once.
fn send(stdin: &mut std::process::ChildStdin, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    stdin.write_all(text.as_bytes())?;
    stdin.flush()
}

/// A `source.accepted` event numbered `n`, as an NDJSON line.
fn accepted(n: u32) -> String {
    format!("{{\"event_type\": \"source.accepted\", \"n\": {n}}}\n")
}

/// The dead letters in `path`, one per line.
fn dead_letters(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The one dead letter in `path`.
fn only_dead_letter(path: &Path) -> Value {
    let mut letters = dead_letters(path);
    assert_eq!(letters.len(), 1, "{letters:?}");
    letters.remove(0)
}

#[test]
fn a_slow_stdin_is_processed_as_it_comes_and_a_stop_finishes_what_was_read() {
    let dir = TestDir::new();
    let dead = dir.path("dead.ndjson");
    let (run, mut stdin) = demo_on_stdin(&dead);
    send(&mut stdin, &format!("\n\n{{bad\n{}", accepted(1))).unwrap();
    // Far fewer lines than a batch, and stdin stays open: the event still comes out.
    let first: Value = serde_json::from_str(&run.next_line()).unwrap();
    assert_eq!(first["n"], 1);
    send(&mut stdin, &accepted(2)).unwrap();
    let second: Value = serde_json::from_str(&run.next_line()).unwrap();
    assert_eq!(second["n"], 2);
    send(&mut stdin, &accepted(3)).unwrap();
    // Read by then (a pipe read takes microseconds; this leaves room for a loaded
    // machine), and stdin stays open: only the stop or the linger can send it on.
    std::thread::sleep(std::time::Duration::from_millis(150));
    run.signal("-TERM");
    let (output, rest) = run.finish();
    drop(stdin);
    assert!(output.status.success(), "{}", stderr(&output));
    let rest: Vec<Value> = rest.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rest.iter().map(|e| e["n"].as_i64().unwrap()).collect::<Vec<_>>(), vec![3], "read before the stop");
    assert_eq!(summary(&output), (4, 3, 0, 1));
    assert_eq!(only_dead_letter(&dead)["line"], 3, "blank lines before it count");
}

#[test]
fn a_steady_trickle_is_not_held_back_until_a_batch_fills() {
    let dir = TestDir::new();
    let dead = dir.path("dead.ndjson");
    let (run, mut stdin) = demo_on_stdin(&dead);
    // A line every 20 ms never leaves the input quiet for the linger time, and 1000
    // lines (a batch) would take 20 s: lines must still come out within the linger.
    let mut first_out = None;
    for n in 0..200 {
        send(&mut stdin, &accepted(n)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        if let Ok(line) = run.lines.try_recv() {
            first_out = Some((n, line));
            break;
        }
    }
    let (written, line) = first_out.expect("output while input still trickles in");
    assert!(written < 150, "first output only after {written} lines");
    assert_eq!(serde_json::from_str::<Value>(&line).unwrap()["n"], 0);
    run.signal("-TERM");
    let (output, _) = run.finish();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_closed_output_stops_the_run_with_an_error_instead_of_hanging() {
    let dir = TestDir::new();
    let input = dir.path("events.ndjson");
    let generate = firehose(&["generate", "--events", "20000", "--output", input.to_str().unwrap()], None);
    assert!(generate.status.success(), "{}", stderr(&generate));
    let dead = dir.path("dead.ndjson");
    let mut run = Running::start(&[
        "run",
        "--pipeline",
        DEMO,
        "--input",
        input.to_str().unwrap(),
        "--dead-letter",
        dead.to_str().unwrap(),
    ]);
    run.next_line();
    // Like `| head -1`: the reader of the output goes away.
    run.lines = std::sync::mpsc::channel().1;
    let (output, _) = run.finish();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("writing output"), "{}", stderr(&output));

    // The same with a live stdin that then goes quiet: the run still ends.
    let (mut run, mut stdin) = demo_on_stdin(&dead);
    send(&mut stdin, &accepted(1)).unwrap();
    run.next_line();
    run.lines = std::sync::mpsc::channel().1;
    // The next line out closes the pipe (its reader finds nobody to take it); the one
    // after fails to write.
    for n in 2..=3 {
        std::thread::sleep(std::time::Duration::from_millis(400));
        let _ = send(&mut stdin, &accepted(n));
    }
    let (output, _) = run.finish();
    drop(stdin);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("writing output"), "{}", stderr(&output));
}

#[test]
fn a_followed_file_that_is_truncated_is_read_again_from_its_start() {
    use std::io::Write;
    let dir = TestDir::new();
    let input = dir.write("events.ndjson", "");
    let dead = dir.path("dead.ndjson");
    let run = Running::start(&[
        "run",
        "--watch",
        "--pipeline",
        DEMO,
        "--input",
        input.to_str().unwrap(),
        "--dead-letter",
        dead.to_str().unwrap(),
    ]);
    let append = |text: String| {
        let mut file = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    };
    append((1..=5).map(accepted).collect());
    let seen: Vec<String> = (0..5).map(|_| run.next_line()).collect();
    assert_eq!(seen.len(), 5);
    // The writer is cut off mid-line, then copytruncate-style rotation, then new events.
    append(accepted(9)[..40].to_string());
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::OpenOptions::new().write(true).truncate(true).open(&input).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    append(format!("{{broken\n{}{}", accepted(6), accepted(7)));
    for n in 6..=7 {
        let event: Value = serde_json::from_str(&run.next_line()).unwrap();
        assert_eq!(event["n"], n);
    }
    run.signal("-INT");
    let (output, _) = run.finish();
    assert_eq!(summary(&output), (9, 7, 0, 2));
    // The cut-off line is not glued to the new content; lines count from the new start.
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!((letters[0]["line"].as_u64(), letters[0]["raw"].as_str()), (Some(6), Some(&accepted(9)[..40])));
    assert_eq!((letters[1]["line"].as_u64(), letters[1]["raw"].as_str()), (Some(1), Some("{broken")));
}

#[test]
fn a_line_starting_with_a_bracket_mid_stream_is_a_record_and_a_followed_array_is_read_once() {
    let dir = TestDir::new();
    let dead = dir.path("dead.ndjson");
    let (run, mut stdin) = demo_on_stdin(&dead);
    send(&mut stdin, &accepted(1)).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&run.next_line()).unwrap()["n"], 1);
    send(&mut stdin, &format!("[1]\n{}", accepted(2))).unwrap();
    drop(stdin);
    let (output, rest) = run.finish();
    assert_eq!(summary(&output), (3, 2, 0, 1));
    assert_eq!(serde_json::from_str::<Value>(&rest[0]).unwrap()["n"], 2);
    let letter = only_dead_letter(&dead);
    assert_eq!((letter["line"].as_u64(), letter["raw"].as_str()), (Some(2), Some("[1]")));

    // --watch on a file holding one JSON array: processed at its end, and the run ends.
    let array = dir.write("events.json", "[{\"event_type\": \"source.accepted\", \"n\": 1}, {\"event_type\": \"x\"}]");
    let run = Running::start(&[
        "run",
        "--watch",
        "--pipeline",
        DEMO,
        "-i",
        array.to_str().unwrap(),
        "--dead-letter",
        dead.to_str().unwrap(),
    ]);
    let (output, lines) = run.finish();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(summary(&output), (2, 1, 1, 0));
    assert_eq!(lines.len(), 1);
    assert!(stderr(&output).contains("read once"), "{}", stderr(&output));
}

#[test]
fn metrics_file_has_the_runs_numbers_for_a_textfile_collector() {
    let dir = TestDir::new();
    let metrics = dir.path("firehose.prom");
    let dead = dir.path("dead.ndjson");
    let now = chrono_like_now_minus(10);
    let input = format!(
        "{{\"event_type\":\"source.accepted\",\"timestamp\":{now}}}\n{{\"event_type\":\"lead.duplicate\"}}\nnot json\n{{\"event_type\":\"feedback.received\"}}\n"
    );
    let run = firehose(
        &[
            "run",
            "--pipeline",
            DEMO,
            "--dead-letter",
            dead.to_str().unwrap(),
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
        Some(input.as_bytes()),
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(summary(&run), (4, 2, 1, 1));
    let text = std::fs::read_to_string(&metrics).expect("the metrics file is written at the end");
    for needle in [
        "firehose_events_total{outcome=\"in\"} 4",
        "firehose_events_total{outcome=\"delivered\"} 2",
        "firehose_events_total{outcome=\"dropped\"} 1",
        "firehose_events_total{outcome=\"dead_lettered\"} 1",
        "firehose_stage_dropped_total{stage=\"keep_lead_events\",module=\"filter\"} 1",
        "firehose_dead_letters_total{stage=\"intake\",module=\"\",reason=\"unreadable\"} 1",
        "firehose_batch_events_count 1",
        "firehose_batch_events_sum 4.0",
        "firehose_stage_seconds_count{stage=\"mask_pii\"} 1",
        // The batch's first event is ten seconds old.
        "firehose_event_lag_seconds_bucket{le=\"8.0\"} 0",
        "firehose_event_lag_seconds_bucket{le=\"16.0\"} 1",
        "firehose_rules_version_info{version=",
        "firehose_swaps{outcome=\"refused\"} 0",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    assert!(!dir.path("firehose.prom.tmp").exists(), "written through a temporary file, renamed");
}

/// Unix seconds `ago` seconds before now.
fn chrono_like_now_minus(ago: u64) -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - ago
}

#[test]
fn dead_letters_default_to_the_data_directory_and_an_unwritable_one_stops_the_start() {
    let dir = TestDir::new();
    let run_with_data_dir = |data_dir: &Path| {
        module("filter");
        let mut child = Command::new(env!("CARGO_BIN_EXE_firehose"))
            .args(["run", "--pipeline", DEMO])
            .current_dir(root())
            .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
            .env("FIREHOSE_DATA_DIR", data_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"not json\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let run = run_with_data_dir(dir.dir.path());
    assert!(run.status.success(), "{}", stderr(&run));
    let letter = only_dead_letter(&dir.path("firehose-dead-letters.ndjson"));
    assert_eq!(letter["line"], 1);

    let missing = dir.path("no/such/dir");
    let run = run_with_data_dir(&missing);
    assert!(!run.status.success());
    let error = stderr(&run);
    assert!(
        error.contains(&format!(
            "dead letters go to {}/firehose-dead-letters.ndjson (from $FIREHOSE_DATA_DIR)",
            missing.display()
        )) && error.contains("set --dead-letter to a writable file"),
        "{error}"
    );
}

/// The benchmark runs every case and ends with the machine-readable line the targets are
/// read from. A workload this small says nothing about speed: the test checks that every
/// case runs and reports, not its figures.
#[test]
fn bench_runs_every_case_and_ends_with_every_figure() {
    let run = firehose(&["bench", "--events", "2000", "--repeats", "1"], None);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = String::from_utf8(run.stdout).unwrap();
    let cases = [
        "json_roundtrip (serde_json parse + print)",
        "pipeline (wasm components)",
        "pipeline (same rules, native)",
        "pipeline (wasm), stages get whole events",
        "stage `keep_lead_events` alone (wasm)",
        "stage `add_context` alone (native)",
        "stage `mask_pii` alone (wasm)",
        "no stage: intake and emit only",
        "pipeline + one no-op stage (wasm)",
        "one call per event (wasm)",
        "flb-filter_firehose (one call per chunk)",
        "filter_wasm's way (one call per record)",
        "firehose serve CPU (user+sys) ns/event",
        "--output-dir DIR (gzip NDJSON batches)",
        "all PII kinds / demo",
        "file change to live, cached version",
        "candidate: ",
        // The ratios the targets compare, each timed side by side, with their spread.
        "components / same rules native",
        "the pipeline alone (NDJSON, same events)",
        "(middle half ",
    ];
    for case in cases {
        assert!(text.contains(case), "no `{case}` in:\n{text}");
    }
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("bench: "), "{text}");
    let figures = [
        "pipeline_events_per_s",
        "wasm_vs_native",
        "whole_events_vs_members",
        "pipeline_vs_json_roundtrip",
        "per_record_vs_batch",
        "fluent_bit_vs_pipeline",
        "sidecar_vs_pipeline",
        "batches_gzip_vs_ndjson",
        "pii_all_kinds_vs_demo",
    ];
    for figure in figures {
        let value = last
            .split(' ')
            .find_map(|pair| pair.strip_prefix(figure)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no `{figure}=` in {last}"));
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{figure}={value}: {e}"));
        assert!(value.is_finite() && value > 0.0, "{figure}={value}");
    }
}
