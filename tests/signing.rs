//! Signed rule modules: with `trusted_keys:` a pipeline runs only modules whose
//! `MODULE.wasm.sig` verifies over their exact bytes; unsigned, tampered and
//! foreign-signed modules are refused naming the file, a hot swap to one leaves the
//! running version serving, and pipelines without `trusted_keys:` work as before.
//! Keys and signatures are made by the real `firehose keygen` / `firehose sign`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestDir, engine, module, run};
use firehose::Pipeline;
use firehose::reload::{Live, ReloadOutcome, Reloader};
use serde_json::json;

fn firehose(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_firehose")).current_dir(dir).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "firehose {args:?} failed: {text}");
    text
}

fn pipeline(keys: &[&str], tag: &str) -> String {
    let keys = if keys.is_empty() { String::new() } else { format!("trusted_keys: [{}]\n", keys.join(", ")) };
    format!(
        "{keys}metadata: {{rules_version: false}}\nstages:\n  - name: keep\n    module: filter.wasm\n    config: {{exclude_event_type: [skip]}}\n  - name: tag\n    module: enrich.wasm\n    config: {{tags: {{v: {tag}}}, processing: false}}\n"
    )
}

/// A directory with both modules copied in, and a key pair `release.key`.
fn signed_dir() -> TestDir {
    let dir = TestDir::new();
    std::fs::copy(module("filter"), dir.path("filter.wasm")).unwrap();
    std::fs::copy(module("enrich"), dir.path("enrich.wasm")).unwrap();
    let said = firehose(dir.dir.path(), &["keygen", "--out", "release.key"]);
    assert!(said.contains("release.key.pub"), "{said}");
    let said = firehose(dir.dir.path(), &["sign", "--key", "release.key", "filter.wasm", "enrich.wasm"]);
    assert!(said.contains("enrich.wasm.sig"), "{said}");
    dir
}

fn load_error(dir: &TestDir) -> String {
    match Pipeline::load(&engine(), &dir.path("pipeline.yaml")) {
        Ok(_) => panic!("the pipeline should have been refused"),
        Err(e) => firehose::error::report(&e),
    }
}

#[test]
fn signed_modules_run_and_unsigned_pipelines_work_as_before() {
    let dir = signed_dir();
    dir.write("pipeline.yaml", &pipeline(&["release.key.pub"], "signed"));
    let signed = Pipeline::load(&engine(), &dir.path("pipeline.yaml")).expect("signed modules load");
    let fates = run(&signed, &[json!({"event_type": "a"}), json!({"event_type": "skip"})]);
    assert_eq!(fates[0].delivered()["tags"]["v"], "signed");

    // Without trusted_keys no signature is read, and the version id does not depend
    // on signatures existing.
    dir.write("pipeline.yaml", &pipeline(&[], "signed"));
    let unsigned = Pipeline::load(&engine(), &dir.path("pipeline.yaml")).unwrap();
    std::fs::remove_file(dir.path("filter.wasm.sig")).unwrap();
    let again = Pipeline::load(&engine(), &dir.path("pipeline.yaml")).unwrap();
    assert_eq!(unsigned.id, again.id);
    assert_ne!(unsigned.id, signed.id, "the trusted keys are part of what makes a version");
}

#[test]
fn unsigned_tampered_and_foreign_modules_are_refused_naming_the_file() {
    let dir = signed_dir();
    dir.write("pipeline.yaml", &pipeline(&["release.key.pub"], "x"));

    std::fs::remove_file(dir.path("enrich.wasm.sig")).unwrap();
    let unsigned = load_error(&dir);
    assert!(unsigned.contains("enrich.wasm.sig") && unsigned.contains("firehose sign"), "{unsigned}");

    firehose(dir.dir.path(), &["sign", "--key", "release.key", "enrich.wasm"]);
    let mut bytes = std::fs::read(dir.path("enrich.wasm")).unwrap();
    bytes.push(0);
    std::fs::write(dir.path("enrich.wasm"), &bytes).unwrap();
    let tampered = load_error(&dir);
    assert!(tampered.contains("enrich.wasm") && tampered.contains("does not match"), "{tampered}");

    std::fs::copy(module("enrich"), dir.path("enrich.wasm")).unwrap();
    firehose(dir.dir.path(), &["keygen", "--out", "other.key"]);
    firehose(dir.dir.path(), &["sign", "--key", "other.key", "enrich.wasm"]);
    let foreign = load_error(&dir);
    assert!(foreign.contains("enrich.wasm.sig") && foreign.contains("trusted_keys"), "{foreign}");

    // Trusting both keys accepts it; a key file that is not a key is refused by name.
    dir.write("pipeline.yaml", &pipeline(&["release.key.pub", "other.key.pub"], "x"));
    Pipeline::load(&engine(), &dir.path("pipeline.yaml")).expect("either trusted key may sign");
    dir.write("pipeline.yaml", &pipeline(&["filter.wasm"], "x"));
    let not_a_key = load_error(&dir);
    assert!(not_a_key.contains("trusted_keys[0]") && not_a_key.contains("filter.wasm"), "{not_a_key}");
}

#[test]
fn a_swap_to_a_tampered_module_is_refused_while_the_old_version_serves() {
    let dir = signed_dir();
    let path = dir.write("pipeline.yaml", &pipeline(&["release.key.pub"], "v1"));
    let live = Live::new(Pipeline::load(&engine(), &path).unwrap());
    let reloader = Reloader::new(engine(), path.clone(), live.clone(), 1);
    let serving = live.current().id.clone();

    // A new configuration with a module swapped for other bytes under the old signature.
    dir.write("pipeline.yaml", &pipeline(&["release.key.pub"], "v2"));
    std::fs::copy(module("pii-mask"), dir.path("enrich.wasm")).unwrap();
    match reloader.reload() {
        ReloadOutcome::Refused { reason } => {
            assert!(reason.contains("enrich.wasm") && reason.contains("does not match"), "{reason}")
        }
        other => panic!("a tampered module must be refused, got {other:?}"),
    }
    assert_eq!(live.current().id, serving, "the old version keeps serving");
    assert_eq!(live.counts().refused, 1);
    let fates = run(&live.current(), &[json!({"event_type": "a"})]);
    assert_eq!(fates[0].delivered()["tags"]["v"], "v1");

    // Restored and signed, the swap goes through.
    std::fs::copy(module("enrich"), dir.path("enrich.wasm")).unwrap();
    firehose(dir.dir.path(), &["sign", "--key", "release.key", "enrich.wasm"]);
    assert!(matches!(reloader.reload(), ReloadOutcome::Published { .. }));
    let fates = run(&live.current(), &[json!({"event_type": "a"})]);
    assert_eq!(fates[0].delivered()["tags"]["v"], "v2");
}
