//! Edits: how a module changes an event without sending it back whole.
//!
//! A module answers "set this value", "add this member to that object", "remove this
//! member", naming values by their tape entry. The host applies the edits natively
//! in one pass: it copies the unchanged bytes, validates only the new text, and
//! patches the tape so the next stage gets a valid event and its index without a
//! re-parse. Edits that break the structure (a bad entry, invalid text, overlaps)
//! are refused and the event is dead-lettered.

use std::collections::HashMap;
use std::ops::Range;

use super::tape::{self, OBJECT};
use super::validate::{validate_member, validate_value};

/// What an edit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditAction {
    /// Replace the value starting at `entry` (any type, containers whole) with `text`,
    /// one JSON value.
    SetValue,
    /// Append `text`, one member `"key": value`, to the object starting at `entry`.
    AddMember,
    /// Remove the member whose key is at `entry` (`text` empty).
    RemoveMember,
}

/// One edit of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    /// The tape entry the edit applies to.
    pub entry: u32,
    /// What to do.
    pub action: EditAction,
    /// Offset of the new text in the module's output bytes.
    pub text_start: u32,
    /// Length of the new text.
    pub text_len: u32,
}

#[derive(Debug, Clone)]
struct Planned {
    bytes: Range<usize>,
    entries: Range<usize>,
    kind: Kind,
    /// Text and its tape in `Applier::fragments`, for sets and adds.
    text: Range<usize>,
    fragment: Range<usize>,
    order: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    Add { object: usize },
    Remove,
}

/// Applies edits; keeps its scratch space between events and batches.
#[derive(Debug, Default)]
pub struct Applier {
    plan: Vec<Planned>,
    /// Tapes of validated texts, for the whole session.
    fragments: Vec<u32>,
    /// Texts already validated in this session.
    validated: Validated,
    removed: Vec<usize>,
    emptied: Vec<usize>,
    stack: Vec<usize>,
}

/// A text of a module's output: (start, length, is a member).
type TextKey = (u32, u32, bool);

/// The texts validated in a session, with their tape ranges in `Applier::fragments`.
///
/// Modules write new texts one after another, so almost every text starts at or after
/// the last one recorded: those go into `in_order`, where a new text is found missing
/// by one comparison with the last entry and a shared one (the same row added to many
/// events) by a binary search. Texts met out of order go into a hash map.
#[derive(Debug, Default)]
struct Validated {
    /// Sorted by start.
    in_order: Vec<(TextKey, Range<usize>)>,
    /// foldhash: several times faster than SipHash on these small keys, and seeded
    /// per map, so a module cannot make every offset it returns collide.
    others: HashMap<TextKey, Range<usize>, foldhash::fast::RandomState>,
}

impl Validated {
    fn clear(&mut self) {
        self.in_order.clear();
        self.others.clear();
    }

    fn get(&self, key: &TextKey) -> Option<Range<usize>> {
        let (last, _) = self.in_order.last()?;
        if key.0 > last.0 {
            return None;
        }
        let first = self.in_order.partition_point(|(k, _)| k.0 < key.0);
        let same_start = self.in_order[first..].iter().take_while(|(k, _)| k.0 == key.0);
        if let Some((_, range)) = same_start.into_iter().find(|(k, _)| k == key) {
            return Some(range.clone());
        }
        self.others.get(key).cloned()
    }

    fn insert(&mut self, key: TextKey, range: Range<usize>) {
        match self.in_order.last() {
            Some((last, _)) if key.0 < last.0 => {
                self.others.insert(key, range);
            }
            _ => self.in_order.push((key, range)),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.in_order.len() + self.others.len()
    }
}

/// Applying the edits of one module answer, whose new texts are all in `text`.
/// Texts shared by many edits (the same row added to many events) are validated once.
pub struct Session<'s> {
    applier: &'s mut Applier,
    text: &'s [u8],
}

impl Applier {
    /// A new applier.
    pub fn new() -> Applier {
        Applier::default()
    }

    /// Starts applying edits whose texts are in `text` (a module's output bytes).
    pub fn session<'s>(&'s mut self, text: &'s [u8]) -> Session<'s> {
        self.fragments.clear();
        self.validated.clear();
        Session { applier: self, text }
    }

    /// Applies one event's edits in a one-off session; see [`Session::apply`].
    pub fn apply(
        &mut self,
        bytes: &[u8],
        tape: &[u32],
        edits: &[Edit],
        text: &[u8],
        out: &mut Vec<u8>,
        out_tape: &mut Vec<u32>,
    ) -> Result<(), EditError> {
        self.session(text).apply(bytes, tape, edits, out, out_tape)
    }

    /// The tape range of `text[range]` validated as a value or a member, validating it
    /// on first use in the session.
    fn fragment(&mut self, text: &[u8], range: Range<usize>, member: bool) -> Result<Range<usize>, super::Error> {
        let key = (range.start as u32, range.len() as u32, member);
        if let Some(known) = self.validated.get(&key) {
            return Ok(known);
        }
        let start = self.fragments.len();
        let checked = if member {
            validate_member(&text[range], &mut self.fragments)
        } else {
            validate_value(&text[range], &mut self.fragments)
        };
        if let Err(e) = checked {
            self.fragments.truncate(start);
            return Err(e);
        }
        self.validated.insert(key, start..self.fragments.len());
        Ok(start..self.fragments.len())
    }
}

/// Why a module's edits cannot be applied to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// An edit names an entry past the end of the event's tape.
    NoSuchEntry {
        /// The edit's position among the event's edits.
        order: usize,
        /// The entry it names.
        entry: usize,
        /// How many entries the event has.
        entries: usize,
    },
    /// An edit's text lies outside the module's output.
    TextOutside {
        /// The edit's position.
        order: usize,
    },
    /// An edit names an entry of the wrong kind for its action.
    Misplaced {
        /// The edit's position.
        order: usize,
        /// The entry it names.
        entry: usize,
        /// What the action needs there.
        expected: &'static str,
    },
    /// A new value is not valid JSON.
    InvalidValue {
        /// The edit's position.
        order: usize,
        /// What is wrong with it.
        source: super::Error,
    },
    /// A new member is not `"key": value`.
    InvalidMember {
        /// The edit's position.
        order: usize,
        /// What is wrong with it.
        source: super::Error,
    },
    /// An edit would make the event something other than an object.
    NotAnObject {
        /// The edit's position.
        order: usize,
    },
    /// Two edits change the same part of the event.
    Overlap,
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::NoSuchEntry { order, entry, entries } => {
                write!(f, "edit {order} names tape entry {entry}, but the event has {entries}")
            }
            EditError::TextOutside { order } => write!(f, "edit {order} points outside the module's output"),
            EditError::Misplaced { order, entry, expected } => {
                write!(f, "edit {order}: entry {entry} is not {expected}")
            }
            EditError::InvalidValue { order, source } => {
                write!(f, "edit {order}: the new value is not valid JSON: {source}")
            }
            EditError::InvalidMember { order, source } => {
                write!(f, "edit {order}: the new member is not `\"key\": value`: {source}")
            }
            EditError::NotAnObject { order } => write!(f, "edit {order}: an event must stay a JSON object"),
            EditError::Overlap => {
                f.write_str("edits overlap (one changes a value another one also changes or removes)")
            }
        }
    }
}

impl std::error::Error for EditError {}

impl Session<'_> {
    /// Appends `event` (`bytes` + `tape`) with `edits` applied to `out` and its tape
    /// (offsets relative to where the event starts in `out`) to `out_tape`. On error
    /// nothing is appended, and the error says what is wrong with the edits.
    pub fn apply(
        &mut self,
        bytes: &[u8],
        tape: &[u32],
        edits: &[Edit],
        out: &mut Vec<u8>,
        out_tape: &mut Vec<u32>,
    ) -> Result<(), EditError> {
        let text = self.text;
        let this = &mut *self.applier;
        this.plan.clear();
        this.removed.clear();
        this.emptied.clear();
        let entries = tape::len(tape);
        for (order, edit) in edits.iter().enumerate() {
            let e = edit.entry as usize;
            if e >= entries {
                return Err(EditError::NoSuchEntry { order, entry: e, entries });
            }
            let range = edit.text_start as usize..edit.text_start as usize + edit.text_len as usize;
            if range.end > text.len() {
                return Err(EditError::TextOutside { order });
            }
            let tag = tape::tag(tape, e);
            match edit.action {
                EditAction::SetValue => {
                    if tape::is_key(tag) || tape::is_end(tag) {
                        return Err(EditError::Misplaced { order, entry: e, expected: "a value" });
                    }
                    let fragment = this
                        .fragment(text, range.clone(), false)
                        .map_err(|source| EditError::InvalidValue { order, source })?;
                    // `fragment` is a range of tape words: its first entry starts there.
                    if e == 0 && tape::tag(&this.fragments[fragment.clone()], 0) != OBJECT {
                        return Err(EditError::NotAnObject { order });
                    }
                    let span = tape::value_span(tape, e);
                    this.plan.push(Planned {
                        bytes: span,
                        entries: e..tape::next_value(tape, e),
                        kind: Kind::Set,
                        text: range,
                        fragment,
                        order,
                    });
                }
                EditAction::AddMember => {
                    if tag != OBJECT {
                        return Err(EditError::Misplaced { order, entry: e, expected: "an object" });
                    }
                    let fragment = this
                        .fragment(text, range.clone(), true)
                        .map_err(|source| EditError::InvalidMember { order, source })?;
                    let end = tape::word(tape, e);
                    let at = tape::offset(tape, end);
                    this.plan.push(Planned {
                        bytes: at..at,
                        entries: end..end,
                        kind: Kind::Add { object: e },
                        text: range,
                        fragment,
                        order,
                    });
                }
                EditAction::RemoveMember => {
                    if !tape::is_key(tag) {
                        return Err(EditError::Misplaced { order, entry: e, expected: "a member key" });
                    }
                    this.removed.push(e);
                }
            }
        }
        if !this.removed.is_empty() {
            this.plan_removals(tape, edits.len());
        }
        this.plan.sort_by_key(|p| (p.entries.start, p.bytes.start, p.order));
        for pair in this.plan.windows(2) {
            if pair[1].entries.start < pair[0].entries.end || pair[1].bytes.start < pair[0].bytes.end {
                return Err(EditError::Overlap);
            }
        }
        this.emit(bytes, tape, text, out, out_tape);
        Ok(())
    }
}

impl Applier {
    /// Turns removed members into byte ranges that also take away exactly the right
    /// commas, run by run of adjacent removed members.
    fn plan_removals(&mut self, tape: &[u32], order_base: usize) {
        self.removed.sort_unstable();
        self.removed.dedup();
        let mut members: Vec<(usize, usize, usize, usize)> = Vec::new(); // key entry, key start, value end, next entry
        for o in 0..tape::len(tape) {
            if tape::tag(tape, o) != OBJECT {
                continue;
            }
            let end = tape::word(tape, o);
            members.clear();
            let mut k = o + 1;
            while k < end {
                let next = tape::next_value(tape, k + 1);
                members.push((k, tape::offset(tape, k), tape::value_span(tape, k + 1).end, next));
                k = next;
            }
            if !members.iter().any(|m| self.removed.binary_search(&m.0).is_ok()) {
                continue;
            }
            let mut j = 0;
            while j < members.len() {
                if self.removed.binary_search(&members[j].0).is_err() {
                    j += 1;
                    continue;
                }
                let first = j;
                while j + 1 < members.len() && self.removed.binary_search(&members[j + 1].0).is_ok() {
                    j += 1;
                }
                let last = j;
                let (byte_range, entry_range) = if last + 1 < members.len() {
                    // Remove up to the next surviving key: the run and its trailing comma.
                    (members[first].1..members[last + 1].1, members[first].0..members[last + 1].0)
                } else if first > 0 {
                    // A run at the end: remove from the previous member's end, taking its comma.
                    (members[first - 1].2..members[last].2, members[first].0..members[last].3)
                } else {
                    self.emptied.push(o);
                    (members[first].1..members[last].2, members[first].0..members[last].3)
                };
                self.plan.push(Planned {
                    bytes: byte_range,
                    entries: entry_range,
                    kind: Kind::Remove,
                    text: 0..0,
                    fragment: 0..0,
                    order: order_base + first,
                });
                j += 1;
            }
        }
    }

    fn emit(&mut self, bytes: &[u8], tape: &[u32], text: &[u8], out: &mut Vec<u8>, out_tape: &mut Vec<u32>) {
        let base = out.len();
        let tape_base = out_tape.len();
        // What this event may grow by: its new texts (and a comma each), not the whole
        // answer's text, which an edited batch would otherwise pay in reallocations.
        let (added_bytes, added_words) =
            self.plan.iter().fold((0, 0), |(b, w), p| (b + p.text.len() + 1, w + p.fragment.len()));
        out.reserve(bytes.len() + added_bytes);
        out_tape.reserve(tape.len() + added_words);
        let mut byte_cursor = 0;
        let mut entry_cursor = 0;
        let mut added_to: Option<usize> = None;
        for p in &self.plan {
            copy_entries(tape, entry_cursor..p.entries.start, byte_cursor, out.len() - base, out_tape);
            out.extend_from_slice(&bytes[byte_cursor..p.bytes.start]);
            match p.kind {
                Kind::Set => {
                    let at = out.len() - base;
                    out.extend_from_slice(&text[p.text.clone()]);
                    copy_fragment(&self.fragments[p.fragment.clone()], at, out_tape);
                }
                Kind::Add { object } => {
                    let had_members = tape::word(tape, object) != object + 1 && !self.emptied.contains(&object);
                    if had_members || added_to == Some(object) {
                        out.push(b',');
                    }
                    added_to = Some(object);
                    let at = out.len() - base;
                    out.extend_from_slice(&text[p.text.clone()]);
                    copy_fragment(&self.fragments[p.fragment.clone()], at, out_tape);
                }
                Kind::Remove => {}
            }
            byte_cursor = p.bytes.end;
            entry_cursor = p.entries.end;
        }
        copy_entries(tape, entry_cursor..tape::len(tape), byte_cursor, out.len() - base, out_tape);
        out.extend_from_slice(&bytes[byte_cursor..]);
        self.relink(&mut out_tape[tape_base..]);
    }

    /// Recomputes each container's start/end links after entries moved.
    fn relink(&mut self, tape: &mut [u32]) {
        self.stack.clear();
        for i in 0..tape::len(tape) {
            let tag = tape::tag(tape, i);
            if tape::is_start(tag) {
                self.stack.push(i);
            } else if tape::is_end(tag) {
                let start = self.stack.pop().expect("balanced tape");
                tape[2 * start + 1] = i as u32;
                tape[2 * i + 1] = start as u32;
            }
        }
    }
}

/// Copies old entries `range`, moving their byte offsets from `old_base` to `new_base`.
/// Container links are zeroed (`relink` recomputes them). Written as plain arithmetic
/// on both words, with no branch, so that the compiler vectorizes it: every edited
/// event's whole tape goes through here once per stage.
fn copy_entries(tape: &[u32], range: Range<usize>, old_base: usize, new_base: usize, out: &mut Vec<u32>) {
    let shift = (new_base as u32).wrapping_sub(old_base as u32);
    let shifted_offset = shift << 4;
    out.extend(tape[2 * range.start..2 * range.end].chunks_exact(2).flat_map(|entry| {
        let (first, second) = (entry[0], entry[1]);
        // Tags below 4 are container starts and ends, whose second word is a link.
        let is_container = (first & 15) < 4;
        [first.wrapping_add(shifted_offset), if is_container { 0 } else { second.wrapping_add(shift) }]
    }));
}

/// Copies a fragment's tape, whose offsets start at 0, to start at `at`.
fn copy_fragment(fragment: &[u32], at: usize, out: &mut Vec<u32>) {
    for i in 0..tape::len(fragment) {
        let tag = tape::tag(fragment, i);
        out.push((((tape::offset(fragment, i) + at) as u32) << 4) | tag);
        out.push(if tape::is_start(tag) || tape::is_end(tag) { 0 } else { (tape::word(fragment, i) + at) as u32 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, tape_of};
    use serde_json::{Value, json};

    /// Applies edits given as (path to the entry, action, text) and checks the result
    /// against `tape_of` of the new bytes: the patched tape must equal a fresh one.
    /// Returns the edited event, or the error's message.
    fn edit(event: &str, edits: &[(&str, EditAction, &str)]) -> Result<Value, String> {
        let tape = tape_of(event.as_bytes()).unwrap();
        let view = Event::new(event.as_bytes(), &tape);
        let mut text = Vec::new();
        let mut list = Vec::new();
        for (path, action, new) in edits {
            let value = view.get(&crate::Path::parse(path).unwrap()).expect("path exists");
            let entry = match action {
                // Remove names the member's key, which is the entry before its value.
                EditAction::RemoveMember => value.entry() - 1,
                _ => value.entry(),
            };
            list.push(Edit {
                entry: entry as u32,
                action: *action,
                text_start: text.len() as u32,
                text_len: new.len() as u32,
            });
            text.extend_from_slice(new.as_bytes());
        }
        let (mut out, mut out_tape) = (Vec::new(), Vec::new());
        Applier::new()
            .apply(event.as_bytes(), &tape, &list, &text, &mut out, &mut out_tape)
            .map_err(|e| e.to_string())?;
        assert_eq!(
            out_tape,
            tape_of(&out).expect("result is valid"),
            "patched tape for {}",
            String::from_utf8_lossy(&out)
        );
        Ok(serde_json::from_slice(&out).unwrap())
    }

    use EditAction::*;

    /// Found by `cargo xtask fuzz` (edits target): replacing the whole event after another
    /// edit read the new root's tag at the wrong place in the session's tapes and
    /// panicked (index out of bounds) or misjudged it; now it is checked, then applied.
    #[test]
    fn replacing_the_root_after_another_edit_checks_the_right_fragment() {
        let e = r#"{"a": 1}"#;
        assert!(edit(e, &[("$.a", SetValue, "[1, 2, 3, 4]"), ("$", SetValue, r#"{"b": 2}"#)]).is_err());
        let refused = edit(e, &[("$", AddMember, r#""k": {"x": [1, 2]}"#), ("$", SetValue, "[1]")]).unwrap_err();
        assert!(refused.contains("must stay a JSON object"), "{refused}");
        assert_eq!(
            edit(e, &[("$", AddMember, r#""k": [1, 2, 3]"#), ("$", SetValue, r#"{"b": 2}"#)]).unwrap_err(),
            "edits overlap (one changes a value another one also changes or removes)"
        );
    }

    #[test]
    fn sets_values_of_every_kind() {
        let e = r#"{"a": "x", "b": {"c": [1, 2]}, "d": true}"#;
        assert_eq!(
            edit(e, &[("$.a", SetValue, r#""***""#)]).unwrap(),
            json!({"a": "***", "b": {"c": [1, 2]}, "d": true})
        );
        assert_eq!(edit(e, &[("$.b", SetValue, "null")]).unwrap(), json!({"a": "x", "b": null, "d": true}));
        assert_eq!(
            edit(e, &[("$.b.c[1]", SetValue, r#"{"deep": ["er"]}"#), ("$.d", SetValue, "false")]).unwrap(),
            json!({"a": "x", "b": {"c": [1, {"deep": ["er"]}]}, "d": false})
        );
    }

    #[test]
    fn adds_members_with_the_right_commas() {
        let e = r#"{"a": 1, "o": {}}"#;
        assert_eq!(
            edit(e, &[("$", AddMember, r#""z": [true]"#), ("$", AddMember, r#""y": "é""#)]).unwrap(),
            json!({"a": 1, "o": {}, "z": [true], "y": "é"})
        );
        assert_eq!(
            edit(e, &[("$.o", AddMember, r#""k": 1"#), ("$.o", AddMember, r#""j": 2"#)]).unwrap(),
            json!({"a": 1, "o": {"k": 1, "j": 2}})
        );
    }

    #[test]
    fn removes_members_and_runs_of_members() {
        let e = r#"{"a": 1, "b": 2, "c": 3, "d": 4}"#;
        assert_eq!(edit(e, &[("$.a", RemoveMember, "")]).unwrap(), json!({"b": 2, "c": 3, "d": 4}));
        assert_eq!(edit(e, &[("$.d", RemoveMember, "")]).unwrap(), json!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(edit(e, &[("$.b", RemoveMember, ""), ("$.c", RemoveMember, "")]).unwrap(), json!({"a": 1, "d": 4}));
        assert_eq!(edit(e, &[("$.c", RemoveMember, ""), ("$.d", RemoveMember, "")]).unwrap(), json!({"a": 1, "b": 2}));
        assert_eq!(edit(e, &[("$.a", RemoveMember, ""), ("$.d", RemoveMember, "")]).unwrap(), json!({"b": 2, "c": 3}));
        let all = [
            ("$.a", RemoveMember, ""),
            ("$.b", RemoveMember, ""),
            ("$.c", RemoveMember, ""),
            ("$.d", RemoveMember, ""),
        ];
        assert_eq!(edit(e, &all).unwrap(), json!({}));
        let mut replace_all = all.to_vec();
        replace_all.push(("$", AddMember, r#""new": 0"#));
        assert_eq!(edit(e, &replace_all).unwrap(), json!({"new": 0}));
        assert_eq!(
            edit(r#"{"x": {"p": 1, "q": 2}, "y": 3}"#, &[("$.x.q", RemoveMember, ""), ("$.y", SetValue, "[]")])
                .unwrap(),
            json!({"x": {"p": 1}, "y": []})
        );
    }

    #[test]
    fn appends_after_what_the_buffers_already_hold() {
        let e = br#"{"a": "x"}"#;
        let tape = tape_of(e).unwrap();
        let (mut out, mut out_tape) = (b"{}".to_vec(), tape_of(b"{}").unwrap());
        let edit = Edit { entry: 2, action: SetValue, text_start: 0, text_len: 3 };
        Applier::new().apply(e, &tape, &[edit], b"\"y\"", &mut out, &mut out_tape).unwrap();
        assert_eq!(&out[2..], br#"{"a": "y"}"#);
        assert_eq!(&out_tape[4..], tape_of(&out[2..]).unwrap());
    }

    #[test]
    fn a_session_validates_shared_texts_once_and_still_refuses_bad_ones() {
        let e = br#"{"a": 1}"#;
        let tape = tape_of(e).unwrap();
        let text = br#""m": {"x": [1, 2]}oops"#;
        let shared = Edit { entry: 0, action: AddMember, text_start: 0, text_len: 18 };
        let mut applier = Applier::new();
        let mut session = applier.session(text);
        let (mut out, mut out_tape) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            session.apply(e, &tape, &[shared], &mut out, &mut out_tape).unwrap();
        }
        assert_eq!(
            out,
            br#"{"a": 1,"m": {"x": [1, 2]}}{"a": 1,"m": {"x": [1, 2]}}{"a": 1,"m": {"x": [1, 2]}}"#.to_vec()
        );
        assert_eq!(session.applier.validated.len(), 1, "one validation for three uses");
        let bad = Edit { entry: 0, action: AddMember, text_start: 18, text_len: 4 };
        assert!(session.apply(e, &tape, &[bad], &mut out, &mut out_tape).is_err());
        assert!(
            session.apply(e, &tape, &[bad], &mut out, &mut out_tape).is_err(),
            "failures are not cached as successes"
        );
    }

    #[test]
    fn texts_met_out_of_order_or_at_one_start_are_remembered_apart() {
        let e = br#"{"a": 1}"#;
        let tape = tape_of(e).unwrap();
        // `"m": 1` at 0, `"n": [2]` at 7, and `"m"` alone is not a member: same start, other length.
        let text = br#""m": 1 "n": [2]"#;
        let m = Edit { entry: 0, action: AddMember, text_start: 0, text_len: 6 };
        let n = Edit { entry: 0, action: AddMember, text_start: 7, text_len: 8 };
        let m_value = Edit { entry: 2, action: SetValue, text_start: 0, text_len: 3 };
        let mut applier = Applier::new();
        let mut session = applier.session(text);
        let (mut out, mut out_tape) = (Vec::new(), Vec::new());
        for edits in [[n], [m], [n], [m], [m_value]] {
            out.clear();
            out_tape.clear();
            session.apply(e, &tape, &edits, &mut out, &mut out_tape).unwrap();
            assert_eq!(out_tape, tape_of(&out).unwrap(), "{}", String::from_utf8_lossy(&out));
        }
        assert_eq!(out, br#"{"a": "m"}"#.to_vec());
        assert_eq!(session.applier.validated.len(), 3, "n, m (out of order) and m as a value, once each");
    }

    #[test]
    fn refuses_edits_that_break_the_event() {
        let e = r#"{"a": "x", "b": {"c": 1}}"#;
        assert!(edit(e, &[("$.a", SetValue, r#""unterminated"#)]).unwrap_err().contains("not valid JSON"));
        assert!(edit(e, &[("$.a", SetValue, "1, 2")]).unwrap_err().contains("not valid JSON"));
        assert!(edit(e, &[("$", AddMember, "1")]).unwrap_err().contains("`\"key\": value`"));
        assert!(edit(e, &[("$", SetValue, "[1, 2]")]).unwrap_err().contains("must stay a JSON object"));
        assert_eq!(edit(e, &[("$", SetValue, r#"{"z": 0}"#)]).unwrap(), json!({"z": 0}));
        assert!(edit(e, &[("$.a", AddMember, r#""k": 1"#)]).unwrap_err().contains("not an object"));
        assert!(edit(e, &[("$.b", SetValue, "1"), ("$.b.c", SetValue, "2")]).unwrap_err().contains("overlap"));
        assert!(edit(e, &[("$.b", RemoveMember, ""), ("$.b.c", SetValue, "2")]).unwrap_err().contains("overlap"));
        assert!(edit(e, &[("$.b", SetValue, "1"), ("$.b", AddMember, r#""k": 1"#)]).unwrap_err().contains("overlap"));
        let tape = tape_of(e.as_bytes()).unwrap();
        let (mut out, mut out_tape) = (Vec::new(), Vec::new());
        let bad_entry = Edit { entry: 99, action: SetValue, text_start: 0, text_len: 0 };
        assert!(
            Applier::new()
                .apply(e.as_bytes(), &tape, &[bad_entry], b"", &mut out, &mut out_tape)
                .unwrap_err()
                .to_string()
                .contains("entry 99")
        );
        let key_entry = Edit { entry: 1, action: SetValue, text_start: 0, text_len: 1 };
        assert!(
            Applier::new()
                .apply(e.as_bytes(), &tape, &[key_entry], b"1", &mut out, &mut out_tape)
                .unwrap_err()
                .to_string()
                .contains("not a value")
        );
        let outside = Edit { entry: 2, action: SetValue, text_start: 5, text_len: 9 };
        assert!(
            Applier::new()
                .apply(e.as_bytes(), &tape, &[outside], b"1", &mut out, &mut out_tape)
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
    }
}
