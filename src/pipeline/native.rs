//! The shipped rules linked into the host, run without WebAssembly. This is the
//! floor the benchmark compares the components against: same crates, same data path,
//! no sandbox and no boundary crossing.

use firehose_sdk::{Batch, ConfigError, Context, Output, Rule};

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
