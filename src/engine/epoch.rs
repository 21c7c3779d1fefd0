//! The epoch clock that bounds every call into a module: a thread advances wasmtime's
//! epoch every [`EPOCH_TICK`] while at least one call is running, and sleeps on a
//! condition variable otherwise, so an idle sidecar or Fluent Bit plugin wakes nobody
//! (ticking all the time cost about 1% of a core at rest).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the epoch clock ticks; call deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// What the ticking thread and the calls share.
#[derive(Debug, Default)]
struct Shared {
    /// Calls running now.
    running: Mutex<usize>,
    /// Signalled when the first call starts, and on stop.
    wake: Condvar,
    stop: AtomicBool,
    /// Ticks so far.
    ticks: AtomicU64,
}

/// The ticking thread; stopped and joined when dropped (with the engine), so reloading
/// a plugin leaves no thread behind.
pub(crate) struct EpochClock {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Keeps the clock ticking while it lives: hold one for the length of every call.
pub(crate) struct Running {
    shared: Arc<Shared>,
}

impl EpochClock {
    /// Starts the thread for `engine`.
    pub(crate) fn start(engine: wasmtime::Engine) -> EpochClock {
        let shared = Arc::new(Shared::default());
        let clock = shared.clone();
        let thread = std::thread::Builder::new()
            .name("firehose-epoch".into())
            .spawn(move || {
                loop {
                    {
                        let running = clock.running.lock().unwrap_or_else(|e| e.into_inner());
                        let idle = |running: &mut usize| *running == 0 && !clock.stop.load(Ordering::Relaxed);
                        drop(clock.wake.wait_while(running, idle).unwrap_or_else(|e| e.into_inner()));
                    }
                    if clock.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                    clock.ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("spawn epoch thread");
        EpochClock { shared, thread: Some(thread) }
    }

    /// Marks a call as running until the returned guard is dropped.
    pub(crate) fn running(&self) -> Running {
        let mut running = self.shared.running.lock().unwrap_or_else(|e| e.into_inner());
        *running += 1;
        if *running == 1 {
            self.shared.wake.notify_one();
        }
        Running { shared: self.shared.clone() }
    }

    /// Ticks so far.
    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *self.shared.running.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

impl Drop for EpochClock {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Under the lock, so the thread cannot miss the signal between its check and its wait.
        drop(self.shared.running.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_ticks_only_while_a_call_runs_and_its_thread_ends_with_it() {
        let clock = EpochClock::start(wasmtime::Engine::default());
        std::thread::sleep(EPOCH_TICK * 20);
        assert_eq!(clock.ticks(), 0, "no call, no tick");
        let first = clock.running();
        let second = clock.running();
        drop(first);
        let waiting = std::time::Instant::now();
        while clock.ticks() < 2 && waiting.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(EPOCH_TICK);
        }
        assert!(clock.ticks() >= 2, "ticks while a call runs");
        drop(second);
        let at_rest = clock.ticks();
        std::thread::sleep(EPOCH_TICK * 20);
        assert!(clock.ticks() <= at_rest + 1, "at most the tick under way once the last call ends");
        // Dropping joins the thread: one that missed the stop signal would hang here.
        drop(clock);
    }
}
