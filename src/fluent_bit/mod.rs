//! Running Firehose inside Fluent Bit as the `firehose` filter plugin
//! (`flb-filter_firehose.so`, built by `cargo xtask fluent-bit`).
//!
//! - `abi` (feature `fluent-bit`): the C struct and callbacks Fluent Bit calls; the only
//!   unsafe code;
//! - [`filter`]: one filter instance (properties, hot swap, dead letters);
//! - [`metrics_endpoint`]: the plugin's own `/metrics` (property `Metrics_Listen`);
//! - [`msgpack`]: Fluent Bit's record format to JSON and back.
//!
//! No rule logic lives here: chunks become a batch for the same pipeline the CLI and
//! the HTTP sidecar run.

#[cfg(feature = "fluent-bit")]
pub mod abi;
pub mod filter;
pub mod metrics_endpoint;
pub mod msgpack;

#[cfg(feature = "fluent-bit")]
pub use abi::{FilterPlugin, PLUGIN};
