//! What operators get beside the binary (`deploy/`): the Prometheus alert rules (tested
//! with `promtool test rules` on synthetic series when promtool is on PATH), the Grafana
//! dashboard (checked structurally), and the Kubernetes manifests (checked structurally
//! here, and against Kubernetes' own schemas with `kubernetes-validate` when it is on
//! PATH). Every `firehose_*` series the alerts and the dashboard read must be one the
//! host exports, and the fleet's pipeline in the ConfigMap must load and pass its own
//! tests with the real modules.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use common::{TestDir, module, root};
use firehose::metrics::Metrics;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

fn deploy(path: &str) -> PathBuf {
    root().join("deploy").join(path)
}

/// Whether `tool` runs; prints why the test is skipped if not.
fn have(tool: &str, how: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: `{tool}` is not on PATH ({how})");
    }
    found
}

// ---- the series the host exports ------------------------------------------------------

/// Every series name a front door's `/metrics` can show, from the registry itself after
/// one of everything happened (a family shows only once it has a member): counters as
/// `NAME_total`, histograms as `NAME_bucket`, `_sum` and `_count`, gauges as `NAME`.
fn exported_series() -> BTreeSet<String> {
    let pipeline = common::load(
        "metadata: {rules_version: false}\nstages:\n  - name: keep\n    module: '{filter}'\n    config: {exclude_event_type: [skip]}\n  - name: risky\n    module: '{misbehave}'\n",
    );
    let live = firehose::reload::Live::new(pipeline);
    let metrics = std::sync::Arc::new(Metrics::new());
    let mut pass = firehose::pass::LivePass::new(&live).with_metrics(metrics.clone());
    let mut intake = firehose::intake::Intake::default();
    let events = [r#"{"event_type":"skip"}"#, r#"{"act":"reject"}"#, r#"{"act":"panic","timestamp":1}"#, "not json"];
    for (line, event) in events.iter().enumerate() {
        intake.add(line as u64 + 1, event.as_bytes());
    }
    let passed = pass.run(intake);
    metrics.events(&passed.counts());
    metrics.downstream(0.1, Some("timeout"));
    metrics.request(200);
    metrics.delivered_before_retry(1);
    let text = metrics.render_live(&live);
    let mut names = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').unwrap();
        match kind {
            "counter" => names.insert(format!("{name}_total")),
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
                true
            }
            _ => names.insert(name.to_string()),
        };
    }
    names
}

/// The `firehose_*` series an expression reads.
fn series_in(expr: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("firehose_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        found.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    found
}

#[test]
fn the_exported_series_are_the_ones_operators_are_told_about() {
    let names = exported_series();
    for expected in [
        "firehose_events_total",
        "firehose_batch_events_bucket",
        "firehose_batch_seconds_bucket",
        "firehose_stage_seconds_bucket",
        "firehose_stage_dropped_total",
        "firehose_dead_letters_total",
        "firehose_module_failures_total",
        "firehose_swaps",
        "firehose_rules_version_info",
        "firehose_event_lag_seconds_bucket",
        "firehose_downstream_errors_total",
    ] {
        assert!(names.contains(expected), "{expected} is not exported; exported: {names:?}");
    }
}

// ---- alerts ---------------------------------------------------------------------------

fn alert_rules() -> Vec<Yaml> {
    let text = std::fs::read_to_string(deploy("prometheus/firehose-alerts.yaml")).unwrap();
    let file: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    file["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap().clone()).collect()
}

#[test]
fn every_promise_has_an_alert_with_a_runbook_reading_exported_series() {
    let rules = alert_rules();
    let names: BTreeSet<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    for promise in [
        "FirehoseDeliveryFailures",
        "FirehoseDeliveryLatency",
        "FirehoseNoEvents",
        "FirehoseRejectionRate",
        "FirehoseRulesVersionRefused",
        "FirehoseModuleLimit",
        "FirehoseDeadLetterRate",
    ] {
        assert!(names.contains(promise), "no alert {promise}");
    }
    let exported = exported_series();
    for rule in &rules {
        let name = rule["alert"].as_str().unwrap();
        let runbook = rule["annotations"]["runbook"].as_str().unwrap_or_default();
        assert!(runbook.len() > 40, "{name}: a runbook line says what to check and do");
        assert!(rule["annotations"]["summary"].is_string(), "{name}: a summary");
        assert!(rule["labels"]["severity"].is_string(), "{name}: a severity");
        for series in series_in(rule["expr"].as_str().unwrap()) {
            assert!(exported.contains(&series), "{name} reads {series}, which Firehose does not export");
        }
    }
}

#[test]
fn the_alert_rules_pass_their_promtool_tests() {
    if !have("promtool", "Debian: apt-get install prometheus; .ci/run installs it") {
        return;
    }
    let dir = deploy("prometheus");
    let check = Command::new("promtool").current_dir(&dir).args(["check", "rules", "firehose-alerts.yaml"]).output();
    let check = check.unwrap();
    assert!(check.status.success(), "promtool check rules: {}", String::from_utf8_lossy(&check.stdout));
    let test = Command::new("promtool").current_dir(&dir).args(["test", "rules", "firehose-alerts.test.yaml"]).output();
    let test = test.unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    assert!(test.status.success() && said.contains("SUCCESS"), "promtool test rules:\n{said}");

    // The tests can fail: an alert that does not fire where expected is reported.
    let broken = TestDir::new();
    let rules = std::fs::read_to_string(dir.join("firehose-alerts.yaml")).unwrap();
    std::fs::write(broken.path("firehose-alerts.yaml"), rules.replace("> 0.4", "> 0.5")).unwrap();
    std::fs::copy(dir.join("firehose-alerts.test.yaml"), broken.path("firehose-alerts.test.yaml")).unwrap();
    let test = Command::new("promtool")
        .current_dir(broken.dir.path())
        .args(["test", "rules", "firehose-alerts.test.yaml"])
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    assert!(!test.status.success() && said.contains("FirehoseRejectionRate"), "{said}");
}

// ---- dashboard ------------------------------------------------------------------------

#[test]
fn the_dashboard_is_well_formed_and_reads_exported_series() {
    let text = std::fs::read_to_string(deploy("grafana/firehose-dashboard.json")).unwrap();
    let dashboard: Json = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let variables: BTreeSet<&str> =
        dashboard["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert!(variables.contains("datasource") && variables.contains("job"), "{variables:?}");

    let panels = dashboard["panels"].as_array().unwrap();
    let exported = exported_series();
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut read = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{title}: panel ids are unique");
        assert!(panel["type"].is_string() && panel["datasource"]["uid"] == "${datasource}", "{title}");
        let grid = &panel["gridPos"];
        let (x, y, w, h) = (
            grid["x"].as_u64().unwrap(),
            grid["y"].as_u64().unwrap(),
            grid["w"].as_u64().unwrap(),
            grid["h"].as_u64().unwrap(),
        );
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: fits Grafana's 24 columns");
        for cx in x..x + w {
            for cy in y..y + h {
                let id = panel["id"].as_u64().unwrap();
                assert!(cells.insert((cx, cy), id).is_none(), "{title} overlaps another panel at ({cx}, {cy})");
            }
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: a panel shows something");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(refs.insert(target["refId"].as_str().unwrap()), "{title}: refIds are unique");
            let expr = target["expr"].as_str().unwrap();
            for series in series_in(expr) {
                assert!(exported.contains(&series), "{title} reads {series}, which Firehose does not export");
                read.insert(series);
            }
        }
    }
    // The health metrics the product promises each have a panel.
    for promised in
        ["Events per second", "Delivery success rate", "Average batch size", "Delivery latency", "Error rate"]
    {
        assert!(panels.iter().any(|p| p["title"].as_str().unwrap().starts_with(promised)), "no panel {promised}");
    }
    for series in [
        "firehose_events_total",
        "firehose_batch_events_sum",
        "firehose_stage_dropped_total",
        "firehose_rules_version_info",
    ] {
        assert!(read.contains(series), "the dashboard does not show {series}");
    }
}

// ---- Kubernetes -----------------------------------------------------------------------

fn manifests() -> Vec<(PathBuf, Yaml)> {
    let mut files = Vec::new();
    let mut dirs = vec![deploy("kubernetes")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc =
                <Yaml as serde::Deserialize>::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs.push((path.clone(), doc));
        }
    }
    docs
}

fn config_map<'a>(docs: &'a [(PathBuf, Yaml)], name: &str) -> &'a Yaml {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no ConfigMap {name}"))
}

#[test]
fn the_manifests_hang_together() {
    let docs = manifests();
    let workloads: Vec<&Yaml> =
        docs.iter().map(|(_, d)| d).filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet").collect();
    let kinds: BTreeSet<&str> = workloads.iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["DaemonSet", "Deployment"]), "a Vector tier and a Fluent Bit DaemonSet");
    for (path, doc) in &docs {
        let at = path.display();
        assert!(doc["apiVersion"].is_string() && doc["kind"].is_string(), "{at}: apiVersion and kind");
        assert!(doc["metadata"]["name"].is_string(), "{at}: metadata.name");
    }
    let claims: BTreeSet<&str> = docs
        .iter()
        .filter(|(_, d)| d["kind"] == "PersistentVolumeClaim")
        .map(|(_, d)| d["metadata"]["name"].as_str().unwrap())
        .collect();
    for workload in workloads {
        let name = workload["metadata"]["name"].as_str().unwrap();
        let selector = workload["spec"]["selector"]["matchLabels"].as_mapping().unwrap();
        let labels = workload["spec"]["template"]["metadata"]["labels"].as_mapping().unwrap();
        for (k, v) in selector {
            assert_eq!(labels.get(k), Some(v), "{name}: the selector matches the pod's labels");
        }
        let spec = &workload["spec"]["template"]["spec"];
        let volumes: BTreeMap<&str, &Yaml> =
            spec["volumes"].as_sequence().unwrap().iter().map(|v| (v["name"].as_str().unwrap(), v)).collect();
        for volume in volumes.values() {
            if let Some(map) = volume["configMap"]["name"].as_str() {
                config_map(&docs, map);
            }
            if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
                assert!(claims.contains(claim), "{name}: claim {claim} is shipped");
            }
        }
        let containers = spec["containers"]
            .as_sequence()
            .unwrap()
            .iter()
            .chain(spec["initContainers"].as_sequence().into_iter().flatten());
        let mut rules_mounted = false;
        for container in containers {
            for mount in container["volumeMounts"].as_sequence().into_iter().flatten() {
                let volume = mount["name"].as_str().unwrap();
                assert!(volumes.contains_key(volume), "{name}: mount of undeclared volume {volume}");
                // A subPath mount of a ConfigMap never sees updates: no hot swap.
                assert!(mount["subPath"].is_null(), "{name}: no subPath mounts");
                if volume == "firehose-rules" {
                    rules_mounted = true;
                    assert_eq!(mount["mountPath"], "/etc/firehose", "{name}");
                    assert_eq!(mount["readOnly"], true, "{name}");
                }
            }
            let env: BTreeMap<&str, &str> = container["env"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap_or_default()))
                .collect();
            let args: Vec<&str> =
                container["args"].as_sequence().into_iter().flatten().filter_map(|a| a.as_str()).collect();
            if args.first() == Some(&"serve") && args.iter().any(|a| a.starts_with("--listen=0.0.0.0")) {
                // `firehose serve` refuses a non-loopback address without the admin token.
                assert!(
                    env.contains_key("FIREHOSE_ADMIN_TOKEN"),
                    "{name}: serve beyond loopback needs FIREHOSE_ADMIN_TOKEN"
                );
            }
            if let Some(data) = env.get("FIREHOSE_DATA_DIR") {
                let mounted = container["volumeMounts"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|m| m["mountPath"].as_str() == Some(data) && m["readOnly"].as_bool() != Some(true));
                assert!(mounted, "{name}: $FIREHOSE_DATA_DIR {data} is a writable mount");
            }
        }
        assert!(rules_mounted, "{name}: mounts the firehose-rules ConfigMap");
    }

    // The sidecar watches the ConfigMap and Fluent Bit's filter reads it too.
    let vector = docs.iter().find(|(_, d)| d["kind"] == "Deployment").unwrap();
    let args = serde_yaml_ng::to_string(&vector.1["spec"]["template"]["spec"]["containers"]).unwrap();
    assert!(args.contains("--pipeline=/etc/firehose/pipeline.yaml") && args.contains("--watch"), "{args}");
    let fluent_bit = config_map(&docs, "fluent-bit-config")["data"]["fluent-bit.yaml"].as_str().unwrap();
    let fluent_bit: Yaml = serde_yaml_ng::from_str(fluent_bit).unwrap();
    let filter = &fluent_bit["pipeline"]["filters"][0];
    assert_eq!(filter["name"], "firehose");
    assert_eq!(filter["pipeline"], "/etc/firehose/pipeline.yaml");
    assert!(filter["dead_letter"].is_null(), "dead letters go to $FIREHOSE_DATA_DIR, never the ConfigMap");
    let vector_config = config_map(&docs, "vector-config")["data"]["vector.yaml"].as_str().unwrap();
    let vector_config: Yaml = serde_yaml_ng::from_str(vector_config).unwrap();
    assert_eq!(vector_config["sinks"]["to_firehose"]["uri"], "http://127.0.0.1:8787/v1/events");
    assert_eq!(vector_config["sources"]["from_firehose"]["address"], "127.0.0.1:8788");
}

#[test]
fn the_fleets_pipeline_loads_and_passes_its_tests_with_the_real_modules() {
    let docs = manifests();
    let data = config_map(&docs, "firehose-rules")["data"].as_mapping().unwrap();
    let dir = TestDir::new();
    for (key, value) in data {
        let mut text = value.as_str().unwrap().to_string();
        if key == "pipeline.yaml" {
            for (file, built) in [
                ("firehose_filter.wasm", "filter"),
                ("firehose_enrich.wasm", "enrich"),
                ("firehose_pii_mask.wasm", "pii-mask"),
            ] {
                let from = format!("/var/lib/firehose/modules/{file}");
                assert!(text.contains(&from), "the pipeline names {from}");
                text = text.replace(&from, &module(built).display().to_string());
            }
        }
        dir.write(key.as_str().unwrap(), &text);
    }
    let pipeline = firehose::Pipeline::load(&common::engine(), &dir.path("pipeline.yaml")).unwrap();
    assert!(!pipeline.config.tests.is_empty(), "the fleet's pipeline carries tests");
    firehose::checks::check(&pipeline).unwrap_or_else(|e| panic!("the fleet's pipeline fails its tests: {e}"));
}

#[test]
fn the_manifests_pass_kubernetes_schema_validation() {
    if !have("kubernetes-validate", "PyPI: pip install kubernetes-validate; .ci/run installs it") {
        return;
    }
    let files: BTreeSet<PathBuf> = manifests().into_iter().map(|(p, _)| p).collect();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", "1.33.0"])
        .args(&files)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubernetes-validate:\n{said}");

    // It can fail: a misspelt field is reported.
    let broken = TestDir::new();
    let daemonset = std::fs::read_to_string(deploy("kubernetes/fluent-bit/fluent-bit-daemonset.yaml")).unwrap();
    let path = broken.write("daemonset.yaml", &daemonset.replace("volumeMounts:", "volumeMount:"));
    let out =
        Command::new("kubernetes-validate").args(["--strict", "--quiet", "-k", "1.33.0"]).arg(&path).output().unwrap();
    assert!(!out.status.success(), "a misspelt field must fail validation");
}

#[test]
fn the_pass_counts_module_limits_and_rejections_by_stage() {
    let pipeline = common::load(
        "metadata: {rules_version: false}\nlimits: {timeout_ms: 200, memory_mib: 32}\nstages:\n  - name: risky\n    module: '{misbehave}'\n",
    );
    let live = firehose::reload::Live::new(pipeline);
    let metrics = std::sync::Arc::new(Metrics::new());
    let mut pass = firehose::pass::LivePass::new(&live).with_metrics(metrics.clone());
    let mut intake = firehose::intake::Intake::default();
    for (line, act) in [(1, "none"), (2, "loop"), (3, "none")] {
        intake.add(line, format!(r#"{{"act":"{act}"}}"#).as_bytes());
    }
    intake.add(4, b"not json");
    let passed = pass.run(intake);
    let counts = passed.counts();
    metrics.events(&counts);
    let text = metrics.render_live(&live);
    for needle in [
        "firehose_module_failures_total{stage=\"risky\",module=\"misbehave\",reason=\"timeout\"} 1",
        // A timeout fails the whole batch call: its three events are dead-lettered.
        "firehose_dead_letters_total{stage=\"risky\",module=\"misbehave\",reason=\"rejected\"} 3",
        "firehose_dead_letters_total{stage=\"intake\",module=\"\",reason=\"unreadable\"} 1",
        "firehose_events_total{outcome=\"in\"} 4",
        "firehose_events_total{outcome=\"dead_lettered\"} 4",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    let version = format!("firehose_rules_version_info{{version=\"{}\"}} 1", live.current().id);
    assert!(text.contains(&version), "missing `{version}` in:\n{text}");
}
