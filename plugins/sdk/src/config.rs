//! Reading a module's configuration with errors that name the field at fault.

use serde::de::DeserializeOwned;

/// A configuration the module refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the offending field, e.g. `fields[2].strategy`; empty for the whole config.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Prefixes the field path with `parent` (for errors found in a nested part).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = match (parent.is_empty(), self.field.is_empty(), self.field.starts_with('[')) {
            (true, _, _) => self.field,
            (false, true, _) => parent.to_string(),
            (false, false, true) => format!("{parent}{}", self.field),
            (false, false, false) => format!("{parent}.{}", self.field),
        };
        self
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "config field `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses JSON configuration text into `T`, reporting the path of any bad field.
pub fn parse<T: DeserializeOwned>(config: &str) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(config);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_path(e.path());
        let message = e.into_inner().to_string();
        // serde_json appends " at line L column C", meaningless for an embedded config.
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        ConfigError { field, message }
    })?;
    de.end().map_err(|e| ConfigError::new("", e.to_string()))?;
    Ok(value)
}

/// `fields[1].strategy`: the path serde_path_to_error recorded, without the trailing
/// members it could not name (an unknown key of a map; the message names it).
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let known = segments.iter().rposition(|s| !matches!(s, Segment::Unknown)).map_or(0, |i| i + 1);
    let mut field = String::new();
    for segment in &segments[..known] {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Enum { variant } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(variant);
            }
            Segment::Unknown => field.push('?'),
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        fields: Vec<Field>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Field {
        strategy: Strategy,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Strategy {
        Last4,
        Email,
    }

    #[test]
    fn names_the_field_and_the_accepted_values() {
        let err = parse::<Config>(r#"{"fields": [{"strategy": "email"}, {"strategy": "lst4"}]}"#).unwrap_err();
        assert_eq!(err.field, "fields[1].strategy");
        assert!(err.message.contains("unknown variant `lst4`"), "{}", err.message);
        assert!(err.message.contains("`last4`"), "{}", err.message);
        assert_eq!(err.to_string(), format!("config field `fields[1].strategy`: {}", err.message));
    }

    #[test]
    fn an_unknown_member_is_named() {
        let err = parse::<Config>(r#"{"fields": [{"strategy": "email", "stratgy": 1}]}"#).unwrap_err();
        assert_eq!(err.field, "fields[0].stratgy");
        assert!(err.message.contains("unknown field `stratgy`"), "{}", err.message);
        let err = parse::<Config>(r#"{"feilds": []}"#).unwrap_err();
        assert_eq!(err.field, "feilds");
        assert!(err.message.contains("unknown field `feilds`"), "{}", err.message);
    }

    #[test]
    fn nests_field_paths() {
        assert_eq!(ConfigError::new("[2].op", "x").within("where.all").field, "where.all[2].op");
        assert_eq!(ConfigError::new("op", "x").within("where").field, "where.op");
    }
}
