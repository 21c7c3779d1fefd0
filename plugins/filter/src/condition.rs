//! Conditions on event fields: predicates on JSONPath selections combined with
//! `all`, `any` and `not`.
//!
//! A path may select several values (`$.items[*].price`); a predicate holds when any
//! selected value satisfies it, except `ne` and `not_in`, which hold when none is equal
//! (so they also hold when the path selects nothing).

use firehose_sdk::ConfigError;
use firehose_sdk::json::{Event, Kind, Path, RawValue, Segment, Selector};
use firehose_sdk::matching::Glob;
use regex::Regex;
use serde_json::Value;

/// A compiled condition.
#[derive(Debug)]
pub enum Condition {
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// A test on the values a path selects.
    Test {
        /// The path.
        path: Path,
        /// The test.
        test: Test,
        /// Whether the path selects one value at most (names only).
        single: bool,
    },
}

/// A test on one selected value.
#[derive(Debug)]
pub enum Test {
    /// Equal to the literal.
    Eq(Literal),
    /// No selected value is equal to the literal.
    Ne(Literal),
    /// Compares greater/less with the literal.
    Compare(Comparison, Literal),
    /// Equal to one of the literals.
    In(Vec<Literal>),
    /// No selected value is equal to any of the literals.
    NotIn(Vec<Literal>),
    /// Something is (`true`) or nothing is (`false`) selected.
    Exists(bool),
    /// A string value matches the regular expression.
    Matches(Regex),
    /// A string value matches the glob.
    Glob(Glob),
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// A JSON value written in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object or array, compared structurally.
    Json(Value),
}

const FORMS: &str = "expected a predicate such as {path: \"$.lead_data.state\", eq: \"CA\"}, a shorthand string such as \"$.metadata.price > 20\", or {all: [...]}, {any: [...]}, {not: ...}";
const OPERATORS: [&str; 11] = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "matches", "glob"];

impl Condition {
    /// Compiles a condition as written in the configuration.
    pub fn compile(config: &Value) -> Result<Condition, ConfigError> {
        match config {
            Value::String(text) => shorthand(text),
            Value::Object(map) if map.len() == 1 && (map.contains_key("all") || map.contains_key("any")) => {
                let (key, list) = map.iter().next().expect("one entry");
                let Value::Array(items) = list else {
                    return Err(ConfigError::new(key.as_str(), "expected a list of conditions"));
                };
                let compiled = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Condition::compile(c).map_err(|e| e.within(&format!("{key}[{i}]"))))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if key == "all" { Condition::All(compiled) } else { Condition::Any(compiled) })
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("not") => {
                Ok(Condition::Not(Box::new(Condition::compile(&map["not"]).map_err(|e| e.within("not"))?)))
            }
            Value::Object(map) if map.contains_key("path") => predicate(map),
            _ => Err(ConfigError::new("", FORMS)),
        }
    }

    /// Adds the top-level members the condition reads to `names`; `false` when one of
    /// its paths may reach any member (`$..email`, `$.*`).
    pub fn top_level_members(&self, names: &mut Vec<String>) -> bool {
        match self {
            Condition::All(conditions) | Condition::Any(conditions) => {
                conditions.iter().all(|c| c.top_level_members(names))
            }
            Condition::Not(condition) => condition.top_level_members(names),
            Condition::Test { path, .. } => match path.top_level_member() {
                Some(name) => {
                    names.push(name.to_string());
                    true
                }
                None => false,
            },
        }
    }

    /// Whether the condition holds for `event`.
    pub fn holds(&self, event: &Event<'_>) -> bool {
        match self {
            Condition::All(all) => all.iter().all(|c| c.holds(event)),
            Condition::Any(any) => any.iter().any(|c| c.holds(event)),
            Condition::Not(c) => !c.holds(event),
            Condition::Test { path, test, single } => {
                if *single {
                    // One value at most: no need to collect.
                    return test.holds_for(event.get(path).map(|v| v.as_raw()).into_iter());
                }
                if path.is_fast() {
                    let mut found = Vec::new();
                    event.for_each(path, |v| found.push(v.as_raw()));
                    return test.holds_for(found.into_iter());
                }
                let mut found = Vec::new();
                path.for_each(event.bytes(), |v| found.push(v.raw().to_vec()));
                test.holds_for(found.iter().map(|raw| RawValue::new(raw)))
            }
        }
    }
}

impl Condition {
    fn test(path: Path, test: Test) -> Condition {
        let single = path.segments().is_some_and(|s| s.iter().all(|s| matches!(s, Segment::Child(Selector::Name(_)))));
        Condition::Test { path, test, single }
    }
}

impl Test {
    fn holds_for<'a>(&self, mut values: impl Iterator<Item = RawValue<'a>>) -> bool {
        match self {
            Test::Eq(lit) => values.any(|v| lit.equals(v)),
            Test::Ne(lit) => !values.any(|v| lit.equals(v)),
            Test::Compare(cmp, lit) => values.any(|v| lit.compare(*cmp, v)),
            Test::In(lits) => values.any(|v| lits.iter().any(|l| l.equals(v))),
            Test::NotIn(lits) => !values.any(|v| lits.iter().any(|l| l.equals(v))),
            Test::Exists(expected) => values.next().is_some() == *expected,
            Test::Matches(re) => values.any(|v| v.as_str().is_some_and(|s| re.is_match(&s))),
            Test::Glob(glob) => values.any(|v| v.as_str().is_some_and(|s| glob.matches(&s))),
        }
    }
}

impl Literal {
    fn from_json(value: &Value) -> Literal {
        match value {
            Value::String(s) => Literal::Str(s.clone()),
            Value::Number(n) => Literal::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(b) => Literal::Bool(*b),
            Value::Null => Literal::Null,
            other => Literal::Json(other.clone()),
        }
    }

    fn equals(&self, value: RawValue<'_>) -> bool {
        match self {
            Literal::Str(s) => value.as_str().is_some_and(|v| v == s.as_str()),
            Literal::Num(n) => value.as_f64() == Some(*n),
            Literal::Bool(b) => value.as_bool() == Some(*b),
            Literal::Null => value.is_null(),
            Literal::Json(json) => {
                matches!(value.kind(), Kind::Object | Kind::Array) && value.to_value().as_ref() == Some(json)
            }
        }
    }

    fn compare(&self, cmp: Comparison, value: RawValue<'_>) -> bool {
        let ordering = match self {
            Literal::Num(n) => value.as_f64().and_then(|v| v.partial_cmp(n)),
            Literal::Str(s) => value.as_str().map(|v| v.as_ref().cmp(s.as_str())),
            _ => None,
        };
        let Some(ordering) = ordering else {
            return false;
        };
        match cmp {
            Comparison::Gt => ordering.is_gt(),
            Comparison::Gte => ordering.is_ge(),
            Comparison::Lt => ordering.is_lt(),
            Comparison::Lte => ordering.is_le(),
        }
    }
}

fn parse_path(text: &str, field: &str) -> Result<Path, ConfigError> {
    Path::parse(text).map_err(|e| ConfigError::new(field, e.to_string()))
}

fn predicate(map: &serde_json::Map<String, Value>) -> Result<Condition, ConfigError> {
    let path = match &map["path"] {
        Value::String(p) => parse_path(p, "path")?,
        _ => {
            return Err(ConfigError::new("path", "expected a JSONPath string such as \"$.lead_data.state\""));
        }
    };
    let ops: Vec<&String> = map.keys().filter(|k| *k != "path").collect();
    let [op] = ops.as_slice() else {
        return Err(ConfigError::new(
            "",
            format!(
                "a predicate needs exactly one operator besides `path` (one of {}), found {}",
                OPERATORS.join(", "),
                ops.len()
            ),
        ));
    };
    let value = &map[op.as_str()];
    let list = |field: &str| -> Result<Vec<Literal>, ConfigError> {
        match value {
            Value::Array(items) => Ok(items.iter().map(Literal::from_json).collect()),
            _ => Err(ConfigError::new(field, "expected a list of values")),
        }
    };
    let string = |field: &str| -> Result<&str, ConfigError> {
        value.as_str().ok_or_else(|| ConfigError::new(field, "expected a string"))
    };
    let test = match op.as_str() {
        "eq" => Test::Eq(Literal::from_json(value)),
        "ne" => Test::Ne(Literal::from_json(value)),
        "gt" => Test::Compare(Comparison::Gt, comparable(value, op)?),
        "gte" => Test::Compare(Comparison::Gte, comparable(value, op)?),
        "lt" => Test::Compare(Comparison::Lt, comparable(value, op)?),
        "lte" => Test::Compare(Comparison::Lte, comparable(value, op)?),
        "in" => Test::In(list(op)?),
        "not_in" => Test::NotIn(list(op)?),
        "exists" => Test::Exists(value.as_bool().ok_or_else(|| ConfigError::new("exists", "expected true or false"))?),
        "matches" => Test::Matches(
            Regex::new(string(op)?).map_err(|e| ConfigError::new("matches", format!("invalid regex: {e}")))?,
        ),
        "glob" => Test::Glob(Glob::new(string(op)?)),
        other => {
            return Err(ConfigError::new(
                other,
                format!("unknown operator `{other}` (expected one of {})", OPERATORS.join(", ")),
            ));
        }
    };
    Ok(Condition::test(path, test))
}

fn comparable(value: &Value, op: &str) -> Result<Literal, ConfigError> {
    match value {
        Value::Number(_) | Value::String(_) => Ok(Literal::from_json(value)),
        _ => Err(ConfigError::new(op, "expected a number or a string to compare with")),
    }
}

/// Parses `<path> <op> <literal>` where op is `==`, `!=`, `>`, `>=`, `<`, `<=`, `=~`
/// (regex) or `in` (a JSON list); or `<path> exists` / `<path> !exists`.
fn shorthand(text: &str) -> Result<Condition, ConfigError> {
    let text = text.trim();
    let path_end = path_end(text);
    let path = parse_path(&text[..path_end], "")?;
    let rest = text[path_end..].trim_start();
    let ops = ["==", "!=", ">=", "<=", "=~", ">", "<", "in ", "!exists", "exists"];
    let Some(op) = ops.iter().find(|op| rest.starts_with(**op)) else {
        return Err(ConfigError::new(
            "",
            format!(
                "cannot read condition `{text}`: expected `<path> <op> <value>` with op one of ==, !=, >, >=, <, <=, =~, in, or `<path> exists`"
            ),
        ));
    };
    let literal_text = rest[op.len()..].trim();
    if op.ends_with("exists") {
        if !literal_text.is_empty() {
            return Err(ConfigError::new("", format!("unexpected `{literal_text}` after `{op}` in `{text}`")));
        }
        return Ok(Condition::test(path, Test::Exists(*op == "exists")));
    }
    let value = literal(literal_text).ok_or_else(|| {
        ConfigError::new("", format!("cannot read the value `{literal_text}` in `{text}`: write a JSON value such as 20, \"CA\", 'CA' or [\"a\", \"b\"]"))
    })?;
    let test = match *op {
        "==" => Test::Eq(Literal::from_json(&value)),
        "!=" => Test::Ne(Literal::from_json(&value)),
        ">" => Test::Compare(Comparison::Gt, comparable(&value, op)?),
        ">=" => Test::Compare(Comparison::Gte, comparable(&value, op)?),
        "<" => Test::Compare(Comparison::Lt, comparable(&value, op)?),
        "<=" => Test::Compare(Comparison::Lte, comparable(&value, op)?),
        "=~" => {
            let pattern = value.as_str().ok_or_else(|| ConfigError::new("", "`=~` needs a string pattern"))?;
            Test::Matches(
                Regex::new(pattern).map_err(|e| ConfigError::new("", format!("invalid regex in `{text}`: {e}")))?,
            )
        }
        _ => match &value {
            Value::Array(items) => Test::In(items.iter().map(Literal::from_json).collect()),
            _ => {
                return Err(ConfigError::new("", format!("`in` needs a list in `{text}`")));
            }
        },
    };
    Ok(Condition::test(path, test))
}

/// Where the path at the start of `text` ends: at the first space outside brackets and quotes.
fn path_end(text: &str) -> usize {
    let mut depth = 0;
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            (None, ' ' | '=' | '!' | '>' | '<') if depth == 0 => return i,
            _ => {}
        }
    }
    text.len()
}

fn literal(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(Value::String(inner.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVENT: &[u8] = br#"{"event_type": "recipient.delivered", "outcome": "success",
        "metadata": {"buyer_response": {"price": 25.5, "accepted": true}, "note": null},
        "lead_data": {"state": "CA", "email": "jo@example.com", "tags": ["hot", "web"]},
        "items": [{"price": 5}, {"price": 50}]}"#;

    fn holds(condition: Value) -> bool {
        let tape = firehose_sdk::json::tape_of(EVENT).unwrap();
        Condition::compile(&condition).unwrap().holds(&Event::new(EVENT, &tape))
    }

    #[test]
    fn compares_numbers_and_strings() {
        assert!(holds(json!({"path": "$.metadata.buyer_response.price", "gt": 20})));
        assert!(!holds(json!({"path": "$.metadata.buyer_response.price", "gt": 25.5})));
        assert!(holds(json!({"path": "$.metadata.buyer_response.price", "gte": 25.5})));
        assert!(holds(json!({"path": "$.metadata.buyer_response.price", "lt": 26})));
        assert!(holds(json!({"path": "$.metadata.buyer_response.price", "lte": 25.5})));
        assert!(holds(json!({"path": "$.lead_data.state", "eq": "CA"})));
        assert!(holds(json!({"path": "$.lead_data.state", "gt": "AZ"})));
        assert!(!holds(json!({"path": "$.lead_data.state", "gt": 5})));
    }

    #[test]
    fn equality_covers_every_json_type() {
        assert!(holds(json!({"path": "$.metadata.buyer_response.accepted", "eq": true})));
        assert!(holds(json!({"path": "$.metadata.note", "eq": null})));
        assert!(holds(json!({"path": "$.lead_data.tags", "eq": ["hot", "web"]})));
        assert!(holds(json!({"path": "$.lead_data.state", "ne": "NY"})));
        assert!(holds(json!({"path": "$.missing", "ne": "NY"})));
        assert!(!holds(json!({"path": "$.lead_data.state", "ne": "CA"})));
    }

    #[test]
    fn membership_existence_regex_and_glob() {
        assert!(holds(json!({"path": "$.lead_data.state", "in": ["CA", "NY"]})));
        assert!(!holds(json!({"path": "$.lead_data.state", "not_in": ["CA", "NY"]})));
        assert!(holds(json!({"path": "$.lead_data.email", "exists": true})));
        assert!(holds(json!({"path": "$.lead_data.fax", "exists": false})));
        assert!(holds(json!({"path": "$.lead_data.email", "matches": "@example\\.com$"})));
        assert!(!holds(json!({"path": "$.lead_data.email", "matches": "^x"})));
        assert!(holds(json!({"path": "$.event_type", "glob": "recipient.*"})));
    }

    #[test]
    fn wildcard_paths_hold_when_any_value_does() {
        assert!(holds(json!({"path": "$.items[*].price", "gt": 40})));
        assert!(!holds(json!({"path": "$.items[*].price", "gt": 60})));
        assert!(holds(json!({"path": "$.lead_data.tags[*]", "eq": "web"})));
        assert!(holds(json!({"path": "$.items[?@.price > 40].price", "eq": 50})));
    }

    #[test]
    fn combines_with_all_any_not() {
        assert!(holds(
            json!({"all": [{"path": "$.lead_data.state", "eq": "CA"}, "$.metadata.buyer_response.price > 20"]})
        ));
        assert!(!holds(
            json!({"all": [{"path": "$.lead_data.state", "eq": "CA"}, "$.metadata.buyer_response.price > 30"]})
        ));
        assert!(holds(json!({"any": ["$.lead_data.state == 'NY'", "$.outcome == \"success\""]})));
        assert!(holds(json!({"not": "$.lead_data.state == 'NY'"})));
        assert!(!holds(json!({"not": {"any": ["$.lead_data.state == 'CA'"]}})));
    }

    #[test]
    fn shorthand_reads_every_operator() {
        assert!(holds(json!("$.metadata.buyer_response.price > 20")));
        assert!(holds(json!("$.metadata.buyer_response.price >= 25.5")));
        assert!(holds(json!("$.metadata.buyer_response.price<26")));
        assert!(holds(json!("$.lead_data.state == 'CA'")));
        assert!(holds(json!("$.lead_data.state != \"NY\"")));
        assert!(holds(json!("$.lead_data.state in [\"CA\", \"TX\"]")));
        assert!(holds(json!("$.lead_data.email =~ '^jo@'")));
        assert!(holds(json!("$.lead_data.email exists")));
        assert!(holds(json!("$.lead_data.fax !exists")));
        assert!(holds(json!("$['lead_data']['state'] == 'CA'")));
    }

    #[test]
    fn bad_conditions_are_explained() {
        let err = |c: Value| Condition::compile(&c).unwrap_err();
        assert!(err(json!({"path": "$.a", "equals": 1})).message.contains("unknown operator `equals`"));
        assert!(err(json!({"path": "$.a", "eq": 1, "ne": 2})).message.contains("exactly one operator"));
        assert_eq!(err(json!({"any": [{"path": "a.b", "eq": 1}]})).field, "any[0].path");
        assert!(err(json!("$.a >> 3")).message.contains("cannot read the value"));
        assert!(err(json!("$.a")).message.contains("expected `<path> <op> <value>`"));
        assert!(err(json!(42)).message.contains("expected a predicate"));
        assert_eq!(err(json!({"path": "$.a", "gt": [1]})).field, "gt");
    }
}
