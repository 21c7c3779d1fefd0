//! `firehose explain`: what the rules do to one event, stage by stage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use firehose::Pipeline;
use firehose::engine::Engine;
use firehose::explain::explain;
use firehose::intake::{self, Intake};

/// Arguments of `firehose explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The pipeline file.
    #[arg(long, short, value_name = "FILE")]
    pipeline: PathBuf,
    /// The event, as JSON text.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["input", "line"], required_unless_present = "input")]
    event: Option<String>,
    /// A file of events (NDJSON or a JSON array) to take the event from.
    #[arg(long, short, value_name = "FILE", requires = "line")]
    input: Option<PathBuf>,
    /// With --input: which event, counted from 1 (the line of an NDJSON file, the item
    /// of a JSON array).
    #[arg(long, value_name = "N")]
    line: Option<u64>,
    /// Show the values the rules replaced or removed (they may be personal data; by
    /// default only their kind and size are shown).
    #[arg(long)]
    show_values: bool,
    /// Print the explanation as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn explain_command(engine: Arc<Engine>, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    let record = match (&args.event, &args.input, args.line) {
        (Some(event), _, _) => event.clone().into_bytes(),
        (None, Some(path), Some(line)) => pick(path, line)?,
        _ => bail!("pass the event with --event JSON, or --input FILE --line N"),
    };
    let explanation = explain(&pipeline, &record, args.show_values);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{explanation}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The record at `line` of the file at `path`, as its text.
fn pick(path: &PathBuf, line: u64) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read(path).with_context(|| format!("reading --input {}", path.display()))?;
    let mut intake = Intake::default();
    intake::any(&text, &mut intake);
    if let Some(at) = intake.lines.iter().position(|&l| l == line) {
        return Ok(intake.events.get(at).to_vec());
    }
    if let Some(bad) = intake.malformed.iter().find(|m| m.line == line) {
        return Ok(bad.raw.clone());
    }
    bail!("--line {line}: {} has no event there ({} events read)", path.display(), intake.records())
}
