//! Command-line front door: argument definitions and dispatch.

mod authoring;
mod bench;
mod explain;
mod generate;
mod input;
mod polyglot;
mod run;
mod serve;
mod shadow;
mod signing;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use firehose::engine::Engine;

/// Filter, enrich and mask streaming lead events with WebAssembly rule modules.
#[derive(Debug, Parser)]
#[command(name = "firehose", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Directory for compiled modules (default: $FIREHOSE_CACHE_DIR, else ~/.cache/firehose).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile modules on every start instead of caching them.
    #[arg(long, global = true)]
    no_cache: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run events (NDJSON or a JSON array) through a pipeline.
    Run(run::RunArgs),
    /// Serve the pipeline over HTTP as a sidecar for Vector (its `http` sink in, its
    /// `http_server` source out).
    Serve(serve::ServeArgs),
    /// Show what the rules do to one event, stage by stage (edits, verdicts, times).
    Explain(explain::ExplainArgs),
    /// Load and configure a pipeline and report problems, without processing events.
    Validate(validate::ValidateArgs),
    /// Write realistic LeadConduit-style events as NDJSON.
    Generate(generate::GenerateArgs),
    /// Measure the pipeline: as components, natively, per stage, per record, all cores.
    Bench(bench::BenchArgs),
    /// Run the test cases declared in a pipeline file (`tests:`); non-zero exit on failure.
    Test(authoring::TestArgs),
    /// Create a new rule module (Rust, Python or JavaScript) from its template.
    NewModule(authoring::NewModuleArgs),
    /// Build modules (Rust, Python, JavaScript) into WebAssembly components.
    Build(authoring::BuildArgs),
    /// Make an ed25519 key pair for signing modules (KEY and KEY.pub).
    Keygen(signing::KeygenArgs),
    /// Sign module files with a private key: writes MODULE.wasm.sig beside each.
    Sign(signing::SignArgs),
}

impl Cli {
    /// Whether the command is `bench`.
    pub fn is_bench(&self) -> bool {
        matches!(self.command, Command::Bench(_))
    }
}

/// Runs the parsed command.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    let engine = || -> anyhow::Result<Arc<Engine>> {
        let cache = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(Engine::default_cache_dir) };
        Ok(Engine::new(cache.as_deref())?)
    };
    match cli.command {
        Command::Run(args) => run::run(engine()?, args),
        Command::Serve(args) => serve::serve(engine()?, args),
        Command::Explain(args) => explain::explain_command(engine()?, args),
        Command::Validate(args) => validate::validate(engine()?, args),
        Command::Generate(args) => generate::generate(args),
        Command::Bench(args) => bench::bench(engine()?, args),
        Command::Test(args) => authoring::test(engine()?, args),
        Command::NewModule(args) => authoring::new_module(args),
        Command::Build(args) => authoring::build(args),
        Command::Keygen(args) => signing::keygen(args),
        Command::Sign(args) => signing::sign(args),
    }
}
