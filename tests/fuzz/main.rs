//! Fuzzing every parser that reads untrusted bytes, on the stable toolchain: the
//! NDJSON / JSON-array intake against serde_json, the edit applier fed arbitrary
//! module answers, the Fluent Bit msgpack walker against rmpv, body decoding (gzip,
//! zstd, truncated, bombs) and the pipeline loader on arbitrary YAML.
//!
//! In the test suite each target runs for a short fixed time (`FIREHOSE_FUZZ_SECONDS`,
//! default 2) from a fixed seed. `cargo xtask fuzz [--seconds N] [--target NAME]` runs
//! them longer, from a new seed each time; `FIREHOSE_FUZZ_SEED` repeats a run. Inputs
//! that crashed once are kept below as regression tests.

mod engine;
mod targets;

use std::time::Duration;

/// The seed of the short run inside the test suite.
const SUITE_SEED: u64 = 0x5eed_f12e_4053;

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn every_target_survives_its_fuzzing_time() {
    let explicit_seconds = env_number("FIREHOSE_FUZZ_SECONDS");
    let seconds = explicit_seconds.unwrap_or(2);
    // The test suite walks the same mutation sequence every time (a red CI run means a
    // change broke something, not that the dice found an old bug); a run asked for by
    // time (`cargo xtask fuzz`) starts somewhere new each time.
    let seed = env_number("FIREHOSE_FUZZ_SEED").unwrap_or_else(|| match explicit_seconds {
        None => SUITE_SEED,
        Some(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        }
    });
    let only = std::env::var("FIREHOSE_FUZZ_TARGET").ok();
    let mut failed = Vec::new();
    eprintln!("fuzz: seed {seed} (FIREHOSE_FUZZ_SEED={seed} repeats this run), {seconds} s per target");
    for target in targets::all().iter().filter(|t| only.as_deref().is_none_or(|o| o == t.name)) {
        let report = engine::fuzz(target, Duration::from_secs(seconds), seed);
        eprintln!(
            "fuzz: {:<15} {:>10} execs in {:>6.1} s ({:>8.0}/s), corpus {:>5}, crashes {}",
            report.name,
            report.execs,
            report.elapsed.as_secs_f64(),
            report.execs as f64 / report.elapsed.as_secs_f64(),
            report.corpus,
            report.crashes.len()
        );
        failed.extend(report.crashes);
    }
    assert!(failed.is_empty(), "crashing inputs (replay with `cargo test --test fuzz replay`): {failed:?}");
}

/// Replays the inputs saved under target/fuzz/crashes (after a fix, they must pass).
#[test]
fn replay_saved_crashes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz/crashes");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let targets = targets::all();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(target) = targets.iter().find(|t| name.rsplit_once('-').is_some_and(|(n, _)| n == t.name)) else {
            continue;
        };
        let input = std::fs::read(entry.path()).unwrap();
        (target.run)(&input);
    }
}

/// Inputs the fuzzers found disagreeing with their oracle, kept after the fix.
mod regressions {
    use super::targets;

    /// `ndjson` / `json_array`: numbers beyond f64 (`1e400`) were accepted here and
    /// refused by serde_json (so by Vector downstream); the validator now refuses them.
    #[test]
    fn numbers_beyond_f64_are_malformed_like_serde_json_says() {
        targets::ndjson(b"{\"a\":11e400}\n{\"b\":2}");
        targets::ndjson(b"{\"n\":1234567890,\"f\":1e901234567890,\"f\":1e-7,\"z\":-0}");
        targets::json_array(b"[{\"a\":11e400},\n {\"b\":2}]");
    }

    /// `msgpack_values`: a subnormal double (2.03e-309) read back by serde_json's default
    /// float parser lands a few ulps away, more than the oracle's relative tolerance allowed;
    /// the walker's value was exact, the oracle now compares in ulps.
    #[test]
    fn subnormal_doubles_compare_in_ulps() {
        targets::msgpack_values(b"\xdf\xcc\xcc\xcc\xcc  v\x01\x07");
    }
}
