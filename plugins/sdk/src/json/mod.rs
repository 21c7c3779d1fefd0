//! Reading and editing events as JSON bytes, without building a tree.
//!
//! Every stage of a pipeline receives events as bytes. Parsing each event into a tree
//! and serializing it back costs microseconds per stage; instead rules look up only
//! the fields they need ([`Path`], [`RawValue`]), walk scalars when they must see all
//! of them ([`walk`]), and rewrite events by splicing bytes ([`Splices`]).

mod edit;
mod matcher;
mod path;
mod scan;
mod string;
mod validate;
mod value;
mod walk;

pub use edit::Splices;
pub use matcher::{PathMatcher, State, Step};
pub use path::{Path, PathError, Segment, Selector};
pub use scan::{Error, Field, Fields, Items, scan_string, skip_value, skip_ws};
pub use string::{unescape, write_string, write_string_body};
pub use validate::{MAX_DEPTH, validate};
pub use value::{Kind, RawValue, root};
pub use walk::{Visitor, walk};

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
