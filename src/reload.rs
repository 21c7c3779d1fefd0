//! Hot swap: replacing the running pipeline version without a restart and without
//! losing an event.
//!
//! - [`Live`] holds the version in service. Front doors look at it between batches:
//!   a batch always finishes on the version it started with, the next one takes the
//!   new version (whose instances were made beforehand, so the switch costs a pointer
//!   swap and a pool pop).
//! - [`Reloader`] builds a new version off the hot path (load, compile — cached by
//!   content hash —, configure, run the pipeline's own tests, prepare one instance
//!   set per worker) and only then publishes it. Any failure refuses the version, says
//!   why with the file at fault, and leaves the old one serving.
//! - [`Watcher`] follows the pipeline file and every file it names (modules, tables),
//!   through their directories so that editors' atomic renames are seen, debounced so
//!   a half-written file is not picked up mid-write (and would be refused if it were),
//!   with a polling fallback where file notifications are unavailable. [`Watcher::trigger`]
//!   asks for a reload by hand (SIGHUP, an admin endpoint).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender, select, unbounded};
use notify::RecursiveMode;

use crate::config::PipelineConfig;
use crate::engine::Engine;
use crate::error::report;
use crate::{Pipeline, checks};

/// The pipeline version in service, and how many swaps were done and refused.
pub struct Live {
    current: ArcSwap<Pipeline>,
    swaps: AtomicU64,
    refused: AtomicU64,
    /// Replaced versions, kept so that the last reference (and the instances in its
    /// pool) is dropped by the watcher thread, not by a worker on the hot path.
    retired: std::sync::Mutex<Vec<Arc<Pipeline>>>,
}

/// Counts of swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwapCounts {
    /// Versions published.
    pub done: u64,
    /// Versions refused.
    pub refused: u64,
}

impl Live {
    /// Starts serving `first`.
    pub fn new(first: Arc<Pipeline>) -> Arc<Live> {
        Arc::new(Live {
            current: ArcSwap::new(first),
            swaps: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            retired: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The version in service now.
    pub fn current(&self) -> Arc<Pipeline> {
        self.current.load_full()
    }

    /// Whether `pipeline` is the version in service.
    pub fn is_current(&self, pipeline: &Arc<Pipeline>) -> bool {
        Arc::ptr_eq(&self.current.load(), pipeline)
    }

    /// Swaps done and refused so far.
    pub fn counts(&self) -> SwapCounts {
        SwapCounts { done: self.swaps.load(Ordering::Relaxed), refused: self.refused.load(Ordering::Relaxed) }
    }

    fn publish(&self, pipeline: Arc<Pipeline>) {
        let old = self.current.swap(pipeline);
        self.swaps.fetch_add(1, Ordering::Relaxed);
        self.retired.lock().unwrap_or_else(|e| e.into_inner()).push(old);
    }

    /// Publishes a version already built, checked and prepared (a promoted shadow
    /// candidate), as a hot swap does.
    pub fn promote(&self, pipeline: Arc<Pipeline>) {
        self.publish(pipeline);
    }

    /// Drops retired versions no batch uses any more (call off the hot path).
    pub fn release_retired(&self) {
        let released: Vec<Arc<Pipeline>> = {
            let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
            let (unused, in_use) = retired.drain(..).partition(|p| Arc::strong_count(p) == 1);
            *retired = in_use;
            unused
        };
        drop(released);
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new version is in service.
    Published {
        /// Its id.
        version: String,
    },
    /// Nothing changed (same content hash as the version in service).
    Unchanged,
    /// The new version was refused; the old one keeps serving.
    Refused {
        /// Why, naming the file or stage at fault.
        reason: String,
    },
}

/// Builds, checks and publishes new versions of one pipeline file.
pub struct Reloader {
    engine: Arc<Engine>,
    path: PathBuf,
    live: Arc<Live>,
    workers: usize,
}

impl Reloader {
    /// A reloader for the pipeline at `path`, serving `live` with `workers` workers.
    pub fn new(engine: Arc<Engine>, path: PathBuf, live: Arc<Live>, workers: usize) -> Reloader {
        Reloader { engine, path, live, workers: workers.max(1) }
    }

    /// The version in service.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Rebuilds the pipeline from its files and publishes it if it differs and passes
    /// its checks. Logs the outcome.
    pub fn reload(&self) -> ReloadOutcome {
        self.live.release_retired();
        let outcome = self.try_reload();
        let serving = self.live.current().id.clone();
        match &outcome {
            ReloadOutcome::Published { version } => {
                log::info!("rules version {version} is live (from {})", self.path.display())
            }
            ReloadOutcome::Unchanged => {
                log::debug!("{} changed, but rules version {serving} is the same", self.path.display())
            }
            ReloadOutcome::Refused { reason } => {
                self.live.refused.fetch_add(1, Ordering::Relaxed);
                log::warn!("refused new rules: {reason}; rules version {serving} keeps running");
            }
        }
        outcome
    }

    fn try_reload(&self) -> ReloadOutcome {
        let refuse = |reason: String| ReloadOutcome::Refused { reason };
        let config = match PipelineConfig::load(&self.path) {
            Ok(config) => config,
            Err(e) => return refuse(report(&e)),
        };
        let pipeline = match Pipeline::build(&self.engine, config) {
            Ok(pipeline) => pipeline,
            Err(e) => return refuse(report(&e)),
        };
        if pipeline.id == self.live.current().id {
            return ReloadOutcome::Unchanged;
        }
        if let Err(failures) = checks::check(&pipeline) {
            return refuse(format!(
                "pipeline {}: version {} fails its tests: {failures}",
                self.path.display(),
                pipeline.id
            ));
        }
        if let Err(e) = pipeline.prepare(self.workers) {
            return refuse(report(&e));
        }
        let version = pipeline.id.to_string();
        self.live.publish(pipeline);
        ReloadOutcome::Published { version }
    }
}

/// How the watcher notices changes.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Quiet time after the last change before reloading.
    pub debounce: Duration,
    /// Poll file contents instead of using the OS's notifications.
    pub poll: bool,
    /// Polling interval, when polling.
    pub poll_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { debounce: Duration::from_millis(25), poll: false, poll_interval: Duration::from_millis(100) }
    }
}

/// A thread that reloads when the pipeline's files change or when asked to.
/// Dropping it stops and joins the thread.
pub struct Watcher {
    trigger: Sender<Signal>,
    thread: Option<JoinHandle<()>>,
}

enum Signal {
    Reload(Option<Sender<ReloadOutcome>>),
    Stop,
}

impl Watcher {
    /// Starts watching for `reloader`'s pipeline; returns once its files are watched
    /// (a change made after this returns is seen). It then checks once more, for a
    /// change made between loading the pipeline and watching it.
    pub fn start(reloader: Reloader, options: WatchOptions) -> std::io::Result<Watcher> {
        let (trigger, signals) = unbounded();
        let (ready_tx, ready) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("firehose-watch".into())
            .spawn(move || watch_loop(reloader, options, signals, ready_tx))?;
        let _ = ready.recv();
        let watcher = Watcher { trigger, thread: Some(thread) };
        watcher.trigger();
        Ok(watcher)
    }

    /// Asks for a reload now (debounced like a file change).
    pub fn trigger(&self) {
        let _ = self.trigger.send(Signal::Reload(None));
    }

    /// Reloads now and waits for the outcome.
    pub fn reload_now(&self) -> Option<ReloadOutcome> {
        let (reply, outcome) = crossbeam_channel::bounded(1);
        self.trigger.send(Signal::Reload(Some(reply))).ok()?;
        outcome.recv().ok()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.trigger.send(Signal::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The files to follow, as (directory, file name): those of the version in service
/// and those the pipeline file names now (a refused version may name files that do
/// not exist yet). Directories are what is watched, so that a file replaced by rename
/// is still seen.
fn watched_files(reloader: &Reloader) -> HashSet<(PathBuf, std::ffi::OsString)> {
    let mut paths = reloader.live().current().config.files.clone();
    if let Ok(config) = PipelineConfig::load(&reloader.path) {
        paths.extend(config.files);
    }
    let mut watched = HashSet::new();
    for file in &paths {
        watched.extend(entry(file));
        watched.extend(symlinks_on_the_way(file));
    }
    watched
}

/// A path as (canonical directory, file name).
fn entry(path: &Path) -> Option<(PathBuf, std::ffi::OsString)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    Some((dir, path.file_name()?.to_os_string()))
}

/// The entries a file's content also depends on when it, or a directory on its way,
/// is a symlink with a relative target: the link itself and the first step of its
/// target. A mounted Kubernetes ConfigMap is exactly that (`pipeline.yaml ->
/// ..data/pipeline.yaml`, `..data -> ..2026_12_02_03_55_00.123`), and the kubelet
/// updates it by renaming a new `..data` over the old one: only `..data` changes.
fn symlinks_on_the_way(file: &Path) -> Vec<(PathBuf, std::ffi::OsString)> {
    let mut found = Vec::new();
    for path in file.ancestors().take_while(|p| !p.as_os_str().is_empty()) {
        let Ok(target) = std::fs::read_link(path) else { continue };
        found.extend(entry(path));
        if let (Some(std::path::Component::Normal(first)), false) = (target.components().next(), target.is_absolute()) {
            found.extend(entry(&path.with_file_name(first)));
        }
    }
    found
}

fn new_notifier(
    options: WatchOptions,
    events: Sender<notify::Result<notify::Event>>,
) -> notify::Result<Box<dyn notify::Watcher + Send>> {
    let handler = move |event| {
        let _ = events.send(event);
    };
    if !options.poll {
        match notify::recommended_watcher(handler.clone()) {
            Ok(watcher) => return Ok(Box::new(watcher)),
            Err(e) => log::warn!("file notifications are unavailable ({e}); polling for changes instead"),
        }
    }
    let config = notify::Config::default().with_poll_interval(options.poll_interval).with_compare_contents(true);
    Ok(Box::new(notify::PollWatcher::new(handler, config)?))
}

/// Lowers the calling thread's scheduling priority to the least (nice 19): building
/// versions is background work and should leave the cores to event processing. Not the
/// idle class: a starved build would run into the modules' wall-clock time limits and
/// refuse good rules under full load.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority on the calling thread; failure only leaves the
    // priority unchanged.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

fn watch_loop(reloader: Reloader, options: WatchOptions, signals: Receiver<Signal>, ready: Sender<()>) {
    lower_priority();
    let (events_tx, events) = unbounded();
    let mut notifier = match new_notifier(options, events_tx) {
        Ok(notifier) => Some(notifier),
        Err(e) => {
            log::error!("cannot watch the pipeline's files ({e}); reload by signal only");
            None
        }
    };
    let mut files = HashSet::new();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut rewatch = |files: &mut HashSet<(PathBuf, std::ffi::OsString)>,
                       notifier: &mut Option<Box<dyn notify::Watcher + Send>>| {
        *files = watched_files(&reloader);
        let wanted: HashSet<PathBuf> = files.iter().map(|(d, _)| d.clone()).collect();
        if let Some(notifier) = notifier.as_mut() {
            for gone in dirs.difference(&wanted) {
                let _ = notifier.unwatch(gone);
            }
            for dir in wanted.difference(&dirs) {
                if let Err(e) = notifier.watch(dir, RecursiveMode::NonRecursive) {
                    log::warn!("cannot watch {}: {e}", dir.display());
                }
            }
        }
        dirs = wanted;
    };
    rewatch(&mut files, &mut notifier);
    let _ = ready.send(());
    let relevant = |event: &notify::Event, files: &HashSet<(PathBuf, std::ffi::OsString)>| {
        !matches!(event.kind, notify::EventKind::Access(_))
            && event.paths.iter().any(|p| {
                let dir = p.parent().map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf())).unwrap_or_default();
                p.file_name().is_some_and(|name| files.contains(&(dir, name.to_os_string())))
            })
    };
    loop {
        reloader.live().release_retired();
        let mut reply = None;
        select! {
            default(Duration::from_millis(500)) => continue,
            recv(signals) -> signal => match signal {
                Ok(Signal::Reload(r)) => reply = r,
                Ok(Signal::Stop) | Err(_) => return,
            },
            recv(events) -> event => match event {
                Ok(Ok(event)) if relevant(&event, &files) => {}
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => {
                    log::warn!("file watch error: {e}");
                    continue;
                }
                Err(_) => return,
            },
        }
        if reply.is_none() {
            // Wait for a quiet moment: a file being written produces a burst of events.
            // Only changes to the pipeline's files count; other files in the same
            // directories (a followed input, logs) may be busy all the time.
            let mut quiet_from = std::time::Instant::now();
            loop {
                let left = options.debounce.saturating_sub(quiet_from.elapsed());
                match events.recv_timeout(left) {
                    Ok(Ok(event)) if relevant(&event, &files) => quiet_from = std::time::Instant::now(),
                    Ok(_) => continue,
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                }
            }
        }
        let outcome = reloader.reload();
        if outcome != ReloadOutcome::Unchanged {
            rewatch(&mut files, &mut notifier);
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}
