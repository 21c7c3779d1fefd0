//! Partition templates: `events/flow={{flow_id}}/year={{year}}/…` rendered per event,
//! with values made safe to be parts of a path.

use chrono::{DateTime, Datelike, Timelike, Utc};
use firehose_json::{Event, Path};

/// One piece of a template.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    ErrorType,
    Field(Path),
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Why a template cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` with no `}}` after it.
    #[error("template `{0}`: `{{{{` without `}}}}`")]
    Unclosed(String),
    /// A name that is neither a time part, a field nor a JSONPath.
    #[error(
        "template `{template}`: unknown `{{{{{name}}}}}` (use year, month, day, hour, minute, a field name or a JSONPath)"
    )]
    Unknown {
        /// The template.
        template: String,
        /// The name between the braces.
        name: String,
    },
    /// A JSONPath that does not parse.
    #[error("template `{template}`")]
    Path {
        /// The template.
        template: String,
        /// Why the path is refused.
        #[source]
        source: firehose_json::PathError,
    },
}

/// Why an event has no partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

impl Template {
    /// Compiles `text`; unknown `{{…}}` names are refused.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find("}}").ok_or_else(|| TemplateError::Unclosed(text.to_string()))? + open;
            let path_error = |source| TemplateError::Path { template: text.to_string(), source };
            let name = rest[open + 2..close].trim();
            pieces.push(match name {
                "year" => Piece::Year,
                "month" => Piece::Month,
                "day" => Piece::Day,
                "hour" => Piece::Hour,
                "minute" => Piece::Minute,
                "error_type" => Piece::ErrorType,
                path if path.starts_with('$') => Piece::Field(Path::parse(path).map_err(path_error)?),
                field if !field.is_empty() && field.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') => {
                    Piece::Field(Path::parse(&format!("$.{field}")).map_err(path_error)?)
                }
                other => {
                    return Err(TemplateError::Unknown { template: text.to_string(), name: other.to_string() });
                }
            });
            rest = &rest[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// Renders the template for `event` at `time`; `error_type` fills `{{error_type}}`.
    pub fn render(&self, event: Option<&Event<'_>>, time: DateTime<Utc>, error_type: &str) -> Result<String, Missing> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Year => out.push_str(&format!("{:04}", time.year())),
                Piece::Month => out.push_str(&format!("{:02}", time.month())),
                Piece::Day => out.push_str(&format!("{:02}", time.day())),
                Piece::Hour => out.push_str(&format!("{:02}", time.hour())),
                Piece::Minute => out.push_str(&format!("{:02}", time.minute())),
                Piece::ErrorType => out.push_str(&safe(error_type)),
                Piece::Field(path) => {
                    let value = event.and_then(|e| e.get(path)).filter(|v| !v.is_null());
                    let text = value.map(|v| v.to_text()).filter(|t| !t.is_empty());
                    let Some(text) = text else {
                        return Err(Missing(format!("partition key `{path}` is missing or empty")));
                    };
                    out.push_str(&safe(&text));
                }
            }
        }
        Ok(out)
    }
}

/// `value` as one safe path component: separators, control characters and characters
/// that are trouble in object keys become `_`, and `.`/`..` never stand alone.
pub fn safe(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '@' | '+') { c } else { '_' })
        .take(256)
        .collect();
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "_");
    }
    out
}

/// The time of an event: its `timestamp` as RFC 3339 or Unix seconds / milliseconds.
pub fn event_time(event: &Event<'_>) -> Option<DateTime<Utc>> {
    let value = event.member("timestamp")?;
    if let Some(text) = value.as_str() {
        return DateTime::parse_from_rfc3339(&text).ok().map(|t| t.with_timezone(&Utc));
    }
    let number = value.as_f64()?;
    let millis = if number > 1e11 { number } else { number * 1000.0 };
    DateTime::from_timestamp_millis(millis as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use firehose_json::tape_of;

    fn render(template: &str, event: &str) -> Result<String, Missing> {
        let tape = tape_of(event.as_bytes()).unwrap();
        let event = Event::new(event.as_bytes(), &tape);
        let time = event_time(&event).unwrap_or_else(|| DateTime::from_timestamp(0, 0).unwrap());
        Template::parse(template).unwrap().render(Some(&event), time, "x")
    }

    #[test]
    fn renders_times_fields_and_paths() {
        let event = r#"{"timestamp": "2024-01-15T14:30:45.123Z", "flow_id": "f1", "lead_data": {"state": "CA"}}"#;
        assert_eq!(
            render("events/flow={{flow_id}}/state={{$.lead_data.state}}/year={{year}}/month={{month}}/day={{day}}/hour={{hour}}/{{minute}}/", event).unwrap(),
            "events/flow=f1/state=CA/year=2024/month=01/day=15/hour=14/30/"
        );
        assert_eq!(render("{{year}}-{{hour}}", r#"{"timestamp": 1705329045}"#).unwrap(), "2024-14");
        assert_eq!(render("{{year}}-{{hour}}", r#"{"timestamp": 1705329045123}"#).unwrap(), "2024-14");
    }

    #[test]
    fn makes_tricky_values_safe() {
        assert_eq!(render("f={{flow_id}}/", r#"{"flow_id": "../../etc/passwd"}"#).unwrap(), "f=.._.._etc_passwd/");
        assert_eq!(render("f={{flow_id}}/", r#"{"flow_id": ".."}"#).unwrap(), "f=__/");
        assert_eq!(render("f={{flow_id}}/", r#"{"flow_id": "a/b\\c d\u0000e"}"#).unwrap(), "f=a_b_c_d_e/");
        assert_eq!(render("f={{flow_id}}/", r#"{"flow_id": "Zoë-北京"}"#).unwrap(), "f=Zoë-北京/");
        assert_eq!(render("f={{flow_id}}/", r#"{"flow_id": 42}"#).unwrap(), "f=42/");
        assert!(render("f={{flow_id}}/", r#"{"other": 1}"#).unwrap_err().0.contains("`$.flow_id` is missing"));
        assert!(render("f={{flow_id}}/", r#"{"flow_id": ""}"#).is_err());
    }

    #[test]
    fn refuses_unknown_names() {
        assert!(Template::parse("{{a b}}").unwrap_err().to_string().contains("unknown `{{a b}}`"));
        assert!(Template::parse("{{year").is_err());
    }
}
