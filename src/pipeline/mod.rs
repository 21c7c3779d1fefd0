//! A pipeline version: the resolved configuration plus every stage's compiled module,
//! immutable once built. Front doors run batches through it with a [`Runner`].
//!
//! Building a version compiles each module, instantiates it, asks it to describe
//! itself and hands it its configuration; any refusal fails the build, so a version
//! that exists is known to load and configure. The configured instances are kept in
//! a pool that runners take from, so the first batch pays no set-up cost.

mod backend;
mod batch;
mod outcome;
mod runner;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

pub use backend::{Backend, Components};
pub use batch::Events;
pub use outcome::{BatchOutcome, Counts, DeadLetter, Dropped, StageFailure};
pub use runner::Runner;

use crate::config::PipelineConfig;
use crate::emit::Stamp;
use crate::engine::bindings::firehose::rules::types as wit;
use crate::engine::{CompiledModule, Engine, Instance, Limits};
use crate::error::{Error, StageError};

/// One stage of a built pipeline.
pub struct Stage {
    /// The stage's name.
    pub name: String,
    /// The module file it was built from.
    pub module_path: PathBuf,
    /// The module's own name.
    pub module_name: String,
    /// The module's own version.
    pub module_version: String,
    module: CompiledModule,
    config: String,
    label: Arc<str>,
    reads: Option<Vec<String>>,
}

impl Stage {
    /// `name (module@version)`, how the stage appears in logs and dead letters.
    pub fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// The configuration handed to the module (JSON text, references resolved).
    pub fn config(&self) -> &str {
        &self.config
    }

    /// SHA-256 of the module's bytes.
    pub fn module_hash(&self) -> &str {
        &self.module.hash
    }

    /// The top-level members the module, as configured, said it reads (each event is
    /// cut down to them before it is sent); `None` when it is sent whole events.
    pub fn reads(&self) -> Option<&[String]> {
        self.reads.as_deref()
    }
}

/// An immutable, fully checked pipeline version.
pub struct Pipeline {
    /// The resolved configuration.
    pub config: PipelineConfig,
    /// Content hash of configuration and module bytes (16 hex digits).
    pub id: Arc<str>,
    engine: Arc<Engine>,
    stages: Vec<Stage>,
    context_stages: Vec<wit::StageInfo>,
    stamp: Stamp,
    pool: Mutex<Vec<Vec<Option<Instance>>>>,
}

impl Pipeline {
    /// Loads, compiles, configures and checks the pipeline file at `path`.
    pub fn load(engine: &Arc<Engine>, path: &Path) -> Result<Arc<Pipeline>, Error> {
        Self::build(engine, PipelineConfig::load(path)?)
    }

    /// Builds a version from an already resolved configuration.
    pub fn build(engine: &Arc<Engine>, config: PipelineConfig) -> Result<Arc<Pipeline>, Error> {
        let mut id = Sha256::new();
        id.update(config.config_hash);
        let mut stages = Vec::with_capacity(config.stages.len());
        let mut instances = Vec::with_capacity(config.stages.len());
        for stage in &config.stages {
            let bytes = std::fs::read(&stage.module).map_err(|e| Error::Module {
                path: stage.module.clone(),
                message: "cannot read the module file (build modules with `cargo xtask modules`)".into(),
                source: Some(e.into()),
            })?;
            if !config.trusted_keys.is_empty() {
                crate::signing::verify(&config.trusted_keys, &stage.module, &bytes).map_err(|e| Error::Module {
                    path: stage.module.clone(),
                    message: "refused: its signature does not check out".into(),
                    source: Some(e.into()),
                })?;
            }
            let module = engine.compile(&bytes, &stage.module)?;
            id.update(module.hash.as_bytes());
            let stage_error =
                |source: StageError| Error::Stage { stage: stage.name.clone(), module: stage.module.clone(), source };
            let provisional: Arc<str> = Arc::from(stage.name.as_str());
            let mut instance = Instance::new(engine, &module, provisional, config.limits)
                .map_err(|f| stage_error(StageError::Start(f)))?;
            let info = instance.describe().map_err(|f| stage_error(StageError::Describe(f)))?;
            let label: Arc<str> = Arc::from(format!("{} ({}@{})", stage.name, info.name, info.version));
            instance.set_label(label.clone());
            configure(&mut instance, &stage.config).map_err(stage_error)?;
            let reads = instance
                .reads()
                .map(|names| (0..names.len()).map(|i| String::from_utf8_lossy(names.name(i)).into_owned()).collect());
            instances.push(Some(instance));
            stages.push(Stage {
                name: stage.name.clone(),
                module_path: stage.module.clone(),
                module_name: info.name,
                module_version: info.version,
                module,
                config: stage.config.clone(),
                label,
                reads,
            });
        }
        let id: Arc<str> = Arc::from(crate::engine::hex(&id.finalize()[..8]));
        let context_stages = stages.iter().map(wit::StageInfo::from).collect();
        let stamp = Stamp::rules_version(&config.metadata, &id);
        Ok(Arc::new(Pipeline {
            config,
            id,
            engine: engine.clone(),
            stages,
            context_stages,
            stamp,
            pool: Mutex::new(vec![instances]),
        }))
    }

    /// The stages in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Limits every module call runs under.
    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// What the host adds to each delivered event processed by this version (its
    /// `firehose_metadata.rules_version`, unless the pipeline turned that off).
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// A runner for this version, taking configured instances from the pool.
    pub fn runner(self: &Arc<Self>) -> Runner {
        Runner::new(self.clone(), Components::new(self.clone(), self.pooled_instances(), true))
    }

    /// A runner like [`runner`](Pipeline::runner) whose stages are sent whole events even
    /// when they name the members they read: what cutting events down saves, measured
    /// by the benchmark, and the path the tests compare it with.
    pub fn runner_sending_whole_events(self: &Arc<Self>) -> Runner {
        Runner::new(self.clone(), Components::new(self.clone(), self.pooled_instances(), false))
    }

    /// A configured instance set from the pool, or empty slots to fill on first use.
    fn pooled_instances(&self) -> Vec<Option<Instance>> {
        let instances = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        instances.unwrap_or_else(|| self.stages.iter().map(|_| None).collect())
    }

    /// Makes sure the pool holds at least `count` configured instance sets, so that
    /// `count` runners can start without instantiating on the hot path.
    pub fn prepare(&self, count: usize) -> Result<(), Error> {
        loop {
            let have = self.pool.lock().unwrap_or_else(|e| e.into_inner()).len();
            if have >= count {
                return Ok(());
            }
            let mut set = Vec::with_capacity(self.stages.len());
            for s in 0..self.stages.len() {
                set.push(Some(self.instantiate(s).map_err(|source| Error::Stage {
                    stage: self.stages[s].name.clone(),
                    module: self.stages[s].module_path.clone(),
                    source,
                })?));
            }
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(set);
        }
    }

    /// A new configured instance of stage `s`.
    fn instantiate(&self, s: usize) -> Result<Instance, StageError> {
        let stage = &self.stages[s];
        let mut instance = Instance::new(&self.engine, &stage.module, stage.label.clone(), self.config.limits)
            .map_err(StageError::Start)?;
        configure(&mut instance, &stage.config)?;
        Ok(instance)
    }

    pub(super) fn give_back(&self, instances: Vec<Option<Instance>>) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(instances);
    }
}

fn configure(instance: &mut Instance, config: &str) -> Result<(), StageError> {
    match instance.configure(config) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => Err(StageError::from(refusal)),
        Err(failure) => Err(StageError::Configure(failure)),
    }
}
