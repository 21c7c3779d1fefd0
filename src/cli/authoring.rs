//! Writing modules: `firehose new-module` scaffolds one from the template kept in the
//! repository (`plugins/template`), with a copy of the SDK this binary was built with,
//! so the crate builds anywhere; `firehose build` builds a module crate into a
//! component, and `firehose test` runs a pipeline's own test cases.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, bail};
use firehose::engine::Engine;
use firehose::{Pipeline, checks};

use super::polyglot::{self, Lang};

const TEMPLATE_CARGO: &str = include_str!("../../plugins/template/Cargo.toml");
const TEMPLATE_LIB: &str = include_str!("../../plugins/template/src/lib.rs");
const TEMPLATE_README: &str = include_str!("../../plugins/template/README.md");
/// The versions of every dependency this SDK was tested with.
const LOCK_FILE: &str = include_str!("../../Cargo.lock");

// `SDK_FILES`: the SDK, the JSON engine and the WIT contract, by path in this repository.
include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// Where a scaffold keeps its copy of the SDK: the repository's layout under it, so the
/// SDK's own relative paths (the JSON engine, the WIT contract) hold.
const VENDORED_SDK: &str = "firehose-sdk";

/// Arguments of `firehose new-module`.
#[derive(Debug, clap::Args)]
pub struct NewModuleArgs {
    /// The module's name: lowercase letters, digits and dashes, e.g. `fraud-score`.
    name: String,
    /// Where to create the crate directory [default: the current directory].
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Depend on this SDK crate (a checkout's `plugins/sdk`) instead of writing a copy
    /// of the SDK this binary was built with into the new crate.
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
    /// The module's language: Rust (the tape, fastest), Python or JavaScript (events
    /// as JSON text; see plugins/README.md for when to choose which).
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
}

/// Arguments of `firehose build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Module directories: Rust crates (Cargo.toml), Python (app.py) or JavaScript
    /// (rule.js) modules.
    #[arg(default_value = ".")]
    crates: Vec<PathBuf>,
}

/// Arguments of `firehose test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The pipeline file whose `tests:` to run.
    #[arg(long, short, value_name = "FILE")]
    pipeline: PathBuf,
}

/// Creates a module crate that builds as it is.
pub fn new_module(args: NewModuleArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "module name `{name}`: use lowercase letters, digits and dashes, starting with a letter (e.g. fraud-score)"
        );
    }
    let dir = args.dir.join(name);
    if dir.exists() {
        bail!("{} already exists; choose another name or --dir", dir.display());
    }
    if args.lang != Lang::Rust {
        polyglot::scaffold(args.lang, name, &dir)?;
        println!(
            "created {}\n  firehose build {}\n  firehose test --pipeline {}",
            dir.display(),
            dir.display(),
            dir.join("pipeline.yaml").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(dir.join("src"))
        .and_then(|()| std::fs::create_dir_all(dir.join(".cargo")))
        .with_context(|| format!("creating {}", dir.display()))?;
    let sdk = match &args.sdk {
        Some(sdk) => {
            let sdk = sdk.canonicalize().with_context(|| format!("--sdk {}", sdk.display()))?;
            if !sdk.join("Cargo.toml").exists() {
                bail!("--sdk {}: no Cargo.toml there; name a checkout's plugins/sdk", sdk.display());
            }
            sdk.display().to_string()
        }
        None => {
            write_sdk(&dir.join(VENDORED_SDK))?;
            format!("{VENDORED_SDK}/plugins/sdk")
        }
    };
    let cargo = TEMPLATE_CARGO
        .replace("name = \"firehose-template\"", &format!("name = \"{name}\""))
        .replace("path = \"../sdk\"", &format!("path = \"{sdk}\""))
        + "\n# A crate of its own, not part of an enclosing workspace.\n[workspace]\n\n[profile.release]\nlto = true\ncodegen-units = 1\nstrip = \"debuginfo\"\n";
    let files = [
        ("Cargo.toml", cargo),
        ("src/lib.rs", TEMPLATE_LIB.to_string()),
        ("README.md", TEMPLATE_README.replace("<name>", &name.replace('-', "_"))),
        (".cargo/config.toml", "# WebAssembly SIMD speeds up the SDK's byte searches.\n[target.wasm32-wasip2]\nrustflags = [\"-C\", \"target-feature=+simd128\"]\n".into()),
        (".gitignore", "/target\n*.wasm\n".into()),
        ("Cargo.lock", LOCK_FILE.to_string()),
    ];
    for (file, text) in files {
        std::fs::write(dir.join(file), text).with_context(|| format!("writing {}", dir.join(file).display()))?;
    }
    println!(
        "created {}\n  cd {}\n  cargo test           # the rule's tests, natively\n  firehose build .     # -> {}.wasm",
        dir.display(),
        dir.display(),
        name.replace('-', "_")
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the SDK's sources under `dir`, in the repository's layout.
fn write_sdk(dir: &std::path::Path) -> anyhow::Result<()> {
    for (path, bytes) in SDK_FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// Builds each module crate for wasm32-wasip2 and copies the component next to its
/// Cargo.toml.
pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    for dir in &args.crates {
        match Lang::of(dir) {
            Some(Lang::Rust) => {}
            Some(lang) => {
                println!("built {}", polyglot::build(lang, dir)?.display());
                continue;
            }
            None => bail!(
                "{}: no module there; expected a Rust crate (Cargo.toml), a Python module (app.py) or a JavaScript \
                 module (rule.js) — `firehose new-module NAME --lang rust|python|js` makes one",
                dir.display()
            ),
        }
        ensure_wasm_target()?;
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let package: toml_name::Package =
            toml_name::package(&text).with_context(|| format!("{}: no [package] name", manifest.display()))?;
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(&manifest)
            .status()
            .context("running cargo")?;
        if !status.success() {
            bail!("building {} failed", dir.display());
        }
        let file = format!("{}.wasm", package.name.replace('-', "_"));
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| dir.join("target"));
        let built = target.join("wasm32-wasip2/release").join(&file);
        let component = dir.join(&file);
        std::fs::copy(&built, &component).with_context(|| format!("copying {}", built.display()))?;
        println!("built {}", component.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if let Ok(output) = installed
        && !String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == "wasm32-wasip2")
    {
        let status =
            Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status().context("running rustup")?;
        if !status.success() {
            bail!("`rustup target add wasm32-wasip2` failed");
        }
    }
    Ok(())
}

/// Runs the pipeline's test cases; exits non-zero if any fails.
pub fn test(engine: Arc<Engine>, args: TestArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    let results = checks::run_tests(&pipeline);
    if results.is_empty() {
        println!("{}: no test cases (add a `tests:` list to the pipeline file)", args.pipeline.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for result in &results {
        match &result.failure {
            None => println!("ok      {}", result.name),
            Some(failure) => {
                failed += 1;
                println!("FAILED  {}", result.name);
                for line in failure.to_string().lines() {
                    println!("          {line}");
                }
            }
        }
    }
    println!(
        "{}: {} passed, {} failed (rules version {})",
        args.pipeline.display(),
        results.len() - failed,
        failed,
        pipeline.id
    );
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Reading a crate's name from its Cargo.toml without a TOML parser dependency.
mod toml_name {
    /// The `[package]` table's `name`.
    pub struct Package {
        pub name: String,
    }

    pub fn package(text: &str) -> Option<Package> {
        let mut in_package = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_package = line == "[package]";
            } else if in_package
                && let Some(value) = line.strip_prefix("name").map(str::trim_start).and_then(|l| l.strip_prefix('='))
            {
                return Some(Package { name: value.trim().trim_matches('"').to_string() });
            }
        }
        None
    }
}
