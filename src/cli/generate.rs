//! `firehose generate`: realistic events as NDJSON.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use firehose::tools::generate::Generator;

/// Arguments of `firehose generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// How many events.
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Seed; the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Spread the timestamps evenly over this many days, in time order (as a replay or a
    /// backfill sees them) [default: ~37 ms apart, from 2024-01-15 14:00 UTC].
    #[arg(long, value_name = "DAYS")]
    spread_days: Option<u32>,
    /// Where to write them (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Writes the events.
pub fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut generator = Generator::new(args.seed);
    if let Some(days) = args.spread_days {
        generator = generator.spread_over_days(days, args.events);
    }
    let mut line = String::with_capacity(1024);
    for _ in 0..args.events {
        line.clear();
        generator.next_into(&mut line);
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e).context("writing events");
        }
    }
    out.flush().context("writing events")?;
    Ok(ExitCode::SUCCESS)
}
