//! Reading and editing events as JSON bytes, without building a tree: the engine the
//! Firehose host and its rule modules share. The host validates each event once and
//! builds its [tape]; modules read through the tape and answer with [`Verdict`]s and
//! [`Edit`]s; the host applies the edits with an [`Applier`], which checks them.
//!
//! Every stage of a pipeline receives events as bytes plus a [tape] the host built
//! while validating them. Parsing each event into a tree and serializing it back costs
//! microseconds per stage; instead rules look up only the fields they need through the
//! tape ([`Event`], [`Path`]), walk scalars when they must see all of them
//! ([`Walker`]), and change events with [`Edit`]s the host applies natively.
#![deny(missing_docs)]

mod answer;
mod edit;
mod edits;
mod event;
mod matcher;
mod names;
mod path;
mod project;
mod scan;
mod string;
pub mod tape;
#[cfg(any(test, feature = "test-random"))]
#[doc(hidden)]
pub mod test_random;
mod validate;
mod value;
mod walk;
mod words;

pub use answer::{Edits, Output, Text, Verdict};
pub use edit::Splices;
pub use edits::{Applier, Edit, EditAction, EditError};
pub use event::{Event, Key, Members, Value, tape_of};
pub use matcher::{PathMatcher, State, Step};
pub use names::{NameSet, bytes_equal};
pub use path::{Path, PathError, Segment, Selector};
pub use project::Projection;
pub use scan::{Error, Field, Fields, Items, is_plain_ascii, scan_string, skip_value, skip_ws};
pub use string::{unescape, utf8, write_string, write_string_body};
pub use validate::{MAX_DEPTH, validate, validate_event, validate_member, validate_value};
pub use value::{Kind, RawValue, root};
pub use walk::{Visitor, Walker};
pub use words::{EDIT_WORDS, VERDICT_WORDS, Words, WordsError};

/// Index of the closing `}` of an event's root object, where new members can be
/// inserted; `None` if the event does not end with `}`.
pub fn closing_brace(event: &[u8]) -> Option<usize> {
    let end = event.iter().rposition(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))?;
    (event[end] == b'}').then_some(end)
}

/// Whether the object whose closing brace is at `close` has no members.
pub fn object_is_empty(event: &[u8], close: usize) -> bool {
    event[..close].iter().rev().find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t')) == Some(&b'{')
}
