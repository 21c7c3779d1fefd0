//! `firehose validate`: load everything, process nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use firehose::Pipeline;
use firehose::engine::Engine;

/// Arguments of `firehose validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The pipeline file.
    #[arg(long, short, value_name = "FILE")]
    pipeline: PathBuf,
}

/// Builds the pipeline and reports its stages, or the first problem.
pub fn validate(engine: Arc<Engine>, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    println!(
        "pipeline {} is valid: {} stages, version {}",
        args.pipeline.display(),
        pipeline.stages().len(),
        pipeline.id
    );
    for (i, stage) in pipeline.stages().iter().enumerate() {
        println!(
            "  {}. {:<20} {}@{}  {}",
            i + 1,
            stage.name,
            stage.module_name,
            stage.module_version,
            stage.module_path.display()
        );
        match stage.reads() {
            Some(names) => println!("     sent only the members it reads: {}", names.join(", ")),
            None => println!("     sent whole events"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
