//! The pipeline file: YAML in, a typed and fully resolved configuration out.
//!
//! ```yaml
//! name: leadconduit
//! limits: { timeout_ms: 1000, memory_mib: 128 }
//! stages:
//!   - name: keep_lead_events
//!     module: modules/filter.wasm
//!     config: { event_type: [source.accepted, "recipient.*"] }
//!   - name: add_context
//!     module: modules/enrich.wasm
//!     config:
//!       lookups: [{ key: flow_id, into: flow, table: { $table: flows.csv } }]
//! ```
//!
//! Paths are relative to the pipeline file. Inside a stage's `config`, the host
//! replaces `{$table: FILE}` with the rows of a CSV / JSON / NDJSON file, `{$env: NAME}`
//! with an environment variable and `{$file: FILE}` with a file's text, so modules
//! never need file or environment access.

mod references;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::engine::Limits;
use crate::signing::{self, TrustedKey};

/// The pipeline file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    batch: BatchConfig,
    #[serde(default)]
    metadata: MetadataConfig,
    stages: Vec<StageFile>,
    #[serde(default)]
    tests: Vec<TestCase>,
    #[serde(default)]
    serve: ServeConfig,
    #[serde(default)]
    output: OutputConfig,
    #[serde(default)]
    trusted_keys: Vec<PathBuf>,
}

/// Batches written to a directory, the way Amazon Data Firehose writes to S3
/// (`firehose run --output-dir`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// The directory, relative to the pipeline file (`--output-dir` overrides it).
    pub dir: Option<PathBuf>,
    /// Where each event's batch goes, rendered per event: `{{year}}`, `{{month}}`,
    /// `{{day}}`, `{{hour}}`, `{{minute}}`, top-level fields (`{{flow_id}}`) and any
    /// JSONPath (`{{$.lead_data.state}}`).
    pub prefix: String,
    /// Where dead letters and events that cannot be placed go; `{{error_type}}` names why.
    pub error_prefix: String,
    /// Object names start with this: `events-2024-01-15-14-30-45-AB12CD34.json.gz`.
    pub name: String,
    /// `ndjson` or `json_array`.
    pub framing: Framing,
    /// `gzip`, `snappy` (framed), `lz4` (frame) or `none`.
    pub compression: Compression,
    /// gzip's level, 1 (fastest) to 9 (smallest); gzip only. Unset: 6, zlib's default.
    /// Level 1 writes the demo's batches faster for objects ~70% larger (figures in the
    /// README's "Use it" section).
    pub compression_level: Option<u32>,
    /// Cut a batch at this size, in MiB (1–128), before compression.
    pub size_mib: u64,
    /// Cut a batch this many seconds after its first event (0–900; 0: every write).
    pub interval_secs: u64,
    /// Cut a batch at this many events (optional).
    pub max_events: Option<usize>,
    /// Partition by the event's `timestamp` (`event`) or by when it is written (`processing`).
    pub time_source: TimeSource,
    /// Most partitions with a batch open at once (at least 1), which bounds memory: an
    /// event for one more partition first closes the batch written to least recently
    /// (written out early, counted on the summary line), then opens its own. No event
    /// goes to the error prefix for it. Events in time order (a replay, a backfill)
    /// rarely reopen a partition, so few extra objects result; set it above the number
    /// of partitions an interval's events touch.
    pub max_open_partitions: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: None,
            prefix: "events/year={{year}}/month={{month}}/day={{day}}/hour={{hour}}/".into(),
            error_prefix: "errors/{{error_type}}/year={{year}}/month={{month}}/day={{day}}/hour={{hour}}/".into(),
            name: "events".into(),
            framing: Framing::Ndjson,
            compression: Compression::Gzip,
            compression_level: None,
            size_mib: 5,
            interval_secs: 300,
            max_events: None,
            time_source: TimeSource::Event,
            max_open_partitions: 500,
        }
    }
}

impl OutputConfig {
    /// Refuses a `compression_level` outside 1–9 or beside a compression other than gzip,
    /// with a message that names the setting.
    pub fn check_compression_level(&self) -> Result<(), String> {
        match (self.compression_level, self.compression) {
            (None, _) => Ok(()),
            (Some(level), _) if !(1..=9).contains(&level) => {
                Err(format!("`output.compression_level` is {level}: gzip's levels are 1 (fastest) to 9 (smallest)"))
            }
            (Some(_), Compression::Gzip) => Ok(()),
            (Some(_), other) => Err(format!(
                "`output.compression_level` applies to gzip only, and compression is {other:?}: remove the level or use gzip"
            )),
        }
    }
}

/// How events are laid out in an object.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of objects.
    JsonArray,
}

impl std::str::FromStr for Framing {
    type Err = UnknownValue;

    /// `ndjson`, `json_array` (or `json-array`), as on the command line.
    fn from_str(text: &str) -> Result<Framing, UnknownValue> {
        match text {
            "ndjson" => Ok(Framing::Ndjson),
            "json_array" | "json-array" => Ok(Framing::JsonArray),
            other => Err(UnknownValue { value: other.to_string(), expected: "ndjson, json_array" }),
        }
    }
}

/// A setting's value that is not one of those accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{value}` (expected one of: {expected})")]
pub struct UnknownValue {
    /// What was given.
    pub value: String,
    /// What is accepted.
    pub expected: &'static str,
}

/// How objects are compressed.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// gzip (`.gz`).
    Gzip,
    /// Snappy, framing format (`.snappy`).
    Snappy,
    /// LZ4, frame format (`.lz4`).
    Lz4,
    /// Not compressed.
    None,
}

impl std::str::FromStr for Compression {
    type Err = UnknownValue;

    /// `gzip`, `snappy`, `lz4` or `none`, as on the command line.
    fn from_str(text: &str) -> Result<Compression, UnknownValue> {
        match text {
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "none" => Ok(Compression::None),
            other => Err(UnknownValue { value: other.to_string(), expected: "gzip, snappy, lz4, none" }),
        }
    }
}

/// Which time partitions and object names use.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The event's `timestamp` (RFC 3339, or Unix seconds / milliseconds); processing
    /// time when it has none.
    Event,
    /// The time the event is written.
    Processing,
}

/// Settings of `firehose serve`, the HTTP sidecar for Vector (flags override them).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// URL processed batches are posted to (Vector's `http_server` source), `http://` only.
    pub forward: Option<String>,
    /// Compress forwarded batches with gzip.
    pub forward_gzip: bool,
    /// Where dead letters go: a file path, or an `http://` URL they are posted to.
    pub dead_letter: Option<String>,
    /// Largest request body accepted, as sent (compressed).
    pub max_body_bytes: usize,
    /// Largest request body accepted once decompressed.
    pub max_decompressed_bytes: usize,
    /// Most batches processed or forwarded at once; more get 503 (Vector retries).
    pub max_in_flight: Option<usize>,
    /// How long to wait for the downstream's answer; longer than its flush interval,
    /// shorter than Vector's `request.timeout_secs`.
    pub downstream_timeout_secs: u64,
    /// For Vector in bytes mode: a template (as `output.prefix`: `{{flow_id}}`,
    /// `{{year}}`…, any JSONPath) rendered per event; each batch is forwarded as one
    /// request per value, with the value in the `X-Firehose-Partition` header, which
    /// Vector's `http_server` source turns into a field the sinks' partition keys name.
    pub partition: Option<String>,
    /// A file holding the bearer token `POST /admin/reload` requires (relative to the
    /// pipeline file); `FIREHOSE_ADMIN_TOKEN` and `--admin-token-file` override it.
    /// Required to listen on anything but loopback.
    pub admin_token_file: Option<PathBuf>,
    /// Longest request URL accepted (414 beyond).
    pub max_url_bytes: usize,
    /// Most request header bytes accepted, names and values (431 beyond).
    pub max_header_bytes: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: None,
            forward: None,
            forward_gzip: false,
            dead_letter: None,
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 256 << 20,
            max_in_flight: None,
            downstream_timeout_secs: 50,
            partition: None,
            admin_token_file: None,
            max_url_bytes: 8 << 10,
            max_header_bytes: 32 << 10,
        }
    }
}

/// A test case of the pipeline: an input event and what must become of it. They run
/// with `firehose test`, and before every hot swap (a version failing them is refused).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case checks, in words.
    pub name: String,
    /// Run only this stage; default: the whole pipeline.
    #[serde(default)]
    pub stage: Option<String>,
    /// The input event.
    pub input: serde_json::Value,
    /// What must come out.
    pub expect: Expect,
}

/// The expected fate of a test case's event.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Expect {
    /// `dropped`: a rule filters the event out.
    Dropped(DroppedWord),
    /// `{rejected: "text"}`: the event is dead-lettered with a reason containing the text.
    Rejected {
        /// Text the reason must contain.
        rejected: String,
    },
    /// `{output: {...}}`: the event comes out with these members (others are ignored
    /// unless `exact: true`).
    Output {
        /// The expected event, or the part of it that matters.
        output: serde_json::Value,
        /// Compare the whole event, not just the members listed.
        #[serde(default)]
        exact: bool,
    },
}

/// The word `dropped`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DroppedWord {
    /// The event is dropped.
    Dropped,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_memory_mib")]
    memory_mib: u64,
}

impl Default for LimitsFile {
    fn default() -> Self {
        LimitsFile { timeout_ms: default_timeout_ms(), memory_mib: default_memory_mib() }
    }
}

fn default_timeout_ms() -> u64 {
    Limits::default().timeout.as_millis() as u64
}

fn default_memory_mib() -> u64 {
    (Limits::default().memory_bytes >> 20) as u64
}

/// How events are grouped into batches by the front doors that choose (CLI).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most events per batch.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
}

fn default_max_events() -> usize {
    1000
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_events: default_max_events() }
    }
}

/// What the host adds to every delivered event under `firehose_metadata`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    /// Add `rules_version`: the pipeline version that processed the event.
    #[serde(default = "yes")]
    pub rules_version: bool,
}

fn yes() -> bool {
    true
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { rules_version: true }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    name: String,
    module: PathBuf,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// A stage, resolved: module path absolute, configuration as JSON text.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// The stage's name.
    pub name: String,
    /// The module file.
    pub module: PathBuf,
    /// The configuration handed to the module, with references resolved.
    pub config: String,
}

/// A loaded, resolved pipeline configuration.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The pipeline file.
    pub path: PathBuf,
    /// The pipeline's name (defaults to the file's stem).
    pub name: String,
    /// Limits for every module call.
    pub limits: Limits,
    /// Batching.
    pub batch: BatchConfig,
    /// Metadata added to delivered events.
    pub metadata: MetadataConfig,
    /// Stages in order.
    pub stages: Vec<StageConfig>,
    /// The pipeline's test cases.
    pub tests: Vec<TestCase>,
    /// Settings of the HTTP sidecar.
    pub serve: ServeConfig,
    /// Settings of batches written to a directory.
    pub output: OutputConfig,
    /// Public keys (ed25519) that must have signed every module; empty: modules
    /// need no signature.
    pub trusted_keys: Vec<TrustedKey>,
    /// Every file the configuration depends on (the pipeline file, modules, tables…).
    pub files: Vec<PathBuf>,
    /// SHA-256 over everything resolved above except module bytes (hashed separately).
    pub config_hash: [u8; 32],
}

impl PipelineConfig {
    /// Reads and resolves the pipeline file at `path`.
    pub fn load(path: &Path) -> Result<PipelineConfig, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Pipeline { path: path.to_path_buf(), message: format!("cannot read the file: {e}") })?;
        Self::parse(path, &text)
    }

    /// Resolves pipeline `text` as if read from `path` (relative paths start there).
    pub fn parse(path: &Path, text: &str) -> Result<PipelineConfig, Error> {
        let fail = |message: String| Error::Pipeline { path: path.to_path_buf(), message };
        let file: PipelineFile = serde_yaml_ng::from_str(text).map_err(|e| fail(e.to_string()))?;
        if file.stages.is_empty() {
            return Err(fail("`stages` is empty: list at least one stage with a `name` and a `module`".into()));
        }
        if file.limits.timeout_ms == 0 || file.limits.memory_mib == 0 {
            return Err(fail("`limits.timeout_ms` and `limits.memory_mib` must be greater than zero".into()));
        }
        if !(1..=128).contains(&file.output.size_mib) || file.output.interval_secs > 900 {
            return Err(fail(
                "`output.size_mib` must be 1-128 and `output.interval_secs` 0-900 (Firehose's buffering hints)".into(),
            ));
        }
        file.output.check_compression_level().map_err(fail)?;
        if file.output.max_open_partitions == 0 {
            return Err(fail("`output.max_open_partitions` must be at least 1".into()));
        }
        if file.batch.max_events == 0 {
            return Err(fail("`batch.max_events` must be greater than zero".into()));
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut files = vec![path.to_path_buf()];
        let mut trusted_keys = Vec::with_capacity(file.trusted_keys.len());
        for (i, key) in file.trusted_keys.iter().enumerate() {
            let key = base.join(key);
            files.push(key.clone());
            trusted_keys.push(signing::read_public_key(&key).map_err(|e| fail(format!("trusted_keys[{i}]: {e}")))?);
        }
        let mut stages = Vec::with_capacity(file.stages.len());
        for (i, stage) in file.stages.into_iter().enumerate() {
            if stage.name.trim().is_empty() {
                return Err(fail(format!("stages[{i}]: `name` is empty")));
            }
            if stages.iter().any(|s: &StageConfig| s.name == stage.name) {
                return Err(fail(format!(
                    "stages[{i}]: the name `{}` is used twice; stage names must be unique",
                    stage.name
                )));
            }
            let module = base.join(&stage.module);
            files.push(module.clone());
            if !trusted_keys.is_empty() {
                files.push(signing::signature_path(&module));
            }
            let mut config = stage.config.unwrap_or_else(|| serde_json::json!({}));
            references::resolve(&mut config, &base, &mut files)
                .map_err(|e| fail(format!("stage `{}`: config{}: {}", stage.name, e.at, e.message)))?;
            stages.push(StageConfig { name: stage.name, module, config: config.to_string() });
        }
        let name =
            file.name.unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let limits = Limits {
            timeout: Duration::from_millis(file.limits.timeout_ms),
            memory_bytes: (file.limits.memory_mib as usize).saturating_mul(1 << 20),
        };
        let mut config = PipelineConfig {
            path: path.to_path_buf(),
            name,
            limits,
            batch: file.batch,
            metadata: file.metadata,
            stages,
            tests: file.tests,
            serve: ServeConfig { admin_token_file: file.serve.admin_token_file.map(|f| base.join(f)), ..file.serve },
            output: OutputConfig { dir: file.output.dir.map(|dir| base.join(dir)), ..file.output },
            trusted_keys,
            files,
            config_hash: [0; 32],
        };
        for (i, test) in config.tests.iter().enumerate() {
            if let Some(stage) = &test.stage
                && !config.stages.iter().any(|s| &s.name == stage)
            {
                return Err(fail(format!("tests[{i}] (`{}`): no stage is named `{stage}`", test.name)));
            }
        }
        config.config_hash = config.compute_hash();
        Ok(config)
    }

    /// The same configuration with other stages (used to measure stages apart).
    pub fn with_stages(&self, stages: Vec<StageConfig>) -> PipelineConfig {
        let mut config = PipelineConfig { stages, ..self.clone() };
        config.config_hash = config.compute_hash();
        config
    }

    /// SHA-256 of a canonical serialization (JSON, keys sorted) of what makes a
    /// version: written out field by field, so that the id changes when the rules do
    /// and never when a type's derives or field order change.
    fn compute_hash(&self) -> [u8; 32] {
        let mut canonical = serde_json::json!({
            "name": self.name,
            "limits": {
                "timeout_ms": self.limits.timeout.as_millis() as u64,
                "memory_bytes": self.limits.memory_bytes as u64,
            },
            "batch": {"max_events": self.batch.max_events},
            "metadata": {"rules_version": self.metadata.rules_version},
            "stages": self.stages.iter().map(|s| serde_json::json!({"name": s.name, "config": s.config})).collect::<Vec<_>>(),
        });
        // Only when set, so that the ids of unsigned pipelines stay what they were.
        if !self.trusted_keys.is_empty() {
            canonical["trusted_keys"] =
                self.trusted_keys.iter().map(|k| crate::engine::hex(k.key.as_bytes())).collect::<Vec<_>>().into();
        }
        Sha256::digest(serde_json::to_vec(&canonical).expect("plain JSON values serialize")).into()
    }
}

#[cfg(test)]
mod tests;
