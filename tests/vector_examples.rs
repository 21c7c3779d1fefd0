//! The Vector configurations in `vector-examples/`: every component type and option exists
//! in Vector's reference (0.50 through 0.57), the component graph is connected,
//! acknowledgements are on from the destination back to the source, the addresses match
//! what each README tells `firehose serve` to use, the wiring is bytes mode (Vector never
//! parses the events; partition keys come from the `X-Firehose-Partition` header that
//! `serve.partition` fills) except in the one JSON-codec example, and each example's
//! Firehose pipeline parses, resolves and runs with the real rule modules, rendering the
//! partitions its sinks read.
//!
//! The allow-lists below were taken from Vector's own reference files, in the repository
//! vectordotdev/vector at tags v0.50.0 and v0.57.0 (and every 0.5x tag in between): an
//! option is listed only if it is documented in all of them. Options that belong to codecs,
//! strategies or sub-objects the examples do not use (e.g. `encoding.avro.*`,
//! `auth.imds.*`, `request.adaptive_concurrency.*`) are left out on purpose: using one
//! means adding it here from the reference first. Deprecated options (a source's own
//! `acknowledgements`, `http_server`'s `encoding`, the `http` sink's top-level `headers`)
//! are left out too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use firehose::Pipeline;
use firehose::config::PipelineConfig;
use firehose::emit::batches::Template;
use firehose::intake::Intake;
use firehose::pass::Passed;
use firehose::serve::partition::{HEADER, PartitionSink};
use firehose::tools::generate::Generator;
use serde_yaml_ng::{Mapping, Value as Yaml};

// ---------------------------------------------------------------------------------------
// Allow-lists, from the reference.
// ---------------------------------------------------------------------------------------

/// Options every source has.
/// website/cue/reference/components/generated/sources.cue
const SOURCE_COMMON: &[&str] = &[
    "graph",
    "graph.node_attributes",
    "graph.node_attributes.*",
    "proxy",
    "proxy.enabled",
    "proxy.http",
    "proxy.https",
    "proxy.no_proxy",
];

/// Options every transform has.
/// website/cue/reference/components/generated/transforms.cue
const TRANSFORM_COMMON: &[&str] = &["inputs", "graph", "graph.node_attributes", "graph.node_attributes.*"];

/// Options every sink has.
/// website/cue/reference/components/generated/sinks.cue
const SINK_COMMON: &[&str] = &[
    "inputs",
    "buffer",
    "buffer.max_events",
    "buffer.max_size",
    "buffer.type",
    "buffer.when_full",
    "healthcheck",
    "healthcheck.enabled",
    "healthcheck.timeout",
    "healthcheck.uri",
    "proxy",
    "proxy.enabled",
    "proxy.http",
    "proxy.https",
    "proxy.no_proxy",
    "graph",
    "graph.node_attributes",
    "graph.node_attributes.*",
];

/// Top-level (global) options.
/// website/cue/reference/generated/configuration.cue (`sources`, `transforms` and `sinks`
/// are the component tables themselves).
const GLOBAL: &[&str] = &[
    "acknowledgements",
    "acknowledgements.enabled",
    "data_dir",
    "timezone",
    "expire_metrics_secs",
    "wildcard_matching",
    "sources",
    "transforms",
    "sinks",
];

/// The `encoding` block shared by the sinks that serialize events (codec-specific
/// sub-objects listed, their options not).
const ENCODING: &[&str] = &[
    "encoding",
    "encoding.codec",
    "encoding.except_fields",
    "encoding.only_fields",
    "encoding.timestamp_format",
    "encoding.metric_tag_values",
    "encoding.json",
    "encoding.json.pretty",
    "encoding.avro",
    "encoding.cef",
    "encoding.csv",
    "encoding.gelf",
    "encoding.protobuf",
];

/// The `framing` block of sinks that frame a stream of events.
const SINK_FRAMING: &[&str] = &[
    "framing",
    "framing.method",
    "framing.max_frame_length",
    "framing.character_delimited",
    "framing.length_delimited",
];

/// The `decoding` and `framing` blocks of sources that decode bytes.
const SOURCE_DECODING: &[&str] = &[
    "decoding",
    "decoding.codec",
    "decoding.json",
    "decoding.json.lossy",
    "decoding.avro",
    "decoding.gelf",
    "decoding.influxdb",
    "decoding.native_json",
    "decoding.protobuf",
    "decoding.syslog",
    "decoding.vrl",
    "framing",
    "framing.method",
    "framing.max_frame_length",
    "framing.newline_delimited",
    "framing.newline_delimited.max_length",
    "framing.character_delimited",
    "framing.chunked_gelf",
    "framing.length_delimited",
    "framing.octet_counting",
];

const BATCH: &[&str] = &["batch", "batch.max_bytes", "batch.max_events", "batch.timeout_secs"];

/// The `request` block of sinks built on Vector's tower service (without `headers`).
const REQUEST: &[&str] = &[
    "request",
    "request.adaptive_concurrency",
    "request.concurrency",
    "request.rate_limit_duration_secs",
    "request.rate_limit_num",
    "request.retry_attempts",
    "request.retry_initial_backoff_secs",
    "request.retry_jitter_mode",
    "request.retry_max_duration_secs",
    "request.timeout_secs",
];

/// The client `tls` block (`tls.enabled` only where the component has it).
const TLS: &[&str] = &[
    "tls",
    "tls.alpn_protocols",
    "tls.ca_file",
    "tls.crt_file",
    "tls.key_file",
    "tls.key_pass",
    "tls.server_name",
    "tls.verify_certificate",
    "tls.verify_hostname",
];

const ACKNOWLEDGEMENTS: &[&str] = &["acknowledgements", "acknowledgements.enabled"];

/// The AWS `auth` block (`auth.imds.*` left out).
const AWS_AUTH: &[&str] = &[
    "auth",
    "auth.access_key_id",
    "auth.secret_access_key",
    "auth.session_token",
    "auth.assume_role",
    "auth.external_id",
    "auth.session_name",
    "auth.credentials_file",
    "auth.profile",
    "auth.region",
    "auth.load_timeout_secs",
    "auth.imds",
];

/// website/cue/reference/components/sources/generated/file.cue
const FILE_SOURCE: &[&[&str]] = &[&[
    "include",
    "exclude",
    "read_from",
    "ignore_older_secs",
    "ignore_checkpoints",
    "ignore_not_found",
    "data_dir",
    "file_key",
    "host_key",
    "offset_key",
    "glob_minimum_cooldown_ms",
    "line_delimiter",
    "max_line_bytes",
    "max_read_bytes",
    "oldest_first",
    "remove_after_secs",
    "rotate_wait_secs",
    "encoding",
    "encoding.charset",
    "fingerprint",
    "multiline",
    "internal_metrics",
]];

/// website/cue/reference/components/sources/generated/kafka.cue
const KAFKA_SOURCE: &[&[&str]] = &[
    &[
        "bootstrap_servers",
        "group_id",
        "topics",
        "auto_offset_reset",
        "commit_interval_ms",
        "drain_timeout_ms",
        "fetch_wait_max_ms",
        "session_timeout_ms",
        "socket_timeout_ms",
        "key_field",
        "topic_key",
        "partition_key",
        "offset_key",
        "headers_key",
        "librdkafka_options",
        "librdkafka_options.*",
        "metrics",
        "sasl",
        "sasl.enabled",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "tls.enabled",
    ],
    SOURCE_DECODING,
    TLS,
];

/// website/cue/reference/components/sources/generated/http_server.cue (`headers`, which
/// turns request headers into event fields, is documented in every tag v0.50.0-v0.57.0).
const HTTP_SERVER_SOURCE: &[&[&str]] = &[
    &[
        "address",
        "path",
        "strict_path",
        "method",
        "path_key",
        "host_key",
        "headers",
        "query_parameters",
        "response_code",
        "auth",
        "auth.strategy",
        "auth.username",
        "auth.password",
        "auth.source",
        "keepalive",
        "keepalive.max_connection_age_jitter_factor",
        "keepalive.max_connection_age_secs",
        "tls.enabled",
    ],
    SOURCE_DECODING,
    TLS,
];

/// website/cue/reference/components/transforms/generated/remap.cue
const REMAP_TRANSFORM: &[&[&str]] = &[&[
    "source",
    "file",
    "files",
    "drop_on_error",
    "drop_on_abort",
    "reroute_dropped",
    "metric_tag_values",
    "timezone",
]];

/// website/cue/reference/components/sinks/generated/http.cue
const HTTP_SINK: &[&[&str]] = &[
    &[
        "uri",
        "method",
        "compression",
        "payload_prefix",
        "payload_suffix",
        "auth",
        "auth.strategy",
        "auth.user",
        "auth.password",
        "auth.token",
        "auth.service",
        "auth.auth",
        "request.headers",
        "request.headers.*",
    ],
    ENCODING,
    SINK_FRAMING,
    BATCH,
    REQUEST,
    TLS,
    ACKNOWLEDGEMENTS,
];

/// website/cue/reference/components/sinks/generated/aws_s3.cue
const AWS_S3_SINK: &[&[&str]] = &[
    &[
        "bucket",
        "region",
        "endpoint",
        "key_prefix",
        "filename_time_format",
        "filename_append_uuid",
        "filename_extension",
        "compression",
        "content_type",
        "content_encoding",
        "timezone",
        "force_path_style",
        "acl",
        "grant_full_control",
        "grant_read",
        "grant_read_acp",
        "grant_write_acp",
        "server_side_encryption",
        "ssekms_key_id",
        "storage_class",
        "tags",
        "tags.*",
        "retry_strategy",
        "retry_strategy.type",
        "retry_strategy.status_codes",
    ],
    AWS_AUTH,
    ENCODING,
    SINK_FRAMING,
    BATCH,
    REQUEST,
    TLS,
    ACKNOWLEDGEMENTS,
];

/// website/cue/reference/components/sinks/generated/aws_kinesis_streams.cue
const AWS_KINESIS_STREAMS_SINK: &[&[&str]] = &[
    &["stream_name", "region", "endpoint", "partition_key_field", "compression", "request_retry_partial"],
    AWS_AUTH,
    ENCODING,
    BATCH,
    REQUEST,
    TLS,
    ACKNOWLEDGEMENTS,
];

/// website/cue/reference/components/sinks/generated/kafka.cue
const KAFKA_SINK: &[&[&str]] = &[
    &[
        "bootstrap_servers",
        "topic",
        "key_field",
        "headers_key",
        "healthcheck_topic",
        "compression",
        "message_timeout_ms",
        "socket_timeout_ms",
        "rate_limit_duration_secs",
        "rate_limit_num",
        "librdkafka_options",
        "librdkafka_options.*",
        "sasl",
        "sasl.enabled",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "tls.enabled",
    ],
    ENCODING,
    BATCH,
    TLS,
    ACKNOWLEDGEMENTS,
];

/// website/cue/reference/components/sinks/generated/gcp_pubsub.cue
const GCP_PUBSUB_SINK: &[&[&str]] = &[
    &["project", "topic", "credentials_path", "api_key", "endpoint"],
    ENCODING,
    BATCH,
    REQUEST,
    TLS,
    ACKNOWLEDGEMENTS,
];

/// website/cue/reference/components/sinks/generated/file.cue
const FILE_SINK: &[&[&str]] = &[
    &["path", "compression", "idle_timeout_secs", "timezone", "internal_metrics"],
    ENCODING,
    SINK_FRAMING,
    ACKNOWLEDGEMENTS,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Source,
    Transform,
    Sink,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Source => "sources",
            Kind::Transform => "transforms",
            Kind::Sink => "sinks",
        }
    }
}

/// Every component type the examples may use, with its options and reference file.
fn component_types() -> Vec<(Kind, &'static str, &'static str, Vec<&'static str>)> {
    let flat = |kind: Kind, lists: &[&[&'static str]]| -> Vec<&'static str> {
        let common = match kind {
            Kind::Source => SOURCE_COMMON,
            Kind::Transform => TRANSFORM_COMMON,
            Kind::Sink => SINK_COMMON,
        };
        lists.iter().flat_map(|l| l.iter().copied()).chain(common.iter().copied()).collect()
    };
    vec![
        (
            Kind::Source,
            "file",
            "website/cue/reference/components/sources/generated/file.cue",
            flat(Kind::Source, FILE_SOURCE),
        ),
        (
            Kind::Source,
            "kafka",
            "website/cue/reference/components/sources/generated/kafka.cue",
            flat(Kind::Source, KAFKA_SOURCE),
        ),
        (
            Kind::Source,
            "http_server",
            "website/cue/reference/components/sources/generated/http_server.cue",
            flat(Kind::Source, HTTP_SERVER_SOURCE),
        ),
        (
            Kind::Transform,
            "remap",
            "website/cue/reference/components/transforms/generated/remap.cue",
            flat(Kind::Transform, REMAP_TRANSFORM),
        ),
        (Kind::Sink, "http", "website/cue/reference/components/sinks/generated/http.cue", flat(Kind::Sink, HTTP_SINK)),
        (
            Kind::Sink,
            "aws_s3",
            "website/cue/reference/components/sinks/generated/aws_s3.cue",
            flat(Kind::Sink, AWS_S3_SINK),
        ),
        (
            Kind::Sink,
            "aws_kinesis_streams",
            "website/cue/reference/components/sinks/generated/aws_kinesis_streams.cue",
            flat(Kind::Sink, AWS_KINESIS_STREAMS_SINK),
        ),
        (
            Kind::Sink,
            "kafka",
            "website/cue/reference/components/sinks/generated/kafka.cue",
            flat(Kind::Sink, KAFKA_SINK),
        ),
        (
            Kind::Sink,
            "gcp_pubsub",
            "website/cue/reference/components/sinks/generated/gcp_pubsub.cue",
            flat(Kind::Sink, GCP_PUBSUB_SINK),
        ),
        (Kind::Sink, "file", "website/cue/reference/components/sinks/generated/file.cue", flat(Kind::Sink, FILE_SINK)),
    ]
}

const SERIALIZER_CODECS: &[&str] =
    &["avro", "cef", "csv", "gelf", "json", "logfmt", "native", "native_json", "protobuf", "raw_message", "text"];
const SINK_FRAMINGS: &[&str] =
    &["bytes", "character_delimited", "length_delimited", "newline_delimited", "varint_length_delimited"];
const DESERIALIZER_CODECS: &[&str] =
    &["avro", "bytes", "gelf", "influxdb", "json", "native", "native_json", "protobuf", "syslog", "vrl"];
const SOURCE_FRAMINGS: &[&str] = &[
    "bytes",
    "character_delimited",
    "chunked_gelf",
    "length_delimited",
    "newline_delimited",
    "octet_counting",
    "varint_length_delimited",
];
const COMPRESSIONS: &[&str] = &["gzip", "none", "snappy", "zlib", "zstd"];

/// Values of the enumerated options the examples use, from the same reference files
/// (values documented in every 0.50-0.57 release).
fn enum_values(kind: Kind, type_name: &str, path: &str) -> Option<&'static [&'static str]> {
    Some(match (kind, type_name, path) {
        (Kind::Sink, _, "encoding.codec") => SERIALIZER_CODECS,
        (Kind::Sink, "http" | "aws_s3" | "file", "framing.method") => SINK_FRAMINGS,
        (Kind::Sink, "http" | "aws_s3" | "aws_kinesis_streams", "compression") => COMPRESSIONS,
        (Kind::Sink, "kafka", "compression") => &["gzip", "lz4", "none", "snappy", "zstd"],
        (Kind::Sink, "file", "compression") => &["gzip", "none", "zstd"],
        (Kind::Sink, "http", "method") => &["delete", "get", "head", "options", "patch", "post", "put", "trace"],
        (Kind::Sink, "http", "auth.strategy") => &["aws", "basic", "bearer"],
        (Kind::Sink, _, "buffer.type") => &["disk", "memory"],
        (Kind::Sink, _, "buffer.when_full") => &["block", "drop_newest"],
        (Kind::Sink, _, "request.retry_jitter_mode") => &["Full", "None"],
        (Kind::Source, _, "decoding.codec") => DESERIALIZER_CODECS,
        (Kind::Source, _, "framing.method") => SOURCE_FRAMINGS,
        (Kind::Source, "http_server", "method") => &["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"],
        (Kind::Source, "http_server", "auth.strategy") => &["basic", "custom"],
        (Kind::Source, "file", "read_from") => &["beginning", "end"],
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// The examples.
// ---------------------------------------------------------------------------------------

fn examples_dir() -> PathBuf {
    common::root().join("vector-examples")
}

/// Every `vector-examples/*/` directory that holds a `vector.yaml`.
fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("vector-examples/ exists")
        .map(|e| e.expect("read vector-examples/").path())
        .filter(|p| p.join("vector.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn name_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Yaml {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn get<'a>(value: &'a Yaml, path: &str) -> Option<&'a Yaml> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn get_str<'a>(value: &'a Yaml, path: &str) -> Option<&'a str> {
    get(value, path).and_then(Yaml::as_str)
}

fn mapping<'a>(value: &'a Yaml, what: &str) -> &'a Mapping {
    value.as_mapping().unwrap_or_else(|| panic!("{what} must be a mapping, is {value:?}"))
}

/// What an example's README tells `firehose serve` to do, with its pipeline's `serve:`.
struct Sidecar {
    /// `--listen` (host:port).
    listen: String,
    /// `--forward` (URL).
    forward: String,
    /// `--partition`, or the pipeline's `serve.partition`: the template whose value goes
    /// in the `X-Firehose-Partition` header.
    partition: Option<String>,
    /// `--forward-gzip`, or the pipeline's `serve.forward_gzip`.
    forward_gzip: bool,
}

/// The README lines that run `firehose serve`.
fn serve_lines(readme: &str) -> impl Iterator<Item = &str> {
    readme.lines().filter(|l| l.contains("firehose serve"))
}

/// The value after `flag` on the README's `firehose serve` line.
fn flag_value(readme: &str, flag: &str) -> Option<String> {
    serve_lines(readme).find_map(|line| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == flag)?;
        words.next().map(|w| w.trim_matches(|c| c == '`' || c == '\'' || c == '"').to_string())
    })
}

fn sidecar(dir: &Path) -> Sidecar {
    let readme = read(&dir.join("README.md"));
    let name = name_of(dir);
    let serve = format!("firehose serve --pipeline vector-examples/{name}/pipeline.yaml");
    assert!(readme.contains(&serve), "{name}/README.md must show `{serve} ...`");
    let listen = flag_value(&readme, "--listen").unwrap_or_else(|| panic!("{name}/README.md: no --listen"));
    let forward = flag_value(&readme, "--forward").unwrap_or_else(|| panic!("{name}/README.md: no --forward"));
    let pipeline = yaml(&dir.join("pipeline.yaml"));
    let partition =
        flag_value(&readme, "--partition").or_else(|| get_str(&pipeline, "serve.partition").map(String::from));
    let forward_gzip = serve_lines(&readme).any(|l| l.split_whitespace().any(|w| w == "--forward-gzip"))
        || get(&pipeline, "serve.forward_gzip").and_then(Yaml::as_bool) == Some(true);
    Sidecar { listen, forward, partition, forward_gzip }
}

/// How an example wires Vector around the sidecar, told by `to_firehose`'s codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wiring {
    /// Vector never parses the events: `bytes` in, `text` out, on both sides of Firehose;
    /// partition keys come from the `X-Firehose-Partition` header.
    Bytes,
    /// Vector parses the events, for transforms of its own or sinks that read their fields:
    /// JSON codecs on both sides of Firehose. About twice the CPU per event.
    Json,
}

/// The one example that shows the JSON-codec wiring; all others are in bytes mode.
const JSON_CODEC_EXAMPLE: &str = "json-codec";

impl Wiring {
    /// The wiring whose `to_firehose` sink has `codec`.
    fn of(codec: &str) -> Option<Wiring> {
        match codec {
            "text" => Some(Wiring::Bytes),
            "json" => Some(Wiring::Json),
            _ => None,
        }
    }

    /// `from_firehose`'s `decoding.codec`.
    fn decoding(self) -> &'static str {
        match self {
            Wiring::Bytes => "bytes",
            Wiring::Json => "json",
        }
    }

    /// The `encoding.codec` of `to_firehose` and of the sinks after Firehose.
    fn encoding(self) -> &'static str {
        match self {
            Wiring::Bytes => "text",
            Wiring::Json => "json",
        }
    }
}

/// `http://host:port/path` → (`host:port`, `/path`).
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("`{url}` must be a plain http:// URL"));
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// The components of one table (`sources`, `transforms`, `sinks`).
fn components(config: &Yaml, kind: Kind) -> BTreeMap<String, Yaml> {
    match config.get(kind.table()) {
        None => BTreeMap::new(),
        Some(table) => mapping(table, kind.table())
            .iter()
            .map(|(k, v)| (k.as_str().expect("component ids are strings").to_string(), v.clone()))
            .collect(),
    }
}

/// Whether `path` (YAML keys) matches an allow-list entry (dot-separated, `*` = any key).
fn matches(entry: &str, path: &[String]) -> bool {
    let segments: Vec<&str> = entry.split('.').collect();
    segments.len() == path.len() && segments.iter().zip(path).all(|(s, p)| *s == "*" || s == p)
}

/// Whether some allow-list entry lies strictly below `path`.
fn has_children(allowed: &[&str], path: &[String]) -> bool {
    allowed.iter().any(|entry| {
        let segments: Vec<&str> = entry.split('.').collect();
        segments.len() > path.len() && segments.iter().zip(path).all(|(s, p)| *s == "*" || s == p)
    })
}

/// Checks every key of `value` (recursively) against `allowed`.
fn check_keys(value: &Mapping, path: &mut Vec<String>, allowed: &[&str], at: &str, errors: &mut Vec<String>) {
    for (key, child) in value {
        let Some(key) = key.as_str() else {
            errors.push(format!("{at}: a key that is not a string: {key:?}"));
            continue;
        };
        path.push(key.to_string());
        let dotted = path.join(".");
        if path.len() == 1 && key == "type" {
            // Checked by the caller.
        } else if !allowed.iter().any(|e| matches(e, path)) {
            errors.push(format!("{at}: `{dotted}` is not an option in the reference"));
        } else if let Some(map) = child.as_mapping() {
            if has_children(allowed, path) {
                check_keys(map, path, allowed, at, errors);
            } else {
                errors.push(format!("{at}: `{dotted}` is a mapping, but the reference lists no options under it"));
            }
        }
        path.pop();
    }
}

/// Checks enumerated values (recursively) for one component.
fn check_enums(value: &Yaml, kind: Kind, type_name: &str, path: &mut Vec<String>, at: &str, errors: &mut Vec<String>) {
    let Some(map) = value.as_mapping() else { return };
    for (key, child) in map {
        let Some(key) = key.as_str() else { continue };
        path.push(key.to_string());
        let dotted = path.join(".");
        if let Some(values) = enum_values(kind, type_name, &dotted) {
            match child.as_str() {
                Some(v) if values.contains(&v) => {}
                _ => errors.push(format!("{at}: `{dotted}` is {child:?}, expected one of {values:?}")),
            }
        }
        check_enums(child, kind, type_name, path, at, errors);
        path.pop();
    }
}

/// Environment variable names Vector would interpolate in `text` (`$NAME`, `${NAME}`,
/// `${NAME:-default}`, ...; `$$` is a literal dollar), as in src/config/vars.rs.
fn interpolated_variables(text: &str) -> Result<BTreeSet<String>, String> {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut names = BTreeSet::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => i += 2,
            Some('{') => {
                let rest: String = chars[i + 2..].iter().collect();
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in `{}`", rest.lines().next().unwrap_or("")))?;
                let inner = &rest[..end];
                let name: String = inner.chars().take_while(|c| word(*c)).collect();
                if name.is_empty() {
                    return Err(format!("`${{{inner}}}` names no variable"));
                }
                names.insert(name);
                i += 2 + end + 1;
            }
            Some(c) if word(*c) => {
                let name: String = chars[i + 1..].iter().take_while(|c| word(**c)).collect();
                i += 1 + name.chars().count();
                names.insert(name);
            }
            _ => i += 1,
        }
    }
    Ok(names)
}

/// The `{{ field }}` references of a Vector template.
fn template_fields(template: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        fields.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    fields
}

/// Walks every string value of a component (for templates).
fn strings<'a>(value: &'a Yaml, path: &mut Vec<String>, out: &mut Vec<(String, &'a str)>) {
    match value {
        Yaml::String(s) => out.push((path.join("."), s)),
        Yaml::Mapping(map) => {
            for (k, v) in map {
                path.push(k.as_str().unwrap_or("?").to_string());
                strings(v, path, out);
                path.pop();
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|v| strings(v, path, out)),
        _ => {}
    }
}

/// A field of the events that a sink after Firehose reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Needed {
    /// The sink's id.
    sink: String,
    /// The option that names the field (`key_prefix`, `partition_key_field`, ...).
    option: String,
    /// The field, as Vector reads it: a leading `.` and quotes around a plain name removed.
    field: String,
}

/// A Vector field path as the field it names: `.a` and `"a"` are `a` (dashes need no
/// quotes in Vector's path syntax, so `X-Firehose-Partition` is one field).
fn field_name(path: &str) -> String {
    let path = path.strip_prefix('.').unwrap_or(path);
    path.strip_prefix('"').and_then(|p| p.strip_suffix('"')).unwrap_or(path).to_string()
}

/// The sinks reading from `from_firehose`.
fn sinks_after_firehose(config: &Yaml) -> BTreeMap<String, Yaml> {
    components(config, Kind::Sink)
        .into_iter()
        .filter(|(_, sink)| {
            sink.get("inputs")
                .and_then(Yaml::as_sequence)
                .is_some_and(|inputs| inputs.iter().any(|i| i.as_str() == Some("from_firehose")))
        })
        .collect()
}

/// The event fields the sinks after Firehose read (templates, partition and message keys).
fn fields_needed_downstream(config: &Yaml) -> Vec<Needed> {
    let mut needed = BTreeSet::new();
    for (id, sink) in sinks_after_firehose(config) {
        let mut found = Vec::new();
        strings(&sink, &mut Vec::new(), &mut found);
        for (option, s) in found {
            for field in template_fields(s) {
                needed.insert(Needed { sink: id.clone(), option: option.clone(), field: field_name(&field) });
            }
        }
        for option in ["partition_key_field", "key_field"] {
            if let Some(field) = get_str(&sink, option) {
                needed.insert(Needed { sink: id.clone(), option: option.to_string(), field: field_name(field) });
            }
        }
    }
    needed.into_iter().collect()
}

/// The request headers `from_firehose` turns into event fields (`headers`).
fn header_fields(config: &Yaml) -> Vec<String> {
    let source = components(config, Kind::Source).remove("from_firehose");
    let headers = source.as_ref().and_then(|s| s.get("headers")).and_then(Yaml::as_sequence);
    headers.into_iter().flatten().map(|h| h.as_str().unwrap_or_default().to_string()).collect()
}

/// Where the sinks after Firehose get their keys: a field named like a header that
/// `from_firehose` lists is filled from `X-Firehose-Partition`, which Firehose sends only
/// with `serve.partition`; in bytes mode there is no other field to read.
fn check_partition_wiring(name: &str, config: &Yaml, sidecar: &Sidecar, wiring: Wiring) -> Vec<String> {
    let mut errors = Vec::new();
    let headers = header_fields(config);
    for header in &headers {
        if !header.eq_ignore_ascii_case(HEADER) {
            errors.push(format!(
                "{name}: sources.from_firehose lists header `{header}`, which Firehose never sends (it sends {HEADER})"
            ));
        }
    }
    if !headers.is_empty() && sidecar.partition.is_none() {
        errors.push(format!(
            "{name}: sources.from_firehose lists `headers: {headers:?}` but pipeline.yaml sets no serve.partition: \
             Firehose sends no {HEADER} header, and the field is null on every event"
        ));
    }
    let needed = fields_needed_downstream(config);
    for Needed { sink, option, field } in &needed {
        if headers.contains(field) {
            if sidecar.partition.is_none() {
                errors.push(format!(
                    "{name}: sinks.{sink}.{option} reads `{field}`, which only Firehose's serve.partition fills: \
                     set serve.partition in pipeline.yaml"
                ));
            }
        } else if wiring == Wiring::Bytes {
            errors.push(format!(
                "{name}: sinks.{sink}.{option} reads `{field}`, but in bytes mode an event after Firehose has only \
                 its `message` and the headers from_firehose lists: set serve.partition in pipeline.yaml, list \
                 `headers: [{HEADER}]` on from_firehose and name `{HEADER}` here"
            ));
        }
    }
    if let Some(template) = &sidecar.partition
        && !needed.iter().any(|n| headers.contains(&n.field))
    {
        errors.push(format!(
            "{name}: serve.partition `{template}` is set but no sink after Firehose reads {HEADER} (list it in \
             from_firehose's `headers` and name it in the sink): every batch is split by it for nothing"
        ));
    }
    errors
}

/// Checks one `vector.yaml`, returning every problem found.
fn check_vector_config(dir: &Path) -> Vec<String> {
    let name = name_of(dir);
    let path = dir.join("vector.yaml");
    let text = read(&path);
    let config = yaml(&path);
    let readme = read(&dir.join("README.md"));
    let sidecar = sidecar(dir);
    let types = component_types();
    let mut errors = Vec::new();

    // Global options (`sources`, `transforms` and `sinks` are checked component by component).
    for (key, value) in mapping(&config, "vector.yaml") {
        let key = key.as_str().unwrap_or_default();
        if !GLOBAL.contains(&key) {
            errors.push(format!("{name}/vector.yaml: `{key}` is not a global option in the reference"));
        } else if key == "acknowledgements" {
            let at = format!("{name}/vector.yaml (website/cue/reference/generated/configuration.cue)");
            check_keys(mapping(value, key), &mut vec![key.to_string()], GLOBAL, &at, &mut errors);
        }
    }
    if get(&config, "acknowledgements.enabled").and_then(Yaml::as_bool) != Some(true) {
        errors.push(format!("{name}: global `acknowledgements.enabled` must be true"));
    }

    // Components: type, options, enumerated values.
    let mut ids: BTreeMap<String, (Kind, String)> = BTreeMap::new();
    for kind in [Kind::Source, Kind::Transform, Kind::Sink] {
        for (id, component) in components(&config, kind) {
            let at = format!("{name}: {}.{id}", kind.table());
            if ids.insert(id.clone(), (kind, String::new())).is_some() {
                errors.push(format!("{at}: the id `{id}` is used twice"));
            }
            let Some(type_name) = get_str(&component, "type") else {
                errors.push(format!("{at}: no `type`"));
                continue;
            };
            ids.insert(id.clone(), (kind, type_name.to_string()));
            let Some((_, _, reference, allowed)) = types.iter().find(|(k, t, _, _)| *k == kind && *t == type_name)
            else {
                errors.push(format!("{at}: type `{type_name}` is not one of the checked component types"));
                continue;
            };
            let keys_at = format!("{at} ({reference})");
            check_keys(mapping(&component, &at), &mut Vec::new(), allowed, &keys_at, &mut errors);
            check_enums(&component, kind, type_name, &mut Vec::new(), &at, &mut errors);
        }
    }

    // The graph: inputs name existing sources or transforms (or a remap's `dropped` output);
    // every source and transform feeds something.
    let mut consumed = BTreeSet::new();
    for kind in [Kind::Transform, Kind::Sink] {
        for (id, component) in components(&config, kind) {
            let at = format!("{name}: {}.{id}", kind.table());
            let inputs = component.get("inputs").and_then(Yaml::as_sequence);
            let Some(inputs) = inputs.filter(|i| !i.is_empty()) else {
                errors.push(format!("{at}: `inputs` must be a non-empty list"));
                continue;
            };
            for input in inputs {
                let Some(input) = input.as_str() else {
                    errors.push(format!("{at}: input {input:?} is not a string"));
                    continue;
                };
                let (upstream, output) = match input.split_once('.') {
                    Some((u, o)) => (u, Some(o)),
                    None => (input, None),
                };
                match (ids.get(upstream), output) {
                    (Some((Kind::Source | Kind::Transform, _)), None) => {}
                    (Some((Kind::Transform, t)), Some("dropped")) if t == "remap" => {
                        let transform = &components(&config, Kind::Transform)[upstream];
                        if get(transform, "reroute_dropped").and_then(Yaml::as_bool) != Some(true) {
                            errors.push(format!("{at}: `{input}` needs `reroute_dropped: true` on `{upstream}`"));
                        }
                    }
                    _ => errors.push(format!("{at}: input `{input}` is not a source, transform or known output")),
                }
                consumed.insert(upstream.to_string());
            }
        }
    }
    for (id, (kind, _)) in &ids {
        if *kind != Kind::Sink && !consumed.contains(id) {
            errors.push(format!("{name}: {}.{id} feeds nothing", kind.table()));
        }
    }

    // Acknowledgements on every sink (the one to Firehose and the destination included).
    for (id, sink) in components(&config, Kind::Sink) {
        if get(&sink, "acknowledgements.enabled").and_then(Yaml::as_bool) != Some(true) {
            errors.push(format!("{name}: sinks.{id} must have `acknowledgements.enabled: true`"));
        }
    }

    // The sink to Firehose; its codec tells the wiring.
    let sinks = components(&config, Kind::Sink);
    let sources = components(&config, Kind::Source);
    let transforms = components(&config, Kind::Transform);
    let mut wiring = Wiring::Bytes;
    match sinks.get("to_firehose") {
        None => errors.push(format!("{name}: no `to_firehose` sink")),
        Some(sink) => {
            let at = format!("{name}: sinks.to_firehose");
            let expect = |path: &str, value: &str, errors: &mut Vec<String>| {
                if get_str(sink, path) != Some(value) {
                    errors.push(format!("{at}: `{path}` must be `{value}`, is {:?}", get(sink, path)));
                }
            };
            expect("type", "http", &mut errors);
            let codec = get_str(sink, "encoding.codec").unwrap_or_default();
            match Wiring::of(codec) {
                None => errors.push(format!(
                    "{at}: `encoding.codec` must be `text` (bytes mode) or `json` (the JSON-codec wiring), is `{codec}`"
                )),
                Some(Wiring::Json) if name != JSON_CODEC_EXAMPLE => errors.push(format!(
                    "{at}: `encoding.codec: json` parses every event in Vector; the examples wire bytes mode \
                     (`encoding.codec: text`), only {JSON_CODEC_EXAMPLE}/ shows the JSON codecs"
                )),
                Some(w) => wiring = w,
            }
            expect("framing.method", "newline_delimited", &mut errors);
            // A loopback hop: compression costs CPU on both ends and saves nothing.
            if get_str(sink, "compression").is_some_and(|c| c != "none") {
                errors.push(format!(
                    "{at}: `compression` must be `none` (or unset) on the loopback hop, is {:?}",
                    get(sink, "compression")
                ));
            }
            if wiring == Wiring::Bytes {
                // Vector never parses the events: the sources feed Firehose directly, as bytes.
                let inputs = sink.get("inputs").and_then(Yaml::as_sequence).cloned().unwrap_or_default();
                for input in inputs.iter().filter_map(Yaml::as_str) {
                    if transforms.contains_key(input) {
                        errors.push(format!(
                            "{at}: in bytes mode reads the sources directly, but `{input}` is a transform \
                             (Firehose validates the events; Vector must not parse them)"
                        ));
                    } else if let Some(codec) = sources.get(input).and_then(|s| get_str(s, "decoding.codec"))
                        && codec != "bytes"
                    {
                        errors.push(format!(
                            "{name}: sources.{input}: `decoding.codec` must be `bytes` in bytes mode, is `{codec}`"
                        ));
                    }
                }
            }
            let uri = get_str(sink, "uri").unwrap_or_default();
            let (authority, uri_path) = split_url(uri);
            if authority != sidecar.listen || !["/", "/v1/events"].contains(&uri_path.as_str()) {
                errors.push(format!(
                    "{at}: `uri` {uri} must post to `/` or `/v1/events` on {} (firehose serve --listen in README.md)",
                    sidecar.listen
                ));
            }
            if let Some(health) = get_str(sink, "healthcheck.uri")
                && health != format!("http://{}/health", sidecar.listen)
                && health != format!("http://{}/ready", sidecar.listen)
            {
                errors.push(format!("{at}: `healthcheck.uri` {health} is not firehose's /health or /ready"));
            }
            for key in ["batch.max_events", "batch.timeout_secs", "request.timeout_secs"] {
                if get(sink, key).is_none() {
                    errors.push(format!("{at}: `{key}` must be set"));
                }
            }
            let inputs = sink.get("inputs").and_then(Yaml::as_sequence).cloned().unwrap_or_default();
            if inputs.iter().any(|i| i.as_str() == Some("from_firehose")) {
                errors.push(format!("{at}: must not read from `from_firehose` (a loop)"));
            }
            let pipeline = yaml(&dir.join("pipeline.yaml"));
            let firehose_batch = get(&pipeline, "batch.max_events").and_then(Yaml::as_u64).unwrap_or(1000);
            let vector_batch = get(sink, "batch.max_events").and_then(Yaml::as_u64).unwrap_or(0);
            if vector_batch > firehose_batch {
                errors.push(format!(
                    "{at}: batch.max_events {vector_batch} exceeds the pipeline's batch.max_events {firehose_batch}"
                ));
            }
        }
    }

    if sidecar.forward_gzip {
        errors.push(format!(
            "{name}: firehose serve must not compress what it forwards (--forward-gzip / serve.forward_gzip): \
             a loopback hop; compress on the final sink"
        ));
    }

    // The source Firehose forwards to.
    match sources.get("from_firehose") {
        None => errors.push(format!("{name}: no `from_firehose` source")),
        Some(source) => {
            let at = format!("{name}: sources.from_firehose");
            let (authority, forward_path) = split_url(&sidecar.forward);
            if get_str(source, "type") != Some("http_server") {
                errors.push(format!("{at}: must be an `http_server` source"));
            }
            if get_str(source, "address") != Some(authority.as_str()) {
                errors.push(format!(
                    "{at}: `address` {:?} is not {authority} (firehose serve --forward in README.md)",
                    get(source, "address")
                ));
            }
            let path = get_str(source, "path").unwrap_or("/");
            if path != forward_path {
                errors.push(format!("{at}: `path` {path} does not match --forward {}", sidecar.forward));
            }
            if get_str(source, "decoding.codec") != Some(wiring.decoding()) {
                errors.push(format!(
                    "{at}: `decoding.codec` must be `{}` to match to_firehose's `encoding.codec: {}`, is {:?}",
                    wiring.decoding(),
                    wiring.encoding(),
                    get(source, "decoding.codec")
                ));
            }
            if get_str(source, "framing.method") != Some("newline_delimited") {
                errors.push(format!("{at}: `framing.method` must be newline_delimited"));
            }
        }
    }
    let destinations = sinks_after_firehose(&config);
    if destinations.is_empty() {
        errors.push(format!("{name}: no sink reads from `from_firehose`"));
    }
    for (id, sink) in &destinations {
        // Bytes mode: `text` writes each event's message, the line exactly as Firehose sent it.
        if get_str(sink, "encoding.codec") != Some(wiring.encoding()) {
            errors.push(format!(
                "{name}: sinks.{id}: `encoding.codec` must be `{}` after from_firehose's `decoding.codec: {}`, is {:?}",
                wiring.encoding(),
                wiring.decoding(),
                get(sink, "encoding.codec")
            ));
        }
    }
    errors.extend(check_partition_wiring(&name, &config, &sidecar, wiring));

    // Templates: since 0.57 a template that references event fields needs a literal prefix
    // (src/template.rs, ConfinementChecker::for_template): not empty and not just "/".
    for (id, sink) in &sinks {
        let mut found = Vec::new();
        strings(sink, &mut Vec::new(), &mut found);
        for (key, s) in found {
            if let Some(i) = s.find("{{") {
                let prefix = &s[..s.find('%').map_or(i, |p| p.min(i))];
                if prefix.is_empty() || prefix == "/" {
                    errors
                        .push(format!("{name}: sinks.{id}.{key}: `{s}` needs a literal prefix before its first field"));
                }
            }
        }
    }

    // Environment variables: each one Vector would substitute (comments included) is a row
    // of the README's table (`| `NAME` | ...`); a literal dollar must be written `$$`. Since
    // 0.57 Vector interpolates only when told to (src/cli.rs, src/app.rs), so the README must
    // say so where it runs Vector.
    match interpolated_variables(&text) {
        Err(e) => errors.push(format!("{name}/vector.yaml: {e}")),
        Ok(names) => {
            for var in &names {
                if !readme.lines().any(|l| l.starts_with(&format!("| `{var}` |"))) {
                    errors.push(format!("{name}/vector.yaml uses ${var}, which README.md's environment table lacks"));
                }
            }
            let sets_it = readme.lines().any(|l| {
                l.trim() == format!("export {INTERPOLATION}=true")
                    || l.contains(&format!("{INTERPOLATION}=true vector"))
            });
            if (!names.is_empty() || text.contains("$$")) && !sets_it {
                errors.push(format!(
                    "{name}/README.md: vector.yaml uses environment variables, which Vector 0.57 and later \
                     interpolate only with {INTERPOLATION}=true: export it where README.md runs Vector"
                ));
            }
        }
    }
    errors
}

/// The switch that turns environment variable interpolation on in Vector 0.57 and later
/// (`--dangerously-allow-env-var-interpolation`; older releases ignore the variable).
const INTERPOLATION: &str = "VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION";

#[test]
fn there_is_an_example_per_destination_and_the_readme_lists_them() {
    let names: Vec<String> = examples().iter().map(|d| name_of(d)).collect();
    for expected in ["event-hubs", "http", "kinesis", "pubsub", "s3", JSON_CODEC_EXAMPLE] {
        assert!(names.contains(&expected.to_string()), "vector-examples/{expected}/vector.yaml is missing: {names:?}");
    }
    let readme = read(&examples_dir().join("README.md"));
    for name in &names {
        assert!(readme.contains(&format!("[`{name}/`]({name}/)")), "vector-examples/README.md does not list {name}/");
        for file in ["vector.yaml", "pipeline.yaml", "README.md"] {
            assert!(examples_dir().join(name).join(file).is_file(), "vector-examples/{name}/{file} is missing");
        }
    }
}

#[test]
fn every_vector_config_uses_only_documented_options_and_acknowledges_end_to_end() {
    let mut errors = Vec::new();
    for dir in examples() {
        errors.extend(check_vector_config(&dir));
    }
    assert!(errors.is_empty(), "problems in vector-examples:\n  {}", errors.join("\n  "));
}

#[test]
fn every_firehose_pipeline_parses_and_names_wasm_modules() {
    for dir in examples() {
        let name = name_of(&dir);
        let path = dir.join("pipeline.yaml");
        let pipeline = yaml(&path);
        let stages = pipeline.get("stages").and_then(Yaml::as_sequence).unwrap_or_else(|| panic!("{name}: no stages"));
        assert!(!stages.is_empty(), "{name}/pipeline.yaml has no stages");
        for stage in stages {
            let module = get_str(stage, "module").unwrap_or_else(|| panic!("{name}: a stage without `module`"));
            assert!(module.ends_with(".wasm"), "{name}/pipeline.yaml: module `{module}` is not a .wasm file");
        }
        // The host's own loader: known keys only, tables resolved relative to the file.
        let config = PipelineConfig::load(&path).unwrap_or_else(|e| panic!("{name}/pipeline.yaml: {e}"));
        assert_eq!(config.stages.len(), stages.len());
        for file in &config.files {
            if file.extension().is_some_and(|e| e == "wasm") {
                let built = file.file_name().unwrap().to_string_lossy();
                assert!(
                    ["firehose_filter.wasm", "firehose_enrich.wasm", "firehose_pii_mask.wasm"]
                        .contains(&built.as_ref()),
                    "{name}: unexpected module {}",
                    file.display()
                );
            } else {
                assert!(file.is_file(), "{name}: {} does not exist", file.display());
            }
        }
    }
}

/// An example's pipeline, loaded with its module and table paths pointed at the built
/// modules and the demo's tables (the build may live elsewhere: CARGO_TARGET_DIR).
fn load_example_pipeline(dir: &Path) -> Arc<Pipeline> {
    let modules = common::module("filter").parent().unwrap().to_path_buf();
    let text = read(&dir.join("pipeline.yaml"))
        .replace("../../target/wasm32-wasip2/module/", &format!("{}/", modules.display()))
        .replace("../../examples/", &format!("{}/", common::root().join("examples").display()));
    let copy = common::TestDir::new();
    Pipeline::load(&common::engine(), &copy.write("pipeline.yaml", &text))
        .unwrap_or_else(|e| panic!("{}/pipeline.yaml should load: {e}", name_of(dir)))
}

/// The value at a simple field path (`a`, `$.a.b`) of `event`.
fn lookup<'a>(event: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let path = path.strip_prefix("$.").unwrap_or(path);
    path.split('.').try_fold(event, |v, key| v.get(key))
}

/// What the sidecar forwards for 500 generated events: the pipeline's output grouped as
/// `firehose serve` groups it (by `partition`, or one group), checked for what the sinks
/// after it read: every event has its partition, no partition value comes from a masked
/// field, batches are not split into a request per handful of events, and the `fields`
/// read from the events themselves (JSON-codec wiring) are there and unmasked.
fn forwarding_problems(pipeline: &Arc<Pipeline>, partition: Option<&str>, fields: &[String]) -> Vec<String> {
    let template = partition.map(|p| Template::parse(p).unwrap_or_else(|e| panic!("serve.partition: {e}")));
    let mut generator = Generator::new(42);
    let mut intake = Intake::default();
    for line in 1..=500 {
        intake.add(line, generator.next_event().as_bytes());
    }
    let passed = Passed::run(&mut pipeline.runner(), intake);
    let before = passed.counts();
    let mut sink = PartitionSink::new(template.as_ref());
    let Ok(after) = passed.deliver(&mut sink);
    let mut problems = Vec::new();
    if before.delivered < 100 {
        problems.push(format!("only {} of 500 events delivered", before.delivered));
    }
    if after.delivered != before.delivered {
        let letters = String::from_utf8_lossy(&sink.dead_letters);
        let reason = letters.lines().find(|l| l.contains("no partition")).unwrap_or_default();
        problems.push(format!(
            "{} of {} delivered events have no partition and are dead-lettered: {reason}",
            before.delivered - after.delivered,
            before.delivered
        ));
    }
    if let Some(template) = partition {
        if sink.groups.len() as u64 > (after.delivered / 10).max(1) {
            problems.push(format!(
                "serve.partition `{template}` splits {} events into {} requests: choose a coarser key (per-lead keys \
                 need the JSON-codec wiring)",
                after.delivered,
                sink.groups.len()
            ));
        }
        if let Some(group) = sink.groups.iter().find(|g| g.partition.as_deref().is_none_or(str::is_empty)) {
            problems.push(format!("a group of {} events has no partition value", group.lines.len()));
        }
    }
    // The fields the partition template renders, and those the sinks read from the events.
    let mut read: Vec<String> = fields.to_vec();
    let time_parts = ["year", "month", "day", "hour", "minute"];
    read.extend(
        partition.map(template_fields).unwrap_or_default().into_iter().filter(|f| !time_parts.contains(&f.as_str())),
    );
    for group in &sink.groups {
        for line in group.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let event: serde_json::Value = serde_json::from_slice(line).expect("forwarded lines are JSON");
            for field in &read {
                let value = lookup(&event, field).and_then(|v| v.as_str());
                if !value.is_some_and(|v| !v.is_empty() && !v.contains('*')) {
                    problems.push(format!("`{field}` (read after Firehose) is missing or masked in {event}"));
                    return problems;
                }
            }
        }
    }
    problems
}

#[test]
fn every_firehose_pipeline_runs_and_keeps_the_fields_vector_needs_after_it() {
    for dir in examples() {
        let name = name_of(&dir);
        let config = yaml(&dir.join("vector.yaml"));
        let headers = header_fields(&config);
        // Fields named like a listed header come from X-Firehose-Partition (checked by
        // rendering serve.partition); any other is read from the event (JSON-codec wiring).
        let fields: Vec<String> =
            fields_needed_downstream(&config).into_iter().map(|n| n.field).filter(|f| !headers.contains(f)).collect();
        let partition = sidecar(&dir).partition;
        let problems = forwarding_problems(&load_example_pipeline(&dir), partition.as_deref(), &fields);
        assert!(problems.is_empty(), "{name}:\n  {}", problems.join("\n  "));
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    // Unknown options, deprecated ones, wrong enum values, nested unknowns.
    let allowed = component_types().into_iter().find(|(k, t, _, _)| *k == Kind::Sink && *t == "http").unwrap().3;
    let bad: Yaml = serde_yaml_ng::from_str(
        "type: http\nuri: http://x/\nheaders: {a: b}\nrequest: {timeout: 5}\nencoding: {codec: jsn, avro: {schema: x}}\n",
    )
    .unwrap();
    let mut errors = Vec::new();
    check_keys(bad.as_mapping().unwrap(), &mut Vec::new(), &allowed, "t", &mut errors);
    check_enums(&bad, Kind::Sink, "http", &mut Vec::new(), "t", &mut errors);
    let text = errors.join("\n");
    for expect in ["`headers`", "`request.timeout`", "`encoding.avro`", "jsn"] {
        assert!(text.contains(expect), "{expect} not reported in:\n{text}");
    }
    let source = component_types().into_iter().find(|(k, t, _, _)| *k == Kind::Source && *t == "file").unwrap().3;
    let deprecated: Yaml =
        serde_yaml_ng::from_str("type: file\ninclude: [a]\nacknowledgements: {enabled: true}\n").unwrap();
    let mut errors = Vec::new();
    check_keys(deprecated.as_mapping().unwrap(), &mut Vec::new(), &source, "t", &mut errors);
    assert_eq!(errors.len(), 1, "{errors:?}");

    assert_eq!(
        interpolated_variables("a: \"${A}\" b: $B.c d: $$E f: ${G:-x} $ 5").unwrap(),
        ["A", "B.c", "G"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(template_fields("events/flow={{ flow_id }}/x={{y}}/%Y"), ["flow_id", "y"]);
    assert!(matches("request.headers.*", &["request".into(), "headers".into(), "X-Pipeline".into()]));
    assert!(matches("librdkafka_options.*", &["librdkafka_options".into(), "socket.keepalive.enable".into()]));
    assert_eq!(field_name(".\"X-Firehose-Partition\""), "X-Firehose-Partition");

    // The wiring: copies of the examples, each with one mistake, and what the checker says.
    for name in ["s3", "kinesis", JSON_CODEC_EXAMPLE] {
        assert_eq!(problems_after(name, &[]), "", "the unchanged copy of {name}/ is fine");
    }
    let header_on_source = ("vector.yaml", "    headers: [X-Firehose-Partition]\n", "");
    let cases: &[(&str, &[Edit], &[&str])] = &[
        // A sink naming the header field without `headers:` on from_firehose.
        ("s3", &[header_on_source], &["sinks.s3.key_prefix reads `X-Firehose-Partition`, but in bytes mode"]),
        // ... or without serve.partition: Firehose sends no header, the field is null.
        (
            "kinesis",
            &[("pipeline.yaml", "serve:\n  partition: \"{{flow_id}}\"\n", "")],
            &[
                "lists `headers: [\"X-Firehose-Partition\"]` but pipeline.yaml sets no serve.partition",
                "sinks.kinesis.partition_key_field reads `X-Firehose-Partition`, which only Firehose's serve.partition",
            ],
        ),
        // A header Firehose never sends.
        (
            "kinesis",
            &[("vector.yaml", "headers: [X-Firehose-Partition]", "headers: [X-Partition]")],
            &["lists header `X-Partition`, which Firehose never sends"],
        ),
        // A sink reading an event field: a bytes event has none.
        (
            "s3",
            &[("vector.yaml", "events/{{ X-Firehose-Partition }}/", "events/flow={{ flow_id }}/")],
            &["sinks.s3.key_prefix reads `flow_id`, but in bytes mode", "is set but no sink after Firehose reads"],
        ),
        (
            "kinesis",
            &[("vector.yaml", "partition_key_field: X-Firehose-Partition", "partition_key_field: lead_id")],
            &["sinks.kinesis.partition_key_field reads `lead_id`, but in bytes mode"],
        ),
        // Compression on the loopback hop, either way.
        (
            "s3",
            &[("vector.yaml", "    compression: none\n", "    compression: gzip\n")],
            &["sinks.to_firehose: `compression` must be `none`"],
        ),
        (
            "s3",
            &[("README.md", "--forward http://127.0.0.1:8788/", "--forward http://127.0.0.1:8788/ --forward-gzip")],
            &["must not compress what it forwards"],
        ),
        // Codecs that do not match across the hop.
        (
            "s3",
            &[("vector.yaml", "    decoding:\n      codec: bytes\n", "    decoding:\n      codec: json\n")],
            &["sources.from_firehose: `decoding.codec` must be `bytes`"],
        ),
        (
            "s3",
            &[(
                "vector.yaml",
                "    encoding:\n      codec: text\n    framing:\n      method: newline_delimited\n    batch:\n      max_bytes",
                "    encoding:\n      codec: json\n    framing:\n      method: newline_delimited\n    batch:\n      max_bytes",
            )],
            &["sinks.s3: `encoding.codec` must be `text`"],
        ),
        // A parse in Vector before Firehose in bytes mode, and JSON codecs outside json-codec/.
        (
            JSON_CODEC_EXAMPLE,
            &[(
                "vector.yaml",
                "    encoding:\n      codec: json\n    framing:\n      method: newline_delimited\n    compression: none",
                "    encoding:\n      codec: text\n    framing:\n      method: newline_delimited\n    compression: none",
            )],
            &[
                "in bytes mode reads the sources directly, but `parse_leads` is a transform",
                "sinks.kinesis.partition_key_field reads `lead_id`, but in bytes mode",
            ],
        ),
        (
            "kinesis",
            &[(
                "vector.yaml",
                "    encoding:\n      codec: text\n    framing:\n      method: newline_delimited\n    compression: none",
                "    encoding:\n      codec: json\n    framing:\n      method: newline_delimited\n    compression: none",
            )],
            &["only json-codec/ shows the JSON codecs"],
        ),
        (
            "kinesis",
            &[(
                "vector.yaml",
                "    decoding:\n      codec: bytes\n\n  # Firehose",
                "    decoding:\n      codec: json\n\n  # Firehose",
            )],
            &["sources.lead_topic: `decoding.codec` must be `bytes` in bytes mode"],
        ),
        // Vector 0.57 leaves ${VAR} alone unless told.
        (
            "kinesis",
            &[("README.md", "export VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION=true", "")],
            &["interpolate only with VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION=true"],
        ),
    ];
    for (name, edits, expected) in cases {
        let problems = problems_after(name, edits);
        for expect in *expected {
            assert!(problems.contains(expect), "{name} with {edits:?}: `{expect}` not reported in:\n{problems}");
        }
    }

    // What the sidecar forwards: keys that are not there, masked, or one per lead.
    let pipeline = load_example_pipeline(&examples_dir().join("kinesis"));
    assert_eq!(forwarding_problems(&pipeline, Some("{{flow_id}}"), &[]), Vec::<String>::new());
    let problems = |partition: Option<&str>, fields: &[&str]| {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        forwarding_problems(&pipeline, partition, &fields).join("\n")
    };
    assert!(problems(Some("{{lead_id}}"), &[]).contains("requests: choose a coarser key"));
    assert!(problems(Some("{{no_such_field}}"), &[]).contains("have no partition and are dead-lettered"));
    assert!(
        problems(Some("{{$.lead_data.email}}"), &[])
            .contains("`$.lead_data.email` (read after Firehose) is missing or masked")
    );
    assert!(problems(None, &["$.lead_data.ssn"]).contains("is missing or masked"));
}

/// A change to a copy of an example: the file, a text in it, what replaces it.
type Edit<'a> = (&'a str, &'a str, &'a str);

/// What the checker reports for a copy of example `name` with `edits` applied.
fn problems_after(name: &str, edits: &[Edit]) -> String {
    let copy = common::TestDir::new();
    let dir = copy.path(name);
    std::fs::create_dir(&dir).expect("create the copy");
    for file in ["vector.yaml", "pipeline.yaml", "README.md"] {
        let mut text = read(&examples_dir().join(name).join(file));
        for (_, from, to) in edits.iter().filter(|(f, _, _)| *f == file) {
            assert!(text.contains(from), "{name}/{file} has no `{from}` to change");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(dir.join(file), text).expect("write the copy");
    }
    check_vector_config(&dir).join("\n")
}

/// Every example's vector.yaml (and the Kubernetes aggregator's) through a real Vector:
/// `vector validate --no-environment`, which loads and type-checks the whole topology
/// without connecting anywhere. Runs when `vector` is on PATH (Vector's own packages or
/// release archives); environment variables the files name get placeholder values.
#[test]
fn every_example_passes_vector_validate() {
    let found = std::process::Command::new("vector").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: `vector` is not on PATH (install Vector 0.50 or newer to run this check)");
        return;
    }
    let dir = common::TestDir::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::root().join("vector-examples"))
        .unwrap()
        .map(|e| e.unwrap().path().join("vector.yaml"))
        .filter(|p| p.exists())
        .collect();
    let manifest = std::fs::read_to_string(common::root().join("deploy/kubernetes/vector/vector-config.yaml")).unwrap();
    let manifest: Yaml = serde_yaml_ng::from_str(&manifest).unwrap();
    files.push(dir.write("aggregator.yaml", manifest["data"]["vector.yaml"].as_str().unwrap()));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut command = std::process::Command::new("vector");
        command.env("VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION", "true");
        for var in text.split("${").skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name) {
            let name = var.split([':', '-', '?']).next().unwrap();
            command.env(name, if name.contains("URL") { "https://example.com/" } else { "placeholder" });
        }
        let out = command.args(["validate", "--no-environment"]).arg(&file).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "vector validate --no-environment {}:\n{said}", file.display());
    }
}
