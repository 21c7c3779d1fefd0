//! The `firehose` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // The benchmark swaps versions hundreds of times: only problems are worth a line.
    let default_filter = if args.is_bench() { "warn" } else { "warn,firehose=info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .format_timestamp(None)
        .format_target(false)
        .init();
    match cli::main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("firehose: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
