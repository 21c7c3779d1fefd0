//! Writing a module of one's own: scaffold it with `firehose new-module`, build it with
//! `firehose build`, add it to a pipeline, and check it with `firehose test`; and the
//! shipped pipelines' own test cases.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{TestDir, empty_dev_null_if_it_is_a_plain_file, module, root};

fn firehose(args: &[&str], dir: &Path) -> Output {
    firehose_at(Path::new(env!("CARGO_BIN_EXE_firehose")), args, dir)
}

fn firehose_at(binary: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        // Share compiled dependencies between runs of this test.
        .env("CARGO_TARGET_DIR", root().join("target/scaffolded"))
        .output()
        .expect("run firehose")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn a_scaffolded_module_builds_runs_and_is_tested() {
    module("filter");
    let dir = TestDir::new();
    // The binary alone, outside the checkout, as a user installs it.
    std::fs::create_dir_all(dir.path("bin")).unwrap();
    let installed = dir.path("bin/firehose");
    std::fs::copy(env!("CARGO_BIN_EXE_firehose"), &installed).unwrap();
    let created = firehose_at(&installed, &["new-module", "lead-score", "--dir", "."], dir.dir.path());
    assert!(created.status.success(), "{}", text(&created));
    let crate_dir = dir.path("lead-score");
    assert!(crate_dir.join("src/lib.rs").exists());
    // It carries its own copy of the SDK and names nothing of this checkout.
    assert!(crate_dir.join("firehose-sdk/plugins/sdk/Cargo.toml").exists());
    assert!(crate_dir.join("firehose-sdk/crates/json/src/lib.rs").exists());
    assert!(crate_dir.join("firehose-sdk/wit/rules.wit").exists());
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("path = \"firehose-sdk/plugins/sdk\""), "{manifest}");
    let checkout = root().display().to_string();
    for file in ["Cargo.toml", ".cargo/config.toml", "README.md"] {
        let text = std::fs::read_to_string(crate_dir.join(file)).unwrap();
        assert!(!text.contains(&checkout), "{file} names the checkout: {text}");
    }
    let again = firehose(&["new-module", "lead-score", "--dir", "."], dir.dir.path());
    assert!(!again.status.success() && text(&again).contains("already exists"));
    assert!(text(&firehose(&["new-module", "Bad_Name"], dir.dir.path())).contains("use lowercase letters"));

    empty_dev_null_if_it_is_a_plain_file();
    let built = firehose_at(&installed, &["build", "lead-score"], dir.dir.path());
    assert!(built.status.success(), "{}", text(&built));
    assert!(crate_dir.join("lead_score.wasm").exists(), "{}", text(&built));

    let pipeline = |expected_score: &str| {
        dir.write(
            "pipeline.yaml",
            &format!(
                r#"
stages:
  - name: score
    module: lead-score/lead_score.wasm
    config: {{weights: {{CA: 1.5}}}}
  - name: mask
    module: {mask}
    config: {{fields: [{{path: $.lead_data.ssn, strategy: last4}}]}}
tests:
  - name: scores CA leads and masks them
    input: {{metadata: {{buyer_response: {{price: 20}}}}, lead_data: {{state: CA, ssn: 123-45-6789}}}}
    expect: {{output: {{lead_score: {expected_score}, lead_data: {{ssn: '***-**-6789'}}}}}}
  - name: drops leads without a price
    input: {{lead_data: {{state: CA}}}}
    expect: dropped
  - name: the scoring stage alone
    stage: score
    input: {{metadata: {{buyer_response: {{price: 10}}}}}}
    expect: {{output: {{lead_score: 10.0}}}}
"#,
                mask = module("pii-mask").display()
            ),
        )
    };
    pipeline("30.0");
    let passed = firehose(&["test", "--pipeline", "pipeline.yaml"], dir.dir.path());
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(text(&passed).contains("3 passed, 0 failed"), "{}", text(&passed));

    // A wrong expectation fails, with the difference spelled out.
    pipeline("31.0");
    let failed = firehose(&["test", "--pipeline", "pipeline.yaml"], dir.dir.path());
    assert!(!failed.status.success());
    let report = text(&failed);
    assert!(report.contains("FAILED  scores CA leads and masks them"), "{report}");
    assert!(report.contains("$.lead_score: expected 31.0, got 30.0"), "{report}");
    assert!(report.contains("2 passed, 1 failed"), "{report}");
}

#[test]
fn the_shipped_pipelines_pass_their_own_tests() {
    module("filter");
    let mut pipelines = vec![root().join("examples/leadconduit/pipeline.yaml")];
    for entry in std::fs::read_dir(root().join("vector-examples")).unwrap() {
        let path = entry.unwrap().path().join("pipeline.yaml");
        if path.exists() {
            pipelines.push(path);
        }
    }
    assert!(pipelines.len() >= 6);
    for pipeline in pipelines {
        let output = firehose(&["test", "--pipeline", pipeline.to_str().unwrap()], &root());
        let report = text(&output);
        assert!(output.status.success(), "{report}");
        assert!(
            report.contains(" passed, 0 failed") && !report.contains("no test cases"),
            "{}: {report}",
            pipeline.display()
        );
    }
}
