//! The masking configuration as users write it.

use firehose_sdk::ConfigError;
use firehose_sdk::json::{Path, PathMatcher};
use firehose_sdk::pii::{ContextWords, DEFAULT_WINDOW, Detectors, Masker, PiiKind, Strategy};
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::custom::CustomPatterns;
use crate::{PiiMask, Scratch};

/// Top-level configuration of the `pii-mask` module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaskConfig {
    /// Fields masked by path, whatever they contain.
    #[serde(default)]
    fields: Vec<FieldConfig>,
    /// Kinds detected inside all other strings, each with its strategy.
    #[serde(default)]
    detect: DetectConfig,
    /// Paths never scanned by the detectors (ids, timestamps…).
    #[serde(default)]
    skip: Vec<String>,
    /// Key for the `hash` strategy (the host fills this from `{$env: NAME}`).
    #[serde(default)]
    hash_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldConfig {
    path: String,
    strategy: Strategy,
}

/// `detect`: a built-in kind by name, each optional, and custom patterns.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectConfig {
    ssn: Option<KindConfig>,
    email: Option<KindConfig>,
    phone: Option<KindConfig>,
    card: Option<KindConfig>,
    ipv4: Option<KindConfig>,
    ipv6: Option<KindConfig>,
    iban: Option<KindConfig>,
    dob: Option<KindConfig>,
    #[serde(default)]
    custom: Vec<CustomConfig>,
}

impl DetectConfig {
    fn kinds(&self) -> [(PiiKind, Option<&KindConfig>); 8] {
        use PiiKind::*;
        [
            (Ssn, self.ssn.as_ref()),
            (Email, self.email.as_ref()),
            (Phone, self.phone.as_ref()),
            (Card, self.card.as_ref()),
            (Ipv4, self.ipv4.as_ref()),
            (Ipv6, self.ipv6.as_ref()),
            (Iban, self.iban.as_ref()),
            (Dob, self.dob.as_ref()),
        ]
    }
}

/// One kind: `last4`, `{replace: "[SSN]"}`, or `{strategy, context, window}`.
#[derive(Debug)]
struct KindConfig {
    strategy: Option<Strategy>,
    context: Option<ContextList>,
    window: Option<usize>,
    /// Written as a bare strategy (errors about it then name `detect.KIND`).
    bare: bool,
}

/// The long form of a kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindDetail {
    strategy: Option<Strategy>,
    replace: Option<String>,
    context: Option<ContextList>,
    window: Option<usize>,
}

impl<'de> Deserialize<'de> for KindConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl<'de> Visitor<'de> for KindVisitor {
            type Value = KindConfig;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a strategy (`last4`, `redact`, …), `{replace: TEXT}` or `{strategy, context, window}`")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<KindConfig, E> {
                let strategy = Strategy::deserialize(name.into_deserializer())?;
                Ok(KindConfig { strategy: Some(strategy), context: None, window: None, bare: true })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KindConfig, A::Error> {
                let detail = KindDetail::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let strategy = match (detail.strategy, detail.replace) {
                    (Some(_), Some(_)) => {
                        return Err(de::Error::custom("give either `strategy` or `replace`, not both"));
                    }
                    (strategy, None) => strategy,
                    (None, Some(text)) => Some(Strategy::Replace(text)),
                };
                Ok(KindConfig { strategy, context: detail.context, window: detail.window, bare: false })
            }
        }
        deserializer.deserialize_any(KindVisitor)
    }
}

/// `context`: a list of words, or `default` for the kind's documented words.
#[derive(Debug)]
enum ContextList {
    Default,
    Words(Vec<String>),
}

impl<'de> Deserialize<'de> for ContextList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContextVisitor;
        impl<'de> Visitor<'de> for ContextVisitor {
            type Value = ContextList;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of words, or `default`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ContextList, E> {
                match text {
                    "default" => Ok(ContextList::Default),
                    _ => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ContextList, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(ContextList::Words)
            }
        }
        deserializer.deserialize_any(ContextVisitor)
    }
}

/// One of `detect.custom`: a regular expression and how to mask what it matches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomConfig {
    /// Shown in errors and documentation only.
    pub name: String,
    /// The `regex` crate's syntax.
    pub pattern: String,
    pub strategy: Strategy,
    /// Words of which one must come shortly before a match for it to count.
    #[serde(default)]
    pub context: Option<Vec<String>>,
    #[serde(default)]
    pub window: Option<usize>,
}

const HASH_KEY_HINT: &str = "set `hash_key` (for example `hash_key: {$env: PII_HASH_KEY}` in the pipeline file)";

/// The largest context window accepted, in characters.
const MAX_WINDOW: usize = 1000;

/// Checks a strategy configured at `field`.
fn check_strategy(strategy: &Strategy, field: &str, hash_key: bool) -> Result<(), ConfigError> {
    if strategy.needs_key() && !hash_key {
        return Err(ConfigError::new(field, format!("strategy `hash` needs a key: {HASH_KEY_HINT}")));
    }
    Ok(())
}

/// Checks a context window at `field`.
pub(crate) fn check_window(window: Option<usize>, field: &str) -> Result<usize, ConfigError> {
    match window {
        None => Ok(DEFAULT_WINDOW),
        Some(w) if (1..=MAX_WINDOW).contains(&w) => Ok(w),
        Some(w) => {
            Err(ConfigError::new(field, format!("window {w} is out of range: give 1 to {MAX_WINDOW} characters")))
        }
    }
}

/// Checks a list of context words at `field`.
pub(crate) fn check_words(words: &[String], field: &str) -> Result<(), ConfigError> {
    if words.is_empty() {
        return Err(ConfigError::new(field, "the list is empty: give at least one word, or `default`"));
    }
    match words.iter().position(|w| w.trim().is_empty()) {
        Some(i) => Err(ConfigError::new(format!("{field}[{i}]"), "a context word cannot be empty")),
        None => Ok(()),
    }
}

/// Parses and checks the configuration text.
pub(crate) fn build(text: &str) -> Result<PiiMask, ConfigError> {
    let config: MaskConfig = firehose_sdk::config::parse(text)?;
    let hash_key = config.hash_key.is_some();
    let mut paths = Vec::new();
    let mut strategies = Vec::new();
    for (i, field) in config.fields.iter().enumerate() {
        let at = format!("fields[{i}]");
        paths.push(Path::parse(&field.path).map_err(|e| ConfigError::new(format!("{at}.path"), e.to_string()))?);
        check_strategy(&field.strategy, &format!("{at}.strategy"), hash_key)?;
        strategies.push(field.strategy.clone());
    }
    for (i, skip) in config.skip.iter().enumerate() {
        paths.push(Path::parse(skip).map_err(|e| ConfigError::new(format!("skip[{i}]"), e.to_string()))?);
    }
    let matcher = PathMatcher::new(&paths).map_err(|i| {
        let field =
            if i < strategies.len() { format!("fields[{i}].path") } else { format!("skip[{}]", i - strategies.len()) };
        ConfigError::new(
            field,
            "masking paths use names, indexes from 0, `*` and `..` only (no filters, slices or negative indexes)",
        )
    })?;
    let (detectors, detect_strategy) = build_detectors(&config.detect, hash_key)?;
    let custom = if config.detect.custom.is_empty() {
        None
    } else {
        for (i, pattern) in config.detect.custom.iter().enumerate() {
            check_strategy(&pattern.strategy, &format!("detect.custom[{i}].strategy"), hash_key)?;
        }
        Some(CustomPatterns::new(&config.detect.custom)?)
    };
    if config.hash_key.as_deref() == Some("") {
        return Err(ConfigError::new("hash_key", "the hashing key is empty; use a long random secret"));
    }
    let masker = match &config.hash_key {
        Some(key) => Masker::with_key(key.as_bytes()),
        None => Masker::new(),
    };
    // Without detection only the fields are read: the host then sends just their
    // top-level members (unless a path may reach any member).
    let reads = if detectors.is_empty() && custom.is_none() {
        paths[..strategies.len()].iter().map(|p| p.top_level_member().map(str::to_string)).collect()
    } else {
        None
    };
    Ok(PiiMask { matcher, strategies, detectors, detect_strategy, custom, masker, reads, scratch: Scratch::default() })
}

/// The built-in detectors with their context words, and each kind's strategy.
fn build_detectors(detect: &DetectConfig, hash_key: bool) -> Result<(Detectors, [Strategy; 8]), ConfigError> {
    let mut strategies: [Strategy; 8] = std::array::from_fn(|_| Strategy::Redact);
    let configured = detect.kinds().into_iter().filter_map(|(kind, c)| c.map(|c| (kind, c)));
    let mut detectors = Detectors::of(configured.clone().map(|(kind, _)| kind));
    for (kind, config) in configured {
        let at = format!("detect.{}", kind.name());
        let strategy = config.strategy.clone().ok_or_else(|| {
            ConfigError::new(&at, "missing `strategy` (or `replace: TEXT`): how to mask what is found")
        })?;
        let strategy_at = if config.bare { at.clone() } else { format!("{at}.strategy") };
        check_strategy(&strategy, &strategy_at, hash_key)?;
        if strategy == Strategy::Network && !matches!(kind, PiiKind::Ipv4 | PiiKind::Ipv6) {
            return Err(ConfigError::new(
                strategy_at,
                format!("strategy `network` masks IP addresses only; choose another for `{}`", kind.name()),
            ));
        }
        if (config.context.is_some() || config.window.is_some()) && !kind.takes_context() {
            let what = if config.context.is_some() { "context" } else { "window" };
            return Err(ConfigError::new(
                format!("{at}.{what}"),
                format!("`{}` has no validity rule for context words to relax; remove `{what}`", kind.name()),
            ));
        }
        let window = check_window(config.window, &format!("{at}.window"))?;
        let words = match &config.context {
            Some(ContextList::Words(words)) => {
                check_words(words, &format!("{at}.context"))?;
                Some(ContextWords::new(words, window))
            }
            Some(ContextList::Default) => Some(ContextWords::new(ContextWords::defaults(kind), window)),
            // A date of birth always needs its words: the defaults unless given.
            None if kind == PiiKind::Dob => Some(ContextWords::new(ContextWords::defaults(kind), window)),
            None if config.window.is_some() => {
                return Err(ConfigError::new(
                    format!("{at}.window"),
                    "`window` applies to context words: add `context` (a list of words, or `default`)",
                ));
            }
            None => None,
        };
        if let Some(words) = words {
            detectors = detectors.with_context(kind, words);
        }
        strategies[kind.index()] = strategy;
    }
    Ok((detectors, strategies))
}
