//! Sending a stage only the top-level members it reads: each event cut down to those
//! members (bytes copied as they are, tape entries shifted), and the stage's answer
//! on the cut-down events mapped back onto the whole ones.
//!
//! A member's entries are contiguous in an event's tape (its key, then its value, a
//! container whole), and they keep their order and shape in the cut-down event, so one
//! offset per member maps an entry back: entry `e` of a member that starts at entry
//! `p` in the projection and `o` in the event is entry `e - p + o` of the event.

use crate::scan::{scan_string, skip_ws};
use crate::tape::{self, KEY_ESCAPED, OBJECT, OBJECT_END};
use crate::{Edit, EditAction, Key, NameSet, Output, Verdict, unescape};

/// Why an event is dead-lettered when its stage replaced it after reading only some of
/// its members.
const REPLACED: &str = "module replaced the whole event, but it declared (`reads`) that it reads only some of \
                        its members, so it never saw the rest; it must edit the members it reads instead";

/// Why an event is dead-lettered when its stage set its root object's value.
const ROOT_SET: &str = "module set the whole event's value, but it declared (`reads`) that it reads only some \
                        of its members, so it never saw the rest; it must edit the members it reads instead";

/// The cut-down events of one batch, as far as mapping the answer back needs them.
#[derive(Debug, Default)]
pub struct Projection {
    /// Every kept member of every event, in order.
    members: Vec<Member>,
    /// One per event, in order.
    events: Vec<Projected>,
    /// The edits of the last mapped answer, kept for their allocation.
    spare_edits: Vec<Edit>,
}

/// Where one kept member's entries are, in the cut-down event and in the event.
#[derive(Debug, Clone, Copy)]
struct Member {
    projected: u32,
    original: u32,
    entries: u32,
}

/// One event's part of [`Projection`].
#[derive(Debug, Clone, Copy)]
struct Projected {
    /// End of the event's members in [`Projection::members`].
    members_end: u32,
    /// The cut-down event's root end entry.
    projected_end: u32,
    /// The event's root end entry.
    original_end: u32,
}

impl Projection {
    /// An empty projection.
    pub fn new() -> Projection {
        Projection::default()
    }

    /// Forgets the events cut so far, keeping the allocations.
    pub fn clear(&mut self) {
        self.members.clear();
        self.events.clear();
    }

    /// Cuts `event` (a valid event with its `tape`) down to its top-level members whose
    /// key is in `names` (and those whose key has escapes, which are not looked up),
    /// appending the new event to `data` and its tape to `out_tape`.
    pub fn push(
        &mut self,
        event: &[u8],
        event_tape: &[u32],
        names: &NameSet,
        data: &mut Vec<u8>,
        out_tape: &mut Vec<u32>,
    ) {
        let (base, tape_base) = (data.len(), out_tape.len());
        data.push(b'{');
        out_tape.extend_from_slice(&[OBJECT, 0]);
        let root_end = tape::word(event_tape, 0);
        // The root's members: each a key entry, then its value's entries.
        let members = &event_tape[..2 * root_end];
        let mut key = 1;
        while key < root_end {
            let (word0, word1) = (members[2 * key], members[2 * key + 1] as usize);
            let value = 2 * key + 2;
            let next = if tape::is_start(members[value] & 15) { members[value + 1] as usize + 1 } else { key + 2 };
            let from = (word0 >> 4) as usize;
            if word0 & 15 == KEY_ESCAPED || names.find(&event[from + 1..word1 - 1]).is_some() {
                if data.len() > base + 1 {
                    data.push(b',');
                }
                let to = tape::value_span(event_tape, key + 1).end;
                let byte_shift = ((data.len() - base) as u32).wrapping_sub(from as u32);
                let entry = ((out_tape.len() - tape_base) / 2) as u32;
                let entry_shift = entry.wrapping_sub(key as u32);
                self.members.push(Member { projected: entry, original: key as u32, entries: (next - key) as u32 });
                data.extend_from_slice(&event[from..to]);
                out_tape.extend(members[2 * key..2 * next].chunks_exact(2).flat_map(|pair| {
                    let tag = pair[0] & 15;
                    // Offsets move with the bytes; a container's partner index with the entries.
                    let shift = if tape::is_start(tag) || tape::is_end(tag) { entry_shift } else { byte_shift };
                    [pair[0].wrapping_add(byte_shift << 4), pair[1].wrapping_add(shift)]
                }));
            }
            key = next;
        }
        let end = ((out_tape.len() - tape_base) / 2) as u32;
        out_tape.extend_from_slice(&[(((data.len() - base) as u32) << 4) | OBJECT_END, 0]);
        out_tape[tape_base + 1] = end;
        data.push(b'}');
        self.events.push(Projected {
            members_end: self.members.len() as u32,
            projected_end: end,
            original_end: root_end as u32,
        });
    }

    /// The entry of event `i` that entry `entry` of its cut-down form stands for, if
    /// the cut-down event has that entry.
    pub fn original_entry(&self, i: usize, entry: u32) -> Option<u32> {
        let event = self.events[i];
        if entry == 0 {
            return Some(0);
        }
        if entry == event.projected_end {
            return Some(event.original_end);
        }
        let start = if i == 0 { 0 } else { self.events[i - 1].members_end as usize };
        let members = &self.members[start..event.members_end as usize];
        // Members are in order: the one holding `entry` is the last starting at or before it.
        let member = members[..members.partition_point(|m| m.projected <= entry)].last()?;
        (entry - member.projected < member.entries).then(|| entry - member.projected + member.original)
    }

    /// Turns `out`, the answer of a stage that reads the members `names` for the
    /// cut-down events, into its answer for the whole events: edits name the events'
    /// own entries. An event the stage replaced, whose root it set, to whose root it
    /// added a member it did not name, or whose edits name entries its cut-down form
    /// lacks is rejected with the reason. An answer that is not well formed
    /// ([`Output::check`]) is left as it is, for the host's checks to refuse.
    pub fn map_back(&mut self, out: &mut Output, names: &NameSet) {
        if out.check(self.events.len()).is_err() {
            return;
        }
        let mut mapped = std::mem::take(&mut self.spare_edits);
        mapped.clear();
        for (i, verdict) in out.verdicts.iter_mut().enumerate() {
            match *verdict {
                Verdict::Replace { .. } => *verdict = Verdict::Reject(REPLACED.to_string()),
                Verdict::Edit { first, count } => {
                    let first_mapped = mapped.len();
                    let edits = &out.edits[first as usize..(first + count) as usize];
                    match self.map_edits(i, edits, &out.bytes, names, &mut mapped) {
                        Ok(()) => *verdict = Verdict::Edit { first: first_mapped as u32, count },
                        Err(reason) => {
                            mapped.truncate(first_mapped);
                            *verdict = Verdict::Reject(reason);
                        }
                    }
                }
                Verdict::Keep | Verdict::Drop | Verdict::Reject(_) => {}
            }
        }
        self.spare_edits = std::mem::replace(&mut out.edits, mapped);
    }

    /// Appends event `i`'s `edits`, naming the event's own entries, to `mapped`;
    /// `bytes` holds their texts.
    fn map_edits(
        &self,
        i: usize,
        edits: &[Edit],
        bytes: &[u8],
        names: &NameSet,
        mapped: &mut Vec<Edit>,
    ) -> Result<(), String> {
        for edit in edits {
            if edit.entry == 0 && edit.action == EditAction::SetValue {
                return Err(ROOT_SET.to_string());
            }
            if edit.entry == 0 && edit.action == EditAction::AddMember {
                let text = bytes
                    .get(edit.text_start as usize..(edit.text_start as usize).saturating_add(edit.text_len as usize));
                if let Some(key) = text.and_then(member_key).filter(|key| key.find_in(names).is_none()) {
                    return Err(format!(
                        "module added the member `{}` to the event without naming it in `reads`: the event may \
                         already have one, which the module was not sent; it must name every member it adds",
                        key.as_str()
                    ));
                }
            }
            let Some(entry) = self.original_entry(i, edit.entry) else {
                let entries = self.events[i].projected_end + 1;
                return Err(format!(
                    "module returned invalid edits: entry {} is outside the {entries} entries of the event it was sent",
                    edit.entry
                ));
            };
            mapped.push(Edit { entry, ..*edit });
        }
        Ok(())
    }
}

/// The key of a member's text (`"key": value`); `None` when the text does not start
/// with a readable key (the edit's check refuses it then).
fn member_key(text: &[u8]) -> Option<Key<'_>> {
    let start = skip_ws(text, 0);
    if text.get(start) != Some(&b'"') {
        return None;
    }
    let (end, escaped) = scan_string(text, start).ok()?;
    let raw = text.get(start + 1..end.checked_sub(1)?)?;
    // Escapes that do not decode are the edit check's to refuse, not a member name.
    (!escaped || unescape(raw).is_some()).then_some(Key { raw, escaped, entry: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Applier, tape_of, validate_event};

    fn names(list: &[&str]) -> NameSet {
        NameSet::of(list)
    }

    /// The cut-down form of `event` and its tape.
    fn cut(event: &str, wanted: &[&str]) -> (String, Vec<u32>, Projection) {
        let mut projection = Projection::new();
        let (mut data, mut tape) = (Vec::new(), Vec::new());
        projection.push(event.as_bytes(), &tape_of(event.as_bytes()).unwrap(), &names(wanted), &mut data, &mut tape);
        (String::from_utf8(data).unwrap(), tape, projection)
    }

    #[test]
    fn keeps_the_named_members_in_order_with_the_tape_validation_builds() {
        let event = r#"{ "a" : [1, {"x": "y"}], "b":"skip", "c\u0021":2 ,"d":{"e":[true,null]},"a":3}"#;
        let (text, tape, _) = cut(event, &["d", "a"]);
        assert_eq!(text, r#"{"a" : [1, {"x": "y"}],"c\u0021":2,"d":{"e":[true,null]},"a":3}"#);
        let mut expected = Vec::new();
        validate_event(text.as_bytes(), &mut expected).unwrap();
        assert_eq!(tape, expected, "the shifted tape is the one validation builds");
        let (text, tape, _) = cut(r#"{"b":1}"#, &["a"]);
        assert_eq!((text.as_str(), tape), ("{}", tape_of(b"{}").unwrap()));
    }

    #[test]
    fn maps_every_entry_of_a_member_back_to_the_event() {
        let event = r#"{"skip":[1,2,3],"a":{"k":[1,"s"]},"more":null,"b":"t"}"#;
        let (text, tape, projection) = cut(event, &["a", "b"]);
        let original = tape_of(event.as_bytes()).unwrap();
        for entry in 0..tape::len(&tape) as u32 {
            let back = projection.original_entry(0, entry).unwrap() as usize;
            let (e, p) = (entry as usize, back);
            assert_eq!(tape::tag(&tape, e), tape::tag(&original, p), "entry {e}");
            let (mine, theirs) =
                (&text.as_bytes()[tape::offset(&tape, e)..], &event.as_bytes()[tape::offset(&original, p)..]);
            assert_eq!(mine[..1], theirs[..1], "entry {e} starts at the same token");
        }
        assert_eq!(projection.original_entry(0, tape::len(&tape) as u32), None);
    }

    #[test]
    fn edits_on_the_cut_down_event_make_the_same_event_as_on_the_whole() {
        let event = r#"{"id":7,"email":"a@b.c","tags":["x"],"keep":{"deep":1}}"#;
        let whole = tape_of(event.as_bytes()).unwrap();
        let (text, tape, mut projection) = cut(event, &["email", "tags"]);
        // Edits as a stage would make them on each form: set a member, add one to the
        // root, remove one.
        let edits_on = |tape: &[u32], text: &str| {
            let ev = crate::Event::new(text.as_bytes(), tape);
            let mut out = Output::new();
            out.edit(|edits| {
                let email = ev.member("email").unwrap();
                edits.set_str(&email, "***");
                edits.add_with(&ev.root(), "added", |o| o.extend_from_slice(b"true"));
                let key = ev.root().members().find(|(k, _)| k.is("tags")).unwrap().0;
                edits.remove(&key);
            });
            out
        };
        let mut on_cut = edits_on(&tape, &text);
        projection.map_back(&mut on_cut, &names(&["email", "tags", "added"]));
        let on_whole = edits_on(&whole, event);
        let apply = |out: &Output| {
            let Verdict::Edit { first, count } = out.verdicts[0] else { panic!("{:?}", out.verdicts) };
            let mut applier = Applier::new();
            let mut session = applier.session(&out.bytes);
            let (mut data, mut new_tape) = (Vec::new(), Vec::new());
            let edits = &out.edits[first as usize..(first + count) as usize];
            session.apply(event.as_bytes(), &whole, edits, &mut data, &mut new_tape).unwrap();
            String::from_utf8(data).unwrap()
        };
        assert_eq!(apply(&on_cut), apply(&on_whole));
        assert_eq!(apply(&on_cut), r#"{"id":7,"email":"***","keep":{"deep":1},"added":true}"#);
    }

    #[test]
    fn rejects_what_needs_the_whole_event_and_leaves_broken_answers_for_the_checks() {
        let events = [r#"{"a":1,"b":2}"#, r#"{"a":1}"#, r#"{"a":1}"#, r#"{"a":1}"#];
        let mut projection = Projection::new();
        let (mut data, mut tape) = (Vec::new(), Vec::new());
        for event in events {
            projection.push(
                event.as_bytes(),
                &tape_of(event.as_bytes()).unwrap(),
                &names(&["a"]),
                &mut data,
                &mut tape,
            );
        }
        let edit = |entry, action| Edit { entry, action, text_start: 0, text_len: 1 };
        let mut out = Output::new();
        out.bytes.extend_from_slice(b"1");
        out.edits = vec![edit(0, EditAction::SetValue), edit(9, EditAction::SetValue), edit(2, EditAction::SetValue)];
        out.verdicts = vec![
            Verdict::Replace { start: 0, len: 1 },
            Verdict::Edit { first: 0, count: 1 },
            Verdict::Edit { first: 1, count: 1 },
            Verdict::Edit { first: 2, count: 1 },
        ];
        let mut broken = out.clone();
        projection.map_back(&mut out, &names(&["a"]));
        assert!(matches!(&out.verdicts[0], Verdict::Reject(r) if r.contains("replaced the whole event")));
        assert!(matches!(&out.verdicts[1], Verdict::Reject(r) if r.contains("set the whole event")));
        assert!(matches!(&out.verdicts[2], Verdict::Reject(r) if r.contains("entry 9 is outside the 4 entries")));
        assert_eq!(out.verdicts[3], Verdict::Edit { first: 0, count: 1 });
        assert_eq!(out.edits, vec![edit(2, EditAction::SetValue)]);
        // An edit span outside the answer: left for the host's checks.
        broken.verdicts[3] = Verdict::Edit { first: 2, count: 5 };
        let before = broken.verdicts.clone();
        projection.map_back(&mut broken, &names(&["a"]));
        assert_eq!(broken.verdicts, before);
        // Edits shared by two events (each mapped copy would cost the host memory): left
        // for the host's checks too.
        broken.verdicts[3] = Verdict::Edit { first: 1, count: 1 };
        let before = broken.verdicts.clone();
        projection.map_back(&mut broken, &names(&["a"]));
        assert_eq!(broken.verdicts, before);
        assert!(broken.check(4).unwrap_err().contains("overlapping an earlier event's"));
    }

    #[test]
    fn refuses_a_member_added_to_the_root_that_was_not_named() {
        let event = r#"{"a":1,"b":2}"#;
        let (text, tape, mut projection) = cut(event, &["a"]);
        let ev = crate::Event::new(text.as_bytes(), &tape);
        let mut out = Output::new();
        out.edit(|edits| edits.add_with(&ev.root(), "b", |o| o.extend_from_slice(b"3")));
        projection.map_back(&mut out, &names(&["a"]));
        assert!(
            matches!(&out.verdicts[0], Verdict::Reject(r) if r.contains("added the member `b`")),
            "{:?}",
            out.verdicts
        );
        // Named (even written with escapes), it is added.
        let mut out = Output::new();
        out.edit(|edits| edits.push(0, EditAction::AddMember, br#" "\u0062" : 3"#));
        projection.map_back(&mut out, &names(&["a", "b"]));
        assert_eq!(out.verdicts[0], Verdict::Edit { first: 0, count: 1 });
    }
}
