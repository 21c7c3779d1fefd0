//! The shipped rules linked into the host, run without WebAssembly. This is the
//! floor the benchmark compares the components against: same crates, same data path,
//! no sandbox and no boundary crossing.

use std::sync::Arc;

use firehose_sdk::{Batch, ConfigError, Context, Output, Rule};

use crate::engine::Failure;
use crate::engine::bindings::firehose::rules::types as wit;
use crate::error::{Error, StageError};
use crate::pipeline::{Backend, Events, Pipeline, Runner};

/// A rule running natively in the host process.
pub trait NativeRule: Send {
    /// Same as [`Rule::process`].
    fn process(&mut self, batch: &Batch<'_>, ctx: &Context, out: &mut Output);
}

impl<R: Rule + Send> NativeRule for R {
    fn process(&mut self, batch: &Batch<'_>, ctx: &Context, out: &mut Output) {
        Rule::process(self, batch, ctx, out)
    }
}

fn boxed<R: Rule + Send>(config: &str) -> Result<Box<dyn NativeRule>, ConfigError> {
    R::configure(config).map(|r| Box::new(r) as Box<dyn NativeRule>)
}

/// The native build of the module named `module` (its `describe` name), configured
/// with `config`; `None` for modules that are not linked into the host.
pub fn native_rule(module: &str, config: &str) -> Option<Result<Box<dyn NativeRule>, ConfigError>> {
    Some(match module {
        "filter" => boxed::<firehose_filter::Filter>(config),
        "enrich" => boxed::<firehose_enrich::Enrich>(config),
        "pii-mask" => boxed::<firehose_pii_mask::PiiMask>(config),
        "noop" => boxed::<firehose_noop::Noop>(config),
        _ => return None,
    })
}

/// The stages of a version as native rules: a [`Backend`] with no sandbox and no
/// boundary crossing.
struct Native {
    rules: Vec<Box<dyn NativeRule>>,
}

impl Backend for Native {
    fn call(&mut self, s: usize, events: &Events, context: &wit::BatchContext) -> Result<Output, Failure> {
        let mut out = Output::new();
        let batch = Batch::new(&events.data, &events.ends, &events.tape, &events.tape_ends);
        self.rules[s].process(&batch, &Context::from(context), &mut out);
        Ok(out)
    }

    fn discard(&mut self, _s: usize) {}
}

/// A runner executing `pipeline`'s rules natively, without WebAssembly (the
/// benchmark's floor). Fails if a stage's module is not one linked into the host.
pub fn runner(pipeline: &Arc<Pipeline>) -> Result<Runner, Error> {
    let mut rules = Vec::with_capacity(pipeline.stages().len());
    for stage in pipeline.stages() {
        let error =
            |source: StageError| Error::Stage { stage: stage.name.clone(), module: stage.module_path.clone(), source };
        let rule = native_rule(&stage.module_name, stage.config())
            .ok_or_else(|| error(StageError::NoNativeBuild(stage.module_name.clone())))?
            .map_err(|e| error(StageError::Refused { field: e.field, message: e.message }))?;
        rules.push(rule);
    }
    Ok(Runner::with_backend(pipeline.clone(), Box::new(Native { rules })))
}
