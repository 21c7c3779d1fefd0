use super::*;
use serde_json::json;
use sha2::Digest;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A temporary directory, removed when the test ends.
struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

fn temp_dir(name: &str) -> Scratch {
    Scratch(tempfile::Builder::new().prefix(&format!("firehose-config-{name}-")).tempdir().unwrap())
}

#[test]
fn resolves_tables_env_and_files_relative_to_the_pipeline() {
    let dir = temp_dir("refs");
    write(&dir, "flows.csv", "id, name\nf1, Solar\nf2,\"Auto, used\"\n");
    write(&dir, "accounts.json", r#"[{"id": 1, "name": "Acme"}]"#);
    write(&dir, "more.ndjson", "{\"id\": \"x\"}\n\n{\"id\": \"y\"}\n");
    write(&dir, "note.txt", "hello\n");
    // SAFETY: tests in this module are the only users of this variable.
    unsafe { std::env::set_var("FIREHOSE_TEST_SECRET", "s3cret") };
    let path = write(
        &dir,
        "pipeline.yaml",
        r#"
stages:
  - name: enrich
    module: mod.wasm
    config:
      flows: {$table: flows.csv}
      accounts: {$table: accounts.json}
      more: {$table: more.ndjson}
      key: {$env: FIREHOSE_TEST_SECRET}
      note: {$file: note.txt}
      plain: {a: [1, {b: 2}]}
"#,
    );
    let config = PipelineConfig::load(&path).unwrap();
    let stage: serde_json::Value = serde_json::from_str(&config.stages[0].config).unwrap();
    assert_eq!(stage["flows"], json!([{"id": "f1", "name": "Solar"}, {"id": "f2", "name": "Auto, used"}]));
    assert_eq!(stage["accounts"], json!([{"id": 1, "name": "Acme"}]));
    assert_eq!(stage["more"], json!([{"id": "x"}, {"id": "y"}]));
    assert_eq!(stage["key"], "s3cret");
    assert_eq!(stage["note"], "hello");
    assert_eq!(stage["plain"], json!({"a": [1, {"b": 2}]}));
    assert_eq!(config.stages[0].module, dir.join("mod.wasm"));
    assert_eq!(config.name, "pipeline");
    assert_eq!(config.files.len(), 6, "{:?}", config.files);
}

#[test]
fn explains_what_is_wrong() {
    let dir = temp_dir("errors");
    let err = |yaml: &str| PipelineConfig::parse(&dir.join("p.yaml"), yaml).unwrap_err().to_string();
    assert!(err("stages: []").contains("`stages` is empty"));
    assert!(err("stage: []").contains("unknown field `stage`"));
    assert!(err("stages:\n  - {name: a, module: m.wasm}\n  - {name: a, module: m.wasm}").contains("used twice"));
    let e = err("stages:\n  - {name: a, module: m.wasm, config: {k: {$env: FIREHOSE_SURELY_UNSET_VAR}}}");
    assert!(e.contains("stage `a`: config.k: environment variable `FIREHOSE_SURELY_UNSET_VAR` is not set"), "{e}");
    let e = err("stages:\n  - {name: a, module: m.wasm, config: {t: [{$table: missing.csv}]}}");
    assert!(e.contains("config.t[0]: table") && e.contains("cannot read the file"), "{e}");
    let e = err("stages:\n  - {name: a, module: m.wasm, config: {t: {$tabel: x.csv}}}");
    assert!(e.contains("unknown reference `$tabel`"), "{e}");
    assert!(err("limits: {timeout_ms: 0}\nstages:\n  - {name: a, module: m.wasm}").contains("greater than zero"));
    let e = err("output: {max_open_partitions: 0}\nstages:\n  - {name: a, module: m.wasm}");
    assert!(e.contains("`output.max_open_partitions` must be at least 1"), "{e}");
    let e = err("output: {compression_level: 0}\nstages:\n  - {name: a, module: m.wasm}");
    assert!(e.contains("`output.compression_level` is 0: gzip's levels are 1 (fastest) to 9"), "{e}");
    let e = err("output: {compression_level: 10}\nstages:\n  - {name: a, module: m.wasm}");
    assert!(e.contains("`output.compression_level` is 10"), "{e}");
    let e = err("output: {compression: lz4, compression_level: 1}\nstages:\n  - {name: a, module: m.wasm}");
    assert!(e.contains("`output.compression_level` applies to gzip only, and compression is Lz4"), "{e}");
}

#[test]
fn content_hash_changes_with_config_but_not_with_formatting() {
    let dir = temp_dir("hash");
    let a =
        PipelineConfig::parse(&dir.join("p.yaml"), "stages:\n  - {name: a, module: m.wasm, config: {x: 1}}").unwrap();
    let b = PipelineConfig::parse(
        &dir.join("p.yaml"),
        "stages:\n  - name: a\n    module: m.wasm\n    config:\n      x: 1\n",
    )
    .unwrap();
    let c =
        PipelineConfig::parse(&dir.join("p.yaml"), "stages:\n  - {name: a, module: m.wasm, config: {x: 2}}").unwrap();
    assert_eq!(a.config_hash, b.config_hash);
    assert_ne!(a.config_hash, c.config_hash);
}

#[test]
fn content_hash_is_a_canonical_serialization_that_stays_put() {
    let dir = temp_dir("stable-hash");
    let text =
        "name: p\nlimits: {timeout_ms: 500, memory_mib: 64}\nstages:\n  - {name: a, module: m.wasm, config: {x: 1}}";
    let config = PipelineConfig::parse(&dir.join("p.yaml"), text).unwrap();
    let canonical = r#"{"batch":{"max_events":1000},"limits":{"memory_bytes":67108864,"timeout_ms":500},"metadata":{"rules_version":true},"name":"p","stages":[{"config":"{\"x\":1}","name":"a"}]}"#;
    let expected: [u8; 32] = sha2::Sha256::digest(canonical.as_bytes()).into();
    assert_eq!(config.config_hash, expected, "the version id must not change when nothing of the rules does");
}

#[test]
fn reads_test_cases_of_every_kind() {
    let dir = temp_dir("cases");
    let yaml = r#"
stages:
  - {name: mask, module: m.wasm}
tests:
  - name: keeps and masks
    input: {a: 1}
    expect: {output: {a: 1}}
  - name: exact
    stage: mask
    input: {a: 1}
    expect: {output: {a: 1}, exact: true}
  - name: drops
    input: {a: 2}
    expect: dropped
  - name: rejects
    input: {a: 3}
    expect: {rejected: no row}
"#;
    let config = PipelineConfig::parse(&dir.join("p.yaml"), yaml).unwrap();
    assert_eq!(config.tests.len(), 4);
    assert_eq!(config.tests[1].expect, Expect::Output { output: json!({"a": 1}), exact: true });
    assert_eq!(config.tests[2].expect, Expect::Dropped(DroppedWord::Dropped));
    assert_eq!(config.tests[3].expect, Expect::Rejected { rejected: "no row".into() });
    let bad =
        "stages:\n  - {name: mask, module: m.wasm}\ntests:\n  - {name: t, stage: nope, input: {}, expect: dropped}\n";
    assert!(
        PipelineConfig::parse(&dir.join("p.yaml"), bad).unwrap_err().to_string().contains("no stage is named `nope`")
    );
}
