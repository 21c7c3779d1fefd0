//! The `firehose` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,firehose=info"))
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
