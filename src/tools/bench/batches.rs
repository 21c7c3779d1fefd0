//! Batches on disk against plain NDJSON: the real `firehose run` (this binary) on one
//! generated file, on all cores, writing NDJSON to a file (`-o FILE`), and gzip NDJSON
//! batches under a directory (`--output-dir DIR`) at gzip's default level and at its
//! fastest. Each run's speed is the one it reports on its summary line: wall time from
//! the first read to the last object on disk, start-up (loading the pipeline) left out.
//! The runs alternate, so a busy machine slows all alike; the fastest of each counts.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Options;
use crate::Error;
use crate::tools::generate::Generator;

/// What writing batches cost next to writing NDJSON.
#[derive(Debug, Clone)]
pub struct BatchesReport {
    /// Events per run.
    pub events: usize,
    /// Events/s of `firehose run -o FILE`.
    pub ndjson_events_per_s: f64,
    /// Events/s of `firehose run --output-dir DIR --compression gzip`.
    pub gzip_events_per_s: f64,
    /// The same with `--compression-level 1`.
    pub gzip_fastest_events_per_s: f64,
}

impl BatchesReport {
    /// Speed of gzip batches over the speed of NDJSON (1.0: as fast).
    pub fn ratio(&self) -> f64 {
        self.gzip_events_per_s / self.ndjson_events_per_s
    }

    /// Speed of gzip batches at level 1 over the speed of NDJSON.
    pub fn fastest_ratio(&self) -> f64 {
        self.gzip_fastest_events_per_s / self.ndjson_events_per_s
    }
}

/// Runs `firehose` (this binary) as `run` on `options.events` generated events with the
/// pipeline at `pipeline_path`, both ways, `options.repeats` times each.
pub fn measure_batches(firehose: &Path, pipeline_path: &Path, options: &Options) -> Result<BatchesReport, Error> {
    let scratch = Scratch::new()?;
    let input = scratch.path("events.ndjson");
    let mut text = String::with_capacity(options.events * 1000);
    let mut generator = Generator::new(options.seed);
    for _ in 0..options.events {
        generator.next_into(&mut text);
        text.push('\n');
    }
    std::fs::write(&input, text).map_err(|e| Error::io(format!("writing {}", input.display()), e))?;
    let (output, lake, dead_letters) =
        (scratch.path("out.ndjson"), scratch.path("lake"), scratch.path("dead-letters.ndjson"));
    let run = |args: &[&std::ffi::OsStr]| -> Result<f64, Error> {
        let _ = std::fs::remove_dir_all(&lake);
        let out = Command::new(firehose)
            .arg("run")
            .arg("--pipeline")
            .arg(pipeline_path)
            .arg("--input")
            .arg(&input)
            .arg("--dead-letter")
            .arg(&dead_letters)
            .args(args)
            .output()
            .map_err(|e| Error::io(format!("running {} run", firehose.display()), e))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match events_per_s(&stderr) {
            Some(rate) if out.status.success() => Ok(rate),
            _ => Err(Error::io(
                format!("{} run {args:?} failed", firehose.display()),
                std::io::Error::other(stderr.trim().to_string()),
            )),
        }
    };
    let gzip_at = |level: &'static str| -> Result<f64, Error> {
        run(&[
            "--output-dir".as_ref(),
            lake.as_os_str(),
            "--compression".as_ref(),
            "gzip".as_ref(),
            "--compression-level".as_ref(),
            level.as_ref(),
            "--framing".as_ref(),
            "ndjson".as_ref(),
        ])
    };
    let (mut ndjson, mut gzip, mut gzip_fastest) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..options.repeats.max(1) {
        ndjson = ndjson.max(run(&["--output".as_ref(), output.as_os_str()])?);
        gzip = gzip.max(gzip_at("6")?);
        gzip_fastest = gzip_fastest.max(gzip_at("1")?);
    }
    Ok(BatchesReport {
        events: options.events,
        ndjson_events_per_s: ndjson,
        gzip_events_per_s: gzip,
        gzip_fastest_events_per_s: gzip_fastest,
    })
}

/// The events/s on `firehose run`'s summary line (`… | 0.51 s, 196830 events/s, …`).
fn events_per_s(stderr: &str) -> Option<f64> {
    let summary = stderr.lines().rev().find(|line| line.starts_with("firehose: "))?;
    let before = &summary[..summary.find(" events/s")?];
    before.rsplit(' ').next()?.parse().ok()
}

/// A directory of its own under the system's temporary directory, removed when done.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        let dir = std::env::temp_dir().join(format!("firehose-bench-batches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(Scratch(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_speed_off_the_summary_line() {
        let stderr = "[INFO ] rules version abc is live\nfirehose: 100 in, 74 out, 26 dropped by rules, 0 dead-lettered | 3 objects, 0.1 MB under lake | 0.51 s, 196830 events/s, 171.5 MB/s | rules version abc\n";
        assert_eq!(events_per_s(stderr), Some(196830.0));
        assert_eq!(events_per_s("error: no such file"), None);
    }
}
