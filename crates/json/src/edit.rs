//! Editing an event by splicing bytes: replace ranges, insert text, and assemble the
//! result in one copy. Unchanged parts of the event are never re-encoded.

use std::ops::Range;

/// A list of byte-range replacements over one event, applied in one pass.
#[derive(Debug, Default, Clone)]
pub struct Splices {
    edits: Vec<Edit>,
    text: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Edit {
    start: usize,
    end: usize,
    text_start: usize,
    text_end: usize,
}

impl Splices {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets all edits, keeping the allocations for reuse.
    pub fn clear(&mut self) {
        self.edits.clear();
        self.text.clear();
    }

    /// Whether no edit was recorded.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Replaces `range` of the original with whatever `write` appends to the buffer it gets.
    pub fn replace(&mut self, range: Range<usize>, write: impl FnOnce(&mut Vec<u8>)) {
        let text_start = self.text.len();
        write(&mut self.text);
        self.edits.push(Edit { start: range.start, end: range.end, text_start, text_end: self.text.len() });
    }

    /// Inserts what `write` appends at byte `at` of the original.
    pub fn insert(&mut self, at: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.replace(at..at, write)
    }

    /// Appends `original` with every edit applied to `out`.
    ///
    /// Edits may be recorded in any order but must not overlap; two insertions at the
    /// same byte keep the order they were recorded in.
    pub fn apply(&mut self, original: &[u8], out: &mut Vec<u8>) {
        if !self.edits.is_sorted_by_key(|e| e.start) {
            self.edits.sort_by_key(|e| e.start);
        }
        out.reserve(original.len() + self.text.len());
        let mut copied = 0;
        for edit in &self.edits {
            debug_assert!(edit.start >= copied, "overlapping splices");
            out.extend_from_slice(&original[copied..edit.start]);
            out.extend_from_slice(&self.text[edit.text_start..edit.text_end]);
            copied = edit.end;
        }
        out.extend_from_slice(&original[copied..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_replacements_and_insertions_in_order() {
        let original = br#"{"a": "secret", "b": 1}"#;
        let mut splices = Splices::new();
        splices.insert(original.len() - 1, |t| t.extend_from_slice(br#", "c": true"#));
        splices.replace(6..14, |t| t.extend_from_slice(br#""***""#));
        let mut out = Vec::new();
        splices.apply(original, &mut out);
        assert_eq!(out, br#"{"a": "***", "b": 1, "c": true}"#);
    }
}
