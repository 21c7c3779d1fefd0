//! Helpers shared by the integration tests: build the real rule modules once, load
//! pipelines written on the fly, run events through them and check that every event
//! is accounted for.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, OnceLock};

use firehose::Pipeline;
use firehose::engine::Engine;
use firehose::intake::Intake;
use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Cargo asks `rustc -` about each target with stdin set to /dev/null, and caches the
/// answer (even a failure) in the target directory. On machines where /dev/null is a
/// plain file (some CI sandboxes), whatever other processes "discarded" there is read
/// as source and the build fails. Call this before running cargo: it empties the file,
/// as a real device always is.
pub fn empty_dev_null_if_it_is_a_plain_file() {
    let dev_null = std::path::Path::new("/dev/null");
    if std::fs::symlink_metadata(dev_null).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::File::create(dev_null);
    }
}

/// Set for a child test process whose parent has built the modules already.
pub const MODULES_BUILT: &str = "FIREHOSE_TEST_MODULES_BUILT";

/// Builds every module component (once per test binary) and returns the path of one:
/// `filter`, `enrich`, `pii-mask`, or a test guest: `misbehave`, `records-answer`,
/// `words-answer`.
pub fn module(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        if std::env::var_os(MODULES_BUILT).is_some() {
            return;
        }
        empty_dev_null_if_it_is_a_plain_file();
        let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(root())
            .args(["xtask", "modules"])
            .status()
            .expect("run `cargo xtask modules`");
        assert!(status.success(), "building the rule modules failed");
    });
    let file = match name {
        "misbehave" | "records-answer" | "words-answer" => format!("{}.wasm", name.replace('-', "_")),
        other => format!("firehose_{}.wasm", other.replace('-', "_")),
    };
    let path = target_dir().join("wasm32-wasip2/module").join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// One engine for the whole test binary, caching compiled modules under target/.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Some(&target_dir().join("test-module-cache"))).expect("engine")).clone()
}

/// A pipeline file in its own temporary directory.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    /// Writes `pipeline.yaml`. `{filter}`, `{enrich}`, `{pii-mask}`, `{misbehave}`,
    /// `{records-answer}` and `{words-answer}` in the text become the built modules' paths.
    pub fn pipeline(&self, yaml: &str) -> PathBuf {
        let mut text = yaml.to_string();
        for name in ["filter", "enrich", "pii-mask", "misbehave", "records-answer", "words-answer"] {
            let key = format!("{{{name}}}");
            if text.contains(&key) {
                text = text.replace(&key, &module(name).display().to_string());
            }
        }
        self.write("pipeline.yaml", &text)
    }
}

/// Loads a pipeline from YAML (see [`TestDir::pipeline`]).
pub fn load(yaml: &str) -> Arc<Pipeline> {
    let dir = TestDir::new();
    let path = dir.pipeline(yaml);
    Pipeline::load(&engine(), &path).unwrap_or_else(|e| panic!("pipeline should load: {e}"))
}

/// The error loading this pipeline gives.
pub fn load_error(yaml: &str) -> String {
    let dir = TestDir::new();
    let path = dir.pipeline(yaml);
    match Pipeline::load(&engine(), &path) {
        Ok(_) => panic!("pipeline should have been refused"),
        Err(e) => firehose::error::report(&e),
    }
}

/// A single-stage pipeline running `module` with `config` (JSON).
pub fn single(module: &str, config: Value) -> Arc<Pipeline> {
    load(&format!(
        "metadata: {{rules_version: false}}\nstages:\n  - name: only\n    module: {{{module}}}\n    config: {}\n",
        serde_json::to_string(&config).unwrap()
    ))
}

/// What happened to each input event.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    Delivered(Value),
    Dropped(String),
    DeadLettered { stage: String, reason: String },
}

impl Fate {
    pub fn delivered(&self) -> &Value {
        match self {
            Fate::Delivered(v) => v,
            other => panic!("expected a delivered event, got {other:?}"),
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Fate::DeadLettered { reason, .. } => reason,
            other => panic!("expected a dead letter, got {other:?}"),
        }
    }
}

/// Runs events through the pipeline as one batch and returns each event's fate, in
/// input order, after checking that in = out + dropped + dead-lettered.
pub fn run(pipeline: &Arc<Pipeline>, events: &[Value]) -> Vec<Fate> {
    let mut intake = Intake::default();
    for (i, e) in events.iter().enumerate() {
        intake.add(i as u64 + 1, serde_json::to_string(e).unwrap().as_bytes());
    }
    assert!(intake.malformed.is_empty());
    run_events(pipeline, &intake.events)
}

/// Like [`run`] for raw, already validated events.
pub fn run_events(pipeline: &Arc<Pipeline>, events: &firehose::Events) -> Vec<Fate> {
    let outcome = pipeline.runner().run(events);
    let counts = outcome.counts();
    assert_eq!(counts.events_in, events.len() as u64, "every event must be accounted for: {counts:?}");
    assert!(counts.balanced());
    let mut fates: Vec<Option<Fate>> = vec![None; events.len()];
    for (event, &origin) in outcome.delivered(events).iter().zip(&outcome.origin) {
        let value: Value = serde_json::from_slice(event).expect("delivered events are valid JSON");
        assert!(fates[origin as usize].replace(Fate::Delivered(value)).is_none(), "event {origin} came out twice");
    }
    for d in &outcome.dropped {
        let stage = pipeline.stages()[d.stage as usize].name.clone();
        assert!(fates[d.index as usize].replace(Fate::Dropped(stage)).is_none(), "event {} accounted twice", d.index);
    }
    for d in &outcome.dead_letters {
        let fate = Fate::DeadLettered { stage: d.stage.clone(), reason: d.reason.clone() };
        assert!(fates[d.index as usize].replace(fate).is_none(), "event {} accounted twice", d.index);
    }
    fates.into_iter().map(|f| f.expect("every event has a fate")).collect()
}

/// Captures log lines written through the `log` crate (module log forwarding).
pub fn captured_logs() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        struct Capture;
        impl log::Log for Capture {
            fn enabled(&self, _: &log::Metadata<'_>) -> bool {
                true
            }
            fn log(&self, record: &log::Record<'_>) {
                captured_logs().lock().unwrap().push(format!(
                    "{} {} {}",
                    record.level(),
                    record.target(),
                    record.args()
                ));
            }
            fn flush(&self) {}
        }
        log::set_boxed_logger(Box::new(Capture)).expect("install test logger");
        log::set_max_level(log::LevelFilter::Info);
    });
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Whether a file exists (for readable asserts).
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// The permission bits of the file at `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}
