//! `firehose serve` is not an open door: the admin endpoints need the bearer token,
//! a sidecar listening beyond loopback will not start without one, and bodies, URLs
//! and headers over their limits get clear 4xx answers. Real binary, real sockets.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestDir, module, root};

const TOKEN: &str = "s3cr3t-admin-token-0123456789";

const PIPELINE: &str = "stages:\n  - name: keep\n    module: '{filter}'\n    config: {exclude_event_type: [skip]}\n";

/// A running `firehose serve --watch` (its downstream is never reached here).
struct Sidecar {
    child: Child,
    port: u16,
    _dir: TestDir,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &TestDir, listen: &str, token: Option<&str>, extra: &[&str]) -> Command {
    module("filter");
    let mut command = Command::new(env!("CARGO_BIN_EXE_firehose"));
    command
        .current_dir(dir.dir.path())
        .env("FIREHOSE_CACHE_DIR", root().join("target/test-module-cache"))
        .env("RUST_LOG", "info")
        .env_remove("FIREHOSE_ADMIN_TOKEN")
        .args(["serve", "--watch", "--pipeline", "pipeline.yaml", "--listen", listen])
        .args(["--forward", "http://127.0.0.1:9/", "--dead-letter", "dead.ndjson"])
        .args(extra);
    if let Some(token) = token {
        command.env("FIREHOSE_ADMIN_TOKEN", token);
    }
    command
}

fn start(listen: &str, token: Option<&str>, extra: &[&str]) -> Sidecar {
    start_with(PIPELINE, listen, token, extra)
}

fn start_with(pipeline: &str, listen: &str, token: Option<&str>, extra: &[&str]) -> Sidecar {
    let dir = TestDir::new();
    dir.pipeline(pipeline);
    let mut child = command(&dir, listen, token, extra).stderr(Stdio::piped()).spawn().expect("start firehose serve");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()) {
                let _ = tx.send(addr.rsplit(':').next().unwrap().parse::<u16>().unwrap());
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("serve did not start: {}", log.lock().unwrap()));
    Sidecar { child, port, _dir: dir }
}

/// Fails to start: returns what it said.
fn refused(listen: &str, token: Option<&str>, extra: &[&str]) -> String {
    let dir = TestDir::new();
    dir.pipeline(PIPELINE);
    let output = command(&dir, listen, token, extra).output().expect("run firehose serve");
    assert!(!output.status.success(), "serve should have refused to start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends `head` (request line and headers, without the final blank line) and `body`
/// over a raw socket; returns the status code and the answer's body.
fn raw(port: u16, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request =
        format!("{head}\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .into_bytes();
    request.extend_from_slice(body);
    // The server may answer and close before reading everything: that is fine.
    let _ = stream.write_all(&request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status =
        answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {answer:?}"));
    (status, answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

#[test]
fn refuses_to_listen_beyond_loopback_without_a_token() {
    let said = refused("0.0.0.0:0", None, &[]);
    assert!(said.contains("refusing to listen on 0.0.0.0"), "{said}");
    assert!(said.contains("FIREHOSE_ADMIN_TOKEN") && said.contains("--admin-token-file"), "{said}");
    let weak = refused("127.0.0.1:0", Some("short"), &[]);
    assert!(weak.contains("at least 16"), "{weak}");
    let missing = refused("127.0.0.1:0", None, &["--admin-token-file", "no-such-token"]);
    assert!(missing.contains("no-such-token"), "{missing}");
}

#[test]
fn admin_endpoints_need_the_bearer_token_beyond_loopback() {
    let sidecar = start("0.0.0.0:0", Some(TOKEN), &[]);
    let (status, body) = raw(sidecar.port, "POST /admin/reload HTTP/1.1", b"");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let wrong = format!("POST /admin/reload HTTP/1.1\r\nAuthorization: Bearer {TOKEN}x");
    assert_eq!(raw(sidecar.port, &wrong, b"").0, 401);
    let basic = format!("POST /admin/reload HTTP/1.1\r\nAuthorization: Basic {TOKEN}");
    assert_eq!(raw(sidecar.port, &basic, b"").0, 401);
    let right = format!("POST /admin/reload HTTP/1.1\r\nAuthorization: Bearer {TOKEN}");
    let (status, body) = raw(sidecar.port, &right, b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("unchanged"), "{body}");
    // Read-only endpoints stay open: probes and Prometheus have no token.
    assert_eq!(raw(sidecar.port, "GET /health HTTP/1.1", b"").0, 200);
    assert_eq!(raw(sidecar.port, "GET /metrics HTTP/1.1", b"").0, 200);
}

#[test]
fn a_token_file_guards_loopback_too() {
    let dir = TestDir::new();
    let file = dir.write("admin.token", &format!("{TOKEN}\n"));
    let sidecar = start("127.0.0.1:0", None, &["--admin-token-file", file.to_str().unwrap()]);
    assert_eq!(raw(sidecar.port, "POST /admin/reload HTTP/1.1", b"").0, 401);
    let right = format!("POST /admin/reload HTTP/1.1\r\nAuthorization: Bearer {TOKEN}");
    assert_eq!(raw(sidecar.port, &right, b"").0, 200);
}

#[test]
fn oversized_or_undecodable_requests_get_clear_4xx_answers() {
    let pipeline = format!("{PIPELINE}serve: {{max_decompressed_bytes: 65536}}\n");
    let sidecar = start_with(&pipeline, "127.0.0.1:0", None, &["--max-body-bytes", "4096"]);
    let events = |n: usize| (0..n).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>().join("\n").into_bytes();

    // Body, as sent: 413 naming the limit.
    let (status, body) = raw(sidecar.port, "POST /v1/events HTTP/1.1", &events(1000));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("4096"), "{body}");

    // A gzip bomb: small as sent, far over the limit decoded.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 50 << 20]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 4096 * 16);
    let bomb = &bomb[..bomb.len().min(4000)];
    let (status, body) = raw(sidecar.port, "POST /v1/events HTTP/1.1\r\nContent-Encoding: gzip", bomb);
    assert!(status == 413 || status == 400, "a truncated bomb is refused: {status} {body}");
    let mut small_bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    small_bomb.write_all(&vec![b' '; 1 << 20]).unwrap();
    let small_bomb = small_bomb.finish().unwrap();
    assert!(small_bomb.len() < 4096);
    let (status, body) = raw(sidecar.port, "POST /v1/events HTTP/1.1\r\nContent-Encoding: gzip", &small_bomb);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("decoded body is larger than 65536") && body.contains("max_decompressed_bytes"), "{body}");

    // Truncated and corrupt bodies: 400; an encoding Firehose does not read: 415.
    let zstd = zstd::encode_all(&events(20)[..], 3).unwrap();
    let (status, body) =
        raw(sidecar.port, "POST /v1/events HTTP/1.1\r\nContent-Encoding: zstd", &zstd[..zstd.len() / 2]);
    assert_eq!(status, 400, "{body}");
    let (status, body) = raw(sidecar.port, "POST /v1/events HTTP/1.1\r\nContent-Encoding: gzip", b"not gzip at all");
    assert_eq!(status, 400, "{body}");
    let (status, body) = raw(sidecar.port, "POST /v1/events HTTP/1.1\r\nContent-Encoding: br", b"x");
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("gzip, zstd or identity"), "{body}");

    // URL: 414 past serve.max_url_bytes (8 KiB).
    let long = format!("POST /v1/events?{} HTTP/1.1", "a".repeat(9000));
    let (status, body) = raw(sidecar.port, &long, b"");
    assert_eq!(status, 414, "{body}");
    assert!(body.contains("8192"), "{body}");

    // Headers: 431 past serve.max_header_bytes (32 KiB in all), and past 100 headers.
    let big = format!("POST /v1/events HTTP/1.1\r\nX-Padding: {}", "p".repeat(40 << 10));
    let (status, body) = raw(sidecar.port, &big, b"");
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("serve.max_header_bytes"), "{body}");
    let many: String = (0..150).map(|i| format!("\r\nX-H{i}: v")).collect();
    assert_eq!(raw(sidecar.port, &format!("POST /v1/events HTTP/1.1{many}"), b"").0, 431);

    // Still serving: the limits refuse requests, not the sidecar.
    assert_eq!(raw(sidecar.port, "GET /health HTTP/1.1", b"").0, 200);
}
