//! The WebAssembly engine: compiles rule modules once (with wasmtime's on-disk cache
//! and an in-process map keyed by content hash), links the sandbox, and drives the
//! epoch clock that bounds every call.

pub mod bindings;
mod conversions;
mod epoch;
mod instance;
mod sandbox;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};

pub use epoch::EPOCH_TICK;
pub use instance::{Failure, FailureKind, Instance};
pub use sandbox::Sandbox;

pub(crate) use conversions::json_output;

use crate::Error;

/// What every module instance is allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a single call (one batch through one stage) may run.
    pub timeout: Duration,
    /// Largest linear memory an instance may grow to.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { timeout: Duration::from_millis(1000), memory_bytes: 128 << 20 }
    }
}

/// Which world of `wit/rules.wit` a module implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `tape-rule` (or `rule-module` before 0.1.2): events with their tape in, verdicts
    /// and edits by tape entry out.
    Tape,
    /// `json-rule`: events as JSON text in, a verdict per event out.
    Json,
}

/// A compiled component, pre-linked for the world it implements.
#[derive(Clone)]
pub(crate) enum Pre {
    /// `tape-rule-reads`: `tape-rule` plus the members the module reads.
    TapeReads(bindings::tape_rule_reads::TapeRuleReadsPre<Sandbox>),
    /// `tape-rule`: the answer as words.
    Tape(bindings::tape_rule::TapeRulePre<Sandbox>),
    /// `rule-module`: the answer as records (SDK modules built before 0.1.2).
    TapeRecords(bindings::RuleModulePre<Sandbox>),
    Json(bindings::json_rule::JsonRulePre<Sandbox>),
}

/// A compiled rule module, ready to instantiate.
#[derive(Clone)]
pub struct CompiledModule {
    pub(crate) pre: Pre,
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
}

impl CompiledModule {
    /// The world the module implements.
    pub fn world(&self) -> World {
        match self.pre {
            Pre::TapeReads(_) | Pre::Tape(_) | Pre::TapeRecords(_) => World::Tape,
            Pre::Json(_) => World::Json,
        }
    }
}

/// Shared by every pipeline version of a process: one wasmtime engine, one linker,
/// one epoch clock, one cache of compiled components.
pub struct Engine {
    wasm: wasmtime::Engine,
    linker: Linker<Sandbox>,
    compiled: Mutex<HashMap<String, Component>>,
    clock: epoch::EpochClock,
}

impl Engine {
    /// Creates the engine. `cache_dir` enables wasmtime's on-disk cache of compiled
    /// code there, so restarts and swaps back to a known module do not recompile.
    /// `FIREHOSE_PROFILE=perfmap` writes a perf map so profilers can name module code.
    pub fn new(cache_dir: Option<&Path>) -> Result<Arc<Engine>, Error> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if std::env::var("FIREHOSE_PROFILE").as_deref() == Ok("perfmap") {
            // Lets `perf report` name JIT-compiled module functions (/tmp/perf-PID.map).
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => log::warn!(
                    "compiled-module cache at {} is unavailable ({e:#}); modules will be compiled on every start",
                    dir.display()
                ),
            }
        }
        let wasm = wasmtime::Engine::new(&config).map_err(|e| Error::Engine(e.into()))?;
        let mut linker = Linker::new(&wasm);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| Error::Engine(e.into()))?;
        bindings::RuleModule::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(|e| Error::Engine(e.into()))?;
        let clock = epoch::EpochClock::start(wasm.clone());
        Ok(Arc::new(Engine { wasm, linker, compiled: Mutex::new(HashMap::new()), clock }))
    }

    /// The default on-disk cache directory: `$FIREHOSE_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/firehose`, else `~/.cache/firehose`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("FIREHOSE_CACHE_DIR") {
            return (!dir.is_empty()).then(|| PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("firehose"))
    }

    /// Compiles component bytes, or reuses the compilation of identical bytes.
    /// `origin` names the file in errors.
    pub fn compile(&self, bytes: &[u8], origin: &Path) -> Result<CompiledModule, Error> {
        let hash = hex(&Sha256::digest(bytes));
        let cached = self.compiled.lock().unwrap_or_else(|e| e.into_inner()).get(&hash).cloned();
        let component = match cached {
            Some(component) => component,
            None => {
                if !bytes.starts_with(b"\0asm") {
                    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(8)]).into_owned();
                    return Err(Error::Module {
                        path: origin.to_path_buf(),
                        message: format!(
                            "not a valid rule component: not a WebAssembly file (it starts with {start:?}); build modules with `cargo xtask modules`"
                        ),
                        source: None,
                    });
                }
                let component = Component::new(&self.wasm, bytes)
                    .map_err(|e| Error::module(origin, "not a valid rule component", e))?;
                self.compiled.lock().unwrap_or_else(|e| e.into_inner()).insert(hash.clone(), component.clone());
                component
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            let message =
                "imports something the host does not provide; rule modules may import only WASI and firehose:rules/host";
            Error::module(origin, message, e)
        })?;
        // The world is told by the exports: `process-tape` is the tape world's (with
        // `reads`, the SDK's since 0.1.3), `process-json` the JSON world's, `process` the
        // tape world's before 0.1.2.
        let exports = |name: &str| component.get_export_index(None, name).is_some();
        let pre = if exports("process-tape") && exports("reads") {
            let pre = bindings::tape_rule_reads::TapeRuleReadsPre::new(pre).map_err(|e| {
                let message = "exports `process-tape` and `reads` but does not implement the \
                               firehose:rules/tape-rule-reads world as this host knows it; rebuild it with this host's SDK";
                Error::module(origin, message, e)
            })?;
            Pre::TapeReads(pre)
        } else if exports("process-tape") {
            let pre = bindings::tape_rule::TapeRulePre::new(pre).map_err(|e| {
                let message = "exports `process-tape` but does not implement the firehose:rules/tape-rule world \
                               as this host knows it; rebuild it with this host's SDK";
                Error::module(origin, message, e)
            })?;
            Pre::Tape(pre)
        } else if exports("process-json") {
            let pre = bindings::json_rule::JsonRulePre::new(pre).map_err(|e| {
                let message = "exports `process-json` but does not implement the firehose:rules/json-rule world \
                               as this host knows it; regenerate its bindings from this host's wit/";
                Error::module(origin, message, e)
            })?;
            Pre::Json(pre)
        } else {
            let pre = bindings::RuleModulePre::new(pre).map_err(|e| {
                let message = "implements neither the firehose:rules/tape-rule world (build it with the firehose \
                               SDK) nor the json-rule world (build it with `firehose build`)";
                Error::module(origin, message, e)
            })?;
            Pre::TapeRecords(pre)
        };
        Ok(CompiledModule { pre, hash })
    }

    /// The underlying wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.wasm
    }

    /// Keeps the epoch clock ticking (so call deadlines pass) until the guard is dropped.
    pub(crate) fn running(&self) -> epoch::Running {
        self.clock.running()
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
