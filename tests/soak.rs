//! The soak test (`cargo xtask soak`; ignored in the default run): events stream
//! through the real `firehose serve` from senders that retry like Vector's `http` sink
//! (408, 429 and 5xx forever, with backoff), to a downstream that fails 10% of requests
//! with 5xx and stalls 2% past the sidecar's timeout (after taking the batch in, as a
//! slow receiver does), while the rules are hot-swapped (every fifth swap broken, to be
//! refused). Every event must be accounted for: delivered (duplicates only from retried
//! batches, counted), dropped by a rule, or dead-lettered; none lost.
//!
//! `FIREHOSE_SOAK_EVENTS` (default 1,000,000) and `FIREHOSE_SOAK_SWAPS` (default 100).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestDir, module, root};

const TOKEN: &str = "soak-admin-token-0123456789abcdef";
const BATCH: usize = 1000;
const SENDERS: usize = 4;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The downstream: counts every event it takes in, by its number.
struct Downstream {
    addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<u32>>>,
    requests: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stalled: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

fn numbers(body: &[u8]) -> Vec<u32> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("the downstream gets valid JSON");
            v["n"].as_u64().expect("every event keeps its number") as u32
        })
        .collect()
}

impl Downstream {
    fn start(stall: Duration) -> Downstream {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stalled = Arc::new(AtomicU64::new(0));
        let (r, q, f, s) = (received.clone(), requests.clone(), failed.clone(), stalled.clone());
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (r, q, f, s) = (r.clone(), q.clone(), f.clone(), s.clone());
            async move {
                let n = q.fetch_add(1, Ordering::Relaxed);
                // A fixed pattern: 10 in 100 requests fail, 2 in 100 stall.
                match n % 100 {
                    7 | 17 | 27 | 37 | 47 | 57 | 67 | 77 | 87 | 97 => {
                        f.fetch_add(1, Ordering::Relaxed);
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy\n");
                    }
                    33 | 66 => {
                        // Takes the batch in, then answers too late: the sidecar has
                        // given up and the sender retries, so these events come twice.
                        s.fetch_add(1, Ordering::Relaxed);
                        r.lock().unwrap().extend(numbers(&body));
                        tokio::time::sleep(stall).await;
                        return (axum::http::StatusCode::OK, "late\n");
                    }
                    _ => {}
                }
                r.lock().unwrap().extend(numbers(&body));
                (axum::http::StatusCode::OK, "ok\n")
            }
        });
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Downstream { addr, received, requests, failed, stalled, _runtime: runtime }
    }
}

fn pipeline(marker: usize, broken: bool) -> String {
    let mask = if broken { "missing-module.wasm" } else { "mask.wasm" };
    format!(
        "metadata: {{rules_version: true}}\nstages:\n  - name: keep\n    module: filter.wasm\n    config: {{exclude_event_type: [skip, never-{marker}]}}\n  - name: mask\n    module: {mask}\n    config: {{fields: [{{path: $.ssn, strategy: last4}}]}}\n"
    )
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The events of batch `b`: numbered, one in 20 dropped by the filter, one in 1000 malformed.
fn batch_body(b: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(BATCH * 200);
    for i in 0..BATCH {
        let n = b * BATCH + i;
        if i > 0 {
            body.push(b'\n');
        }
        if n % 1000 == 999 {
            body.extend_from_slice(format!("{{\"n\":{n},\"broken\":").as_bytes());
        } else {
            let kind = if n % 20 == 19 { "skip" } else { "source.accepted" };
            body.extend_from_slice(
                format!(
                    "{{\"n\":{n},\"event_type\":\"{kind}\",\"flow_id\":\"f{}\",\"ssn\":\"123-45-6789\",\"email\":\"lead{n}@example.com\",\"metadata\":{{\"price\":{}.5}}}}",
                    n % 7,
                    n % 100
                )
                .as_bytes(),
            );
        }
    }
    body
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
#[ignore = "a long run: `cargo xtask soak`"]
fn soak() {
    let events = env_number("FIREHOSE_SOAK_EVENTS", 1_000_000).div_ceil(BATCH) * BATCH;
    let swaps = env_number("FIREHOSE_SOAK_SWAPS", 100);
    let batches = events / BATCH;
    let stall = Duration::from_millis(2500);
    let downstream = Downstream::start(stall);

    let dir = TestDir::new();
    std::fs::copy(module("filter"), dir.path("filter.wasm")).unwrap();
    std::fs::copy(module("pii-mask"), dir.path("mask.wasm")).unwrap();
    dir.write("pipeline.yaml", &pipeline(0, false));
    let child = Command::new(env!("CARGO_BIN_EXE_firehose"))
        .current_dir(dir.dir.path())
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .env("FIREHOSE_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn,firehose=info")
        .args(["serve", "--watch", "--pipeline", "pipeline.yaml", "--listen", "127.0.0.1:0"])
        .args(["--dead-letter", "dead.ndjson", "--downstream-timeout-secs", "1"])
        .arg("--forward")
        .arg(format!("http://{}/", downstream.addr))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start firehose serve");
    let mut child = KillOnDrop(child);
    let pid = child.0.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()) {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(120)).expect("serve starts");
    let url = format!("http://{addr}/v1/events");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let rss_start = rss_kib(pid);

    let next = Arc::new(AtomicUsize::new(0));
    let sent_batches = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let retried: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(Mutex::new([0u64; 4])); // in, delivered, dropped, dead-lettered
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (agent, url, next, sent, latencies, retried, attempts, totals) = (
            agent.clone(),
            url.clone(),
            next.clone(),
            sent_batches.clone(),
            latencies.clone(),
            retried.clone(),
            attempts.clone(),
            totals.clone(),
        );
        senders.push(std::thread::spawn(move || {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return;
                }
                let body = batch_body(b);
                let mut backoff = Duration::from_millis(20);
                let mut tries = 0;
                loop {
                    tries += 1;
                    attempts.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    let answer = agent.post(&url).header("content-type", "application/x-ndjson").send(&body[..]);
                    latencies.lock().unwrap().push(t.elapsed());
                    let status = match answer {
                        Ok(mut response) => {
                            let status = response.status().as_u16();
                            let text = response.body_mut().read_to_string().unwrap_or_default();
                            if status == 200 {
                                let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
                                let mut t = totals.lock().unwrap();
                                for (slot, key) in
                                    ["events_in", "delivered", "dropped", "dead_lettered"].iter().enumerate()
                                {
                                    t[slot] += summary[key].as_u64().unwrap();
                                }
                            }
                            status
                        }
                        Err(_) => 0,
                    };
                    // Vector's http sink: retry 408, 429 and 5xx (not 501) and transport errors.
                    let retry = status == 0 || status == 408 || status == 429 || (status >= 500 && status != 501);
                    if !retry {
                        assert_eq!(status, 200, "batch {b} not accepted");
                        break;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                for _ in 1..tries {
                    retried.lock().unwrap().push(b);
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // Swaps, spread over the run; every fifth is broken and must be refused.
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for swap in 1..=swaps {
        let due = batches * swap / (swaps + 1);
        while sent_batches.load(Ordering::Relaxed) < due && senders.iter().any(|s| !s.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let broken = swap % 5 == 0;
        let tmp = dir.write("pipeline.yaml.tmp", &pipeline(swap, broken));
        std::fs::rename(tmp, dir.path("pipeline.yaml")).unwrap();
        let mut response = agent
            .post(format!("http://{addr}/admin/reload"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send(&[][..])
            .expect("reload answered");
        let answer: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        let outcome = answer["outcome"].as_str().unwrap_or("error").to_string();
        if broken {
            assert_eq!(outcome, "refused", "a broken version must be refused: {answer}");
        } else {
            assert_ne!(outcome, "refused", "a good version must not be refused: {answer}");
        }
        *outcomes.entry(outcome).or_default() += 1;
    }
    for sender in senders {
        sender.join().expect("a sender failed");
    }
    let elapsed = started.elapsed();
    let rss_end = rss_kib(pid);
    let metrics = agent.get(format!("http://{addr}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    let swaps_done =
        metrics.lines().find(|l| l.starts_with("firehose_swaps_total") || l.contains("swaps")).map(String::from);

    // Accounting.
    let received = downstream.received.lock().unwrap().clone();
    let mut count = vec![0u8; events];
    for &n in &received {
        count[n as usize] = count[n as usize].saturating_add(1);
    }
    let dropped_expected = (0..events).filter(|n| n % 20 == 19 && n % 1000 != 999).count();
    let malformed_expected = events / 1000;
    let should_arrive = |n: usize| n % 20 != 19 && n % 1000 != 999;
    let lost: Vec<usize> = (0..events).filter(|&n| should_arrive(n) && count[n] == 0).collect();
    let unexpected: Vec<usize> = (0..events).filter(|&n| !should_arrive(n) && count[n] > 0).collect();
    let delivered = count.iter().filter(|&&c| c > 0).count();
    let duplicated: usize = count.iter().map(|&c| c.saturating_sub(1) as usize).sum();
    let retried = retried.lock().unwrap().clone();
    let retried_batches: std::collections::HashSet<usize> = retried.iter().copied().collect();
    let retried_events: std::collections::HashSet<usize> =
        retried.iter().flat_map(|b| b * BATCH..(b + 1) * BATCH).collect();
    let duplicates_outside_retries = (0..events).filter(|&n| count[n] > 1 && !retried_events.contains(&n)).count();
    let dead_letters = std::fs::read_to_string(dir.path("dead.ndjson")).unwrap_or_default().lines().count();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let totals = *totals.lock().unwrap();

    println!("\n== soak report");
    println!("events sent:            {events} in {batches} batches of {BATCH}, {SENDERS} senders");
    println!("requests (attempts):    {}", attempts.load(Ordering::Relaxed));
    println!("batches retried:        {} ({} retries)", retried_batches.len(), retried.len());
    println!(
        "downstream requests:    {} ({} failed with 503, {} stalled {} ms past the 1 s timeout)",
        downstream.requests.load(Ordering::Relaxed),
        downstream.failed.load(Ordering::Relaxed),
        downstream.stalled.load(Ordering::Relaxed),
        stall.as_millis()
    );
    println!("delivered (distinct):   {delivered}");
    println!("duplicated:             {duplicated} (all in retried batches: {})", duplicates_outside_retries == 0);
    println!("dropped by the filter:  {dropped_expected}");
    println!(
        "dead-lettered:          {dead_letters} lines (malformed sent: {malformed_expected}; a batch's dead letters are stored before it is forwarded, so each retry stores them again)"
    );
    println!("lost:                   {}", lost.len());
    println!(
        "sidecar summaries (2xx): in {} delivered {} dropped {} dead-lettered {}",
        totals[0], totals[1], totals[2], totals[3]
    );
    println!("hot swaps:              {swaps} asked: {outcomes:?}; metrics: {}", swaps_done.unwrap_or_default());
    println!("RSS:                    start {} MiB, end {} MiB", rss_start / 1024, rss_end / 1024);
    println!(
        "request latency:        p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "elapsed:                {:.1} s ({:.0} events/s)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );

    assert!(lost.is_empty(), "{} events lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(10)]);
    assert!(
        unexpected.is_empty(),
        "dropped or malformed events arrived: {:?}",
        &unexpected[..unexpected.len().min(10)]
    );
    assert_eq!(duplicates_outside_retries, 0, "duplicates outside retried batches");
    // Each batch holds one malformed event; each retry may store it again.
    assert!(
        (malformed_expected..=malformed_expected + retried.len()).contains(&dead_letters),
        "every malformed event is dead-lettered, again only on a retry: {dead_letters}"
    );
    assert_eq!(totals[0] as usize, events, "the 2xx summaries account for every event once");
    assert_eq!(totals[2] as usize, dropped_expected);
    assert!(outcomes.get("refused").copied().unwrap_or(0) == swaps / 5);
}
