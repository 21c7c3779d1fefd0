//! CPU time, next to wall time, for every measured case. On a shared machine wall time
//! includes whatever else held the core; the CPU time a thread or process used does not,
//! so ratios taken from CPU time hold while other work runs.

use std::time::Instant;

/// Wall-clock and CPU seconds of one timed run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Elapsed wall-clock seconds.
    pub wall: f64,
    /// CPU seconds (user + system) used by the measured thread, or the whole process.
    pub cpu: f64,
}

impl Timing {
    /// Times `f` on the calling thread: its own CPU time.
    pub fn of_thread(f: impl FnOnce()) -> Timing {
        Timing::of(libc::CLOCK_THREAD_CPUTIME_ID, f)
    }

    /// Times `f`, which may start threads: the whole process's CPU time.
    pub fn of_process(f: impl FnOnce()) -> Timing {
        Timing::of(libc::CLOCK_PROCESS_CPUTIME_ID, f)
    }

    /// The better of two runs of the same work: the one that used less CPU.
    pub fn best(self, other: Timing) -> Timing {
        if other.cpu < self.cpu { other } else { self }
    }

    /// A run that has not happened yet, worse than any real one.
    pub const NONE: Timing = Timing { wall: f64::INFINITY, cpu: f64::INFINITY };

    fn of(clock: libc::clockid_t, f: impl FnOnce()) -> Timing {
        let (cpu, started) = (cpu_seconds(clock), Instant::now());
        f();
        Timing { wall: started.elapsed().as_secs_f64(), cpu: cpu_seconds(clock) - cpu }
    }
}

/// The CPU seconds `clock` (a thread's or process's CPU-time clock) reads now.
pub(super) fn cpu_seconds(clock: libc::clockid_t) -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; both clock ids exist on Linux.
    let status = unsafe { libc::clock_gettime(clock, &mut now) };
    assert_eq!(status, 0, "clock_gettime on a CPU-time clock");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}
