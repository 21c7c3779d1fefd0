//! The sidecar's own cost per event, as Vector drives it in bytes mode: bodies of 1000
//! lines exactly as Vector's `http` sink sends them with `encoding.codec: text` (each
//! line ends in `\n`, `Content-Type: text/plain`, no compression), posted over loopback
//! to a real `firehose serve` process that forwards to a local receiver. What counts is
//! that process's CPU time (user + system, read from `/proc`) per event, not wall time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Options, Workload};
use crate::Error;

/// What the sidecar cost.
#[derive(Debug, Clone)]
pub struct SidecarReport {
    /// Events sent per run.
    pub events: usize,
    /// CPU seconds of the `firehose serve` process for one run (the least of the runs).
    pub cpu_seconds: f64,
    /// Wall seconds of that run.
    pub wall_seconds: f64,
}

/// Runs `firehose` (this binary) as `serve` for the pipeline at `pipeline_path` and
/// measures its CPU time while `options.events` events go through it.
pub fn measure_sidecar(firehose: &Path, pipeline_path: &Path, options: &Options) -> Result<SidecarReport, Error> {
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
    send(&workload.batches[..workload.batches.len().min(3)])?;
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..options.repeats.max(1) {
        let before = serve.cpu_seconds()?;
        let started = Instant::now();
        send(&workload.batches)?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = serve.cpu_seconds()? - before;
        if best.is_none_or(|(least, _)| cpu < least) {
            best = Some((cpu, wall));
        }
    }
    serve.stop();
    let _ = std::fs::remove_file(&dead_letters);
    let (cpu_seconds, wall_seconds) = best.expect("at least one run");
    Ok(SidecarReport { events: workload.events, cpu_seconds, wall_seconds })
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

    /// User + system CPU seconds the process has used so far (`/proc/PID/stat`).
    fn cpu_seconds(&self) -> Result<f64, Error> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {path}"), e))?;
        // Fields after the command name (which is in parentheses and may hold spaces).
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Ok((ticks(11) + ticks(12)) / per_second)
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
