//! The plugin's own metrics endpoint (property `Metrics_Listen`, off by default).
//!
//! Fluent Bit's HTTP server already counts records in and out of every filter
//! (`fluentbit_filter_records_total`, `fluentbit_filter_drop_records_total`, …), but an
//! external plugin cannot add its own numbers there: its metrics context is reachable
//! only through Fluent Bit's internal structs. So the plugin answers `GET /metrics` on
//! an address of its own, on a thread of its own, with the same Prometheus text as
//! `firehose serve`. Plain HTTP/1.1, one request per connection: enough for a scraper,
//! and no async runtime inside Fluent Bit.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::reload::Live;

/// A running endpoint; dropping it stops and joins its thread.
pub struct MetricsEndpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Listens on `addr` and serves `metrics` (with `live`'s version and swaps).
    pub fn start(addr: &str, metrics: Arc<Metrics>, live: Arc<Live>) -> std::io::Result<MetricsEndpoint> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("firehose-metrics".into()).spawn({
            let stop = stop.clone();
            move || serve(listener, &metrics, &live, &stop)
        })?;
        Ok(MetricsEndpoint { addr, stop, thread: Some(thread) })
    }

    /// The address it listens on (the port, when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: TcpListener, metrics: &Metrics, live: &Live, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, metrics, live) {
                    log::debug!("metrics request failed: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                log::warn!("metrics endpoint: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn answer(stream: TcpStream, metrics: &Metrics, live: &Live) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the headers up to the blank line; a scraper sends no body with GET.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => {
            ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.render_live(live))
        }
        ("GET", _) => ("404 Not Found", "text/plain", "only /metrics is served here\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "GET /metrics\n".to_string()),
    };
    let mut stream = &stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
