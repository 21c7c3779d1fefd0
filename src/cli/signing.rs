//! `firehose keygen` and `firehose sign`: the keys and signatures a pipeline with
//! `trusted_keys:` requires of its modules.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `firehose keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The private key file to write (mode 0600); the public key goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Arguments of `firehose sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The private key file (from `firehose keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The module files to sign.
    #[arg(value_name = "MODULE.wasm", required = true)]
    modules: Vec<PathBuf>,
}

/// Writes a new key pair.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let public = firehose::signing::keygen(&args.out)?;
    println!(
        "private key: {} (keep it secret: it signs modules)\npublic key:  {} (list it under trusted_keys: in the pipeline file)",
        args.out.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Signs each module.
pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    for module in &args.modules {
        let signature = firehose::signing::sign(&args.key, module)?;
        println!("signed {} -> {}", module.display(), signature.display());
    }
    Ok(ExitCode::SUCCESS)
}
