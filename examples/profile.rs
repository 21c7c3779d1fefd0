//! Runs events through a pipeline for an instruction profiler: the components (`wasm`;
//! `wasm-whole` sends every stage whole events), the same rules natively, or the Fluent
//! Bit plugin's chunk path, one thread, batches of 1000.
//! Everything counted happens under `profile_batches`, so callgrind can be told to count
//! only that (docs/performance.md, "Fifth round"):
//!
//! ```sh
//! cargo xtask modules && cargo build --release --example profile
//! head -3000 target/demo/events.ndjson > EVENTS.ndjson     # after `cargo xtask demo`
//! FIREHOSE_PROFILE=perfmap valgrind --tool=callgrind --toggle-collect=profile_batches \
//!     target/release/examples/profile examples/leadconduit/pipeline.yaml EVENTS.ndjson native
//! ```
//!
//! The first batch also runs once before the counted run, uncounted, so that what is
//! set up on first use is not counted.

use std::path::Path;

use firehose::engine::Engine;
use firehose::fluent_bit::filter::Filter;
use firehose::intake::{self, Intake};
use firehose::pass::Passed;
use firehose::tools::bench::chunk_of;
use firehose::{Pipeline, Runner};

/// What runs the batches.
enum Target {
    Runner(Box<Runner>),
    Chunks(Box<Filter>),
}

/// The counted run: what callgrind's `--toggle-collect=profile_batches` counts.
#[inline(never)]
#[unsafe(no_mangle)]
fn profile_batches(target: &mut Target, batches: &[Vec<u8>]) -> usize {
    run(target, batches)
}

/// Runs every batch; returns the events delivered (or chunk bytes written).
fn run(target: &mut Target, batches: &[Vec<u8>]) -> usize {
    let mut out = 0;
    for batch in batches {
        out += match target {
            Target::Runner(runner) => {
                let mut intake = Intake::default();
                intake::ndjson(batch, 1, &mut intake);
                Passed::run(runner, intake).delivered().len()
            }
            Target::Chunks(filter) => filter.process("profile", batch).expect("valid chunk").map_or(0, |c| c.len()),
        };
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pipeline_path, events, how] = &args[..] else {
        return Err("usage: profile PIPELINE EVENTS.ndjson wasm|wasm-whole|native|fluent-bit".into());
    };
    let input = std::fs::read(events)?;
    let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let (mut target, batches) = if how == "fluent-bit" {
        let pipeline = pipeline_path.clone();
        let dead_letters = std::env::temp_dir().join("firehose-profile-dead-letters.ndjson");
        let filter = Filter::start(|key: &str| match key {
            "pipeline" => Some(pipeline.clone()),
            "watch" => Some("off".into()),
            "dead_letter" => Some(dead_letters.display().to_string()),
            _ => None,
        })?;
        (
            Target::Chunks(Box::new(filter)),
            lines.chunks(1000).map(|batch| chunk_of(batch.iter().copied())).collect::<Vec<_>>(),
        )
    } else {
        let engine = Engine::new(Engine::default_cache_dir().as_deref())?;
        let pipeline = Pipeline::load(&engine, Path::new(pipeline_path))?;
        let runner = match how.as_str() {
            "wasm" => pipeline.runner(),
            "wasm-whole" => pipeline.runner_sending_whole_events(),
            "native" => firehose::tools::native::runner(&pipeline)?,
            other => return Err(format!("`{other}`: expected wasm, wasm-whole, native or fluent-bit").into()),
        };
        (Target::Runner(Box::new(runner)), lines.chunks(1000).map(|batch| batch.join(&b'\n')).collect())
    };
    run(&mut target, &batches[..batches.len().min(1)]);
    let out = profile_batches(&mut target, &batches);
    eprintln!("{} batches of up to 1000 events, {out} out", batches.len());
    Ok(())
}
