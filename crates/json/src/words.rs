//! A batch's answer as flat words: the `tape-answer` of `wit/rules.wit`, laid out in
//! `wit/tape.md` ("The answer"). Lists of `u32` cross the WebAssembly boundary in one
//! copy, where a list of records is lifted element by element; this module is the one
//! place that writes (in modules, through the SDK) and reads (in the host) that layout.

use crate::{Edit, EditAction, Output, Verdict};

/// Words per verdict: kind, start, len.
pub const VERDICT_WORDS: usize = 3;

/// Words per edit: entry, action, text start, text len.
pub const EDIT_WORDS: usize = 4;

const KEEP: u32 = 0;
const DROP: u32 = 1;
const EDIT: u32 = 2;
const REPLACE: u32 = 3;
const REJECT: u32 = 4;

const SET_VALUE: u32 = 0;
const ADD_MEMBER: u32 = 1;
const REMOVE_MEMBER: u32 = 2;

/// An [`Output`] in the words of a `tape-answer`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Words {
    /// [`VERDICT_WORDS`] per event.
    pub verdicts: Vec<u32>,
    /// New text of edits and replacements, then the reasons of rejections.
    pub bytes: Vec<u8>,
    /// [`EDIT_WORDS`] per edit.
    pub edits: Vec<u32>,
}

/// Why words could not be read as an answer: the module that wrote them is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordsError(String);

impl std::fmt::Display for WordsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the module's answer does not follow the tape-answer layout: {}", self.0)
    }
}

impl std::error::Error for WordsError {}

impl Output {
    /// This answer as words; rejection reasons are appended to the bytes.
    pub fn into_words(self) -> Words {
        let Output { verdicts, mut bytes, edits } = self;
        let mut verdict_words = Vec::with_capacity(verdicts.len() * VERDICT_WORDS);
        for verdict in verdicts {
            let [kind, start, len] = match verdict {
                Verdict::Keep => [KEEP, 0, 0],
                Verdict::Drop => [DROP, 0, 0],
                Verdict::Edit { first, count } => [EDIT, first, count],
                Verdict::Replace { start, len } => [REPLACE, start, len],
                Verdict::Reject(reason) => {
                    let start = bytes.len() as u32;
                    bytes.extend_from_slice(reason.as_bytes());
                    [REJECT, start, reason.len() as u32]
                }
            };
            verdict_words.extend_from_slice(&[kind, start, len]);
        }
        let mut edit_words = Vec::with_capacity(edits.len() * EDIT_WORDS);
        for edit in edits {
            let action = match edit.action {
                EditAction::SetValue => SET_VALUE,
                EditAction::AddMember => ADD_MEMBER,
                EditAction::RemoveMember => REMOVE_MEMBER,
            };
            edit_words.extend_from_slice(&[edit.entry, action, edit.text_start, edit.text_len]);
        }
        Words { verdicts: verdict_words, bytes, edits: edit_words }
    }

    /// Reads an answer from its words. Spans of edits and replacements are left for the
    /// runner and the applier to check, as for any answer; a reason must lie in `bytes`
    /// (it is read as UTF-8, invalid sequences replaced).
    pub fn from_words(verdicts: &[u32], bytes: Vec<u8>, edits: &[u32]) -> Result<Output, WordsError> {
        if !verdicts.len().is_multiple_of(VERDICT_WORDS) {
            return Err(WordsError(format!("{} verdict words are not {VERDICT_WORDS} per event", verdicts.len())));
        }
        if !edits.len().is_multiple_of(EDIT_WORDS) {
            return Err(WordsError(format!("{} edit words are not {EDIT_WORDS} per edit", edits.len())));
        }
        let mut out = Output { verdicts: Vec::with_capacity(verdicts.len() / VERDICT_WORDS), bytes, edits: Vec::new() };
        for (i, words) in verdicts.chunks_exact(VERDICT_WORDS).enumerate() {
            let (start, len) = (words[1], words[2]);
            out.verdicts.push(match words[0] {
                KEEP => Verdict::Keep,
                DROP => Verdict::Drop,
                EDIT => Verdict::Edit { first: start, count: len },
                REPLACE => Verdict::Replace { start, len },
                REJECT => {
                    let reason =
                        (start as usize).checked_add(len as usize).and_then(|end| out.bytes.get(start as usize..end));
                    let Some(reason) = reason else {
                        return Err(WordsError(format!(
                            "event {i}'s reason {start}+{len} lies outside the answer's bytes"
                        )));
                    };
                    Verdict::Reject(String::from_utf8_lossy(reason).into_owned())
                }
                kind => return Err(WordsError(format!("event {i} has verdict kind {kind}; kinds are 0 to 4"))),
            });
        }
        out.edits.reserve(edits.len() / EDIT_WORDS);
        for (i, words) in edits.chunks_exact(EDIT_WORDS).enumerate() {
            let action = match words[1] {
                SET_VALUE => EditAction::SetValue,
                ADD_MEMBER => EditAction::AddMember,
                REMOVE_MEMBER => EditAction::RemoveMember,
                action => return Err(WordsError(format!("edit {i} has action {action}; actions are 0 to 2"))),
            };
            out.edits.push(Edit { entry: words[0], action, text_start: words[2], text_len: words[3] });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Output {
        let mut out = Output::new();
        out.keep();
        out.drop_event();
        out.reject("no buyer — closed");
        out.replace(|b| b.extend_from_slice(br#"{"a":1}"#));
        out.bytes.extend_from_slice(b"\"x\"\"k\":2");
        let at = out.bytes.len() as u32 - 9;
        out.edits.push(Edit { entry: 3, action: EditAction::SetValue, text_start: at, text_len: 3 });
        out.edits.push(Edit { entry: 1, action: EditAction::AddMember, text_start: at + 3, text_len: 5 });
        out.edits.push(Edit { entry: 7, action: EditAction::RemoveMember, text_start: 0, text_len: 0 });
        out.verdicts.push(Verdict::Edit { first: 0, count: 3 });
        out
    }

    #[test]
    fn every_verdict_and_action_reads_back_as_written() {
        let out = sample();
        let words = out.clone().into_words();
        assert_eq!(words.verdicts.len(), out.verdicts.len() * VERDICT_WORDS);
        assert_eq!(words.edits.len(), out.edits.len() * EDIT_WORDS);
        let back = Output::from_words(&words.verdicts, words.bytes.clone(), &words.edits).expect("well formed");
        assert_eq!(back.verdicts, out.verdicts);
        assert_eq!(back.edits, out.edits);
        assert_eq!(&back.bytes[..out.bytes.len()], &out.bytes[..], "the answer's text is kept where it was");
    }

    #[test]
    fn malformed_words_are_refused_with_what_is_wrong() {
        let words = sample().into_words();
        let refuse = |verdicts: &[u32], edits: &[u32]| {
            Output::from_words(verdicts, words.bytes.clone(), edits).expect_err("malformed").to_string()
        };
        assert!(refuse(&words.verdicts[1..], &words.edits).contains("not 3 per event"));
        assert!(refuse(&words.verdicts, &words.edits[1..]).contains("not 4 per edit"));
        assert!(refuse(&[5, 0, 0], &[]).contains("verdict kind 5"));
        assert!(refuse(&[KEEP, 0, 0], &[0, 3, 0, 0]).contains("edit 0 has action 3"));
        let past_the_end = words.bytes.len() as u32;
        assert!(refuse(&[REJECT, past_the_end, 1], &[]).contains("outside the answer's bytes"));
        assert!(refuse(&[REJECT, u32::MAX, u32::MAX], &[]).contains("outside the answer's bytes"));
    }

    #[test]
    fn a_reason_that_is_not_utf8_is_read_with_replacements() {
        let out = Output::from_words(&[REJECT, 0, 3], b"a\xffb".to_vec(), &[]).expect("well formed");
        assert_eq!(out.verdicts, [Verdict::Reject("a\u{fffd}b".into())]);
    }
}
