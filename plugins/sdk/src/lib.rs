//! The guest-side SDK for Firehose rule modules.
//!
//! A rule module is a WebAssembly component implementing `wit/rules.wit`. With this
//! crate a module is a type implementing [`Rule`] plus one [`export_rule!`] line. The
//! same crate provides what rules need to be fast: lazy JSON lookups and byte splicing
//! ([`json`], the engine the host shares), PII detectors and masks ([`pii`]), globs ([`matching`]), and
//! configuration parsing with field-precise errors ([`config`]).
#![deny(missing_docs)]

extern crate self as firehose_sdk;

pub mod config;
#[cfg(target_arch = "wasm32")]
pub mod guest;
pub mod log;
pub mod matching;
pub mod pii;
mod rule;
pub mod simple;
pub mod testing;

/// Substring search (SIMD where available), re-exported for rules: a quick "is this
/// text anywhere in the event?" often saves a scan.
pub use memchr::memmem;

/// Reading and editing events as JSON bytes through the host's tape (the
/// `firehose-json` crate, shared with the host).
pub use firehose_json as json;

pub use config::ConfigError;
pub use json::{Edits, Output, Text, Verdict};
pub use rule::{Batch, Context, ModuleInfo, Rule, StageInfo};
pub use simple::{Decision, EventMut};

/// [`ModuleInfo`] for the calling crate, from its `Cargo.toml` name, version and description.
#[macro_export]
macro_rules! module_info {
    ($name:expr) => {
        $crate::ModuleInfo {
            name: ($name).to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: env!("CARGO_PKG_DESCRIPTION").to_string(),
        }
    };
}

/// Exports a [`Rule`] type as this component's `describe`, `configure`, `reads` and
/// `process-tape` (the `tape-rule-reads` world).
///
/// ```
/// use firehose_sdk::{Batch, ConfigError, Context, ModuleInfo, Output, Rule};
///
/// struct KeepAll;
///
/// impl Rule for KeepAll {
///     fn describe() -> ModuleInfo {
///         firehose_sdk::module_info!("keep-all")
///     }
///     fn configure(_config: &str) -> Result<Self, ConfigError> {
///         Ok(KeepAll)
///     }
///     fn process(&mut self, batch: &Batch<'_>, _ctx: &Context, out: &mut Output) {
///         batch.iter().for_each(|_| out.keep());
///     }
/// }
///
/// firehose_sdk::export_rule!(KeepAll);
/// ```
///
/// Expands to nothing when not compiling for WebAssembly, so the same crate can be
/// linked natively for tests and benchmarks.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __firehose_rule_export {
            #[allow(unused_imports)]
            use super::*;
            use $crate::guest::bindings::firehose::rules::types as wit;

            struct Exports;

            thread_local! {
                static RULE: ::core::cell::RefCell<Option<$rule>> = const { ::core::cell::RefCell::new(None) };
            }

            impl $crate::guest::bindings::Guest for Exports {
                fn describe() -> wit::ModuleInfo {
                    $crate::guest::describe::<$rule>()
                }

                fn configure(config: String) -> Result<(), wit::ConfigError> {
                    RULE.with(|slot| $crate::guest::configure::<$rule>(slot, config))
                }

                fn reads() -> Option<Vec<String>> {
                    RULE.with(|slot| $crate::guest::reads::<$rule>(slot))
                }

                fn process_tape(
                    events: Vec<u8>,
                    ends: Vec<u32>,
                    tape: Vec<u32>,
                    tape_ends: Vec<u32>,
                    context: wit::BatchContext,
                ) -> wit::TapeAnswer {
                    RULE.with(|slot| $crate::guest::process::<$rule>(slot, events, ends, tape, tape_ends, context))
                }
            }

            $crate::guest::bindings::__export_tape_rule_reads!(Exports with_types_in $crate::guest::bindings);
        }
    };
}

/// Exports a per-event rule: `fn process(event: &mut EventMut, ctx: &Context) -> Decision`,
/// optionally with a configuration type (deserialized from the stage's `config`) passed
/// as a third argument. The first argument names the rule type the macro defines, for
/// native tests (`TestBatch::run(&mut MyRule::configure("{}")?)`).
///
/// ```
/// use firehose_sdk::{Context, Decision, EventMut};
///
/// #[derive(serde::Deserialize)]
/// struct Config { threshold: f64 }
///
/// fn process(event: &mut EventMut, _ctx: &Context, config: &Config) -> Decision {
///     match event.get_f64("$.metadata.buyer_response.price") {
///         Some(price) if price >= config.threshold => {
///             event.set_str("$.tier", "premium").unwrap();
///             Decision::Keep
///         }
///         Some(_) => Decision::Keep,
///         None => Decision::Drop,
///     }
/// }
///
/// firehose_sdk::export_process!(PriceTier, process, Config);
/// ```
#[macro_export]
macro_rules! export_process {
    ($rule:ident, $process:path) => {
        /// The rule `export_process!` made from a per-event function.
        pub struct $rule {
            paths: $crate::simple::PathCache,
        }

        impl $crate::Rule for $rule {
            fn describe() -> $crate::ModuleInfo {
                $crate::module_info!(env!("CARGO_PKG_NAME"))
            }

            fn configure(config: &str) -> Result<Self, $crate::ConfigError> {
                $crate::simple::no_config(config)?;
                Ok($rule { paths: Default::default() })
            }

            fn process(&mut self, batch: &$crate::Batch<'_>, ctx: &$crate::Context, out: &mut $crate::Output) {
                for event in batch.iter() {
                    $crate::simple::run_one(event, &mut self.paths, out, |e| $process(e, ctx));
                }
            }
        }

        $crate::export_rule!($rule);
    };
    ($rule:ident, $process:path, $config:ty) => {
        /// The rule `export_process!` made from a per-event function.
        pub struct $rule {
            config: $config,
            paths: $crate::simple::PathCache,
        }

        impl $crate::Rule for $rule {
            fn describe() -> $crate::ModuleInfo {
                $crate::module_info!(env!("CARGO_PKG_NAME"))
            }

            fn configure(config: &str) -> Result<Self, $crate::ConfigError> {
                let config = if config.trim().is_empty() { "{}" } else { config };
                Ok($rule { config: $crate::config::parse(config)?, paths: Default::default() })
            }

            fn process(&mut self, batch: &$crate::Batch<'_>, ctx: &$crate::Context, out: &mut $crate::Output) {
                let config = &self.config;
                for event in batch.iter() {
                    $crate::simple::run_one(event, &mut self.paths, out, |e| $process(e, ctx, config));
                }
            }
        }

        $crate::export_rule!($rule);
    };
}
