//! Project commands, run as `cargo xtask <command>`:
//!
//! - `modules`: build every rule module into a WebAssembly component
//!   (`target/wasm32-wasip2/module/*.wasm`), adding the `wasm32-wasip2` target first;
//! - `demo`: build everything, generate events and run the demo pipeline;
//! - `test`: build the modules and run the whole test suite;
//! - `fuzz [--seconds N] [--target NAME] [--seed N]`: fuzz every parser of untrusted input;
//! - `soak [--events N] [--swaps N]`: events through `firehose serve` against a failing downstream.
//!
//! Only the Rust toolchain is needed: the `wasm32-wasip2` target is added with rustup
//! because rustup does not install targets on its own on these machines.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Crates built as rule modules (the shipped ones and the test guests).
const MODULES: [&str; 8] = [
    "firehose-filter",
    "firehose-enrich",
    "firehose-pii-mask",
    "firehose-noop",
    "firehose-template",
    "misbehave",
    "records-answer",
    "words-answer",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("modules") => modules(),
        Some("demo") => modules().and_then(|()| demo(&args[1..])),
        Some("test") => modules().and_then(|()| test(&args[1..])),
        Some("fluent-bit") => modules().and_then(|()| fluent_bit(&args[1..])),
        Some("fuzz") => fuzz(&args[1..]),
        Some("soak") => modules().and_then(|()| soak(&args[1..])),
        _ => Err("usage: cargo xtask <modules|demo|test> [args]\n\
                  \n  modules   build the rule modules as WebAssembly components\
                  \n  demo      build everything and run the demo pipeline on generated events\
                  \n  test      build the modules and run every test (extra args go to cargo test)\
                  \n  fluent-bit  build the Fluent Bit plugin: target/release/flb-filter_firehose.so\
                  \n  fuzz      fuzz the parsers of untrusted input [--seconds N per target (60)] [--target NAME] [--seed N]\
                  \n  soak      soak `firehose serve` against a failing downstream [--events N (1000000)] [--swaps N (100)]"
            .to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    empty_dev_null_if_it_is_a_plain_file();
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Cargo asks `rustc -` about each target with stdin set to /dev/null and caches the
/// answer, even a failure, in the target directory. Where /dev/null is a plain file
/// (some CI sandboxes), what other processes "discarded" there is read as source and
/// every build fails; emptying it first makes it behave like the device it stands for.
fn empty_dev_null_if_it_is_a_plain_file() {
    let dev_null = Path::new("/dev/null");
    if std::fs::symlink_metadata(dev_null).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::File::create(dev_null);
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed with {status}")) }
}

fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip2"));
    match installed {
        Ok(true) => Ok(()),
        Ok(false) => run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"])),
        // No rustup: the toolchain was installed some other way; let cargo say if the target is missing.
        Err(_) => Ok(()),
    }
}

/// Builds every rule module component.
fn modules() -> Result<(), String> {
    ensure_wasm_target()?;
    let mut command = cargo();
    command.args(["build", "--profile", "module", "--target", "wasm32-wasip2"]);
    for module in MODULES {
        command.args(["--package", module]);
    }
    run(&mut command)
}

fn demo(_args: &[String]) -> Result<(), String> {
    run(cargo().args(["build", "--release", "--package", "firehose"]))?;
    let root = root();
    let firehose = root.join("target/release/firehose");
    let dir = root.join("target/demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let events = dir.join("events.ndjson");
    let output = dir.join("output.ndjson");
    println!("\n== generating 100000 LeadConduit-style events -> {}", events.display());
    run(Command::new(&firehose).args(["generate", "--events", "100000", "--seed", "42", "--output"]).arg(&events))?;
    println!("== running examples/leadconduit/pipeline.yaml (filter -> enrich -> pii-mask)");
    run(Command::new(&firehose)
        .current_dir(&root)
        .args(["run", "--pipeline", "examples/leadconduit/pipeline.yaml", "--input"])
        .arg(&events)
        .arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(dir.join("dead-letters.ndjson")))?;
    let first_in = std::fs::read_to_string(&events).map_err(|e| e.to_string())?;
    let first_out = std::fs::read_to_string(&output).map_err(|e| e.to_string())?;
    let original = first_in.lines().next().unwrap_or_default();
    let masked = first_out.lines().next().unwrap_or_default();
    println!("\n== first event in:\n{original}\n\n== the same event out (masked, enriched):\n{masked}\n");
    let lake = dir.join("lake");
    let _ = std::fs::remove_dir_all(&lake);
    println!("== the same events as Firehose-style batches under {}", lake.display());
    run(Command::new(&firehose)
        .current_dir(&root)
        .args(["run", "--pipeline", "examples/leadconduit/pipeline.yaml", "--input"])
        .arg(&events)
        .arg("--output-dir")
        .arg(&lake))?;
    let mut objects = Vec::new();
    collect(&lake, &mut objects);
    objects.sort();
    for object in objects.iter().take(6) {
        let size = std::fs::metadata(object).map(|m| m.len()).unwrap_or(0);
        println!("  {} ({} KB)", object.strip_prefix(&dir).unwrap_or(object).display(), size / 1024);
    }
    if objects.len() > 6 {
        println!("  … {} objects in all", objects.len());
    }
    println!("\nOutput: {}\nNext: `cargo xtask test` runs the whole test suite.", output.display());
    Ok(())
}

/// Builds the Fluent Bit filter plugin and names it the way Fluent Bit's loader wants:
/// `flb-filter_NAME.so` exporting `filter_NAME_plugin`.
fn fluent_bit(args: &[String]) -> Result<(), String> {
    let debug = args.iter().any(|a| a == "--debug");
    let profile = if debug { "debug" } else { "release" };
    let mut command = cargo();
    command.args(["build", "--package", "firehose-fluent-bit"]);
    if !debug {
        command.arg("--release");
    }
    run(&mut command)?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let dir = target.join(profile);
    let built = dir.join("libfirehose_fluent_bit.so");
    let plugin = dir.join("flb-filter_firehose.so");
    // Copy beside it, then rename: a Fluent Bit (or a test) that has the old plugin
    // loaded keeps its file, where copying over it in place would crash it with SIGBUS.
    let fresh = dir.join(format!("flb-filter_firehose.so.{}", std::process::id()));
    std::fs::copy(&built, &fresh)
        .and_then(|_| std::fs::rename(&fresh, &plugin))
        .map_err(|e| format!("copying {} to {}: {e}", built.display(), plugin.display()))?;
    println!(
        "Fluent Bit plugin: {}\n  fluent-bit -e {} -c fluent-bit-examples/local/fluent-bit.yaml",
        plugin.display(),
        plugin.display()
    );
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn test(args: &[String]) -> Result<(), String> {
    python_decoders();
    run(cargo().args(["test", "--workspace"]).args(args))
}

/// The batch tests read objects back with decoders independent of the ones that wrote
/// them: Python's python-snappy, lz4 and duckdb. Installed when possible; without them
/// those tests fall back to Rust decoders and skip the DuckDB query.
fn python_decoders() {
    let have = Command::new("python3").args(["-c", "import snappy, lz4.frame, duckdb"]).output();
    if have.as_ref().is_ok_and(|o| o.status.success()) || have.is_err() {
        return;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "python-snappy", "lz4", "duckdb"])
        .status();
    if !installed.is_ok_and(|s| s.success()) {
        eprintln!("xtask: could not install python-snappy, lz4 and duckdb; the batch tests will use Rust decoders");
    }
}

/// The value after `--name` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// Runs the fuzz targets (tests/fuzz) for `--seconds` each, on the stable toolchain.
fn fuzz(args: &[String]) -> Result<(), String> {
    let mut command = cargo();
    command.args(["test", "--test", "fuzz", "every_target_survives", "--", "--nocapture"]);
    command.env("FIREHOSE_FUZZ_SECONDS", flag(args, "--seconds").unwrap_or("60"));
    if let Some(target) = flag(args, "--target") {
        command.env("FIREHOSE_FUZZ_TARGET", target);
    }
    if let Some(seed) = flag(args, "--seed") {
        command.env("FIREHOSE_FUZZ_SEED", seed);
    }
    run(&mut command)
}

/// Runs the soak test (tests/soak.rs, left out of the default run) and prints its report.
fn soak(args: &[String]) -> Result<(), String> {
    let mut command = cargo();
    command.args(["test", "--test", "soak", "--", "--ignored", "--nocapture"]);
    command.env("FIREHOSE_SOAK_EVENTS", flag(args, "--events").unwrap_or("1000000"));
    command.env("FIREHOSE_SOAK_SWAPS", flag(args, "--swaps").unwrap_or("100"));
    run(&mut command)
}
