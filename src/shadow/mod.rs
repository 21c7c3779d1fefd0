//! Shadow versions: a candidate pipeline runs beside the live one on a share of live
//! batches, and its results are compared with the live results event by event. The
//! candidate's output is never delivered; only the comparison leaves (metrics, a
//! periodic log line, [`Shadow::report`]).
//!
//! The live path only offers each sampled batch (two reference counts, no copy) to a
//! bounded queue; one shadow thread, at a lower CPU priority, runs the candidate on
//! the same events with the same batch context (time, batch id). When the queue is
//! full the batch is skipped and counted: the live path never waits for the candidate.
//! A candidate whose module calls fail (trap, CPU deadline, memory cap) is dropped with
//! a log line, like a version that failed its checks; the live version serves on.

mod compare;
mod metrics;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;

pub use compare::{BatchComparison, VerdictChange, compare};
pub use metrics::ShadowMetrics;

use crate::intake::Intake;
use crate::pass::Passed;
use crate::reload::Live;
use crate::{BatchOutcome, Pipeline, Runner, checks};

/// Paths listed in reports and log lines.
const TOP_PATHS: usize = 10;

/// How a candidate is shadowed.
#[derive(Debug, Clone, Copy)]
pub struct ShadowOptions {
    /// Share of live batches the candidate also runs, from 0 to 1.
    pub share: f64,
    /// How often the comparison is logged (when there was something to compare).
    pub report_every: Duration,
    /// Batches waiting for the candidate at most; more are skipped.
    pub queue: usize,
}

impl Default for ShadowOptions {
    fn default() -> Self {
        ShadowOptions { share: 1.0, report_every: Duration::from_secs(60), queue: 4 }
    }
}

/// What shadowing found so far, as the admin endpoint and the final summary show it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShadowReport {
    /// The candidate's version id.
    pub candidate: String,
    /// The candidate's pipeline file.
    pub path: String,
    /// Whether it is still shadowed (not dropped, not promoted).
    pub active: bool,
    /// Why it stopped, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Batches compared.
    pub batches: u64,
    /// Batches skipped because the candidate was behind.
    pub batches_skipped: u64,
    /// Events compared.
    pub events: u64,
    /// Events whose verdict changed, `live→candidate` (kept, dropped, dead_lettered).
    pub verdict_changes: HashMap<String, u64>,
    /// Events kept by both whose output differs.
    pub events_differing: u64,
    /// The paths that differ most often, with their event counts.
    pub top_paths: Vec<(String, u64)>,
    /// The candidate's stage time per event over the live version's.
    pub cost_ratio: f64,
}

/// Running totals of comparisons.
#[derive(Debug, Default, Clone)]
struct Totals {
    batches: u64,
    events: u64,
    verdict_changes: HashMap<VerdictChange, u64>,
    events_differing: u64,
    paths: HashMap<String, u64>,
    live_seconds: f64,
    candidate_seconds: f64,
}

impl Totals {
    fn add(&mut self, comparison: &BatchComparison, live_seconds: f64, candidate_seconds: f64) {
        self.batches += 1;
        self.events += comparison.events;
        for (change, n) in &comparison.verdict_changes {
            *self.verdict_changes.entry(*change).or_default() += n;
        }
        self.events_differing += comparison.events_differing;
        for (path, n) in &comparison.paths {
            *self.paths.entry(path.clone()).or_default() += n;
        }
        self.live_seconds += live_seconds;
        self.candidate_seconds += candidate_seconds;
    }

    fn cost_ratio(&self) -> f64 {
        if self.live_seconds > 0.0 { self.candidate_seconds / self.live_seconds } else { 0.0 }
    }

    fn top_paths(&self) -> Vec<(String, u64)> {
        let mut paths: Vec<(String, u64)> = self.paths.iter().map(|(p, n)| (p.clone(), *n)).collect();
        paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        paths.truncate(TOP_PATHS);
        paths
    }

    fn changes(&self) -> Vec<(String, u64)> {
        let mut changes: Vec<(String, u64)> = self.verdict_changes.iter().map(|(c, n)| (c.arrow(), *n)).collect();
        changes.sort();
        changes
    }

    /// The log line for these totals.
    fn line(&self, candidate: &str, live: &str, skipped: u64) -> String {
        let changes = self.changes();
        let changes = if changes.is_empty() {
            "none".to_string()
        } else {
            changes.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
        };
        let paths = self.top_paths();
        let paths = if paths.is_empty() {
            "none".to_string()
        } else {
            paths.iter().map(|(p, n)| format!("{p} ({n})")).collect::<Vec<_>>().join(", ")
        };
        format!(
            "shadow {candidate} vs live {live}: {} batches, {} events compared ({skipped} batches skipped, candidate behind); verdict changes: {changes}; {} events differ; top paths: {paths}; candidate cost ×{:.2} of live",
            self.batches,
            self.events,
            self.events_differing,
            self.cost_ratio(),
        )
    }
}

/// What the shadow thread and the live path share.
struct Shared {
    candidate: ArcSwapOption<Pipeline>,
    path: PathBuf,
    id: Arc<str>,
    stopped: Mutex<Option<String>>,
    totals: Mutex<Totals>,
    skipped: AtomicU64,
    offered: AtomicU64,
    pending: AtomicU64,
    metrics: Option<ShadowMetrics>,
}

impl Shared {
    /// Stops shadowing (once), saying why.
    fn stop(&self, reason: String, warn: bool) {
        if self.candidate.swap(None).is_none() {
            return;
        }
        if warn {
            log::warn!(
                "shadow candidate {} ({}) dropped: {reason}; the live version is unaffected",
                self.id,
                self.path.display()
            );
        } else {
            log::info!("shadow candidate {} ({}): {reason}; shadowing stops", self.id, self.path.display());
        }
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        if let Some(metrics) = &self.metrics {
            metrics.active(false);
        }
    }
}

/// One sampled batch: the records and the live results, shared with the live path.
struct Job {
    intake: Arc<Intake>,
    live: Arc<BatchOutcome>,
    live_version: Arc<Pipeline>,
}

/// A candidate version shadowing the live one. Dropping it stops the shadow thread.
pub struct Shadow {
    shared: Arc<Shared>,
    options: ShadowOptions,
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// Why a candidate cannot be promoted.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// Nothing is shadowed.
    #[error("no shadow candidate to promote (start with --shadow FILE; it may have been dropped: {0})")]
    NoCandidate(String),
    /// The candidate failed its pipeline's tests or could not be prepared.
    #[error("shadow candidate {version} cannot be promoted: {reason}")]
    Refused {
        /// Its id.
        version: String,
        /// Why.
        reason: String,
    },
}

impl Shadow {
    /// Loads the candidate pipeline at `path` and starts shadowing it (with a log line
    /// saying which version, from where, on what share); the front doors check the
    /// share and word the error for their own setting.
    pub fn load(
        engine: &Arc<crate::engine::Engine>,
        path: &std::path::Path,
        options: ShadowOptions,
        metrics: Option<ShadowMetrics>,
    ) -> Result<Arc<Shadow>, crate::Error> {
        let candidate = Pipeline::load(engine, path)?;
        log::info!(
            "shadowing candidate version {} (from {}) on {:.0}% of batches",
            candidate.id,
            path.display(),
            options.share * 100.0
        );
        Ok(Shadow::start(candidate, path.to_path_buf(), options, metrics))
    }

    /// Starts shadowing with `candidate`, loaded from `path`; `metrics` (the front
    /// door's) receives the comparison as it goes.
    pub fn start(
        candidate: Arc<Pipeline>,
        path: PathBuf,
        options: ShadowOptions,
        metrics: Option<ShadowMetrics>,
    ) -> Arc<Shadow> {
        if let Some(metrics) = &metrics {
            metrics.active(true);
        }
        let shared = Arc::new(Shared {
            id: candidate.id.clone(),
            candidate: ArcSwapOption::from(Some(candidate)),
            path,
            stopped: Mutex::new(None),
            totals: Mutex::new(Totals::default()),
            skipped: AtomicU64::new(0),
            offered: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            metrics,
        });
        let (tx, rx) = crossbeam_channel::bounded(options.queue.max(1));
        let thread = std::thread::Builder::new()
            .name("firehose-shadow".into())
            .spawn({
                let shared = shared.clone();
                move || work(&shared, rx, options.report_every)
            })
            .expect("spawn the shadow thread");
        Arc::new(Shadow { shared, options, jobs: Some(tx), thread: Some(thread) })
    }

    /// The candidate, while it is shadowed.
    pub fn candidate(&self) -> Option<Arc<Pipeline>> {
        self.shared.candidate.load_full()
    }

    /// Offers a live batch for comparison, if it falls in the sampled share; never
    /// waits (a batch the candidate has no room for is skipped and counted).
    pub fn offer(&self, passed: &Passed) {
        let Some(candidate) = &*self.shared.candidate.load() else {
            return;
        };
        if Arc::ptr_eq(candidate, passed.version()) || candidate.id == passed.version().id {
            // Promoted (or the file copied over the live one): nothing left to compare.
            self.shared.stop(format!("version {} is live now", candidate.id), false);
            return;
        }
        let n = self.shared.offered.fetch_add(1, Ordering::Relaxed);
        let share = self.options.share.clamp(0.0, 1.0);
        if ((n + 1) as f64 * share).floor() <= (n as f64 * share).floor() {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let job = Job {
            intake: passed.shared_intake(),
            live: passed.shared_outcome(),
            live_version: passed.version().clone(),
        };
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = jobs.try_send(job) {
            self.shared.pending.fetch_sub(1, Ordering::SeqCst);
            self.shared.skipped.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = &self.shared.metrics {
                metrics.skipped();
            }
        }
    }

    /// Waits until every batch offered so far is compared, or `timeout` passed.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let started = Instant::now();
        while self.shared.pending.load(Ordering::SeqCst) > 0 {
            if started.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// What shadowing found since it started.
    pub fn report(&self) -> ShadowReport {
        let totals = self.shared.totals.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ShadowReport {
            candidate: self.shared.id.to_string(),
            path: self.shared.path.display().to_string(),
            active: self.shared.candidate.load().is_some(),
            stopped: self.shared.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            batches: totals.batches,
            batches_skipped: self.shared.skipped.load(Ordering::Relaxed),
            events: totals.events,
            verdict_changes: totals.changes().into_iter().collect(),
            events_differing: totals.events_differing,
            top_paths: totals.top_paths(),
            cost_ratio: totals.cost_ratio(),
        }
    }

    /// The comparison so far as one log line.
    pub fn summary(&self, live: &str) -> String {
        let totals = self.shared.totals.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let line = totals.line(&self.shared.id, live, self.shared.skipped.load(Ordering::Relaxed));
        match &*self.shared.stopped.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(reason) => format!("{line}; stopped: {reason}"),
            None => line,
        }
    }

    /// Makes the candidate the live version: runs its pipeline's tests, prepares
    /// `workers` instance sets and publishes it, as a hot swap does; shadowing stops.
    /// Returns the promoted version's id.
    pub fn promote(&self, live: &Live, workers: usize) -> Result<String, PromoteError> {
        let Some(candidate) = self.candidate() else {
            let why = self.shared.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(PromoteError::NoCandidate(why.unwrap_or_else(|| "not started".into())));
        };
        let refused = |reason: String| PromoteError::Refused { version: candidate.id.to_string(), reason };
        checks::check(&candidate).map_err(|failures| refused(format!("it fails its tests: {failures}")))?;
        candidate.prepare(workers.max(1)).map_err(|e| refused(crate::error::report(&e)))?;
        let version = candidate.id.to_string();
        live.promote(candidate);
        self.shared.stop(format!("promoted: version {version} is live now"), false);
        Ok(version)
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The shadow thread: runs the candidate on each job, compares, reports.
fn work(shared: &Shared, jobs: Receiver<Job>, report_every: Duration) {
    lower_priority();
    let mut runner: Option<Runner> = None;
    let mut period = Totals::default();
    let mut period_skipped = shared.skipped.load(Ordering::Relaxed);
    let mut last_report = Instant::now();
    let mut live_id = String::new();
    loop {
        let wait = report_every.saturating_sub(last_report.elapsed()).max(Duration::from_millis(1));
        match jobs.recv_timeout(wait) {
            Ok(job) => {
                live_id = job.live_version.id.to_string();
                if let Some(candidate) = shared.candidate.load_full() {
                    let runner = match &mut runner {
                        Some(r) if Arc::ptr_eq(r.pipeline(), &candidate) => r,
                        slot => slot.insert(candidate.runner()),
                    };
                    if let Some(comparison) = run_one(shared, runner, &job) {
                        period.add(&comparison.0, comparison.1, comparison.2);
                    }
                }
                shared.pending.fetch_sub(1, Ordering::SeqCst);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_report.elapsed() >= report_every {
            let skipped = shared.skipped.load(Ordering::Relaxed);
            if period.batches > 0 || skipped > period_skipped {
                log::info!("{}", period.line(&shared.id, &live_id, skipped - period_skipped));
            }
            period = Totals::default();
            period_skipped = skipped;
            last_report = Instant::now();
        }
    }
}

/// Runs the candidate on one job and compares; returns the comparison and the live and
/// candidate stage seconds, or drops the candidate if its modules failed.
fn run_one(shared: &Shared, runner: &mut Runner, job: &Job) -> Option<(BatchComparison, f64, f64)> {
    let outcome = runner.run_as(&job.intake.events, job.live.now_unix_ms, job.live.batch_id.clone());
    if outcome.failed_calls > 0 {
        let reason = outcome.dead_letters.first().map(|d| format!("{}: {}", d.stage, d.reason)).unwrap_or_default();
        shared.stop(format!("{} module call(s) failed on a live batch ({reason})", outcome.failed_calls), true);
        return None;
    }
    let comparison = compare(&job.intake.events, &job.live, &outcome, &job.live_version.id, &runner.pipeline().id);
    let live_seconds: f64 = job.live.stage_seconds.iter().sum();
    let candidate_seconds: f64 = outcome.stage_seconds.iter().sum();
    let mut totals = shared.totals.lock().unwrap_or_else(|e| e.into_inner());
    totals.add(&comparison, live_seconds, candidate_seconds);
    if let Some(metrics) = &shared.metrics {
        metrics.compared(&comparison, totals.cost_ratio());
    }
    Some((comparison, live_seconds, candidate_seconds))
}

/// Runs the shadow thread at a lower CPU priority (nice +10), so that on a saturated
/// machine the scheduler prefers the live workers; the candidate then falls behind and
/// its batches are skipped instead.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` and `setpriority` only read their integer arguments; on Linux
        // a thread id as `who` changes that one thread's nice value.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        if result != 0 {
            log::debug!("could not lower the shadow thread's priority: {}", std::io::Error::last_os_error());
        }
    }
}
