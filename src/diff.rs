//! Where two versions of an event differ, as JSON paths (`$.lead_data.ssn`,
//! `$.items[2]`): shared by `firehose explain` (which may show the values) and shadow
//! comparison (which reports paths only, as values may hold personal data).

use serde_json::Value;

/// One member that differs between two events.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference<'a> {
    /// Its path, `$` being the event itself.
    pub path: String,
    /// Its value in the first event, if it has the member.
    pub before: Option<&'a Value>,
    /// Its value in the second event, if it has the member.
    pub after: Option<&'a Value>,
}

/// The members of `before` and `after` whose values differ (members of an object in key order, added ones last): objects
/// are compared member by member, arrays of the same length item by item, anything
/// else whole. `same` decides whether two leaf values count as equal (plain equality,
/// or allowing for known differences such as a version id).
pub fn differences<'a>(
    before: &'a Value,
    after: &'a Value,
    same: &dyn Fn(&Value, &Value) -> bool,
) -> Vec<Difference<'a>> {
    let mut out = Vec::new();
    let mut path = String::from("$");
    walk(before, after, same, &mut path, &mut out);
    out
}

fn walk<'a>(
    before: &'a Value,
    after: &'a Value,
    same: &dyn Fn(&Value, &Value) -> bool,
    path: &mut String,
    out: &mut Vec<Difference<'a>>,
) {
    let len = path.len();
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                push_key(path, key);
                match b.get(key) {
                    Some(other) => walk(value, other, same, path, out),
                    None => out.push(Difference { path: path.clone(), before: Some(value), after: None }),
                }
                path.truncate(len);
            }
            for (key, value) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                push_key(path, key);
                out.push(Difference { path: path.clone(), before: None, after: Some(value) });
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(x, y, same, path, out);
                path.truncate(len);
            }
        }
        _ if same(before, after) => {}
        _ => out.push(Difference { path: path.clone(), before: Some(before), after: Some(after) }),
    }
}

/// `.key` for plain names, `['key']` for anything else.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str("['");
        path.push_str(&key.replace('\\', "\\\\").replace('\'', "\\'"));
        path.push_str("']");
    }
}

/// The path with every array index replaced by `*` (`$.items[*].sku`), so that paths
/// can be counted across events.
pub fn generalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(']') {
            out.push('*');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(a: Value, b: Value) -> Vec<String> {
        differences(&a, &b, &|x, y| x == y).into_iter().map(|d| d.path).collect()
    }

    #[test]
    fn finds_changed_added_and_removed_members_by_path() {
        let a = json!({"a": 1, "lead": {"ssn": "123", "ok": true}, "gone": 1, "list": [1, {"x": 2}]});
        let b = json!({"a": 1, "lead": {"ssn": "***", "ok": true}, "list": [1, {"x": 3}], "new key": 2});
        assert_eq!(paths(a, b), ["$.gone", "$.lead.ssn", "$.list[1].x", "$['new key']"]);
        assert_eq!(paths(json!([1, 2]), json!([1, 2, 3])), ["$"]);
        assert!(paths(json!({"a": [1]}), json!({"a": [1]})).is_empty());
    }

    #[test]
    fn a_custom_equality_forgives_known_differences() {
        let a = json!({"v": "live-id", "w": 1});
        let b = json!({"v": "candidate-id", "w": 2});
        let same = |x: &Value, y: &Value| x == y || (x == "live-id" && y == "candidate-id");
        let found: Vec<_> = differences(&a, &b, &same).into_iter().map(|d| d.path).collect();
        assert_eq!(found, ["$.w"]);
    }

    #[test]
    fn generalizes_array_indexes() {
        assert_eq!(generalize("$.items[12].sku[0]"), "$.items[*].sku[*]");
        assert_eq!(generalize("$.a"), "$.a");
    }
}
