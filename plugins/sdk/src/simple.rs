//! Writing a rule one event at a time: `fn process(event: &mut EventMut, ctx: &Context)
//! -> Decision`, exported with [`export_process!`](crate::export_process). The SDK runs
//! it over each batch and turns its reads and writes into tape lookups and edits, so a
//! simple rule costs about what a hand-written batch rule does.

use std::borrow::Cow;
use std::ops::Range;

use crate::ConfigError;
use crate::Output;
use crate::json::{self, EditAction, Event, Kind, Path, Segment, Selector, Value};

/// What becomes of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pass it on, with whatever changes were made.
    Keep,
    /// Filter it out (counted, not an error); changes are discarded.
    Drop,
    /// It cannot be processed: dead-letter it with this reason; changes are discarded.
    Reject(String),
}

/// A path that cannot be read or written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

/// Parsed paths, kept across events so each path text is parsed once (and a path
/// that cannot be used is reported once).
#[derive(Debug, Default)]
pub struct PathCache(Vec<(String, Result<Path, PathError>)>);

impl PathCache {
    fn get(&mut self, text: &str) -> Result<Path, PathError> {
        if let Some((_, path)) = self.0.iter().find(|(t, _)| t == text) {
            return path.clone();
        }
        let path = Path::parse(text).map_err(|e| PathError(e.to_string())).and_then(|path| {
            if path.is_fast() {
                Ok(path)
            } else {
                Err(PathError(format!("`{text}`: events are read and written with names, indexes, `*` and `..` only")))
            }
        });
        if let Err(e) = &path {
            // `get` answers None for it, like a missing field: say why, once.
            crate::log::write(crate::log::Level::Warn, &format!("path cannot be used: {e}"));
        }
        self.0.push((text.to_string(), path.clone()));
        path
    }
}

#[derive(Debug)]
struct Pending {
    entry: usize,
    action: EditAction,
    text: Range<usize>,
    /// For an added member, its name (a second add of the same name replaces the first).
    name: Option<String>,
}

/// One event, readable and writable by JSONPath. Writes take effect when the event
/// leaves the module (the host applies them); reads see the event as it arrived.
pub struct EventMut<'e, 'p> {
    event: Event<'e>,
    paths: &'p mut PathCache,
    pending: Vec<Pending>,
    text: Vec<u8>,
}

impl<'e, 'p> EventMut<'e, 'p> {
    /// A writable view of `event`.
    pub fn new(event: Event<'e>, paths: &'p mut PathCache) -> Self {
        EventMut { event, paths, pending: Vec::new(), text: Vec::new() }
    }

    /// The event as it arrived.
    pub fn event(&self) -> Event<'e> {
        self.event
    }

    /// The first value at `path` (`$.lead_data.state`), if any. A path that cannot be
    /// used (`lead_data.state`, a filter) also gives None; the module's log says why, once.
    pub fn get(&mut self, path: &str) -> Option<Value<'e>> {
        let path = self.paths.get(path).ok()?;
        self.event.get(&path)
    }

    /// The string at `path`, decoded.
    pub fn get_str(&mut self, path: &str) -> Option<Cow<'e, str>> {
        self.get(path).and_then(|v| v.as_str())
    }

    /// The number at `path`.
    pub fn get_f64(&mut self, path: &str) -> Option<f64> {
        self.get(path).and_then(|v| v.as_f64())
    }

    /// Sets `path` to `value` (anything serde can write as JSON): replaces the value
    /// there, or adds the member when its parent object exists. Writing `$.a.b` when
    /// there is no `$.a` is an error: set `$.a` to an object first.
    pub fn set(&mut self, path: &str, value: impl serde::Serialize) -> Result<(), PathError> {
        let json =
            serde_json::to_vec(&value).map_err(|e| PathError(format!("`{path}`: cannot write the value: {e}")))?;
        self.set_raw(path, &json)
    }

    /// Sets `path` to the string `value`.
    pub fn set_str(&mut self, path: &str, value: &str) -> Result<(), PathError> {
        let mut json = Vec::with_capacity(value.len() + 2);
        json::write_string(&mut json, value);
        self.set_raw(path, &json)
    }

    /// Sets `path` to `json`, one JSON value written by the caller (the host checks it).
    pub fn set_raw(&mut self, path_text: &str, json: &[u8]) -> Result<(), PathError> {
        let path = self.paths.get(path_text)?;
        if let Some(existing) = self.event.get(&path) {
            let start = self.text.len();
            self.text.extend_from_slice(json);
            self.replace(Pending {
                entry: existing.entry(),
                action: EditAction::SetValue,
                text: start..self.text.len(),
                name: None,
            });
            return Ok(());
        }
        let segments = path.segments().expect("fast paths have segments");
        let Some((Segment::Child(Selector::Name(name)), parent_segments)) = segments.split_last() else {
            return Err(PathError(format!("`{path_text}` does not exist; only a missing member `.name` can be added")));
        };
        let parent = if parent_segments.is_empty() {
            Some(self.event.root())
        } else {
            let cut = path_text.rfind(['.', '[']).unwrap_or(1).max(1);
            let parent_path = self.paths.get(path_text[..cut].trim_end_matches('.'))?;
            self.event.get(&parent_path)
        };
        let parent = parent
            .filter(|p| p.kind() == Kind::Object)
            .ok_or_else(|| PathError(format!("cannot add `{path_text}`: its parent is missing or not an object")))?;
        let start = self.text.len();
        json::write_string(&mut self.text, name);
        self.text.push(b':');
        self.text.extend_from_slice(json);
        let text = start..self.text.len();
        self.replace(Pending { entry: parent.entry(), action: EditAction::AddMember, text, name: Some(name.clone()) });
        Ok(())
    }

    /// Removes the member at `path`; `Ok(false)` if there is none.
    pub fn remove(&mut self, path_text: &str) -> Result<bool, PathError> {
        let path = self.paths.get(path_text)?;
        let Some(value) = self.event.get(&path) else { return Ok(false) };
        let entry = value.entry();
        // A member's key is the tape entry right before its value.
        if entry == 0 || !json::tape::is_key(json::tape::tag(self.event.tape(), entry - 1)) {
            return Err(PathError(format!("`{path_text}` is not an object member (array items cannot be removed)")));
        }
        self.pending.retain(|p| !(p.action == EditAction::SetValue && p.entry == entry));
        self.replace(Pending { entry: entry - 1, action: EditAction::RemoveMember, text: 0..0, name: None });
        Ok(true)
    }

    /// Calls `each` with the JSONPath and value of every string in the event.
    pub fn for_each_string(&self, mut each: impl FnMut(&str, &Value<'e>)) {
        fn visit<'e>(value: Value<'e>, path: &mut String, each: &mut impl FnMut(&str, &Value<'e>)) {
            match value.kind() {
                Kind::String => each(path, &value),
                Kind::Object => {
                    for (key, member) in value.members() {
                        let len = path.len();
                        path.push('.');
                        path.push_str(&key.as_str());
                        visit(member, path, each);
                        path.truncate(len);
                    }
                }
                Kind::Array => {
                    for (i, item) in value.items().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        visit(item, path, each);
                        path.truncate(len);
                    }
                }
                _ => {}
            }
        }
        visit(self.event.root(), &mut "$".to_string(), &mut each);
    }

    /// Records an edit, dropping an earlier one it supersedes.
    fn replace(&mut self, edit: Pending) {
        self.pending.retain(|p| !(p.entry == edit.entry && p.action == edit.action && p.name == edit.name));
        self.pending.push(edit);
    }

    /// Pushes the verdict for `decision` (and the edits, when the event is kept).
    fn finish(self, decision: Decision, out: &mut Output) {
        match decision {
            Decision::Keep if self.pending.is_empty() => out.keep(),
            Decision::Keep => out.edit(|edits| {
                for p in &self.pending {
                    edits.push(p.entry, p.action, &self.text[p.text.clone()]);
                }
            }),
            Decision::Drop => out.drop_event(),
            Decision::Reject(reason) => out.reject(reason),
        }
    }
}

/// Runs `process` on one event and pushes its verdict. Used by
/// [`export_process!`](crate::export_process).
pub fn run_one<'e>(
    event: Event<'e>,
    paths: &mut PathCache,
    out: &mut Output,
    process: impl FnOnce(&mut EventMut<'e, '_>) -> Decision,
) {
    let mut view = EventMut::new(event, paths);
    let decision = process(&mut view);
    view.finish(decision, out);
}

/// `configure` for rules without configuration: accepts nothing, `{}` or `null`.
pub fn no_config(config: &str) -> Result<(), ConfigError> {
    match config.trim() {
        "" | "{}" | "null" => Ok(()),
        _ => Err(ConfigError::new("", "this module takes no configuration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fate, TestBatch};
    use crate::{Batch, Context, ModuleInfo, Rule};
    use serde_json::json;

    struct Scored;

    impl Rule for Scored {
        fn describe() -> ModuleInfo {
            crate::module_info!("scored")
        }
        fn configure(config: &str) -> Result<Self, ConfigError> {
            no_config(config).map(|()| Scored)
        }
        fn process(&mut self, batch: &Batch<'_>, _ctx: &Context, out: &mut Output) {
            let mut paths = PathCache::default();
            for event in batch.iter() {
                run_one(event, &mut paths, out, |e| {
                    if e.get_str("$.event_type").as_deref() == Some("spam") {
                        return Decision::Drop;
                    }
                    let Some(price) = e.get_f64("$.price") else { return Decision::Reject("no price".into()) };
                    e.set("$.score", (price * 2.0).round()).unwrap();
                    e.set("$.score", price * 3.0).unwrap(); // a second write replaces the first
                    e.set_str("$.lead.state", "CA").unwrap();
                    e.set("$.lead.tier", json!({"gold": true})).unwrap();
                    e.remove("$.secret").unwrap();
                    assert!(e.set("$.missing.deep", 1).unwrap_err().0.contains("parent is missing"));
                    Decision::Keep
                });
            }
        }
    }

    #[test]
    fn reads_writes_removes_and_decides_per_event() {
        let batch = TestBatch::new(&[
            r#"{"event_type": "lead", "price": 10, "lead": {"state": "NY"}, "secret": "x"}"#,
            r#"{"event_type": "spam", "price": 1}"#,
            r#"{"event_type": "lead"}"#,
        ])
        .unwrap();
        let fates = batch.run(&mut Scored::configure("{}").unwrap());
        assert_eq!(
            fates[0].json(),
            json!({"event_type": "lead", "price": 10, "lead": {"state": "CA", "tier": {"gold": true}}, "score": 30.0})
        );
        assert_eq!(fates[1], Fate::Dropped);
        assert_eq!(fates[2], Fate::Rejected("no price".into()));
    }

    #[test]
    fn a_path_that_cannot_be_used_is_parsed_and_reported_once() {
        let mut paths = PathCache::default();
        for _ in 0..3 {
            assert!(paths.get("lead_data.state").unwrap_err().0.contains("lead_data.state"));
        }
        assert!(paths.get("$.a[?@.b]").unwrap_err().0.contains("names, indexes"));
        assert!(paths.get("$.lead_data.state").is_ok());
        assert_eq!(paths.0.len(), 3, "each text parsed once, failures included");
    }

    #[test]
    fn lists_every_string_with_its_path() {
        let text = br#"{"a": "x", "b": [{"c": "y"}, 2], "d": {"e": "z"}}"#;
        let tape = json::tape_of(text).unwrap();
        let mut paths = PathCache::default();
        let view = EventMut::new(Event::new(text, &tape), &mut paths);
        let mut seen = Vec::new();
        view.for_each_string(|path, value| seen.push((path.to_string(), value.as_str().unwrap().into_owned())));
        assert_eq!(
            seen,
            vec![("$.a".into(), "x".into()), ("$.b[0].c".into(), "y".into()), ("$.d.e".into(), "z".into())]
        );
    }
}
