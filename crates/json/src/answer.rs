//! What a stage answers for a batch: one [`Verdict`] per event, plus the new text and
//! the [`Edit`]s the verdicts refer to. Modules build it (through the SDK or natively);
//! the host checks it and applies it with an [`Applier`](crate::Applier).

use crate::{Edit, EditAction, Key, Value};

/// What a module decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the event on unchanged.
    Keep,
    /// Remove the event (filtered out by a rule).
    Drop,
    /// Pass on the event with the edits `Output::edits[first..first + count]` applied.
    Edit {
        /// Index of the event's first edit.
        first: u32,
        /// Number of edits.
        count: u32,
    },
    /// Pass on the rewritten event stored at `start..start + len` of [`Output::bytes`].
    Replace {
        /// Offset of the rewritten event.
        start: u32,
        /// Its length.
        len: u32,
    },
    /// The event cannot be processed; the host dead-letters it with this reason.
    Reject(String),
}

/// A module's answer for a batch: one verdict per event, plus the edits and bytes
/// the verdicts refer to.
#[derive(Debug, Default, Clone)]
pub struct Output {
    /// One verdict per input event, in order.
    pub verdicts: Vec<Verdict>,
    /// New text of edits and rewritten events.
    pub bytes: Vec<u8>,
    /// Edits of all events, referred to by [`Verdict::Edit`].
    pub edits: Vec<Edit>,
}

impl Output {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether this is a well-formed answer for `events` events: one verdict each, every
    /// replacement inside [`bytes`](Output::bytes), every event's edits inside
    /// [`edits`](Output::edits) and after the previous event's (grouped by event, in
    /// order, so that no edit serves two events). Edits' own texts are checked when
    /// they are applied.
    pub fn check(&self, events: usize) -> Result<(), String> {
        if self.verdicts.len() != events {
            return Err(format!("returned {} verdicts for {} events", self.verdicts.len(), events));
        }
        let (bytes, edits) = (self.bytes.len() as u64, self.edits.len() as u64);
        let mut edits_end = 0u64;
        for verdict in &self.verdicts {
            match *verdict {
                Verdict::Replace { start, len } if start as u64 + len as u64 > bytes => {
                    return Err(format!("returned a rewrite at {start}+{len} outside its {bytes} output bytes"));
                }
                Verdict::Edit { first, count } => {
                    let end = first as u64 + count as u64;
                    if end > edits {
                        return Err(format!("returned edits {first}+{count} outside its {edits} edits"));
                    }
                    if (first as u64) < edits_end {
                        return Err(format!(
                            "returned edits {first}+{count} overlapping an earlier event's (edits are grouped by event, in order)"
                        ));
                    }
                    edits_end = end;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Empties the output, keeping its allocations.
    pub fn clear(&mut self) {
        self.verdicts.clear();
        self.bytes.clear();
        self.edits.clear();
    }

    /// The next event passes unchanged.
    pub fn keep(&mut self) {
        self.verdicts.push(Verdict::Keep);
    }

    /// The next event is filtered out.
    pub fn drop_event(&mut self) {
        self.verdicts.push(Verdict::Drop);
    }

    /// The next event is refused with `reason` and will be dead-lettered.
    pub fn reject(&mut self, reason: impl Into<String>) {
        self.verdicts.push(Verdict::Reject(reason.into()));
    }

    /// Writes a text once for many edits of this batch (a row, a tag set): the host
    /// then validates it once instead of once per event.
    pub fn text(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Text {
        let start = self.bytes.len();
        write(&mut self.bytes);
        Text { start: start as u32, len: (self.bytes.len() - start) as u32 }
    }

    /// The next event is changed by the edits `make` records (kept as is if none).
    pub fn edit(&mut self, make: impl FnOnce(&mut Edits<'_>)) {
        let first = self.edits.len();
        make(&mut Edits { bytes: &mut self.bytes, edits: &mut self.edits });
        let count = self.edits.len() - first;
        self.verdicts.push(if count == 0 {
            Verdict::Keep
        } else {
            Verdict::Edit { first: first as u32, count: count as u32 }
        });
    }

    /// The next event is replaced by the bytes `write` appends (one JSON object). The
    /// host re-parses the whole event: prefer [`Output::edit`] where it can express
    /// the change.
    pub fn replace(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        let len = self.bytes.len() - start;
        self.verdicts.push(Verdict::Replace { start: start as u32, len: len as u32 });
    }
}

/// A text in the output, written once with [`Output::text`] or [`Edits::text`] and used
/// by any number of edits of the same batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    start: u32,
    len: u32,
}

/// The edits of one event, recorded by [`Output::edit`]. Values are named by the
/// [`Value`]s and [`Key`]s read from the event.
pub struct Edits<'o> {
    bytes: &'o mut Vec<u8>,
    edits: &'o mut Vec<Edit>,
}

impl Edits<'_> {
    fn record(&mut self, entry: usize, action: EditAction, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(self.bytes);
        let len = self.bytes.len() - start;
        self.edits.push(Edit { entry: entry as u32, action, text_start: start as u32, text_len: len as u32 });
    }

    /// Replaces `value` with the JSON value `write` appends.
    pub fn set_with(&mut self, value: &Value<'_>, write: impl FnOnce(&mut Vec<u8>)) {
        self.record(value.entry(), EditAction::SetValue, write)
    }

    /// Replaces `value` with the string `text`.
    pub fn set_str(&mut self, value: &Value<'_>, text: &str) {
        self.set_with(value, |out| crate::write_string(out, text))
    }

    /// Appends the member `key` with the JSON value `write` appends to `object`.
    /// Use [`Edits::put_with`] unless `object` is known not to have `key`.
    pub fn add_with(&mut self, object: &Value<'_>, key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        self.record(object.entry(), EditAction::AddMember, |out| {
            crate::write_string(out, key);
            out.push(b':');
            write(out);
        })
    }

    /// Sets member `key` of `object` to the JSON value `write` appends, replacing its
    /// value if the member exists and adding it otherwise.
    pub fn put_with(&mut self, object: &Value<'_>, key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        match object.member(key) {
            Some(existing) => self.set_with(&existing, write),
            None => self.add_with(object, key, write),
        }
    }

    /// Writes a text for this and later edits of the batch; see [`Output::text`].
    pub fn text(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Text {
        let start = self.bytes.len();
        write(self.bytes);
        Text { start: start as u32, len: (self.bytes.len() - start) as u32 }
    }

    /// Replaces `value` with `text`, a JSON value.
    pub fn set_text(&mut self, value: &Value<'_>, text: Text) {
        self.edits.push(Edit {
            entry: value.entry() as u32,
            action: EditAction::SetValue,
            text_start: text.start,
            text_len: text.len,
        });
    }

    /// Appends `member`, a text `"key": value`, to `object`.
    pub fn add_text(&mut self, object: &Value<'_>, member: Text) {
        self.edits.push(Edit {
            entry: object.entry() as u32,
            action: EditAction::AddMember,
            text_start: member.start,
            text_len: member.len,
        });
    }

    /// Records an edit of `entry` with new text `text` (for SDK layers built on top).
    pub fn push(&mut self, entry: usize, action: EditAction, text: &[u8]) {
        self.record(entry, action, |out| out.extend_from_slice(text))
    }

    /// Removes the member whose key is `key`.
    pub fn remove(&mut self, key: &Key<'_>) {
        self.edits.push(Edit { entry: key.entry as u32, action: EditAction::RemoveMember, text_start: 0, text_len: 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_answer_has_one_verdict_each_and_its_spans_inside_and_in_order() {
        let edit = |entry| Edit { entry, action: EditAction::SetValue, text_start: 0, text_len: 1 };
        let mut out = Output::new();
        out.bytes.extend_from_slice(b"1");
        out.edits = vec![edit(1), edit(2), edit(3)];
        out.verdicts = vec![
            Verdict::Edit { first: 0, count: 2 },
            Verdict::Keep,
            Verdict::Replace { start: 0, len: 1 },
            Verdict::Edit { first: 2, count: 1 },
        ];
        assert_eq!(out.check(4), Ok(()));
        assert_eq!(out.check(3).unwrap_err(), "returned 4 verdicts for 3 events");
        let with = |i: usize, verdict: Verdict| {
            let mut other = out.clone();
            other.verdicts[i] = verdict;
            other.check(4).unwrap_err()
        };
        assert!(with(2, Verdict::Replace { start: 1, len: 1 }).contains("outside its 1 output bytes"));
        assert!(with(3, Verdict::Edit { first: 2, count: 2 }).contains("outside its 3 edits"));
        // Two events naming the same edits: one edit would be applied (and copied) twice.
        assert!(with(3, Verdict::Edit { first: 1, count: 1 }).contains("overlapping an earlier event's"));
        assert!(with(3, Verdict::Edit { first: 0, count: 1 }).contains("overlapping"));
    }
}
