//! `firehose serve`, spoken to exactly as Vector's `http` sink does (NDJSON without a
//! trailing newline, gzip and zstd bodies, JSON-array framing, retries on 503), with
//! a real local HTTP receiver standing in for Vector's `http_server` source.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestDir, module, root};
use serde_json::{Value, json};

/// One request the receiver accepted.
struct Received {
    content_type: String,
    encoding: Option<String>,
    partition: Option<String>,
    body: Vec<u8>,
}

/// What the receiver answers and what it got.
#[derive(Default)]
struct Script {
    status: u16,
    delay: Duration,
    /// Answer with `status` only from this request on (counted from 1); 200 before.
    fail_from: usize,
    requests: usize,
    batches: Vec<Received>,
}

/// A stand-in for Vector's `http_server` source.
struct Receiver {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start_on(addr: SocketAddr) -> Receiver {
        let script = Arc::new(Mutex::new(Script { status: 200, ..Script::default() }));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        let shared = script.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let (status, delay) = {
                    let mut s = shared.lock().unwrap();
                    s.requests += 1;
                    (if s.requests >= s.fail_from { s.status } else { 200 }, s.delay)
                };
                tokio::time::sleep(delay).await;
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
                if (200..300).contains(&status) {
                    shared.lock().unwrap().batches.push(Received {
                        content_type: header("content-type").unwrap_or_default(),
                        encoding: header("content-encoding"),
                        partition: header("x-firehose-partition"),
                        body: body.to_vec(),
                    });
                }
                (axum::http::StatusCode::from_u16(status).unwrap(), "receiver says no\n")
            }
        });
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, script, _runtime: runtime }
    }

    fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap())
    }

    fn answer(&self, status: u16, delay: Duration) {
        let mut s = self.script.lock().unwrap();
        s.status = status;
        s.delay = delay;
        s.fail_from = 0;
    }

    /// Accepts the next `n` requests, then answers `status`.
    fn answer_after(&self, n: usize, status: u16) {
        let mut s = self.script.lock().unwrap();
        s.status = status;
        s.fail_from = s.requests + n + 1;
    }

    /// What `http_server` with `decoding.codec: bytes` and `headers: [X-Firehose-Partition]`
    /// makes of the requests: one event per line, carrying the request's header value.
    fn bytes_events(&self) -> Vec<(Option<String>, Value)> {
        let s = self.script.lock().unwrap();
        let mut events = Vec::new();
        for received in &s.batches {
            assert_eq!(received.encoding, None, "no compression on the loopback hop");
            let text = std::str::from_utf8(&received.body).unwrap();
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                events.push((received.partition.clone(), serde_json::from_str(line).unwrap()));
            }
        }
        events
    }

    /// Every event received, in order, decoded.
    fn events(&self) -> Vec<Value> {
        let s = self.script.lock().unwrap();
        let mut events = Vec::new();
        for Received { content_type, encoding, body, .. } in &s.batches {
            assert_eq!(content_type, "application/x-ndjson");
            let text = match encoding.as_deref() {
                Some("gzip") => {
                    let mut out = String::new();
                    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut out).unwrap();
                    out
                }
                _ => String::from_utf8(body.clone()).unwrap(),
            };
            events.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
        }
        events
    }
}

/// A running `firehose serve`.
struct Sidecar {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
    dir: TestDir,
}

const PIPELINE: &str = r#"
stages:
  - name: keep
    module: '{filter}'
    config: {exclude_event_type: [skip]}
  - name: mask
    module: '{pii-mask}'
    config: {fields: [{path: $.ssn, strategy: last4}]}
"#;

impl Sidecar {
    fn start(forward: SocketAddr, extra: &[&str]) -> Sidecar {
        let dir = TestDir::new();
        dir.pipeline(PIPELINE);
        Sidecar::start_in(dir, forward, extra)
    }

    fn start_in(dir: TestDir, forward: SocketAddr, extra: &[&str]) -> Sidecar {
        module("filter");
        let mut child = Command::new(env!("CARGO_BIN_EXE_firehose"))
            .current_dir(dir.dir.path())
            .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
            .env("RUST_LOG", "info")
            .args(["serve", "--pipeline", "pipeline.yaml", "--listen", "127.0.0.1:0"])
            .args(if extra.contains(&"--dead-letter") { &[][..] } else { &["--dead-letter", "dead.ndjson"][..] })
            .arg("--forward")
            .arg(format!("http://{forward}/"))
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start firehose serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()) {
                    let _ = tx.send(addr.to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve did not start: {}", log.lock().unwrap()));
        Sidecar { child, addr, log, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn dead_letters(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path("dead.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// POSTs like Vector's http sink; returns (status, parsed body).
fn post(url: &str, body: &[u8], encoding: Option<&str>) -> (u16, Value) {
    post_as(url, "application/x-ndjson", body, encoding)
}

/// POSTs with a content type of one's choice (`text/plain`: the `text` codec).
fn post_as(url: &str, content_type: &str, body: &[u8], encoding: Option<&str>) -> (u16, Value) {
    let mut request = agent().post(url).header("content-type", content_type);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let mut response = request.send(body).expect("request sent");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn get(url: &str) -> (u16, String) {
    let mut response = agent().get(url).call().expect("request sent");
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
}

fn ndjson(events: &[Value]) -> Vec<u8> {
    // Vector's newline_delimited framing: no trailing newline.
    events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n").into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn leads(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"n": i, "event_type": if i % 4 == 3 { "skip" } else { "source.accepted" }, "ssn": "123-45-6789"})).collect()
}

#[test]
fn processes_ndjson_and_forwards_only_after_the_downstream_accepts() {
    let receiver = Receiver::start();
    let sidecar = Sidecar::start(receiver.addr, &[]);
    receiver.answer(200, Duration::from_millis(400));
    let started = Instant::now();
    let (status, summary) = post(&sidecar.url("/v1/events"), &ndjson(&leads(8)), None);
    assert_eq!(status, 200, "{summary}");
    assert!(started.elapsed() >= Duration::from_millis(400), "answered before the downstream did");
    assert_eq!(summary["events_in"], 8);
    assert_eq!(summary["delivered"], 6);
    assert_eq!(summary["dropped"], 2);
    let got = receiver.events();
    assert_eq!(got.iter().map(|e| e["n"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 4, 5, 6]);
    assert!(
        got.iter()
            .all(|e| e["ssn"] == "***-**-6789" && e["firehose_metadata"]["rules_version"] == summary["rules_version"])
    );
}

#[test]
fn reads_gzip_zstd_and_json_array_bodies_and_forwards_gzip() {
    let receiver = Receiver::start();
    let sidecar = Sidecar::start(receiver.addr, &["--forward-gzip"]);
    let body = ndjson(&leads(3));
    assert_eq!(post(&sidecar.url("/"), &gzip(&body), Some("gzip")).0, 200);
    assert_eq!(post(&sidecar.url("/"), &zstd::encode_all(&body[..], 3).unwrap(), Some("zstd")).0, 200);
    let array = serde_json::to_vec(&leads(3)).unwrap();
    assert_eq!(post(&sidecar.url("/"), &array, None).0, 200);
    let mut with_newline = body.clone();
    with_newline.push(b'\n');
    assert_eq!(post(&sidecar.url("/"), &with_newline, None).0, 200);
    let got = receiver.events();
    assert_eq!(got.len(), 4 * 3);
    assert!(receiver.script.lock().unwrap().batches.iter().all(|b| b.encoding.as_deref() == Some("gzip")));
}

#[test]
fn a_down_or_slow_downstream_gets_503_and_nothing_is_lost_when_the_sender_retries() {
    // Reserve a port, then leave it closed: the downstream is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let sidecar = Sidecar::start(port, &["--downstream-timeout-secs", "1"]);
    let body = ndjson(&leads(5));
    let (status, answer) = post(&sidecar.url("/"), &body, None);
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("unreachable"), "{answer}");
    assert!(sidecar.dead_letters().is_empty(), "a retried batch must not be dead-lettered");

    let receiver = Receiver::start_on(port);
    receiver.answer(200, Duration::from_secs(3));
    let (status, answer) = post(&sidecar.url("/"), &body, None);
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("did not answer within"), "{answer}");

    receiver.answer(200, Duration::ZERO);
    // Vector retries until it gets a 2xx; then the downstream has each event.
    let mut attempts = 0;
    loop {
        attempts += 1;
        if post(&sidecar.url("/"), &body, None).0 == 200 {
            break;
        }
        assert!(attempts < 20);
    }
    std::thread::sleep(Duration::from_millis(3500)); // let the slow answer's batch land too
    let received: Vec<u64> = receiver.events().iter().map(|e| e["n"].as_u64().unwrap()).collect();
    for n in [0, 1, 2, 4] {
        assert!(received.contains(&n), "event {n} lost: {received:?}");
    }
}

#[test]
fn a_downstream_4xx_dead_letters_the_batch_and_answers_non_retriable() {
    let receiver = Receiver::start();
    receiver.answer(400, Duration::ZERO);
    let sidecar = Sidecar::start(receiver.addr, &[]);
    let (status, answer) = post(&sidecar.url("/"), &ndjson(&leads(4)), None);
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("refused the batch with 400"), "{answer}");
    let dead = sidecar.dead_letters();
    assert_eq!(dead.len(), 3);
    let lines: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
    let kept: Vec<u64> = (1..=4).filter(|n| leads(4)[*n as usize - 1]["event_type"] != "skip").collect();
    assert_eq!(lines, kept, "dead letters name each event's line in the body");
    for letter in &dead {
        assert_eq!(letter["stage"], "downstream");
        assert!(letter["reason"].as_str().unwrap().contains("receiver says no"), "{letter}");
        let event: Value = serde_json::from_str(letter["raw"].as_str().unwrap()).unwrap();
        assert_eq!(event["ssn"], "***-**-6789", "dead letters of processed events are the processed events");
    }
}

#[test]
fn when_dead_letters_cannot_be_stored_nothing_is_forwarded_so_a_retry_duplicates_nothing() {
    let receiver = Receiver::start();
    let dead_letter_store = Receiver::start();
    dead_letter_store.answer(500, Duration::ZERO);
    let store = format!("http://{}/", dead_letter_store.addr);
    let sidecar = Sidecar::start(receiver.addr, &["--dead-letter", &store]);
    let body = b"{\"n\": 1, \"event_type\": \"a\"}\n{oops";
    for _ in 0..3 {
        let (status, answer) = post(&sidecar.url("/"), body, None);
        assert_eq!(status, 503, "{answer}");
    }
    assert!(receiver.events().is_empty(), "a batch whose dead letters failed must not be delivered");
    dead_letter_store.answer(200, Duration::ZERO);
    let (status, answer) = post(&sidecar.url("/"), body, None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(receiver.events().len(), 1, "delivered once, on the retry that succeeded");
}

#[test]
fn a_pretty_printed_json_array_body_is_forwarded_as_one_line_per_event() {
    let receiver = Receiver::start();
    let sidecar = Sidecar::start(receiver.addr, &[]);
    let body = serde_json::to_vec_pretty(&leads(4)).unwrap();
    let (status, summary) = post(&sidecar.url("/"), &body, None);
    assert_eq!(status, 200, "{summary}");
    assert_eq!(receiver.events().len() as u64, summary["delivered"].as_u64().unwrap());
}

#[test]
fn malformed_lines_are_dead_lettered_and_the_rest_processed() {
    let receiver = Receiver::start();
    let sidecar = Sidecar::start(receiver.addr, &[]);
    let body = b"{\"n\": 0, \"event_type\": \"a\"}\n{oops\n{\"n\": 2, \"event_type\": \"a\"}\n[\"not an object\"]";
    let (status, summary) = post(&sidecar.url("/"), body, None);
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (summary["events_in"].as_u64(), summary["delivered"].as_u64(), summary["dead_lettered"].as_u64()),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(receiver.events().len(), 2);
    let dead = sidecar.dead_letters();
    assert_eq!(dead.iter().map(|d| d["line"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 4]);
    assert_eq!(dead[0]["raw"], "{oops");
    assert_eq!(common::mode(&sidecar.dir.path("dead.ndjson")), 0o600, "records as they came: owner only");
}

/// A module whose answer breaks the contract (text that is not JSON, a verdict count
/// that does not match) costs the sidecar only those events: they are dead-lettered
/// with the stage and the reason, the others delivered, and the sender gets 200 with
/// every event accounted for (the runner's checks, reached through a real request).
#[test]
fn answers_that_break_the_contract_dead_letter_only_their_events() {
    let receiver = Receiver::start();
    let dir = TestDir::new();
    dir.pipeline("limits: {timeout_ms: 2000}\nstages:\n  - name: risky\n    module: '{misbehave}'\n");
    let sidecar = Sidecar::start_in(dir, receiver.addr, &[]);
    let acts = ["ok", "bad-json", "bad-verdicts", "ok"];
    let events: Vec<Value> = acts.iter().enumerate().map(|(n, act)| json!({"n": n, "act": act})).collect();
    let (status, summary) = post(&sidecar.url("/v1/events"), &ndjson(&events), None);
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (summary["events_in"].as_u64(), summary["delivered"].as_u64(), summary["dead_lettered"].as_u64()),
        (Some(4), Some(2), Some(2)),
        "{summary}"
    );
    let delivered: Vec<u64> = receiver.events().iter().map(|e| e["n"].as_u64().unwrap()).collect();
    assert_eq!(delivered, vec![0, 3]);
    let dead = sidecar.dead_letters();
    assert_eq!(dead.len(), 2, "{dead:?}");
    for letter in &dead {
        assert_eq!(letter["stage"], "risky", "{letter}");
    }
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap_or_default()).collect();
    assert!(reasons.iter().any(|r| r.contains("invalid event")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("verdicts for")), "{reasons:?}");
}

#[test]
fn unreadable_bodies_and_limits_are_refused_clearly() {
    let receiver = Receiver::start();
    receiver.answer(200, Duration::from_millis(1500));
    let sidecar = Sidecar::start(receiver.addr, &["--max-body-bytes", "2000", "--max-in-flight", "1"]);
    let (status, answer) = post(&sidecar.url("/"), b"definitely not gzip", Some("gzip"));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("cannot be decoded"), "{answer}");
    assert_eq!(post(&sidecar.url("/"), b"{}", Some("br")).0, 415);
    let (status, answer) = post(&sidecar.url("/"), &ndjson(&leads(100)), None);
    assert_eq!(status, 413, "{answer}");

    // One batch in flight (the receiver is slow); a second one is turned away at once.
    let url = sidecar.url("/");
    let first = std::thread::spawn(move || post(&url, &ndjson(&leads(2)), None).0);
    std::thread::sleep(Duration::from_millis(400));
    let started = Instant::now();
    let (status, answer) = post(&sidecar.url("/"), &ndjson(&leads(2)), None);
    assert_eq!(status, 503, "{answer}");
    assert!(started.elapsed() < Duration::from_millis(1000), "backpressure answers at once");
    assert_eq!(first.join().unwrap(), 200);
}

#[test]
fn health_readiness_metrics_and_reload_by_admin_endpoint() {
    let receiver = Receiver::start();
    let sidecar = Sidecar::start(receiver.addr, &["--watch"]);
    assert_eq!(get(&sidecar.url("/health")), (200, "ok\n".into()));
    let (status, ready) = get(&sidecar.url("/ready"));
    assert_eq!(status, 200);
    assert!(ready.contains("rules version"));
    assert_eq!(post(&sidecar.url("/"), &ndjson(&leads(4)), None).0, 200);

    // Change the rules and ask for a reload.
    let changed = PIPELINE.replace("exclude_event_type: [skip]", "exclude_event_type: [skip, source.accepted]");
    sidecar.dir.pipeline(&changed);
    let mut response = agent().post(&sidecar.url("/admin/reload")).send_empty().unwrap();
    let outcome: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert!(outcome["outcome"] == "published" || outcome["outcome"] == "unchanged", "{outcome}");
    let (status, summary) = post(&sidecar.url("/"), &ndjson(&leads(4)), None);
    assert_eq!((status, summary["delivered"].as_u64()), (200, Some(0)), "{summary}");

    let (status, metrics) = get(&sidecar.url("/metrics"));
    assert_eq!(status, 200);
    for needle in [
        "firehose_events_total{outcome=\"in\"} 8",
        "firehose_events_total{outcome=\"delivered\"} 3",
        "firehose_events_total{outcome=\"dropped\"} 5",
        "firehose_requests_total{status=\"200\"} 2",
        "firehose_stage_seconds_count{stage=\"mask\"}",
        "firehose_batch_events_count 2",
        "firehose_downstream_seconds_count 1",
        "firehose_swaps{outcome=\"done\"} 1",
        "firehose_swaps{outcome=\"refused\"} 0",
        // Batch one: 1 of 4 skipped; batch two (new rules): all 4 dropped.
        "firehose_stage_dropped_total{stage=\"keep\",module=\"filter\"} 5",
        "firehose_batch_seconds_count 2",
    ] {
        assert!(metrics.contains(needle), "missing `{needle}` in:\n{metrics}");
    }
    let (_, ready) = get(&sidecar.url("/ready"));
    let version = ready.trim().rsplit(' ').next().unwrap();
    let info = format!("firehose_rules_version_info{{version=\"{version}\"}} 1");
    assert!(metrics.contains(&info), "missing `{info}` in:\n{metrics}");
    assert_eq!(metrics.matches("firehose_rules_version_info{").count(), 1, "only the version in service");
}

#[test]
fn shutdown_finishes_the_batches_in_flight() {
    let receiver = Receiver::start();
    receiver.answer(200, Duration::from_millis(1500));
    let mut sidecar = Sidecar::start(receiver.addr, &[]);
    let url = sidecar.url("/");
    let in_flight = std::thread::spawn(move || post(&url, &ndjson(&leads(3)), None).0);
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").args(["-TERM", &sidecar.child.id().to_string()]).status().unwrap();
    assert_eq!(in_flight.join().unwrap(), 200, "the batch in flight is finished");
    let status = sidecar.child.wait().unwrap();
    assert!(status.success(), "{}", sidecar.log.lock().unwrap());
    assert_eq!(receiver.events().len(), 3);
}

#[test]
fn bytes_mode_sends_each_partition_in_its_own_request_with_the_header_http_server_turns_into_a_field() {
    let receiver = Receiver::start();
    let dir = TestDir::new();
    dir.pipeline(&format!("{PIPELINE}serve:\n  partition: 'flow={{{{flow_id}}}}/day={{{{day}}}}'\n"));
    let sidecar = Sidecar::start_in(dir, receiver.addr, &[]);
    let flows = ["a", "b", "Zoë"];
    let mut events: Vec<Value> = (0..12)
        .map(|i| json!({"n": i, "event_type": "source.accepted", "flow_id": flows[i % 3], "timestamp": "2024-01-15T14:00:00Z"}))
        .collect();
    events.push(json!({"n": 12, "event_type": "source.accepted", "timestamp": "2024-01-15T14:00:00Z"}));
    // As Vector's http sink sends events with `encoding.codec: text`: every line ends in
    // a newline, and the content type is text/plain.
    let mut body = ndjson(&events);
    body.push(b'\n');
    let (status, summary) = post_as(&sidecar.url("/v1/events"), "text/plain", &body, None);
    assert_eq!(status, 200, "{summary}");
    assert_eq!((summary["delivered"].as_u64(), summary["dead_lettered"].as_u64()), (Some(12), Some(1)));
    let received = receiver.bytes_events();
    assert_eq!(received.len(), 12);
    assert_eq!(receiver.script.lock().unwrap().batches.len(), 3, "one request per partition");
    for (partition, event) in &received {
        let flow = event["flow_id"].as_str().unwrap();
        let expected = if flow == "Zoë" { "flow=Zo%C3%AB/day=15".to_string() } else { format!("flow={flow}/day=15") };
        assert_eq!(partition.as_deref(), Some(expected.as_str()), "{event}");
    }
    let dead = sidecar.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["line"], 13);
    assert!(dead[0]["reason"].as_str().unwrap().contains("no partition"), "{}", dead[0]);

    // A partition the downstream cannot take now: the sender retries the whole batch; the
    // partitions delivered before it are counted as delivered twice.
    receiver.script.lock().unwrap().batches.clear();
    receiver.answer_after(1, 503);
    let (status, _) = post_as(&sidecar.url("/v1/events"), "text/plain", &body, None);
    assert_eq!(status, 503);
    let (_, metrics) = get(&sidecar.url("/metrics"));
    let redelivered = metrics.lines().find(|l| l.starts_with("firehose_delivered_before_retry_total")).unwrap();
    assert!(redelivered.ends_with(" 4"), "{redelivered}");
}

#[test]
fn a_shadow_candidate_is_compared_never_delivered_then_promoted_and_explain_answers() {
    let receiver = Receiver::start();
    let dir = TestDir::new();
    dir.pipeline(PIPELINE);
    // The candidate also drops `source.accepted`, and no longer masks the SSN.
    let candidate = PIPELINE
        .replace("exclude_event_type: [skip]", "exclude_event_type: [skip, other]")
        .replace("fields: [{path: $.ssn, strategy: last4}]", "fields: [{path: $.nothing, strategy: last4}]");
    let candidate = candidate.replace("'{filter}'", &format!("'{}'", module("filter").display()));
    let candidate = candidate.replace("'{pii-mask}'", &format!("'{}'", module("pii-mask").display()));
    dir.write("candidate.yaml", &candidate);
    let sidecar = Sidecar::start_in(dir, receiver.addr, &["--shadow", "candidate.yaml", "--shadow-report-secs", "1"]);

    let events: Vec<Value> = (0..6)
        .map(|i| json!({"n": i, "event_type": if i < 2 { "other" } else { "source.accepted" }, "ssn": "123-45-6789"}))
        .collect();
    let (status, summary) = post(&sidecar.url("/"), &ndjson(&events), None);
    assert_eq!((status, summary["delivered"].as_u64()), (200, Some(6)), "{summary}");
    // Only the live version's output was forwarded: every SSN masked.
    let forwarded = receiver.events();
    assert_eq!(forwarded.len(), 6);
    assert!(forwarded.iter().all(|e| e["ssn"] == "***-**-6789"), "{forwarded:?}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let (status, text) = get(&sidecar.url("/admin/shadow"));
        assert_eq!(status, 200, "{text}");
        let report: Value = serde_json::from_str(&text).unwrap();
        if report["batches"] == 1 || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(report["events"], 6, "{report}");
    assert_eq!(report["verdict_changes"], json!({"kept→dropped": 2}), "{report}");
    assert_eq!(report["events_differing"], 4, "{report}");
    assert_eq!(report["top_paths"], json!([["$.ssn", 4]]), "{report}");
    assert!(!report.to_string().contains("123-45-6789"), "values never leave in a report: {report}");
    let (_, metrics) = get(&sidecar.url("/metrics"));
    for needle in [
        "firehose_shadow_events_total 6",
        "firehose_shadow_verdict_changes_total{change=\"kept_to_dropped\"} 2",
        "firehose_shadow_path_differences_total{path=\"$.ssn\"} 4",
        "firehose_shadow_active 1",
    ] {
        assert!(metrics.contains(needle), "missing `{needle}` in:\n{metrics}");
    }

    // Explain, on the live version: the SSN is masked, its old value not shown.
    let (status, explained) =
        post_as(&sidecar.url("/admin/explain"), "application/json", br#"{"event_type":"x","ssn":"123-45-6789"}"#, None);
    assert_eq!(status, 200, "{explained}");
    assert_eq!(explained["verdict"]["outcome"], "delivered", "{explained}");
    assert_eq!(explained["stages"][1]["edits"][0]["path"], "$.ssn", "{explained}");
    assert_eq!(explained["stages"][1]["edits"][0]["new"], "\"***-**-6789\"", "{explained}");
    assert!(!explained.to_string().contains("123-45-6789"), "{explained}");

    // Promote: the candidate serves the next batch; shadowing stops.
    let (status, promoted) = post(&sidecar.url("/admin/promote"), b"", None);
    assert_eq!((status, promoted["outcome"].as_str()), (200, Some("promoted")), "{promoted}");
    let (status, summary) = post(&sidecar.url("/"), &ndjson(&events), None);
    assert_eq!(
        (status, summary["delivered"].as_u64(), summary["dropped"].as_u64()),
        (200, Some(4), Some(2)),
        "{summary}"
    );
    assert_eq!(summary["rules_version"], promoted["version"], "{summary}");
    let (_, text) = get(&sidecar.url("/admin/shadow"));
    assert!(text.contains("\"active\":false"), "{text}");
    let (status, again) = post(&sidecar.url("/admin/promote"), b"", None);
    assert_eq!(status, 409, "{again}");
}
