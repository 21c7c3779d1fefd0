//! The sidecar's own cost per event, as Vector drives it in bytes mode: bodies of 1000
//! lines exactly as Vector's `http` sink sends them with `encoding.codec: text` (each
//! line ends in `\n`, `Content-Type: text/plain`, no compression), posted over loopback
//! to a real `firehose serve` process that forwards to a local receiver. What counts is
//! that process's CPU time (user + system, from its CPU-time clock) per event, not wall
//! time, against the pipeline alone in this process on the same events.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::alternate::{self, Case, Ratio};
use super::{Options, Timing, Workload};
use crate::engine::Engine;
use crate::{Error, Pipeline};

/// What the sidecar cost.
#[derive(Debug, Clone)]
pub struct SidecarReport {
    /// Events sent per run.
    pub events: usize,
    /// CPU seconds of the `firehose serve` process for all the events (each slice's
    /// least over the rounds, added up).
    pub cpu_seconds: f64,
    /// Wall seconds of those runs.
    pub wall_seconds: f64,
    /// The sidecar's CPU against the pipeline alone in this process, slice by slice.
    pub vs_pipeline: Ratio,
}

/// Runs `firehose` (this binary) as `serve` for the pipeline at `pipeline_path` and
/// measures its CPU time while `options.events` events go through it, in alternation
/// with the pipeline alone in this process on the same events.
pub fn measure_sidecar(
    engine: &Arc<Engine>,
    firehose: &Path,
    pipeline_path: &Path,
    options: &Options,
) -> Result<SidecarReport, Error> {
    let workload = Workload::generate(options.events, options.seed, options.batch_size);
    let receiver = Receiver::start().map_err(|e| Error::io("starting the bench's downstream receiver", e))?;
    let listen = free_port().map_err(|e| Error::io("finding a free port for the sidecar", e))?;
    let dead_letters = std::env::temp_dir().join(format!("firehose-bench-sidecar-{}.ndjson", std::process::id()));
    let mut serve = Sidecar::start(firehose, pipeline_path, listen, receiver.address, &dead_letters)?;
    let send = |batches: &[Vec<u8>]| -> Result<(), Error> {
        // Two connections, as Vector keeps more than one request in flight.
        std::thread::scope(|scope| {
            let halves: Vec<_> = batches.chunks(batches.len().div_ceil(2).max(1)).collect();
            let sent: Vec<_> = halves.into_iter().map(|half| scope.spawn(move || post_all(listen, half))).collect();
            sent.into_iter().try_for_each(|s| s.join().expect("bench sender thread"))
        })
        .map_err(|e| Error::io("posting to the sidecar", e))
    };
    let pipeline = Pipeline::load(engine, pipeline_path)?;
    let slices = alternate::slices_of(workload.batches.len());
    let range = |i| alternate::batch_range(workload.batches.len(), i, slices);
    let mut cases = vec![
        Case::new("sidecar", |i| {
            let (before, started) = (serve.cpu_seconds()?, Instant::now());
            send(&workload.batches[range(i)])?;
            Ok(Timing { wall: started.elapsed().as_secs_f64(), cpu: serve.cpu_seconds()? - before })
        }),
        super::batches_case("pipeline alone", pipeline.runner(), &workload.batches, range),
    ];
    let side_by_side = alternate::alternate(&mut cases, slices, options.repeats);
    drop(cases);
    serve.stop();
    let _ = std::fs::remove_file(&dead_letters);
    let side_by_side = side_by_side?;
    let best = side_by_side.best(0);
    Ok(SidecarReport {
        events: workload.events,
        cpu_seconds: best.cpu,
        wall_seconds: best.wall,
        vs_pipeline: side_by_side.ratio(0, 1),
    })
}

/// A `firehose serve` child process.
struct Sidecar {
    child: Child,
}

impl Sidecar {
    fn start(
        firehose: &Path,
        pipeline: &Path,
        listen: SocketAddr,
        forward: SocketAddr,
        dead_letters: &Path,
    ) -> Result<Sidecar, Error> {
        let child = Command::new(firehose)
            .arg("serve")
            .arg("--pipeline")
            .arg(pipeline)
            .args(["--listen", &listen.to_string(), "--forward", &format!("http://{forward}/")])
            .arg("--dead-letter")
            .arg(dead_letters)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io(format!("starting {} serve", firehose.display()), e))?;
        let mut sidecar = Sidecar { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(listen) {
            if Instant::now() > deadline || sidecar.child.try_wait().ok().flatten().is_some() {
                sidecar.stop();
                return Err(Error::io("the sidecar did not become ready", std::io::ErrorKind::TimedOut.into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(sidecar)
    }

    /// CPU seconds (user + system, every thread) the process has used so far, from its
    /// CPU-time clock: nanoseconds, where `/proc/PID/stat` counts 10 ms ticks.
    fn cpu_seconds(&self) -> Result<f64, Error> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a valid, writable clockid_t; the pid is our live child's.
        let status = unsafe { libc::clock_getcpuclockid(self.child.id() as libc::pid_t, &mut clock) };
        if status != 0 {
            return Err(Error::io("reading the sidecar's CPU clock", std::io::Error::from_raw_os_error(status)));
        }
        Ok(super::clock::cpu_seconds(clock))
    }

    fn stop(&mut self) {
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn ready(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else { return false };
    let request = "GET /ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// Posts each body on one keep-alive connection, as Vector's `http` sink does in bytes
/// mode; every answer must be 200.
fn post_all(address: SocketAddr, bodies: &[Vec<u8>]) -> std::io::Result<()> {
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    for body in bodies {
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(body)?;
        let (status, _) = read_message(&mut reader)?;
        if !status.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!("the sidecar answered {status}")));
        }
    }
    Ok(())
}

/// Reads one HTTP/1.1 message with a `Content-Length` body: its first line and body.
fn read_message(reader: &mut impl BufRead) -> std::io::Result<(String, Vec<u8>)> {
    let mut first = String::new();
    if reader.read_line(&mut first)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((first.trim_end().to_string(), body))
}

/// The downstream: accepts every request with 200, like Vector's `http_server` source
/// with nothing slow behind it.
struct Receiver {
    address: SocketAddr,
}

impl Receiver {
    fn start() -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = answer_all(stream);
                });
            }
        });
        Ok(Receiver { address })
    }
}

fn answer_all(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        read_message(&mut reader)?;
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
    }
}
