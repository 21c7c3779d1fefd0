//! What a module instance may touch: nothing. The store's data grants no files, no
//! environment, no network and a frozen clock; it caps memory and collects the
//! module's log lines and the tail of its stderr (where a Rust panic message lands).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::firehose::rules::{host, types};

/// Per-instance state kept in the wasmtime `Store`.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    /// `stage (module)`: how this instance's log lines are tagged.
    pub(crate) label: Arc<str>,
    pub(crate) stderr: StderrTail,
}

impl Sandbox {
    /// A sandbox that grants nothing and caps linear memory at `memory_bytes`.
    pub fn new(label: Arc<str>, memory_bytes: usize) -> Self {
        let stderr = StderrTail::default();
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone()).wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        Sandbox {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: MemoryCap { limit: memory_bytes, hit: false },
            label,
            stderr,
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for Sandbox {}

impl host::Host for Sandbox {
    fn log(&mut self, level: types::LogLevel, message: String) {
        let level = match level {
            types::LogLevel::Trace => log::Level::Trace,
            types::LogLevel::Debug => log::Level::Debug,
            types::LogLevel::Info => log::Level::Info,
            types::LogLevel::Warn => log::Level::Warn,
            types::LogLevel::Error => log::Level::Error,
        };
        const MAX: usize = 4096;
        let message = match message.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}… ({} bytes)", &message[..cut], message.len()),
            None => message,
        };
        log::log!(target: "firehose::module", level, "[{}] {}", self.label, message);
    }
}

/// Caps an instance's linear memory and remembers whether the cap was hit, so a
/// failed call can be reported as "memory limit exceeded" rather than a bare trap.
pub struct MemoryCap {
    limit: usize,
    pub(crate) hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            // Trap rather than return -1 from memory.grow: the Rust allocator would abort
            // anyway, and a trap carries a clearer cause.
            return Err(wasmtime::Error::msg(format!("memory limit of {} MiB exceeded", self.limit >> 20)));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A clock stuck at the Unix epoch: modules get time only from the batch context.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The last few KiB a module wrote to stderr. Never fails a write, never grows.
#[derive(Clone, Default)]
pub struct StderrTail {
    tail: Arc<Mutex<Vec<u8>>>,
}

impl StderrTail {
    const KEEP: usize = 4096;

    /// What was written since the last call, as text, trimmed; empties the buffer.
    pub fn take(&self) -> String {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&tail).trim().to_string();
        tail.clear();
        text
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.extend_from_slice(&bytes);
        if tail.len() > Self::KEEP {
            let excess = tail.len() - Self::KEEP;
            tail.drain(..excess);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}
