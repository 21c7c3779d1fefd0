//! Rule modules in Python and JavaScript (world `json-rule`), built once here through
//! the real tools (componentize-py, componentize-js) by `firehose build`: the shipped
//! lead-score and custom-mask modules pass their pipeline's tests next to the Rust
//! modules, bad configurations name the field, and modules scaffolded by
//! `firehose new-module --lang python|js` build, pass their own tests and stay in the
//! sandbox (no files, env, clock or network; the CPU deadline and the memory cap stop
//! them).
//!
//! The tools come from PyPI and npm on first use. Without python3/pip or node/npm the
//! tests fail under `CI=1` (CI has them, so their absence is a broken machine) and are
//! skipped with a notice otherwise, so an offline developer can still run the suite.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Fate, TestDir, load, load_error, root, run};
use serde_json::{Value, json};

/// The Python probe: the scaffold's rule, plus acts that try to leave the sandbox.
const PYTHON_PROBE: &str = r#"

import os
import time

_template_process_json = WitWorld.process_json


def _probe(self, events, context):
    acts = [json.loads(text).get("act") for text in events]
    if "loop" in acts:
        while True:
            pass
    if "alloc" in acts:
        hog = []
        while True:
            hog.append(bytearray(1 << 20))
    if "observe" in acts:
        seen = {"env": dict(os.environ), "clock": time.time(), "now": context.now_unix_ms}
        for name, attempt in [("file", lambda: open("/etc/passwd").read()), ("dir", lambda: os.listdir("/")),
                              ("cwd_file", lambda: open("app.py").read())]:
            try:
                seen[name] = attempt()
            except Exception as e:
                seen[name] = "denied: " + type(e).__name__
        try:
            import socket
            socket.create_connection(("127.0.0.1", 9), timeout=1)
            seen["network"] = "connected"
        except Exception as e:
            seen["network"] = "denied: " + type(e).__name__
        return [types.JsonVerdict_Replace(json.dumps(seen)) for _ in events]
    return _template_process_json(self, events, context)


WitWorld.process_json = _probe
"#;

/// The JavaScript probe, wrapped around the scaffold's `processJson`.
const JS_PROBE: &str = r#"

export function processJson(events, context) {
  const acts = events.map((text) => JSON.parse(text).act);
  if (acts.includes('loop')) for (;;) {}
  if (acts.includes('alloc')) {
    const hog = [];
    for (;;) hog.push(new Uint8Array(1 << 24).fill(7));
  }
  if (acts.includes('observe')) {
    const seen = { clock: Date.now(), now: Number(context.nowUnixMs), fetch: typeof fetch, process: typeof process };
    return events.map(() => ({ tag: 'replace', val: JSON.stringify(seen) }));
  }
  return templateProcessJson(events, context);
}
"#;

/// What the builds produced: the shipped modules and the two scaffolded probes.
struct Built {
    lead_score: PathBuf,
    custom_mask: PathBuf,
    python_probe: PathBuf,
    js_probe: PathBuf,
    _probes: TestDir,
}

fn firehose() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_firehose"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    command
        .current_dir(root())
        .env("FIREHOSE_TOOLS_DIR", target.join("tools"))
        .env("FIREHOSE_CACHE_DIR", target.join("test-module-cache"));
    command
}

fn succeed(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

fn have(tool: &str, args: &[&str]) -> bool {
    Command::new(tool).args(args).output().is_ok_and(|o| o.status.success())
}

/// Builds everything once; `None` (after a notice) where the tools are missing.
fn built() -> Option<&'static Built> {
    static BUILT: OnceLock<Option<Built>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let missing: Vec<&str> = [
                ("python3 with pip", have("python3", &["-m", "pip", "--version"])),
                ("node", have("node", &["--version"])),
                ("npm", have("npm", &["--version"])),
            ]
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect();
            if !missing.is_empty() {
                let notice = format!("Python/JavaScript module tests need {}", missing.join(", "));
                assert!(std::env::var_os("CI").is_none(), "{notice}, which CI must have");
                eprintln!("SKIPPED: {notice}; install them to run these tests");
                return None;
            }
            common::module("filter");
            let probes = TestDir::new();
            let dir = probes.dir.path();
            succeed(firehose().args(["new-module", "py-probe", "--lang", "python", "--dir"]).arg(dir));
            succeed(firehose().args(["new-module", "js-probe", "--lang", "js", "--dir"]).arg(dir));
            let app = dir.join("py-probe/app.py");
            let python = std::fs::read_to_string(&app).unwrap() + PYTHON_PROBE;
            std::fs::write(&app, python).unwrap();
            let rule = dir.join("js-probe/rule.js");
            let js = std::fs::read_to_string(&rule)
                .unwrap()
                .replace("export function processJson(", "function templateProcessJson(")
                + JS_PROBE;
            std::fs::write(&rule, js).unwrap();
            succeed(
                firehose()
                    .args(["build", "plugins/lead-score", "plugins/custom-mask"])
                    .arg(dir.join("py-probe"))
                    .arg(dir.join("js-probe")),
            );
            Some(Built {
                lead_score: root().join("plugins/lead-score/lead_score.wasm"),
                custom_mask: root().join("plugins/custom-mask/custom_mask.wasm"),
                python_probe: dir.join("py-probe/py_probe.wasm"),
                js_probe: dir.join("js-probe/js_probe.wasm"),
                _probes: probes,
            })
        })
        .as_ref()
}

#[test]
fn the_polyglot_pipeline_passes_its_tests_through_the_cli() {
    let Some(_) = built() else { return };
    let text = succeed(firehose().args(["test", "--pipeline", "examples/polyglot/pipeline.yaml"]));
    assert!(text.contains("4 passed, 0 failed"), "{text}");
}

#[test]
fn scaffolded_python_and_js_modules_pass_their_own_tests() {
    let Some(built) = built() else { return };
    for probe in [&built.python_probe, &built.js_probe] {
        let pipeline = probe.parent().unwrap().join("pipeline.yaml");
        let text = succeed(firehose().arg("test").arg("--pipeline").arg(&pipeline));
        assert!(text.contains("3 passed, 0 failed"), "{text}");
    }
}

fn stage(module: &Path, config: Value, limits: &str) -> std::sync::Arc<firehose::Pipeline> {
    load(&format!(
        "metadata: {{rules_version: false}}\nlimits: {limits}\nstages:\n  - name: only\n    module: '{}'\n    config: {}\n",
        module.display(),
        config
    ))
}

#[test]
fn a_mixed_pipeline_accounts_for_every_event() {
    let Some(built) = built() else { return };
    let pipeline = load(&format!(
        "metadata: {{rules_version: false}}\nlimits: {{timeout_ms: 5000}}\nstages:\n  - {{name: keep, module: '{{filter}}', config: {{event_type: ['recipient.*']}}}}\n  - {{name: score, module: '{}', config: {{outcomes: {{success: 40}}, drop_below: 0}}}}\n  - {{name: mask, module: '{}', config: {{fields: [{{path: lead_data.email, keep_first: 1}}]}}}}\n  - {{name: pii, module: '{{pii-mask}}', config: {{fields: [{{path: $.lead_data.ssn, strategy: last4}}]}}}}\n",
        built.lead_score.display(),
        built.custom_mask.display()
    ));
    let events = vec![
        json!({"n": 0, "event_type": "recipient.delivered", "outcome": "success", "lead_data": {"email": "ann@x.io", "ssn": "123-45-6789"}}),
        json!({"n": 1, "event_type": "source.rejected"}),
        json!({"n": 2, "event_type": "recipient.delivered", "metadata": {"buyer_response": {"price": "n/a"}}}),
        json!({"n": 3, "event_type": "recipient.delivered", "outcome": "failure", "metadata": {"buyer_response": {"price": -5}}}),
        json!({"n": 4, "event_type": "recipient.delivered", "outcome": "success", "lead_data": {"city": "Zürich \u{1F600}"}}),
    ];
    let fates = run(&pipeline, &events);
    let first = fates[0].delivered();
    // JavaScript prints 40.0 as 40: a JSON rule rewrites the numbers of every event it replaces.
    assert_eq!(first["score"]["points"].as_f64(), Some(40.0), "{first}");
    assert_eq!(first["score"]["tier"], "cold", "{first}");
    assert_eq!(first["lead_data"], json!({"email": "a*******", "ssn": "***-**-6789"}));
    assert_eq!(fates[1], Fate::Dropped("keep".into()));
    assert_eq!(
        fates[2],
        Fate::DeadLettered {
            stage: "score".into(),
            reason: "metadata.buyer_response.price is not a number: \"n/a\"".into()
        }
    );
    assert_eq!(fates[3], Fate::Dropped("score".into()));
    assert_eq!(fates[4].delivered()["lead_data"]["city"], "Zürich \u{1F600}", "text survives both languages intact");
}

#[test]
fn bad_configurations_are_refused_naming_the_field() {
    let Some(built) = built() else { return };
    let refusal = load_error(&format!(
        "stages:\n  - name: score\n    module: '{}'\n    config: {{tiers: [{{min: high, tier: hot}}]}}\n",
        built.lead_score.display()
    ));
    assert!(refusal.contains("tiers[0].min") && refusal.contains("expected a number"), "{refusal}");
    let refusal = load_error(&format!(
        "stages:\n  - name: mask\n    module: '{}'\n    config: {{fields: [{{path: a.b, char: '**'}}]}}\n",
        built.custom_mask.display()
    ));
    assert!(refusal.contains("fields[0].char") && refusal.contains("expected one character"), "{refusal}");
}

#[test]
fn python_and_js_modules_see_no_files_env_clock_or_network() {
    let Some(built) = built() else { return };
    let python = stage(&built.python_probe, json!({}), "{timeout_ms: 5000}");
    let fates = run(&python, &[json!({"act": "observe"})]);
    let seen = fates[0].delivered();
    assert_eq!(seen["env"], json!({}), "{seen}");
    assert_eq!(seen["clock"], 0.0, "the clock is frozen at the epoch: {seen}");
    assert!(seen["now"].as_i64().unwrap() > 1_700_000_000_000, "time comes from the batch context: {seen}");
    for denied in ["file", "dir", "cwd_file", "network"] {
        assert!(seen[denied].as_str().unwrap().starts_with("denied"), "{denied}: {seen}");
    }
    let js = stage(&built.js_probe, json!({}), "{timeout_ms: 5000}");
    let fates = run(&js, &[json!({"act": "observe"})]);
    let seen = fates[0].delivered();
    assert_eq!(seen["clock"], 0, "{seen}");
    assert!(seen["now"].as_i64().unwrap() > 1_700_000_000_000, "{seen}");
    // `fetch` exists in StarlingMonkey but has nothing to reach: the component imports no
    // wasi:http (the host links none and would refuse it), and WASI sockets deny every address.
    assert_eq!(seen["process"], "undefined", "no process.env: {seen}");
}

#[test]
fn the_deadline_and_the_memory_cap_stop_python_and_js_modules() {
    let Some(built) = built() else { return };
    for probe in [&built.python_probe, &built.js_probe] {
        let pipeline = stage(probe, json!({}), "{timeout_ms: 300, memory_mib: 96}");
        let fates = run(&pipeline, &[json!({"event_type": "a"}), json!({"act": "loop"})]);
        for fate in &fates {
            assert!(fate.reason().contains("ran longer than its time limit of 300 ms"), "{probe:?}: {fate:?}");
        }
        // A deadline long enough for an interpreter to fill the cap.
        let pipeline = stage(probe, json!({}), "{timeout_ms: 5000, memory_mib: 96}");
        let fates = run(&pipeline, &[json!({"event_type": "a"}), json!({"act": "alloc"}), json!({"event_type": "b"})]);
        assert_eq!(fates[0].delivered()["event_type"], "a", "{probe:?}");
        assert!(fates[1].reason().contains("exceeded its memory limit of 96 MiB"), "{probe:?}: {:?}", fates[1]);
        assert_eq!(fates[2].delivered()["event_type"], "b", "{probe:?}: a fresh instance serves the rest");
    }
}
