//! A small, time-bounded mutation fuzzer that runs on the stable toolchain.
//!
//! Each target is a function of `&[u8]` that panics when its oracle fails. The engine
//! starts from the target's seeds and applies random stacks of mutations (bit flips,
//! interesting bytes and tokens, deletions, duplications, splices between inputs);
//! inputs that reach a new (length class, outcome) pair join the corpus. A panicking
//! input is written to `target/fuzz/crashes/TARGET-HASH` and reported with the seed
//! that reproduces the run. No coverage instrumentation: that needs nightly
//! (cargo-fuzz) or an AFL toolchain; targets therefore check strong oracles
//! (serde_json, rmpv, re-validation) on structure-aware inputs instead.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fuzz target.
pub struct Target {
    /// Its name (`cargo xtask fuzz --target NAME`).
    pub name: &'static str,
    /// Inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Runs one input; panics if an oracle fails. Returns a small outcome class
    /// (e.g. accepted / refused) used to keep inputs that behave differently.
    pub run: fn(&[u8]) -> u8,
    /// Words worth inserting (JSON and YAML tokens, msgpack markers).
    pub tokens: &'static [&'static [u8]],
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's name.
    pub name: &'static str,
    /// Inputs run.
    pub execs: u64,
    /// Inputs kept in the corpus.
    pub corpus: usize,
    /// Inputs that panicked, saved under target/fuzz/crashes.
    pub crashes: Vec<PathBuf>,
    /// How long it ran.
    pub elapsed: Duration,
}

/// xorshift64*: fast, deterministic from its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'\n', b' '];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], tokens: &[&[u8]]) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                input.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            4 if !tokens.is_empty() => {
                let token = tokens[rng.below(tokens.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let to = from + 1 + rng.below(other.len() - from);
                    let at = rng.below(len + 1);
                    let end = (at + rng.below(len - at + 1)).min(len);
                    input.splice(at..end, other[from..to].iter().copied());
                }
            }
            6 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            7 if len > 1 => input.truncate(rng.below(len)),
            _ if len > 0 => {
                // An arithmetic nudge: lengths and counts inside binary formats.
                let i = rng.below(len);
                input[i] = input[i].wrapping_add(rng.below(35) as u8).wrapping_sub(17);
            }
            _ => input.push(rng.next() as u8),
        }
    }
    input.truncate(64 << 10);
}

fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Runs `target` for `time` from `seed`; every panic is saved and counted, the run goes on.
pub fn fuzz(target: &Target, time: Duration, seed: u64) -> Report {
    let started = Instant::now();
    let mut rng = Rng::new(seed ^ hash(target.name.as_bytes()));
    let mut corpus = (target.seeds)();
    let mut seen: HashSet<(u8, u8)> = HashSet::new();
    let mut crashes = Vec::new();
    let mut crashed: HashSet<u64> = HashSet::new();
    let mut execs = 0u64;
    let quiet = QuietPanics::install();
    let mut run = |input: &[u8], execs: &mut u64, crashes: &mut Vec<PathBuf>| -> Option<u8> {
        *execs += 1;
        match std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
            Ok(outcome) => Some(outcome),
            Err(_) => {
                let h = hash(input);
                if crashed.insert(h) {
                    crashes.push(save_crash(target.name, h, input));
                }
                None
            }
        }
    };
    for input in corpus.clone() {
        if let Some(outcome) = run(&input, &mut execs, &mut crashes) {
            seen.insert((outcome, length_class(input.len())));
        }
    }
    while started.elapsed() < time {
        for _ in 0..64 {
            let mut input = if corpus.is_empty() { Vec::new() } else { corpus[rng.below(corpus.len())].clone() };
            mutate(&mut rng, &mut input, &corpus, target.tokens);
            if let Some(outcome) = run(&input, &mut execs, &mut crashes)
                && seen.insert((outcome, length_class(input.len())))
            {
                corpus.push(input);
            } else if corpus.len() < 4096 && rng.below(64) == 0 {
                // Keep some variety even without a new outcome class.
                corpus.push(input);
            }
        }
    }
    drop(quiet);
    Report { name: target.name, execs, corpus: corpus.len(), crashes, elapsed: started.elapsed() }
}

fn length_class(len: usize) -> u8 {
    (usize::BITS - len.leading_zeros()) as u8
}

fn save_crash(name: &str, h: u64, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz/crashes");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-{h:016x}"));
    let _ = std::fs::write(&path, input);
    eprintln!("fuzz {name}: crash saved to {}", path.display());
    path
}

/// Silences the default panic message while fuzzing (crashes are reported by file);
/// the first panic's message of each run is still printed once.
struct QuietPanics {
    previous: Option<PanicHook>,
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl QuietPanics {
    fn install() -> QuietPanics {
        let previous = std::panic::take_hook();
        let printed = std::sync::atomic::AtomicUsize::new(0);
        std::panic::set_hook(Box::new(move |info| {
            if printed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
                eprintln!("fuzz: panic: {info}");
            }
        }));
        QuietPanics { previous: Some(previous) }
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            std::panic::set_hook(previous);
        }
    }
}
